"""benchmarks/nb201_study_tables.py on committed results: ``--seeds`` keeps a pre-registered subset of a confirm."""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "results" / "nb201_study_beta_cells5_confirm"  # ten runs, seeds 26-35


@pytest.fixture(scope="module")
def tables():
    return runpy.run_path(str(ROOT / "benchmarks" / "nb201_study_tables.py"))


def _row(text: str) -> list[str]:
    body = text.split("### Configs")[1].split("###")[0]
    return [line.split(" | ") for line in body.splitlines() if line.startswith("| ")][1]  # after the header


def test_seeds_keeps_only_runs_in_the_range(tables, capsys):
    trials = pd.read_parquet(FOLDER / "trials")
    assert tables["main"]([str(FOLDER), "--phase", "explore", "--seeds", "26-30"]) == 0
    row = _row(capsys.readouterr().out)
    assert row[1] == "5 (26, 27, 28, 29, 30)"
    expected = trials.loc[trials["seed"].between(26, 30), "final_truth_acc"].mean()
    assert row[2].startswith(f"{expected:.2f} [")
    assert tables["main"]([str(FOLDER), "--phase", "explore"]) == 0
    assert _row(capsys.readouterr().out)[1].startswith("10 (26, ")


def test_seeds_matching_no_run_is_refused_in_one_line(tables, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tables["main"]([str(FOLDER), "--phase", "explore", "--seeds", "100-200"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--seeds: no run has a seed in 100-200" in err and "26, 27" in err


def test_seed_range_refuses_what_is_not_lo_hi(tables):
    assert tables["seed_range"]("26-30") == (26, 30)
    for bad in ("30-26", "26", "a-b", "-3"):
        with pytest.raises(argparse.ArgumentTypeError, match="LO-HI"):
            tables["seed_range"](bad)


def _labels(tables, capsys, *names: str) -> dict[str, str]:
    """The config label of the first explore row of each committed folder."""
    labels = {}
    for name in names:
        assert tables["main"]([str(ROOT / "docs" / "results" / name), "--phase", "explore"]) == 0
        labels[name] = _row(capsys.readouterr().out)[0]
    return labels


def test_label_names_settings_that_differ_from_the_protocol(tables, capsys):
    """The 28 px run's label says so; a 16 px run's (the protocol's resolution) does not; aux_skip likewise."""
    labels = _labels(tables, capsys, "nb201_study_beta_px28", "nb201_study_beta_aux", "nb201_study_beta_cells5")
    assert labels["nb201_study_beta_px28"].endswith("β-decay 10, 28 px")
    assert labels["nb201_study_beta_aux"].endswith("β-decay 10, aux skip 1")
    assert "px" not in labels["nb201_study_beta_cells5"] and "aux skip" not in labels["nb201_study_beta_cells5"]


def test_label_names_drnas_settings(tables, capsys):
    """DrNAS's KL weight, the shrinking and the channel count appear in a label only where they differ."""
    labels = _labels(tables, capsys, "nb201_study_drnas", "nb201_study_beta_prune", "nb201_study_beta_cells5",
                     "nb201_study_beta_c16")
    assert labels["nb201_study_drnas"].startswith("| dirichlet, constant")
    assert labels["nb201_study_drnas"].endswith("KL 0.001, keep 3 ops after epoch 7")
    assert labels["nb201_study_beta_prune"].endswith("β-decay 10, keep 3 ops after epoch 7")
    assert "keep" not in labels["nb201_study_beta_cells5"] and "KL" not in labels["nb201_study_beta_cells5"]
    assert "3 cells/stage, 16 channels, 6,000 images" in labels["nb201_study_beta_c16"]
    assert "channels" not in labels["nb201_study_beta_cells5"]


def _window_row(text: str) -> list[str]:
    body = text.split("### Mean cell")[1]
    return [line.split(" | ") for line in body.splitlines() if line.startswith("| ")][1]


def test_skip_cap_after_the_fact_equals_the_cell_a_capped_run_handed_back(tables, capsys):
    """The skip-cap runs' final cells (discretize.max_skip 1, in the run) are what --skip-cap 1 derives from their
    last op_probs; --window 1 gives the uncapped final cells of the same runs (the cap leaves training alone)."""
    folder = str(ROOT / "docs" / "results" / "nb201_study_beta_skipcap")
    assert tables["main"]([folder, "--phase", "explore", "--skip-cap", "1"]) == 0
    out = capsys.readouterr().out
    assert _labels(tables, capsys, "nb201_study_beta_skipcap")["nb201_study_beta_skipcap"].endswith(
        "keep 3 ops after epoch 7, skip cap 1")
    row = _window_row(out)
    assert "at most 1 skip (phase explore)" in out and "at most 1 skip |" in out and row[2] == row[3]  # final truth == capped after the fact
    assert all(f == w for f, w in (pair.split(" → ") for pair in row[4].rstrip(" |").split(", ")))
    assert tables["main"]([folder, "--phase", "explore", "--window", "1"]) == 0
    uncapped = _window_row(capsys.readouterr().out)
    assert uncapped[2] == row[2] and uncapped[3] != row[3]  # half the runs end on a second skip uncapped


def test_skip_cap_is_refused_below_zero(tables, capsys):
    with pytest.raises(SystemExit) as err:
        tables["main"]([str(FOLDER), "--phase", "explore", "--skip-cap", "-1"])
    assert err.value.code == 2 and "--skip-cap: must be >= 0" in capsys.readouterr().err


def test_folders_of_one_config_pool_into_one_row(tables, capsys):
    """The skip-cap confirm and its replication share a config_id: the two folders give one 20-run row."""
    results = ROOT / "docs" / "results"
    assert tables["main"]([str(results / "nb201_study_beta_skipcap"), str(results / "nb201_study_beta_skipcap_seeds"),
                           "--phase", "explore"]) == 0
    row = _row(capsys.readouterr().out)
    assert row[1].startswith("20 (46, 47,") and row[1].endswith("64, 65)")
