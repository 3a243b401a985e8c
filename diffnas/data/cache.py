"""Process-level dataset cache: a process that runs many searches (a Ray worker reused across
trials, a test session) reads and splits each dataset once.

Two least-recently-used levels, each bounded (:data:`MAX_RAW`, :data:`MAX_SPLITS` entries):

* raw images, keyed by (dataset, absolute data folder): what the registry's loader reads from
  disk or a bundled package — the part that does not depend on the seed;
* finished splits, keyed by the whole data config (dataset, folder, subset, resolution, seed,
  test_fraction), i.e. every argument :func:`diffnas.data.splits.load_dataset` depends on.

A hit returns a new :class:`~diffnas.data.splits.DataSplits` (a shallow copy) holding the cached
tensors: a run may rebind its fields (``SearchRun`` moves them to its device) without touching
the cache, and nothing in a search writes into them (batches are indexed copies). ``stats``
counts hits and misses per level; :func:`clear` empties both.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffnas.data.datasets import RawDataset
    from diffnas.data.splits import DataSplits

MAX_RAW = 2
MAX_SPLITS = 4

_lock = threading.Lock()
_raw: OrderedDict[tuple, Any] = OrderedDict()
_splits: OrderedDict[tuple, Any] = OrderedDict()
stats = {"raw_hits": 0, "raw_misses": 0, "split_hits": 0, "split_misses": 0}


def _folder(data_dir: str | None) -> str | None:
    """The cache key of a data folder: an absolute local path, or a bucket URI as given (never
    handed to ``os.path``)."""
    if data_dir is None:
        return None
    text = os.fspath(data_dir)
    if "://" in text and not text.startswith("file://"):
        return text.rstrip("/")
    return os.path.abspath(text)


def _get(cache: OrderedDict, key: tuple, limit: int, make, counter: str):
    with _lock:
        if key in cache:
            cache.move_to_end(key)
            stats[counter + "_hits"] += 1
            return cache[key]
    value = make()
    with _lock:
        stats[counter + "_misses"] += 1
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)
    return value


def raw_dataset(name: str, data_dir: str | None) -> RawDataset:
    """The registry loader's result for (``name``, ``data_dir``), read once per process."""
    from diffnas.data.datasets import dataset_entry

    entry = dataset_entry(name)
    return _get(_raw, (name, _folder(data_dir)), MAX_RAW, lambda: entry(data_dir), "raw")


def load_dataset_cached(name: str, *, subset: int | None = None, resolution: int | None = None,
                        data_dir: str | None = None, seed: int = 0, test_fraction: float = 0.2) -> DataSplits:
    """:func:`diffnas.data.splits.load_dataset` with both cache levels (same arguments, same result)."""
    from diffnas.data.splits import load_dataset

    key = (name, subset, resolution, _folder(data_dir), int(seed), float(test_fraction))
    splits = _get(_splits, key, MAX_SPLITS, lambda: load_dataset(
        name, subset=subset, resolution=resolution, data_dir=data_dir, seed=seed, test_fraction=test_fraction,
        raw_loader=raw_dataset), "split")
    return dataclasses.replace(splits)


def clear() -> None:
    """Forget every cached dataset and reset the counters."""
    with _lock:
        _raw.clear()
        _splits.clear()
        for k in stats:
            stats[k] = 0
