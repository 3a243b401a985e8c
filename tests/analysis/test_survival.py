"""Kaplan–Meier survival and median with right-censoring, by hand and against scipy.stats.ecdf."""

from __future__ import annotations

import numpy as np
from scipy import stats

from diffnas.analysis.survival import kaplan_meier, kaplan_meier_median


def test_hand_computed_survival_and_median() -> None:
    # times 2(event) 3(event) 3(censored) 5(event) 8(censored):
    # S(2) = 4/5 = 0.8; S(3) = 0.8 * 3/4 = 0.6; S(5) = 0.6 * 1/2 = 0.3 (at risk at 5: {5, 8}) -> median 5
    time = np.array([2, 3, 3, 5, 8], dtype=float)
    event = np.array([1, 1, 0, 1, 0], dtype=bool)
    table = kaplan_meier(time, event, np.zeros(5, dtype=int))
    assert table["time"].tolist() == [2, 3, 5, 8]
    assert table["at_risk"].tolist() == [5, 4, 2, 1]
    np.testing.assert_allclose(table["survival"], [0.8, 0.6, 0.3, 0.3])
    assert kaplan_meier_median(time, event, np.zeros(5, dtype=int), 1).tolist() == [5.0]
    ref = stats.ecdf(stats.CensoredData(uncensored=time[event], right=time[~event]))
    np.testing.assert_allclose(ref.sf.evaluate(np.array([2, 3, 5, 8])), table["survival"])


def test_groups_are_independent_and_not_reached_is_nan() -> None:
    time = np.array([4, 4, 6, 10, 10, 3, 7], dtype=float)
    event = np.array([1, 1, 0, 0, 0, 1, 1], dtype=bool)
    groups = np.array([0, 0, 0, 1, 1, 2, 2])
    # group 0: S(4) = 1 - 2/3 = 1/3 -> median 4; group 1: all censored -> not reached;
    # group 2: S(3) = 0.5 (<= 0.5) -> median 3
    med = kaplan_meier_median(time, event, groups, 4)
    assert med[0] == 4.0 and np.isnan(med[1]) and med[2] == 3.0 and np.isnan(med[3])


def test_censored_early_runs_only_shrink_the_risk_set() -> None:
    # two runs censored at epoch 2 (e.g. ASHA-stopped), then 4 runs: events at 5, 6 and censored at 10, 10
    time = np.array([2, 2, 5, 6, 10, 10], dtype=float)
    event = np.array([0, 0, 1, 1, 0, 0], dtype=bool)
    # S(5) = 3/4, S(6) = 3/4 * 2/3 = 0.5 -> median 6 (a naive mean would ignore the censoring)
    assert kaplan_meier_median(time, event, np.zeros(6, dtype=int), 1).tolist() == [6.0]
