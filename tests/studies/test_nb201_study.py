"""The NB201 sampler study spec (studies/nb201/specs/nb201_study_small.yaml) end to end on a tiny budget.

The spec's own axes, samplers, metric (proxy_score), ASHA explore and per-sampler confirm are kept;
only the budget shrinks (100 images at 8 px, 4 channels, 1 stage, 2 epochs, 1 confirm seed). Checks
that explore covers every sampler, confirm keeps one config per sampler plus the baseline, every
confirmed run records NB201 truth (CIFAR-10 test %) of real cells, and the report carries the truth
columns beside the published anchors."""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from diffnas.cli import main
from diffnas.selection.truth import ANCHORS, bundled_table_path

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "studies" / "nb201" / "specs"
SMALL = SPECS / "nb201_study_small.yaml"
FULL = SPECS / "nb201_study.yaml"
FASHION = "/usr/share/datasets/fashion-mnist"

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_study_specs_validate_and_cross_every_sampler_with_the_axes() -> None:
    from diffnas.sweeps.spec_file import load_spec

    for path in (FULL, SMALL):
        spec = load_spec(str(path))
        assert spec.base["space"] == "nb201" and spec.base["ops"] is None  # all 5 ops
        assert spec.base["dataset"] == "fashion_mnist"
        assert set(spec.grid["sampler"]) >= {"softmax", "gumbel", "gumbel_hard", "enhanced"}
        assert set(spec.sample) == {"temperature.schedule", "clip.mode", "entropy_weight",
                                    "early_stop.stability_window"}
        assert spec.metric == "proxy_score" and spec.scheduler["type"] == "asha"
        assert spec.confirm["per"] == "sampler"
    assert load_spec(str(FULL)).confirm["seeds"] == 5


def _tiny(tmp_path: Path) -> str:
    raw = yaml.safe_load(SMALL.read_text())
    raw["extends"] = str(FULL)  # the small spec extends the study spec; from tmp_path by its absolute path
    raw["base"]["data"].update(subset=100, resolution=8)
    raw["base"]["model"] = {"channels": 4, "stages": 1}
    raw["base"]["epochs"] = 2
    raw["base"]["metrics"] = {"eval_batches": 1, "proxy_batch": 16}
    raw["scheduler"]["grace_period"] = 1
    raw["confirm"]["seeds"] = 1
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def test_small_study_runs_end_to_end_with_truth_in_the_report(ray_session, tmp_path: Path, capsys) -> None:
    if not os.path.isdir(FASHION):
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{FASHION} missing under CI: .ci/apt-packages.txt installs dataset-fashion-mnist")
        pytest.skip(f"{FASHION} missing (apt-get install dataset-fashion-mnist)")
    root = tmp_path / "study"
    spec = _tiny(tmp_path)
    assert main(["sweep", "run", spec, "--storage", str(root)]) == 0
    assert main(["sweep", "confirm", str(root)]) == 0
    trials = pd.read_parquet(root / "trials")
    from diffnas.sweeps.spec_file import load_spec

    samplers = set(load_spec(str(SMALL)).grid["sampler"])  # the study's, inherited through extends
    explore, confirm = trials[trials["phase"] == "explore"], trials[trials["phase"] == "confirm"]
    assert set(explore["config/sampler"]) == samplers
    assert set(confirm["config/sampler"]) == samplers  # per-sampler confirm: no sampler drops out
    assert confirm["config_id"].nunique() in (len(samplers), len(samplers) + 1)  # + the baseline
    assert (confirm["config/early_stop.max_skip"].isna()).any()  # the unguarded DARTS baseline ran
    assert (confirm["config/early_stop.max_skip_share"].isna() & confirm["config/early_stop.gap_growth"].isna()).any()

    table = {r["arch_str"]: float(r["cifar10_test"]) for r in csv.DictReader(gzip.open(bundled_table_path(), "rt"))}
    for row in confirm.itertuples():  # truth of the real final cell, from the bundled NATS-Bench table
        assert row.final_truth_acc == pytest.approx(table[row.final_genotype])

    out = tmp_path / "report"
    assert main(["report", str(root), "--out", str(out)]) == 0
    capsys.readouterr()
    md = (out / "report.md").read_text()
    assert "final_truth_acc" in md
    for value in ANCHORS.values():
        assert f"{value:.2f}" in md
    runs = pd.read_csv(out / "runs.csv")
    assert runs.loc[runs["phase"] == "confirm", "final_truth_acc"].between(0, 100).all()

    # docs/results.md's tables come from studies/nb201/tables.py on the same layout, run as the docs run it
    def tables(*args: str) -> str:
        proc = subprocess.run([sys.executable, "studies/nb201/tables.py", str(root), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    text = tables()
    assert "| config | runs (seeds) | final truth | truth by proxy |" in text and "GDAS | 93.61" in text
    # the final truth of every confirmed config is the mean of its trials' final_truth_acc
    body = text.split("### Configs")[1].split("###")[0]
    rows = [line.split(" | ") for line in body.splitlines() if line.startswith("| ")][1:]  # after the header
    expected = confirm.groupby("config_id")["final_truth_acc"].mean()
    assert sorted(r[2].split(" [")[0] for r in rows) == sorted(f"{v:.2f}" for v in expected)
    # --window 1: the mean cell of the last epoch is the final cell, so both truth columns agree
    window = tables("--window", "1").split("### Mean cell")[1].split("###")[0]
    rows = [line.split(" | ") for line in window.splitlines() if line.startswith("| ")][1:]  # after the header
    assert rows and all(r[2] == r[3] for r in rows)


def test_the_held_out_runs_ran_the_defaults_as_they_resolve_now() -> None:
    """docs/results.md reports run 3 (the second held-out protocol) as 'the defaults': every sampler's config there
    must be what the project's defaults resolve to today (a changed recipe must be measured again)."""
    import pandas as pd

    from diffnas.sweeps.spec_file import load_spec
    from diffnas.sweeps.trainable import trial_search_config

    spec = load_spec(str(SPECS / "heldout_defaults_3.yaml"))
    trials = pd.read_parquet(ROOT / "studies" / "nb201" / "results" / "heldout_defaults_3" / "trials")
    recorded = dict(zip(trials["config/sampler"], trials["config_id"]))
    assert set(recorded) == set(spec.grid["sampler"])
    for sampler, config_id in recorded.items():
        assert trial_search_config(spec.base.given(), {"sampler": sampler}, {"CPU": 1}).config_id() == config_id
