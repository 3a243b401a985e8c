"""Percentile bootstrap confidence intervals of means, vectorised across many groups at once.

Method (the same as ``scipy.stats.bootstrap(data, np.mean, method="percentile", rng=seed)``):
for a group with observations x_1..x_n (in the order given, NaNs dropped), draw
``idx = numpy.random.default_rng(seed).integers(0, n, (B, n))`` — B resamples of n indices with
replacement — and compute the resample means θ*_b = (1/n) Σ_j x[idx_bj]. The two-sided
100·c % interval is [Q(α), Q(1 − α)] with α = (1 − c)/2 and Q the linear-interpolation quantile
of θ*_1..θ*_B (numpy's / scipy's default ``linear`` method).

Vectorisation: the draw depends only on (seed, n), so every group of the same size n shares one
index matrix. It is turned into a count matrix C (B × n, C_bj = #{k : idx_bk = j}) and the
resample means of all k groups of that size are one product Θ = X Cᵀ / n with X (k × n). The only
Python loop is over the distinct group sizes. Each group's interval therefore equals what scipy
returns for that group alone with the same seed (up to floating-point summation order).

Two-sample difference of means (:func:`bootstrap_diff_ci`) follows scipy's independent
(``paired=False``) resampling of ``data=(x, y)``: one generator draws x's indices (B × n_x) and then
y's (B × n_y); θ*_b = mean(x*_b) − mean(y*_b).

Groups with fewer than two observations get NaN bounds (scipy refuses them).
"""

from __future__ import annotations

import numpy as np

DEFAULT_N_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0


def confidence_label(confidence: float) -> str:
    """The confidence level as captions print it: 0.95 -> ``"95%"``, 0.9 -> ``"90%"``, 0.999 -> ``"99.9%"``."""
    return f"{round(confidence * 100, 6):g}%"


def resample_counts(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``rng.integers(0, n, (B, n))`` (scipy's draw) and return the B × n count matrix."""
    idx = rng.integers(0, n, (n_resamples, n))
    flat = (np.arange(n_resamples)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _by_group(values: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop NaNs, stable-sort by group; return sorted values, per-group counts and start offsets."""
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    valid = ~np.isnan(values) & (groups >= 0)
    v, g = values[valid], groups[valid]
    order = np.argsort(g, kind="stable")
    v, g = v[order], g[order]
    counts = np.bincount(g, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return v, counts, starts


def _quantiles(theta: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1.0 - confidence) / 2.0
    q = np.quantile(theta, [alpha, 1.0 - alpha], axis=1)
    return q[0], q[1]


def bootstrap_mean_ci(
    values: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    *,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap CI of the mean of ``values`` within each group code 0..n_groups-1.

    Returns ``(low, high)``, arrays of length ``n_groups`` (NaN where a group has < 2 values).
    """
    v, counts, starts = _by_group(values, groups, n_groups)
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    for n in np.unique(counts[counts >= 2]):
        n = int(n)
        members = np.flatnonzero(counts == n)
        x = v[starts[members][:, None] + np.arange(n)]
        c = resample_counts(n, n_resamples, np.random.default_rng(seed))
        theta = x @ c.T / n
        low[members], high[members] = _quantiles(theta, confidence)
    return low, high


def bootstrap_diff_ci(
    values: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    reference: np.ndarray,
    *,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap CI of mean(group) − mean(reference) for every group.

    Equals ``scipy.stats.bootstrap((x, reference), lambda x, y, axis: x.mean(axis) - y.mean(axis),
    method="percentile", rng=seed)`` per group.
    """
    v, counts, starts = _by_group(values, groups, n_groups)
    ref = np.asarray(reference, dtype=np.float64)
    ref = ref[~np.isnan(ref)]
    low = np.full(n_groups, np.nan)
    high = np.full(n_groups, np.nan)
    m = ref.size
    if m < 2:
        return low, high
    for n in np.unique(counts[counts >= 2]):
        n = int(n)
        members = np.flatnonzero(counts == n)
        x = v[starts[members][:, None] + np.arange(n)]
        rng = np.random.default_rng(seed)
        cx = resample_counts(n, n_resamples, rng)
        cy = resample_counts(m, n_resamples, rng)
        theta = x @ cx.T / n - (cy @ ref / m)[None, :]
        low[members], high[members] = _quantiles(theta, confidence)
    return low, high
