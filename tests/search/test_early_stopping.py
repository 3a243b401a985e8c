"""diffnas.search.early_stopping: each rule and collapse guard fires on a constructed case, and not before."""

import pytest

from diffnas.config import SearchConfig
from diffnas.search.early_stopping import RULES, EarlyStopper, build_rules

OFF = {"max_skip_share": None, "max_none_share": None, "gap_growth": None}


PLAIN = {"recipe": "plain"}  # the global defaults, where the guards are on


def _cfg(**early_stop):
    return SearchConfig.from_dict({"early_stop": {**OFF, **early_stop}})


def _rec(val, stability=0.5, entropy=0.9, eig=float("nan"), skip=0.0, none=0.0, disc=None):
    disc = val if disc is None else disc
    return {"val_acc": val, "stability": stability, "entropy_norm": entropy, "hessian_eig": eig,
            "skip_fraction": skip, "none_fraction": none, "discrete_val_acc": disc, "gap": val - disc}


def test_patience():
    s = EarlyStopper(_cfg(patience=2))
    assert s.update(_rec(0.5), 0) is None
    assert s.update(_rec(0.6), 0) is None
    assert s.update(_rec(0.6), 0) is None
    assert s.update(_rec(0.55), 0) == "patience"


def test_stability_needs_window_and_low_entropy():
    s = EarlyStopper(_cfg(stability_window=2, entropy_threshold=0.5))
    assert s.update(_rec(0.5, 1.0, 0.9), 0) is None
    assert s.update(_rec(0.6, 1.0, 0.9), 0) is None  # stable but entropy too high
    assert s.update(_rec(0.7, 0.5, 0.4), 0) is None  # entropy low but architecture changed
    assert s.update(_rec(0.7, 1.0, 0.4), 0) is None
    assert s.update(_rec(0.7, 1.0, 0.4), 0) == "stability"


def test_collapse_guards():
    s = EarlyStopper(_cfg(max_skip=2))
    assert s.update(_rec(0.5), 2) is None
    assert s.update(_rec(0.6), 3) == "skip_collapse"
    h = EarlyStopper(_cfg(hessian_growth=1.5, hessian_window=2))
    for eig, expected in [(1.0, None), (1.1, None), (1.4, None), (1.7, "hessian_growth")]:
        assert h.update(_rec(0.5, eig=eig), 0) == expected
    clone = EarlyStopper(_cfg(hessian_growth=1.5, hessian_window=2))
    clone.load_state_dict(h.state_dict())
    assert clone.rules["hessian_growth"].eigs == h.rules["hessian_growth"].eigs


def test_guards_are_on_in_the_global_defaults_and_off_in_every_samplers_recipe():
    assert set(build_rules(SearchConfig.from_dict(PLAIN))) == {"skip_share", "none_share", "gap_growth"}
    for sampler in ("softmax", "gumbel", "gumbel_hard", "enhanced", "dirichlet"):  # they cut improving runs
        assert build_rules(SearchConfig.from_dict({"sampler": sampler})) == {}, sampler
    assert set(RULES) >= {"patience", "stability", "skip_collapse", "skip_share", "none_share", "gap_growth",
                          "hessian_growth"}


def test_skip_share_guard_fires_on_a_skip_collapse():
    """DARTS' failure: the argmax cell drifts to skip_connect (4, then 5, then 6 of 6 edges)."""
    s = EarlyStopper(SearchConfig.from_dict(PLAIN))
    shares = [1 / 6, 2 / 6, 4 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0]
    got = [s.update(_rec(0.8, skip=x), 0) for x in shares]
    # one epoch above 0.5 is not enough (guard_patience 2); two in a row is
    assert got == [None, None, None, None, None, "skip_share", "skip_share"]


def test_none_share_guard_fires_on_a_none_collapse():
    s = EarlyStopper(SearchConfig.from_dict({**PLAIN, "early_stop": {"guard_patience": 1}}))
    assert s.update(_rec(0.5, none=0.5), 0) is None  # half is not more than half
    assert s.update(_rec(0.5, none=4 / 6), 0) == "none_share"


def test_gap_growth_guard_fires_when_the_discrete_cell_falls_behind():
    s = EarlyStopper(SearchConfig.from_dict(PLAIN))
    # supernet val_acc climbs while the argmax cell's accuracy falls: gap 0, 0.05, 0.2, 0.4, 0.55
    curve = [(0.6, 0.6), (0.7, 0.65), (0.8, 0.6), (0.85, 0.45), (0.9, 0.35)]
    got = [s.update(_rec(v, disc=d), 0) for v, d in curve]
    # 0.4 - min(0, .05, .2) = 0.4 > 0.3 (first), 0.55 - 0.05 = 0.5 > 0.3 (second in a row)
    assert got == [None, None, None, None, "gap_growth"]
    healthy = EarlyStopper(SearchConfig.from_dict(PLAIN))
    assert all(healthy.update(_rec(0.5 + 0.05 * i, disc=0.45 + 0.05 * i), 0) is None for i in range(8))


def test_guard_state_round_trips():
    s = EarlyStopper(SearchConfig.from_dict(PLAIN))
    s.update(_rec(0.8, skip=0.9), 0)
    clone = EarlyStopper(SearchConfig.from_dict(PLAIN))
    clone.load_state_dict(s.state_dict())
    assert clone.update(_rec(0.8, skip=0.9), 0) == "skip_share"


@pytest.mark.parametrize("key", ["max_skip_share", "max_none_share", "gap_growth"])
def test_each_guard_can_be_turned_off(key):
    rules = build_rules(SearchConfig.from_dict({**PLAIN, "early_stop": {key: None}}))
    name = {"max_skip_share": "skip_share", "max_none_share": "none_share", "gap_growth": "gap_growth"}[key]
    assert name not in rules and len(rules) == 2
