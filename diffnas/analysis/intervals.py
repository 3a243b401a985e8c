"""Student-t confidence interval of a mean, for the handful of seeds of an experiment.

For observations x_1..x_n (NaNs dropped) with mean x̄ and sample standard deviation s (ddof 1), the
two-sided 95 % interval is

    x̄ ± t_{0.975, n−1} · s / √n,

with t_{0.975, n−1} the Student-t quantile (``scipy.stats.t.ppf``). At n = 5 it is wider than a
percentile bootstrap (:mod:`diffnas.analysis.bootstrap`), which under-covers with so few runs. With
fewer than two observations the bounds are NaN (no spread to estimate); with none the mean is NaN too.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def t_interval(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): mean ± t_{0.975, n−1}·s/√n; NaN bounds for n < 2."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    h = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - h, m + h
