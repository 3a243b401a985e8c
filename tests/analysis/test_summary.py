"""Per-run summary: convergence and stabilisation epochs (with censoring) and final metrics, by hand."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from diffnas.analysis.load import load_results
from diffnas.analysis.summary import summarise, unchanged_streak
from tests.analysis.synth_results import BASE, G_CONV, G_MIX, G_SKIP, make_run, write_results

NAN = float("nan")


def _summary(tmp_path, runs, **kw):
    folder = write_results(tmp_path / "r", runs)
    kw.setdefault("criterion", "entropy")
    table = summarise(load_results([str(folder)]), **kw)
    return table.set_index("trial_id")


def test_convergence_epoch_first_below_threshold_and_censoring(tmp_path) -> None:
    runs = [
        make_run("a", BASE, 0, entropy=[0.9, 0.5, 0.29, 0.1, 0.35]),  # first < 0.3 at epoch 3
        make_run("b", BASE, 1, entropy=[0.9, 0.8, 0.3, 0.31]),  # 0.3 is not < 0.3: censored at 4
        make_run("c", BASE, 2, entropy=[NAN, 0.2, 0.25]),  # NaN never counts: epoch 2
    ]
    s = _summary(tmp_path, runs, threshold=0.3)
    assert s.loc["a", "convergence_epoch"] == 3 and bool(s.loc["a", "converged"])
    assert s.loc["b", "convergence_epoch"] == 4 and not bool(s.loc["b", "converged"])
    assert s.loc["c", "convergence_epoch"] == 2
    assert np.isfinite(s["convergence_epoch"]).all()
    s2 = _summary(tmp_path / "x", runs, threshold=0.95)
    assert s2.loc["a", "convergence_epoch"] == 1 and s2.loc["b", "convergence_epoch"] == 1


def test_stabilisation_epoch_window_and_censoring(tmp_path) -> None:
    genos = ["A", "B", "B", "B", "C", "C", "C"]  # unchanged-streak: 0 0 1 2 0 1 2
    geno_strings = {"A": G_MIX, "B": G_CONV, "C": G_SKIP}
    run = make_run("s", BASE, 0, entropy=[0.5] * 7, genotypes=[geno_strings[g] for g in genos])
    s2 = _summary(tmp_path / "w2", [run], window=2)
    assert s2.loc["s", "stabilisation_epoch"] == 4 and bool(s2.loc["s", "stabilised"])
    s3 = _summary(tmp_path / "w3", [run], window=3)
    assert s3.loc["s", "stabilisation_epoch"] == 7 and not bool(s3.loc["s", "stabilised"])  # censored
    s1 = _summary(tmp_path / "w1", [run], window=1)
    assert s1.loc["s", "stabilisation_epoch"] == 3
    # stability: nan, .5, 1, 1, .5, 1, 1 -> mean 5/6
    assert s2.loc["s", "mean_stability"] == pytest.approx(5 / 6)


def test_missing_genotype_breaks_the_streak_and_fallback_uses_stability(tmp_path) -> None:
    broken = make_run("g", BASE, 0, entropy=[0.5] * 6, genotypes=[G_CONV, G_CONV, None, G_CONV, G_CONV, G_CONV])
    none = make_run("n", BASE, 1, entropy=[0.5] * 4, genotypes=[None] * 4)  # stability nan, 1, 1, 1
    s = _summary(tmp_path, [broken, none], window=2)
    assert s.loc["g", "stabilisation_epoch"] == 6  # streak 1, 0, 0, 1, 2
    assert s.loc["n", "stabilisation_epoch"] == 3  # from the stability column


def test_unchanged_streak_vectorised() -> None:
    same = np.array([False, True, True, False, True, False, True, True, True])
    assert unchanged_streak(same).tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3]


def test_final_best_truth_collapse_status_and_unsorted_rows(tmp_path) -> None:
    done = make_run("d", BASE, 0, entropy=[0.9, 0.5, 0.2], val_acc=[0.5, 0.9, 0.7], skip=[0.2, 0.4, 0.5],
                    truth=[None, None, 91.5])
    partial = make_run("p", BASE, 1, entropy=[0.9, 0.8], val_acc=[0.4, 0.45], skip=[0.0, 0.4], status=None)
    rows = done[0] + partial[0]
    random.Random(0).shuffle(rows)
    s = _summary(tmp_path, [(rows, done[1]), ([], None)], collapse_threshold=0.5)
    assert s.loc["d", "final_val_acc"] == 0.7 and s.loc["d", "best_val_acc"] == 0.9
    assert s.loc["d", "final_discrete_val_acc"] == pytest.approx(0.65)
    assert s.loc["d", "final_truth_acc"] == 91.5
    assert bool(s.loc["d", "collapsed"]) and not bool(s.loc["p", "collapsed"])
    assert s.loc["d", "status"] == "completed" and bool(s.loc["d", "finished"])
    # no trials row: incomplete, and its config comes from the epochs rows
    assert s.loc["p", "status"] == "incomplete" and not bool(s.loc["p", "finished"])
    assert s.loc["p", "config/sampler"] == "softmax"
    assert s.loc["p", "epochs_run"] == 2 and s.loc["p", "final_entropy_norm"] == 0.8
    assert s.loc["d", "final_genotype"] == G_CONV
    assert math.isnan(s.loc["p", "final_truth_acc"])


def test_same_folder_twice_is_deduplicated(tmp_path) -> None:
    folder = write_results(tmp_path / "r", [make_run("a", BASE, 0, entropy=[0.9, 0.2])])
    results = load_results([str(folder), str(folder)])
    assert len(results.epochs) == 2 and any("duplicated" in n for n in results.notes)
    assert len(summarise(results)) == 1


def test_trial_without_epoch_rows_is_counted_not_dropped(tmp_path) -> None:
    rows, trial = make_run("e", BASE, 3, entropy=[0.5], status="error")
    s = _summary(tmp_path, [make_run("a", BASE, 0, entropy=[0.9, 0.2]), ([], trial)])
    assert s.loc["e", "status"] == "error" and s.loc["e", "epochs_run"] == 0
    assert np.isnan(s.loc["e", "final_val_acc"]) and not bool(s.loc["e", "converged"])
    assert s.loc["e", "config_id"] == s.loc["a", "config_id"] and s.loc["e", "phase"] == "explore"
