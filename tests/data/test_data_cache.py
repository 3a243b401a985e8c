"""Process-level dataset cache: one read per dataset, one split per data config, same result as uncached."""

import pytest
import torch

from diffnas.config import SearchConfig
from diffnas.data import cache as data_cache
from diffnas.data.datasets import DATASETS
from diffnas.data.splits import load_dataset
from diffnas.search.run import SearchRun
from tests.helpers import TINY


@pytest.fixture
def counted(monkeypatch):
    data_cache.clear()
    calls = []
    original = DATASETS["digits"]

    class Counting:  # the registry entry, counting its loads
        def __getattr__(self, name):
            return getattr(original, name)

        def __call__(self, data_dir):
            calls.append(data_dir)
            return original(data_dir)

    monkeypatch.setitem(DATASETS, "digits", Counting())
    yield calls
    data_cache.clear()


def test_same_config_is_loaded_once_and_equals_the_uncached_splits(counted):
    a = data_cache.load_dataset_cached("digits", subset=200, seed=3)
    b = data_cache.load_dataset_cached("digits", subset=200, seed=3)
    ref = load_dataset("digits", subset=200, seed=3)
    assert len(counted) == 2  # one for the cache, one for the uncached reference
    assert a is not b and a.x_weights is b.x_weights  # own object, shared tensors
    for name in ("x_weights", "y_weights", "x_alpha", "y_alpha", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(ref, name)), name
    assert data_cache.stats["split_hits"] == 1 and data_cache.stats["split_misses"] == 1


def test_another_seed_splits_again_but_reads_the_raw_images_once(counted):
    a = data_cache.load_dataset_cached("digits", subset=200, seed=0)
    b = data_cache.load_dataset_cached("digits", subset=200, seed=1)
    assert len(counted) == 1
    assert not torch.equal(a.y_weights, b.y_weights)
    assert data_cache.stats["raw_hits"] == 1 and data_cache.stats["split_misses"] == 2


def test_bounded_least_recently_used(counted):
    for seed in range(data_cache.MAX_SPLITS + 2):
        data_cache.load_dataset_cached("digits", subset=100, seed=seed)
    assert len(data_cache._splits) == data_cache.MAX_SPLITS


def test_runs_in_one_process_share_the_load_and_rebinding_does_not_touch_the_cache(counted):
    cfg = SearchConfig.validate({**TINY, "epochs": 1})
    first = SearchRun(cfg)
    first.data.x_weights = torch.zeros(1)  # a run may rebind its fields
    second = SearchRun(cfg.replace(seed=0))
    assert len(counted) == 1
    assert second.data.x_weights.shape[0] > 1
