"""Real, offline datasets for a search run, split into a weight half, an α half and a test split.

This module is the public face of three smaller ones, each holding one concept:

- :mod:`diffnas.data.idx` — reading IDX files (the (Fashion-)MNIST container format);
- :mod:`diffnas.data.pickles` — unpickling that resolves only numpy's array reconstruction (no
  pickle a user points at can run code);
- :mod:`diffnas.data.batches` — the pickled batch folders of CIFAR-10, CIFAR-100 and NB201's
  ImageNet16, and AutoDL's split files;
- :mod:`diffnas.data.remote` — an ``s3://`` data folder fetched once per machine into a local cache;
- :mod:`diffnas.data.datasets` — the dataset registry (``digits``, ``fashion_mnist``, ``mnist5k``,
  ``cifar10``, ``cifar100``, ``imagenet16_120``; each entry with its split rule, normalisation and
  augmentation) and the cheap :func:`check_dataset` used by config validation;
- :mod:`diffnas.data.splits` — the test / subset / weight-half / α-half split, resizing and
  normalisation (:func:`load_dataset`, :class:`DataSplits`);
- :mod:`diffnas.data.augment` — NB201's random crop + flip, batched on the device (imports torch;
  not imported here).

Importing it loads only numpy (torch, scikit-learn, mlxtend and pyarrow are imported when needed).
"""

from __future__ import annotations

from diffnas.data.batches import FORMATS
from diffnas.data.datasets import (
    DATASETS,
    DEFAULT_FASHION_MNIST_DIR,
    NB201_NORMALIZATION,
    SPLIT_RULES,
    DatasetLoader,
    RawDataset,
    available_datasets,
    check_dataset,
    register_dataset,
)
from diffnas.data.idx import IDX_FILES, find_idx_file, read_idx, read_idx_header
from diffnas.data.splits import FIXED_HALVES_SEED, TEST_SPLIT_SEED, DataSplits, load_dataset

__all__ = [
    "DATASETS",
    "DEFAULT_FASHION_MNIST_DIR",
    "FIXED_HALVES_SEED",
    "FORMATS",
    "IDX_FILES",
    "NB201_NORMALIZATION",
    "SPLIT_RULES",
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
