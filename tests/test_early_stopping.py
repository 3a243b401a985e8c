from diffnas.config import SearchConfig
from diffnas.early_stopping import EarlyStopper


def _rec(val, stability=0.5, entropy=0.9, eig=float("nan")):
    return {"val_acc": val, "stability": stability, "entropy_norm": entropy, "hessian_eig": eig}


def test_patience():
    s = EarlyStopper(SearchConfig.from_dict({"early_stop": {"patience": 2}}))
    assert s.update(_rec(0.5), 0) is None
    assert s.update(_rec(0.6), 0) is None
    assert s.update(_rec(0.6), 0) is None
    assert s.update(_rec(0.55), 0) == "patience"


def test_stability_needs_window_and_low_entropy():
    s = EarlyStopper(SearchConfig.from_dict({"early_stop": {"stability_window": 2, "entropy_threshold": 0.5}}))
    assert s.update(_rec(0.5, 1.0, 0.9), 0) is None
    assert s.update(_rec(0.6, 1.0, 0.9), 0) is None  # stable but entropy too high
    assert s.update(_rec(0.7, 0.5, 0.4), 0) is None  # entropy low but architecture changed
    assert s.update(_rec(0.7, 1.0, 0.4), 0) is None
    assert s.update(_rec(0.7, 1.0, 0.4), 0) == "stability"


def test_collapse_guards():
    s = EarlyStopper(SearchConfig.from_dict({"early_stop": {"max_skip": 2}}))
    assert s.update(_rec(0.5), 2) is None
    assert s.update(_rec(0.6), 3) == "skip_collapse"
    h = EarlyStopper(SearchConfig.from_dict({"early_stop": {"hessian_growth": 1.5, "hessian_window": 2}}))
    for eig, expected in [(1.0, None), (1.1, None), (1.4, None), (1.7, "hessian_growth")]:
        assert h.update(_rec(0.5, eig=eig), 0) == expected
    clone = EarlyStopper(SearchConfig.from_dict({}))
    clone.load_state_dict(h.state_dict())
    assert clone.eigs == h.eigs
