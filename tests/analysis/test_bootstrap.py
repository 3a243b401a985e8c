"""Vectorised percentile bootstrap == scipy.stats.bootstrap on the same data and seed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from diffnas.analysis.bootstrap import bootstrap_diff_ci, bootstrap_mean_ci


def _scipy_ci(*samples: np.ndarray, seed: int, n_resamples: int = 2000, confidence: float = 0.95):
    if len(samples) == 1:
        statistic = np.mean
    else:
        def statistic(x, y, axis):
            return np.mean(x, axis=axis) - np.mean(y, axis=axis)
    res = stats.bootstrap(samples, statistic, method="percentile", n_resamples=n_resamples,
                          confidence_level=confidence, rng=seed)
    return res.confidence_interval.low, res.confidence_interval.high


@pytest.mark.parametrize("seed", [0, 7])
def test_mean_ci_equals_scipy_for_every_group(seed: int) -> None:
    rng = np.random.default_rng(123)
    samples = [rng.normal(0.8, 0.05, size=n) for n in (5, 8, 5, 3, 20)]
    values = np.concatenate(samples)
    groups = np.concatenate([[g] * s.size for g, s in enumerate(samples)])
    low, high = bootstrap_mean_ci(values, groups, len(samples), n_resamples=2000, seed=seed)
    for g, sample in enumerate(samples):
        lo, hi = _scipy_ci(sample, seed=seed)
        np.testing.assert_allclose([low[g], high[g]], [lo, hi], rtol=1e-12, atol=1e-15)


def test_groups_may_be_interleaved_and_nans_are_dropped() -> None:
    a = np.array([0.1, 0.5, np.nan, 0.3, 0.9])
    b = np.array([1.0, 2.0, 4.0])
    values = np.array([a[0], b[0], a[1], a[2], b[1], a[3], b[2], a[4]])
    groups = np.array([0, 1, 0, 0, 1, 0, 1, 0])
    low, high = bootstrap_mean_ci(values, groups, 2, n_resamples=500, confidence=0.9, seed=3)
    np.testing.assert_allclose([low[0], high[0]], _scipy_ci(a[~np.isnan(a)], seed=3, n_resamples=500,
                                                            confidence=0.9), rtol=1e-12)
    np.testing.assert_allclose([low[1], high[1]], _scipy_ci(b, seed=3, n_resamples=500, confidence=0.9), rtol=1e-12)


def test_groups_with_fewer_than_two_values_get_nan() -> None:
    low, high = bootstrap_mean_ci(np.array([1.0, 2.0, np.nan]), np.array([0, 1, 1]), 3)
    assert np.isnan(low).all() and np.isnan(high).all()


def test_difference_ci_equals_scipy_two_sample() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(size=6)
    samples = [rng.normal(0.3, 1.0, size=n) for n in (6, 4, 6)]
    values = np.concatenate(samples)
    groups = np.concatenate([[g] * s.size for g, s in enumerate(samples)])
    low, high = bootstrap_diff_ci(values, groups, 3, reference, n_resamples=2000, seed=11)
    for g, sample in enumerate(samples):
        np.testing.assert_allclose([low[g], high[g]], _scipy_ci(sample, reference, seed=11), rtol=1e-12, atol=1e-14)
