"""The README demo, end to end: sweeps/quick.yaml explored on local Ray, confirmed, reported.

Checks the issue's promises for the demo: >= 8 trials with some stopped by ASHA; confirm runs for
exactly the top configs and the baseline with fresh seeds; epoch rows = the distinct epochs each
trial reported; the report writes every format and its HTML renders in headless Chromium."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from diffnas.cli import main
from tests.helpers import assert_html_renders

QUICK = os.path.join(os.path.dirname(__file__), "..", "sweeps", "quick.yaml")

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_quick_demo_explore_confirm_report(ray_session, tmp_path: Path, capsys) -> None:
    root = tmp_path / "quick"
    assert main(["sweep", "run", QUICK, "--storage", str(root)]) == 0
    assert main(["sweep", "confirm", str(root)]) == 0
    epochs = pd.read_parquet(root / "epochs")
    trials = pd.read_parquet(root / "trials")
    meta = json.loads((root / "sweep.json").read_text())

    explore = trials[trials["phase"] == "explore"]
    assert len(explore) >= 8
    assert (explore["status"] == "asha_stopped").any()
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    for row in trials.itertuples():  # every epoch a trial reported, once
        got = sorted(epochs.loc[epochs["trial_id"] == row.trial_id, "epoch"])
        assert got == list(range(1, row.epochs_run + 1)), row.trial_id

    confirm_exp = [e for e in meta["experiments"] if e["phase"] == "confirm"][0]
    confirm = trials[trials["phase"] == "confirm"]
    expected_ids = set(confirm_exp["top_k"]) | {meta["baseline_config_id"]}
    assert set(confirm["config_id"]) == expected_ids
    assert set(confirm["seed"]).isdisjoint(set(explore["seed"]))
    # per-sampler confirm: every sampler's best config is compared, ASHA's early rung notwithstanding
    assert confirm_exp["per"] == "sampler"
    assert set(confirm["config/sampler"]) == {"softmax", "gumbel", "gumbel_hard", "enhanced"}
    assert confirm.groupby("config/sampler")["config_id"].nunique().to_dict() == {
        "softmax": 2, "gumbel": 1, "gumbel_hard": 1, "enhanced": 1}  # softmax: its best + the baseline
    # runs end completed, or stopped by a collapse guard (which names itself)
    assert confirm["status"].isin(["completed", "early_stopped"]).all()
    assert (confirm.loc[confirm["status"] == "completed", "epochs_run"] == 6).all()
    guarded = confirm[confirm["status"] == "early_stopped"]
    assert guarded["stop_reason"].isin(["skip_share", "none_share", "gap_growth"]).all()

    out = tmp_path / "report"
    assert main(["report", str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "## Ranking" in printed and "(baseline)" in printed
    names = {p.name for p in out.iterdir()}
    assert {"runs.csv", "aggregate.csv", "ranking.csv", "comparison.csv", "report.md", "tables.tex",
            "report.html", "runs.parquet"} <= names
    assert {f"{n}.{e}" for n in ("convergence", "op_probs", "cell", "outcome", "diagnostics") for e in ("png", "svg")} <= names
    assert_html_renders(out / "report.html", tmp_path, n_figures=5)
