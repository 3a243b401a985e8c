"""End to end: ``diffnas report`` on the quick sweep's results (the shared ``sweep_results`` fixture:
explore with ASHA, then confirm) writes every format, compares in the confirm phase only."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from diffnas.cli import main


@pytest.mark.ray
def test_report_on_sweep(sweep_results, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", str(sweep_results), "--out", str(out), "--quiet", "--n-resamples", "500"]) == 0
    names = set(os.listdir(out))
    expected = {"runs.csv", "aggregate.csv", "ranking.csv", "runs.parquet", "aggregate.parquet",
                "ranking.parquet", "report.md", "tables.tex", "report.html"}
    expected |= {f"{n}.{e}" for n in ("convergence", "op_probs", "cell", "outcome", "diagnostics") for e in ("png", "svg")}
    assert expected <= names, sorted(expected - names)
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs["phase"]) == {"explore", "confirm"}
    assert runs["convergence_epoch"].notna().all() and (runs["convergence_epoch"] >= 1).all()
    ranking = pd.read_csv(out / "ranking.csv")
    assert set(ranking["phase"]) == {"confirm"}  # comparisons never mix phases
    assert ranking["baseline"].sum() == 1  # sweep.json's baseline found among the confirm configs
    assert (out / "comparison.csv").exists()  # the top config differs from the baseline
    cmp = pd.read_csv(out / "comparison.csv")
    assert cmp["n_baseline"].max() <= 2  # confirm seeds only
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 5
