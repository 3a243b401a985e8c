"""studies/nb201/tables.py, run as a script on the committed results: ``--seeds`` keeps a pre-registered subset
of a confirm, labels name the settings that differ from the protocol, ``--skip-cap`` gives what a capped run
handed back, and folders of one config pool into one row."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "studies/nb201/tables.py"
RESULTS = ROOT / "studies" / "nb201" / "results"
FOLDER = RESULTS / "nb201_study_beta_cells5_confirm"  # ten runs, seeds 26-35


def tables(*args: object) -> subprocess.CompletedProcess[str]:
    """The script run from the repository root, as the docs run it."""
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def out(*args: object) -> str:
    proc = tables(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _row(text: str) -> list[str]:
    body = text.split("### Configs")[1].split("###")[0]
    return [line.split(" | ") for line in body.splitlines() if line.startswith("| ")][1]  # after the header


def test_seeds_keeps_only_runs_in_the_range():
    trials = pd.read_parquet(FOLDER / "trials")
    row = _row(out(FOLDER, "--phase", "explore", "--seeds", "26-30"))
    assert row[1] == "5 (26, 27, 28, 29, 30)"
    expected = trials.loc[trials["seed"].between(26, 30), "final_truth_acc"].mean()
    assert row[2].startswith(f"{expected:.2f} [")
    assert _row(out(FOLDER, "--phase", "explore"))[1].startswith("10 (26, ")


def test_seeds_matching_no_run_is_refused_in_one_line():
    proc = tables(FOLDER, "--phase", "explore", "--seeds", "100-200")
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()[-1]
    assert "--seeds: no run has a seed in 100-200" in err and "26, 27" in err


def test_seeds_refuses_what_is_not_lo_hi():
    for bad in ("30-26", "26", "a-b", "-3"):
        proc = tables(FOLDER, "--phase", "explore", f"--seeds={bad}")
        assert proc.returncode == 2 and "must be LO-HI" in proc.stderr, (bad, proc.stderr)


def _labels(*names: str) -> dict[str, str]:
    """The config label of the first explore row of each committed folder."""
    return {name: _row(out(RESULTS / name, "--phase", "explore"))[0] for name in names}


def test_label_names_settings_that_differ_from_the_protocol():
    """The 28 px run's label says so; a 16 px run's (the protocol's resolution) does not; aux_skip likewise."""
    labels = _labels("nb201_study_beta_px28", "nb201_study_beta_aux", "nb201_study_beta_cells5")
    assert labels["nb201_study_beta_px28"].endswith("β-decay 10, 28 px")
    assert labels["nb201_study_beta_aux"].endswith("β-decay 10, aux skip 1")
    assert "px" not in labels["nb201_study_beta_cells5"] and "aux skip" not in labels["nb201_study_beta_cells5"]


def test_label_names_drnas_settings():
    """DrNAS's KL weight, the shrinking and the channel count appear in a label only where they differ."""
    labels = _labels("nb201_study_drnas", "nb201_study_beta_prune", "nb201_study_beta_cells5", "nb201_study_beta_c16")
    assert labels["nb201_study_drnas"].startswith("| dirichlet, constant")
    assert labels["nb201_study_drnas"].endswith("KL 0.001, keep 3 ops after epoch 7")
    assert labels["nb201_study_beta_prune"].endswith("β-decay 10, keep 3 ops after epoch 7")
    assert "keep" not in labels["nb201_study_beta_cells5"] and "KL" not in labels["nb201_study_beta_cells5"]
    assert "3 cells/stage, 16 channels, 6,000 images" in labels["nb201_study_beta_c16"]
    assert "channels" not in labels["nb201_study_beta_cells5"]


def _window_row(text: str) -> list[str]:
    body = text.split("### Mean cell")[1]
    return [line.split(" | ") for line in body.splitlines() if line.startswith("| ")][1]


def test_skip_cap_after_the_fact_equals_the_cell_a_capped_run_handed_back():
    """The skip-cap runs' final cells (discretize.max_skip 1, in the run) are what --skip-cap 1 derives from their
    last op_probs; --window 1 gives the uncapped final cells of the same runs (the cap leaves training alone)."""
    folder = RESULTS / "nb201_study_beta_skipcap"
    text = out(folder, "--phase", "explore", "--skip-cap", "1")
    assert _row(text)[0].endswith("keep 3 ops after epoch 7, skip cap 1")
    row = _window_row(text)
    assert "at most 1 skip (phase explore)" in text and "at most 1 skip |" in text and row[2] == row[3]  # final truth == capped after the fact
    assert all(f == w for f, w in (pair.split(" → ") for pair in row[4].rstrip(" |").split(", ")))
    uncapped = _window_row(out(folder, "--phase", "explore", "--window", "1"))
    assert uncapped[2] == row[2] and uncapped[3] != row[3]  # half the runs end on a second skip uncapped


def test_skip_cap_is_refused_below_zero():
    proc = tables(FOLDER, "--phase", "explore", "--skip-cap", "-1")
    assert proc.returncode == 2 and "--skip-cap: must be >= 0" in proc.stderr


def test_folders_of_one_config_pool_into_one_row():
    """The skip-cap confirm and its replication share a config_id: the two folders give one 20-run row."""
    row = _row(out(RESULTS / "nb201_study_beta_skipcap", RESULTS / "nb201_study_beta_skipcap_seeds",
                   "--phase", "explore"))
    assert row[1].startswith("20 (46, 47,") and row[1].endswith("64, 65)")


def test_handback_recomputes_the_recorded_cell_and_pools_the_rules():
    import importlib.util

    spec = importlib.util.spec_from_file_location("nb201_tables", ROOT / SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    held = RESULTS / "heldout_defaults"  # recorded with best_cell.rule late
    hb = module.handback_runs([str(held)])
    assert len(hb) == 25 and set(hb["best_by"]) == {"proxy_score, late half"}
    assert (hb["recorded"] == hb["late"]).all()  # the rule applied to the rows hands back what the run recorded
    assert (hb[["final", "late", "all"]].le(hb["max"], axis=0)).all().all()  # no rule beats the best cell visited
    text = out("--handback", "--phase", "explore", held)  # the figures docs/results.md quotes
    assert "| softmax | 5 | 93.57 [92.95, 94.19] | 93.45 [93.06, 93.84]; proxy_score, late half |" in text
    pooled = text.split("pooled over every run")[1]
    assert "| all runs | 25 | 90.45 | 92.89 | 92.87 |" in pooled
    # the default chooser recomputed (synflow of each visited cell, as the runs would have scored it)
    chosen = out("--handback", "--chooser", "synflow", "--phase", "explore", held).split("pooled over every run")[1]
    assert "| all runs | 25 | 90.45 | 92.89 | 92.87 | 92.93 |" in chosen
