"""CIFAR-10/100 and NB201's ImageNet16-120 in their published pickled formats: reading, NB201's split
conventions and normalisation, split files, and refusals that name the field or file."""

from __future__ import annotations

import os
import pickle
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from diffnas.config import SearchConfig  # noqa: E402
from diffnas.data import (  # noqa: E402
    DATASETS,
    FIXED_HALVES_SEED,
    NB201_NORMALIZATION,
    available_datasets,
    check_dataset,
    load_dataset,
)
from diffnas.data import batches as batches_module  # noqa: E402
from diffnas.errors import InputError  # noqa: E402
from tests.data.batch_files import (  # noqa: E402
    STYLES,
    write_cifar10,
    write_cifar100,
    write_imagenet16,
    write_split_file,
)

WRITERS = {"cifar10": write_cifar10, "cifar100": write_cifar100, "imagenet16_120": write_imagenet16}


def rows(x: torch.Tensor | np.ndarray) -> list[bytes]:
    a = x.numpy() if isinstance(x, torch.Tensor) else x
    return [r.tobytes() for r in a.reshape(len(a), -1)]


def pixels(d, x: torch.Tensor) -> np.ndarray:
    """Undo the normalisation: the uint8 pixels."""
    mean = torch.tensor(d.mean).view(1, -1, 1, 1)
    std = torch.tensor(d.std).view(1, -1, 1, 1)
    return np.rint((x * std + mean).numpy()).astype(np.uint8)


def one_line_error(call, field: str = "data.dir") -> str:
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field == field, str(err.value)
    assert "\n" not in str(err.value)
    return str(err.value)


# --------------------------------------------------------------------------------------------------
# registry


def test_the_three_nb201_datasets_are_registered_with_their_conventions():
    assert {"cifar10", "cifar100", "imagenet16_120"} <= set(available_datasets())
    c10, c100, i16 = DATASETS["cifar10"], DATASETS["cifar100"], DATASETS["imagenet16_120"]
    assert (c10.split, c100.split, i16.split) == ("train_halves", "test_halves", "test_halves")
    assert (c10.augment_padding, c100.augment_padding, i16.augment_padding) == (4, 4, 2)
    assert c10.uses_data_dir and c100.uses_data_dir and i16.uses_data_dir
    # AutoDL's get_datasets constants (mean, std) / 255
    assert c10.normalization == ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7))
    assert c100.normalization == ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4))
    assert i16.normalization == ((122.68, 116.66, 104.01), (63.22, 61.26, 65.09))
    # the existing datasets keep their conventions
    for name in ("digits", "fashion_mnist", "mnist5k"):
        e = DATASETS[name]
        assert (e.split, e.normalization, e.augment_padding, e.augment_alpha) == ("halves", None, None, False)
    for name in ("cifar10", "cifar100", "imagenet16_120"):
        assert SearchConfig.validate({"dataset": name})["dataset"] == name


# --------------------------------------------------------------------------------------------------
# reading the published formats


@pytest.mark.parametrize("style", STYLES)
def test_cifar10_batches_read_exactly(tmp_path, style):
    ref = write_cifar10(tmp_path, style=style)
    raw = DATASETS["cifar10"](str(tmp_path))
    assert raw.x_train.shape == (200, 3, 32, 32) and raw.x_train.dtype == np.uint8
    assert raw.x_test.shape == (60, 3, 32, 32)
    # rows are the R plane, then G, then B, each row-major 32×32: a plain reshape
    assert np.array_equal(raw.x_train.reshape(200, -1), ref["x_train"])
    assert np.array_equal(raw.x_train[5, 1, 2, 3], ref["x_train"][5, 1024 + 2 * 32 + 3])
    assert np.array_equal(raw.y_train, ref["y_train"]) and raw.y_train.dtype == np.int64
    assert np.array_equal(raw.x_test.reshape(60, -1), ref["x_test"]) and np.array_equal(raw.y_test, ref["y_test"])
    assert raw.num_classes == 10 and raw.halves is None


@pytest.mark.parametrize("style", STYLES)
def test_cifar100_reads_fine_labels(tmp_path, style):
    ref = write_cifar100(tmp_path, style=style)
    raw = DATASETS["cifar100"](str(tmp_path))
    assert raw.num_classes == 100
    assert np.array_equal(raw.y_train, ref["y_train"]) and int(raw.y_train.max()) == 99
    assert np.array_equal(raw.x_test.reshape(200, -1), ref["x_test"])


@pytest.mark.parametrize("style", STYLES)
def test_imagenet16_keeps_labels_1_to_120_as_classes_0_to_119(tmp_path, style):
    ref = write_imagenet16(tmp_path, style=style)
    raw = DATASETS["imagenet16_120"](str(tmp_path))
    keep = (ref["y_train"] >= 1) & (ref["y_train"] <= 120)
    assert 0 < keep.sum() < len(keep)  # the fixture has labels outside 1..120
    assert raw.x_train.shape == (int(keep.sum()), 3, 16, 16)
    assert np.array_equal(raw.x_train.reshape(len(raw.x_train), -1), ref["x_train"][keep])  # file order kept
    assert np.array_equal(raw.y_train, ref["y_train"][keep] - 1)
    assert raw.y_train.min() == 0 and raw.y_train.max() == 119 and raw.num_classes == 120
    vkeep = (ref["y_test"] >= 1) & (ref["y_test"] <= 120)
    assert np.array_equal(raw.y_test, ref["y_test"][vkeep] - 1)
    assert np.array_equal(raw.x_test.reshape(len(raw.x_test), -1), ref["x_test"][vkeep])


def test_data_dir_may_be_the_root_or_the_folder_itself(tmp_path):
    ref = write_cifar10(tmp_path)
    a = DATASETS["cifar10"](str(tmp_path))
    b = DATASETS["cifar10"](str(ref["folder"]))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    check_dataset("cifar10", str(tmp_path))
    check_dataset("cifar10", str(ref["folder"]) + "/")


# --------------------------------------------------------------------------------------------------
# NB201's split conventions


def test_cifar10_valid_halves_the_training_set_with_a_fixed_stratified_split(tmp_path):
    ref = write_cifar10(tmp_path)
    d = load_dataset("cifar10", data_dir=str(tmp_path))
    assert (len(d.y_weights), len(d.y_alpha), len(d.y_test)) == (100, 100, 60)
    assert (d.num_classes, d.in_channels, d.resolution) == (10, 3, 32)
    assert d.split_file is None  # no cifar-split.txt: the fixed-seed fallback
    assert np.bincount(d.y_weights.numpy()).tolist() == [10] * 10 == np.bincount(d.y_alpha.numpy()).tolist()
    # weights ∪ α = the training set, each image once with its label; the test set untouched, in order
    got = Counter(zip(rows(pixels(d, torch.cat([d.x_weights, d.x_alpha]))),
                      torch.cat([d.y_weights, d.y_alpha]).tolist()))
    assert got == Counter(zip(rows(ref["x_train"]), ref["y_train"].tolist()))
    assert rows(pixels(d, d.x_test)) == rows(ref["x_test"]) and d.y_test.tolist() == ref["y_test"].tolist()
    # NB201's normalisation constants, not the data's statistics
    assert d.mean == NB201_NORMALIZATION["cifar10"][0] and d.std == NB201_NORMALIZATION["cifar10"][1]
    expected = (torch.from_numpy(ref["x_test"][:1].reshape(1, 3, 32, 32)).float()
                - torch.tensor([125.3, 123.0, 113.9]).view(1, 3, 1, 1)) / torch.tensor([63.0, 62.1, 66.7]).view(1, 3, 1, 1)
    assert torch.allclose(d.x_test[:1], expected, atol=1e-6)
    assert (d.augment_padding, d.augment_alpha) == (4, True)
    assert d.augment_fill == pytest.approx(tuple(-m / s for m, s in zip(*NB201_NORMALIZATION["cifar10"])))
    # the halves are fixed: not the run's seed
    other = load_dataset("cifar10", data_dir=str(tmp_path), seed=7)
    assert torch.equal(other.x_weights, d.x_weights) and torch.equal(other.x_alpha, d.x_alpha)
    # ... and they are the documented fallback: a stratified halving drawn with FIXED_HALVES_SEED
    from diffnas.data.splits import _stratified_split

    w, a = _stratified_split(ref["y_train"], 100, np.random.default_rng(FIXED_HALVES_SEED))
    assert rows(pixels(d, d.x_weights)) == rows(ref["x_train"][w])
    assert rows(pixels(d, d.x_alpha)) == rows(ref["x_train"][a])


@pytest.mark.parametrize("where", ["root", "folder"])
def test_cifar10_split_file_is_honoured(tmp_path, where):
    ref = write_cifar10(tmp_path)
    train, valid = list(range(0, 200, 2)), [i for i in range(200) if i % 2]
    place = tmp_path if where == "root" else ref["folder"]
    split = write_split_file(place / "cifar-split.txt", {"train": train, "valid": valid})
    d = load_dataset("cifar10", data_dir=str(tmp_path))
    assert d.split_file == str(split)
    assert rows(pixels(d, d.x_weights)) == rows(ref["x_train"][train])
    assert rows(pixels(d, d.x_alpha)) == rows(ref["x_train"][valid])
    assert d.y_weights.tolist() == ref["y_train"][train].tolist()
    check_dataset("cifar10", str(tmp_path))


@pytest.mark.parametrize("name", ["cifar100", "imagenet16_120"])
def test_test_halves_weights_on_the_training_set_alpha_and_test_on_halves_of_the_test_set(tmp_path, name):
    WRITERS[name](tmp_path)
    raw = DATASETS[name](str(tmp_path))
    d = load_dataset(name, data_dir=str(tmp_path))
    n_test = len(raw.y_test)
    assert len(d.y_weights) == len(raw.y_train)  # the whole training set
    assert (len(d.y_alpha), len(d.y_test)) == (n_test // 2, n_test - n_test // 2)
    assert rows(pixels(d, d.x_weights)) == rows(raw.x_train) and d.y_weights.tolist() == raw.y_train.tolist()
    halves = Counter(rows(pixels(d, d.x_alpha))) + Counter(rows(pixels(d, d.x_test)))
    assert halves == Counter(rows(raw.x_test)) and not set(rows(pixels(d, d.x_alpha))) & set(rows(pixels(d, d.x_test)))
    assert d.mean == NB201_NORMALIZATION[name][0] and d.std == NB201_NORMALIZATION[name][1]
    assert d.augment_padding == (4 if name == "cifar100" else 2) and d.split_file is None
    assert d.resolution == (32 if name == "cifar100" else 16) and d.num_classes == (100 if name == "cifar100" else 120)
    again = load_dataset(name, data_dir=str(tmp_path), seed=3)
    assert torch.equal(again.x_alpha, d.x_alpha) and torch.equal(again.y_test, d.y_test)


@pytest.mark.parametrize("name,file", [("cifar100", "cifar100-test-split.txt"),
                                       ("imagenet16_120", "imagenet-16-120-test-split.txt")])
@pytest.mark.parametrize("with_xtest", [True, False])
def test_test_split_file_is_honoured(tmp_path, name, file, with_xtest):
    WRITERS[name](tmp_path)
    raw = DATASETS[name](str(tmp_path))
    n = len(raw.y_test)  # ImageNet16: indices into the 120-class validation set
    xvalid = [i for i in range(n) if i % 3 == 0]
    xtest = [i for i in range(n) if i % 3 == 1]  # leaves some out when given
    halves = {"xvalid": xvalid, "xtest": xtest} if with_xtest else {"xvalid": xvalid}
    split = write_split_file(tmp_path / file, halves, as_strings=with_xtest)
    d = load_dataset(name, data_dir=str(tmp_path))
    assert d.split_file == str(split)
    assert rows(pixels(d, d.x_alpha)) == rows(raw.x_test[xvalid]) and d.y_alpha.tolist() == raw.y_test[xvalid].tolist()
    rest = xtest if with_xtest else [i for i in range(n) if i % 3]
    assert rows(pixels(d, d.x_test)) == rows(raw.x_test[rest])


def test_subset_draws_half_weights_half_alpha_from_the_fixed_halves(tmp_path):
    ref = write_cifar10(tmp_path)
    full = load_dataset("cifar10", data_dir=str(tmp_path))
    d = load_dataset("cifar10", data_dir=str(tmp_path), subset=41, seed=2)
    assert (len(d.y_weights), len(d.y_alpha), len(d.y_test)) == (21, 20, 60)
    assert set(rows(d.x_weights)) <= set(rows(full.x_weights)) and set(rows(d.x_alpha)) <= set(rows(full.x_alpha))
    assert np.bincount(d.y_alpha.numpy(), minlength=10).tolist() == [2] * 10  # stratified
    same = load_dataset("cifar10", data_dir=str(tmp_path), subset=41, seed=2)
    other = load_dataset("cifar10", data_dir=str(tmp_path), subset=41, seed=3)
    assert torch.equal(same.x_weights, d.x_weights) and not torch.equal(other.x_weights, d.x_weights)
    msg = one_line_error(lambda: load_dataset("cifar10", data_dir=str(tmp_path), subset=250), "data.subset")
    assert "allowed: 20..200" in msg
    del ref

    write_cifar100(tmp_path)
    c = load_dataset("cifar100", data_dir=str(tmp_path), subset=40)
    assert (len(c.y_weights), len(c.y_alpha), len(c.y_test)) == (20, 20, 100)
    msg = one_line_error(lambda: load_dataset("cifar100", data_dir=str(tmp_path), subset=202), "data.subset")
    assert "allowed: 20..201" in msg  # 100 α images: at most ⌊n/2⌋ = 100


def test_resolution_resizes_and_scales_the_crop_padding(tmp_path):
    write_cifar10(tmp_path)
    d = load_dataset("cifar10", data_dir=str(tmp_path), resolution=16, subset=40)
    assert d.x_weights.shape[1:] == (3, 16, 16) and d.x_test.shape[1:] == (3, 16, 16)
    assert d.resolution == 16 and d.augment_padding == 2


def test_cached_loading_equals_uncached(tmp_path):
    from diffnas.data import cache

    write_cifar100(tmp_path)
    cache.clear()
    try:
        a = cache.load_dataset_cached("cifar100", data_dir=str(tmp_path), subset=40)
        b = load_dataset("cifar100", data_dir=str(tmp_path), subset=40)
        assert torch.equal(a.x_alpha, b.x_alpha) and a.split_file == b.split_file
        assert a.augment_padding == b.augment_padding == 4
    finally:
        cache.clear()


# --------------------------------------------------------------------------------------------------
# refusals: one line, naming the field and the folder or file


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenet16_120"])
def test_missing_data_dir_says_what_is_expected_and_where_it_comes_from(tmp_path, name):
    msg = one_line_error(lambda: check_dataset(name, None))
    fmt = batches_module.FORMATS[name]
    assert "not set;" in msg and fmt.folder in msg and fmt.train_files[0] in msg
    assert ("cs.toronto.edu/~kriz/cifar.html" in msg) if name != "imagenet16_120" else ("NAS-Bench-201" in msg)
    missing = tmp_path / "nope"
    for call in (lambda: check_dataset(name, str(missing)), lambda: load_dataset(name, data_dir=str(missing))):
        msg = one_line_error(call)
        assert str(missing) in msg and "does not exist" in msg and fmt.folder in msg


def test_wrong_folder_and_missing_file(tmp_path):
    (tmp_path / "empty").mkdir()
    msg = one_line_error(lambda: check_dataset("cifar10", str(tmp_path / "empty")))
    assert "holds neither cifar-10-batches-py/ nor data_batch_1..5, test_batch, batches.meta" in msg
    write_cifar100(tmp_path)  # the wrong dataset
    msg = one_line_error(lambda: check_dataset("cifar10", str(tmp_path)))
    assert "holds neither" in msg
    ref = write_cifar10(tmp_path)
    (ref["folder"] / "data_batch_3").unlink()
    (ref["folder"] / "batches.meta").unlink()
    msg = one_line_error(lambda: check_dataset("cifar10", str(tmp_path)))
    assert "lacks data_batch_3, batches.meta" in msg and "cifar-10-batches-py" in msg


def test_check_is_cheap_it_does_not_unpickle(tmp_path, monkeypatch):
    write_imagenet16(tmp_path)

    def refuse(*_a, **_k):
        raise AssertionError("check_dataset unpickled a batch")

    monkeypatch.setattr(batches_module, "read_pickle", refuse)
    check_dataset("imagenet16_120", str(tmp_path))


@pytest.mark.parametrize("cut", [37, 5000])
def test_truncated_batch_names_the_file(tmp_path, cut):
    ref = write_cifar10(tmp_path)
    target = ref["folder"] / "data_batch_2"
    blob = target.read_bytes()
    target.write_bytes(blob[:-cut])
    msg = one_line_error(lambda: check_dataset("cifar10", str(tmp_path)))  # the cheap check sees it
    assert str(target) in msg and "truncated" in msg
    # a cut that happens to end on the STOP byte passes the cheap check; the load still names the file
    target.write_bytes(blob[: len(blob) // 2] + b".")
    check_dataset("cifar10", str(tmp_path))
    msg = one_line_error(lambda: load_dataset("cifar10", data_dir=str(tmp_path)))
    assert str(target) in msg and ("truncated" in msg or "corrupted" in msg)


def test_tiny_file_is_refused_by_size(tmp_path):
    ref = write_cifar100(tmp_path)
    (ref["folder"] / "test").write_bytes(b"\x80\x02}.")
    msg = one_line_error(lambda: check_dataset("cifar100", str(tmp_path)))
    assert "test: 4 bytes, too small to hold one 32x32 image" in msg


def _rewrite(path, **changes):
    with open(path, "rb") as fh:
        entry = pickle.load(fh, encoding="latin1")
    entry.update({k.encode(): v for k, v in changes.items()})
    path.write_bytes(pickle.dumps(entry, protocol=2))


@pytest.mark.parametrize("change,expected", [
    ({"data": np.zeros((40, 3000), np.uint8)}, "'data' must be uint8 rows of 3x32x32 = 3072 pixels, found (40, 3000) uint8"),
    ({"data": np.zeros((40, 3072), np.float32)}, "found (40, 3072) float32"),
    ({"labels": [0] * 39}, "40 images but 39 labels"),
    ({"labels": [10] * 40}, "labels must be 0..9, found 10..10"),
    ({"labels": ["cat"] * 40}, "'labels' must be a list of integer labels"),
])
def test_wrong_shapes_lengths_and_labels_name_the_file(tmp_path, change, expected):
    ref = write_cifar10(tmp_path)
    target = ref["folder"] / "data_batch_4"
    _rewrite(target, **change)
    msg = one_line_error(lambda: load_dataset("cifar10", data_dir=str(tmp_path)))
    assert str(target) in msg and expected in msg


def test_imagenet_labels_outside_1_to_1000_are_refused(tmp_path):
    ref = write_imagenet16(tmp_path)
    target = ref["folder"] / "val_data"
    _rewrite(target, labels=[0] * 160)
    msg = one_line_error(lambda: load_dataset("imagenet16_120", data_dir=str(tmp_path)))
    assert str(target) in msg and "labels must be 1..1000, found 0..0" in msg


class _Shell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [_Shell, _Eval])
@pytest.mark.parametrize("where", ["data", "key"])
def test_malicious_pickle_is_refused_and_does_not_run(tmp_path, payload, where):
    ref = write_cifar10(tmp_path)
    marker = tmp_path / "ran"
    target = ref["folder"] / "test_batch"
    entry = {b"data": payload(marker), b"labels": [0]} if where == "data" else {b"labels": [0], b"x": payload(marker)}
    entry[b"filler"] = bytes(4000)  # large enough for the cheap size check
    target.write_bytes(pickle.dumps(entry, protocol=2))
    check_dataset("cifar10", str(tmp_path))  # the cheap check does not unpickle
    msg = one_line_error(lambda: load_dataset("cifar10", data_dir=str(tmp_path)))
    assert str(target) in msg and "holds something other than arrays" in msg
    assert ("system" in msg) if payload is _Shell else ("eval" in msg)
    assert not marker.exists()


@pytest.mark.parametrize("content,expected", [
    ("not json", "not an AutoDL split file (not JSON"),
    ('{"train": ["int", ["0", "1"]]}', "lacks the key 'valid'"),
    ('{"train": ["int", ["0", "x"]], "valid": ["int", ["2"]]}', "'train' holds a value that is not an integer index"),
    ('{"train": ["int", ["0", "1"]], "valid": ["int", ["1"]]}', "'train' and 'valid' share indices"),
    ('{"train": ["int", ["0", "1"]], "valid": ["int", ["2", "200"]]}', "'valid' indexes 2..200 but the train set"),
    ('{"train": "0 1", "valid": ["int", ["2"]]}', "'train' must be [\"int\", [indices...]]"),
])
def test_bad_split_file_names_the_file(tmp_path, content, expected):
    write_cifar10(tmp_path)
    split = tmp_path / "cifar-split.txt"
    split.write_text(content)
    msg = one_line_error(lambda: load_dataset("cifar10", data_dir=str(tmp_path)))
    assert str(split) in msg and expected in msg


def test_fashion_mnist_refuses_a_bucket_uri():
    msg = one_line_error(lambda: check_dataset("fashion_mnist", "s3://bucket/fashion"))
    assert "fashion_mnist reads a local folder" in msg


def test_process_cache_keeps_uris_as_uris():
    from diffnas.data.cache import _folder

    assert _folder("s3://bucket/data/") == "s3://bucket/data"
    assert _folder("rel") == os.path.abspath("rel")


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenet16_120"])
def test_folder_errors_fit_the_clis_one_line(tmp_path, name):
    """The CLI cuts a line at 200 characters: with a short path, where to get the files still shows."""
    from diffnas.cli import MAX_LINE

    source = batches_module.FORMATS[name].source
    for data_dir in (None, "/home/me/datasets/nope", str(tmp_path)):
        with pytest.raises(InputError) as err:
            check_dataset(name, data_dir)
        line = f"diffnas search: error: {err.value}"
        if data_dir != str(tmp_path):
            assert len(line) <= MAX_LINE and line.endswith(source), line
