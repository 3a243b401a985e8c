"""sweeps.ranking: one ranking rule for `sweep status` and `sweep confirm` (no Ray needed)."""

from __future__ import annotations

import math

from diffnas.results import write_part
from sweeps.ranking import rank_phase, rank_rows


def _epochs(trial: str, cid: str, upto: int, m: float, phase: str = "explore") -> list[dict]:
    return [{"sweep": "s", "phase": phase, "trial_id": trial, "config_id": cid, "seed": 0,
             "epoch": e, "val_acc": m * e} for e in range(1, upto + 1)]


EPOCHS = _epochs("t1", "a", 4, 0.1) + _epochs("t2", "b", 4, 0.2) + _epochs("t3", "c", 1, 0.9)
TRIALS = [{"sweep": "s", "phase": "explore", "trial_id": t, "config_id": c, "seed": 0, "status": st}
          for t, c, st in (("t1", "a", "completed"), ("t2", "b", "completed"), ("t3", "c", "diverged"))]


def test_rank_phase_leaves_failed_runs_out():
    rung, ranked = rank_phase(EPOCHS, TRIALS, "s", "explore", "val_acc", "max")
    assert rung == 4
    assert [(cid, n) for cid, _, n in ranked] == [("b", 1), ("a", 1)]
    assert math.isclose(ranked[0][1], 0.8)
    # with the failed run kept, the rung falls to 1 and c wins: that is what rank_rows alone gives
    assert rank_rows(EPOCHS, "val_acc", "max")[0] == 1


def test_rank_phase_keeps_to_its_phase_and_sweep():
    other = _epochs("t9", "z", 9, 5.0, phase="confirm") + [dict(r, sweep="x") for r in _epochs("t8", "y", 1, 9.0)]
    assert rank_phase(EPOCHS + other, TRIALS, "s", "explore", "val_acc", "max") == \
        rank_phase(EPOCHS, TRIALS, "s", "explore", "val_acc", "max")


def test_status_and_confirm_rank_alike(tmp_path, tiny_spec):
    """`sweep status` names as best the config that `confirm` would put first (failed runs left out)."""
    from sweeps.runner import rank_configs, status_text, sweep_document, write_sweep
    from sweeps.spec import load_spec

    root = str(tmp_path / "r")
    doc = sweep_document(load_spec(tiny_spec()))
    doc["name"] = doc["spec"]["name"] = "s"
    doc["spec"]["metric"], doc["spec"]["mode"] = "val_acc", "max"
    write_sweep(root, doc)
    write_part(EPOCHS, root, "epochs")
    write_part(TRIALS, root, "trials")
    rung, ranked = rank_configs(root, "s", "val_acc", "max")
    assert (rung, ranked[0][0]) == (4, "b")
    text = status_text(root)
    assert "best so far: config b val_acc 0.8000 at epoch 4" in text, text
