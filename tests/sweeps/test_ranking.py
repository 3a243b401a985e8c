"""diffnas.sweeps.ranking: one ranking rule for `sweep status` and `sweep confirm` (no Ray needed)."""

from __future__ import annotations

import math

import pytest

from diffnas.results.parts import write_part
from diffnas.sweeps.ranking import confirm_plan, phase_rows, rank_phase, rank_rows, select_configs, sweep_rows


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


def test_rank_rows_uses_the_rung_every_config_reached():
    nan = float("nan")
    rows = [
        # config a: runs to epoch 3, but only epoch 2 counts (b stopped there)
        {"config_id": "a", "epoch": 1, "m": 0.1}, {"config_id": "a", "epoch": 2, "m": 0.2},
        {"config_id": "a", "epoch": 3, "m": 0.9},
        {"config_id": "b", "epoch": 1, "m": 0.3}, {"config_id": "b", "epoch": 2, "m": 0.5},
        {"config_id": "b", "epoch": 2, "m": 0.3},  # a second seed of b
        {"config_id": "c", "epoch": 1, "m": 0.1}, {"config_id": "c", "epoch": 2, "m": nan},
    ]
    rung, ranked = rank_rows(rows, "m", "max")
    assert rung == 2
    assert [(cid, n) for cid, _, n in ranked] == [("b", 2), ("a", 1), ("c", 0)]
    assert ranked[0][1] == pytest.approx(0.4)
    _, ranked_min = rank_rows(rows, "m", "min")
    assert [cid for cid, _, _ in ranked_min] == ["a", "b", "c"]  # NaN last either way


def test_sweep_rows_reads_one_sweep_and_ranks_without_runs_that_diverged_or_errored(tmp_path):
    root = str(tmp_path)
    other = [dict(r, sweep="x", trial_id="x" + r["trial_id"], val_acc=9.0) for r in EPOCHS]
    write_part(EPOCHS + other, root, "epochs")
    write_part(TRIALS + [dict(r, sweep="x", trial_id="x" + r["trial_id"]) for r in TRIALS], root, "trials")
    epochs, trials = sweep_rows(root, "s", "val_acc", extra=("missing",))
    assert sorted((r["trial_id"], r["epoch"]) for r in epochs) == sorted((r["trial_id"], r["epoch"]) for r in EPOCHS)
    assert sorted(r["trial_id"] for r in trials) == ["t1", "t2", "t3"]
    assert set(epochs[0]) == {"sweep", "phase", "trial_id", "config_id", "seed", "epoch", "val_acc"}
    assert set(trials[0]) == {"sweep", "phase", "trial_id", "config_id", "seed", "status"}
    rung, ranked = rank_phase(epochs, trials, "s", "explore", "val_acc", "max")
    assert rung == 4  # the run of c that diverged at epoch 1 does not pull the rung down
    assert [cid for cid, _, _ in ranked] == ["b", "a"]


def test_status_and_confirm_rank_alike(tmp_path, tiny_spec):
    """`sweep status` names as best the config that `confirm` would put first (failed runs left out)."""
    from diffnas.sweeps.commands import status_text
    from diffnas.sweeps.results_folder import sweep_document, write_sweep
    from diffnas.sweeps.spec_file import load_spec

    root = str(tmp_path / "r")
    doc = sweep_document(load_spec(tiny_spec()))
    doc["name"] = doc["spec"]["name"] = "s"
    doc["spec"]["metric"], doc["spec"]["mode"] = "val_acc", "max"
    write_sweep(root, doc)
    write_part(EPOCHS, root, "epochs")
    write_part(TRIALS, root, "trials")
    # confirm's ranking: select_configs over the explore rows sweep_rows reads
    best = select_configs(phase_rows(*sweep_rows(root, "s", "val_acc"), "s", "explore"), "val_acc", "max", 1)
    assert [(c.config_id, c.rung) for c in best] == [("b", 4)]
    text = status_text(root)
    assert "best so far: config b val_acc 0.8000 at epoch 4" in text, text


# -- per-axis selection (confirm.per) ------------------------------------------------------
def _rows() -> list[dict]:
    """Explore epochs of 5 configs over 2 samplers, as ASHA leaves them (grace period 2, max_t 4):
    softmax configs a, b run to epoch 4; gumbel configs c, d were stopped at epoch 2 except d;
    e is gumbel and only ever reached epoch 1 (an earlier failure pulled nothing else down)."""
    rows = []

    def add(cid: str, sampler: str, values: list[float], seed: int = 0) -> None:
        for epoch, v in enumerate(values, start=1):
            rows.append({"config_id": cid, "config/sampler": sampler, "trial_id": f"{cid}{seed}",
                         "epoch": epoch, "val_acc": v})

    add("a", "softmax", [0.5, 0.90, 0.93, 0.95])
    add("b", "softmax", [0.5, 0.80, 0.85, 0.90])
    add("b", "softmax", [0.5, 0.84, 0.86, 0.91], seed=1)
    add("c", "gumbel", [0.2, 0.30])
    add("d", "gumbel", [0.2, 0.25, 0.60, 0.70])
    add("e", "gumbel_hard", [0.1, 0.20])
    return rows


def test_without_per_the_global_top_k():
    picks = select_configs(_rows(), "val_acc", "max", top_k=2)
    # one rung for all: epoch 2 (the highest every config reached); the two softmax configs win
    assert [p.config_id for p in picks] == ["a", "b"]
    assert {p.rung for p in picks} == {2} and all(p.value is None for p in picks)
    assert picks[1].score == pytest.approx(0.82) and picks[1].n == 2


def test_per_axis_keeps_the_best_config_of_every_value():
    picks = select_configs(_rows(), "val_acc", "max", top_k=1, per="sampler")
    assert [(p.value, p.config_id) for p in picks] == [("softmax", "a"), ("gumbel", "c"), ("gumbel_hard", "e")]
    by_value = {p.value: p for p in picks}
    # each value is ranked at its own rung: every softmax config reached 4, every gumbel config 2
    assert by_value["softmax"].rung == 4 and by_value["gumbel"].rung == 2 and by_value["gumbel_hard"].rung == 2
    assert by_value["gumbel"].score == pytest.approx(0.30)


def test_per_axis_top_k_and_min_mode():
    picks = select_configs(_rows(), "val_acc", "min", top_k=2, per="sampler")
    # lower is better: the gumbel part comes first, and each value keeps up to two configs
    assert [(p.value, p.config_id) for p in picks] == [
        ("gumbel_hard", "e"), ("gumbel", "d"), ("gumbel", "c"), ("softmax", "b"), ("softmax", "a")]


def test_per_axis_with_a_value_that_has_no_metric():
    rows = _rows() + [{"config_id": "f", "config/sampler": "enhanced", "trial_id": "f0", "epoch": 1,
                       "val_acc": math.nan}]
    picks = select_configs(rows, "val_acc", "max", top_k=1, per="sampler")
    assert picks[-1].value == "enhanced" and math.isnan(picks[-1].score)  # kept, ranked last
    assert len(picks) == 4


def test_per_axis_confirm_plan_is_one_config_per_value_plus_the_baseline():
    picks = select_configs(_rows(), "val_acc", "max", top_k=1, per="sampler")
    assert confirm_plan(picks, "base") == ["a", "c", "e", "base"]
    # a baseline that is already the best of its value is not run twice
    assert confirm_plan(picks, "c") == ["a", "c", "e"]
