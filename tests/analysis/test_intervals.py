"""diffnas.analysis.intervals: the Student-t interval of a mean == scipy's, NaNs dropped, NaN bounds below n = 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from diffnas.analysis.intervals import t_interval


def test_t_interval_equals_scipy_and_ignores_nans() -> None:
    x = np.array([93.76, 93.12, np.nan, 94.37, 91.05, 93.76])
    kept = x[~np.isnan(x)]
    mean, low, high = t_interval(x)
    ref = stats.t.interval(0.95, kept.size - 1, loc=kept.mean(), scale=stats.sem(kept))
    assert mean == pytest.approx(kept.mean())
    assert (low, high) == pytest.approx(ref)


def test_t_interval_of_fewer_than_two_values_has_nan_bounds() -> None:
    mean, low, high = t_interval([93.0, math.nan])
    assert mean == 93.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in t_interval([]))
