"""Per-config aggregates: means over finished runs only, scipy-equal CIs, KM medians, phases kept apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from diffnas.analysis.aggregate import aggregate
from diffnas.analysis.groups import assign_groups, default_group_keys
from diffnas.analysis.load import load_results
from diffnas.analysis.summary import summarise
from tests.analysis.synth_results import ALT, BASE, make_run, standard_runs, write_results


def _aggregate(folder, **kw):
    runs = summarise(load_results([str(folder)]), criterion="entropy")  # the source material's entropy_norm < 0.3
    keys = default_group_keys(runs)
    runs = assign_groups(runs, keys)
    return runs, aggregate(runs, keys, **kw).set_index("group")


def test_standard_folder_by_hand(standard_results) -> None:
    runs, agg = _aggregate(standard_results, seed=0)
    base = agg.loc["entropy_weight=0, sampler=softmax"]
    alt = agg.loc["entropy_weight=0.1, sampler=gumbel"]
    # softmax: final val acc 0.80 .. 0.83 over seeds 0..3
    x = np.array([0.80, 0.81, 0.82, 0.83])
    assert base["final_val_acc_n"] == 4
    assert base["final_val_acc_mean"] == pytest.approx(x.mean())
    assert base["final_val_acc_std"] == pytest.approx(x.std(ddof=1))
    ci = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=2000, rng=0).confidence_interval
    assert (base["final_val_acc_ci_low"], base["final_val_acc_ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)
    # gumbel: the ASHA-stopped (acc 0.1) and diverged runs are counted, not averaged
    assert alt["n_runs"] == 7 and alt["n_finished"] == 4
    assert alt["n_asha_stopped"] == 1 and alt["n_diverged"] == 1 and alt["n_error"] == 1
    assert alt["final_val_acc_mean"] == pytest.approx(np.mean([0.85, 0.86, 0.87, 0.88]))
    y = runs.loc[runs["finished"] & (runs["config/sampler"] == "gumbel"), "final_val_acc"].to_numpy()
    ci = stats.bootstrap((y,), np.mean, method="percentile", n_resamples=2000, rng=0).confidence_interval
    assert alt["final_val_acc_ci_low"] == pytest.approx(ci.low, rel=1e-12)
    # convergence: softmax seeds 0,1 converge at 8 (entropy 1 - 0.1*7 < 0.3), seeds 2,3 censored at 10
    assert base["converged_fraction"] == 0.5
    assert base["km_median_convergence_epoch"] == 8.0  # S(8) = 1 - 2/4 = 0.5
    # gumbel: 4 finished converge at 7; the ASHA (3) and diverged (2) runs are censored early
    assert alt["converged_fraction"] == 1.0 and alt["km_median_convergence_epoch"] == 7.0
    assert base["km_median_stabilisation_epoch"] == 7.0 and alt["km_median_stabilisation_epoch"] == 6.0


def test_km_median_not_reached_and_resample_settings(tmp_path) -> None:
    runs = [make_run(f"r{s}", BASE, s, entropy=[0.9, 0.8, 0.7 if s else 0.1]) for s in range(3)]
    folder = write_results(tmp_path / "r", runs)
    _, agg = _aggregate(folder, n_resamples=500, confidence=0.9, seed=4)
    row = agg.iloc[0]
    # one of three converged: S(3) = 2/3 > 0.5 -> not reached
    assert np.isnan(row["km_median_convergence_epoch"]) and row["converged_fraction"] == pytest.approx(1 / 3)
    x = np.array([0.58, 0.58, 0.58])
    assert row["final_val_acc_ci_low"] == pytest.approx(x.mean())


def test_phases_are_never_mixed(tmp_path) -> None:
    runs = standard_runs("explore") + [
        make_run(f"c{s}", BASE, 10 + s, entropy=[0.9, 0.1], val_acc=[0.5, 0.99], phase="confirm") for s in range(3)
    ] + [make_run(f"d{s}", ALT, 10 + s, entropy=[0.9, 0.1], phase="confirm") for s in range(3)]
    folder = write_results(tmp_path / "r", runs)
    runs_table, agg = _aggregate(folder)
    assert sorted(agg["phase"].unique()) == ["confirm", "explore"]
    confirm = agg[agg["phase"] == "confirm"].loc["entropy_weight=0, sampler=softmax"]
    explore = agg[agg["phase"] == "explore"].loc["entropy_weight=0, sampler=softmax"]
    assert confirm["n_runs"] == 3 and confirm["final_val_acc_mean"] == pytest.approx(0.99)
    assert explore["n_runs"] == 4 and explore["final_val_acc_mean"] == pytest.approx(0.815)


def test_truth_accuracy_aggregated_and_shown_when_present(tmp_path) -> None:
    from diffnas.analysis.tables import aggregate_view

    runs = [make_run(f"r{s}", BASE, s, entropy=[0.9, 0.2], truth=[None, 90.0 + s]) for s in range(3)]
    _, agg = _aggregate(write_results(tmp_path / "r", runs))
    assert agg.iloc[0]["final_truth_acc_mean"] == pytest.approx(91.0)
    view = aggregate_view(agg.reset_index())
    assert view.loc[0, "final_truth_acc"].startswith("91.000 [")
    _, plain = _aggregate(write_results(tmp_path / "p", [make_run("a", BASE, 0, entropy=[0.9, 0.2])]))
    assert "final_truth_acc" not in aggregate_view(plain.reset_index()).columns


def test_truth_beside_the_ranking_metric_and_among_the_published_anchors(tmp_path) -> None:
    from diffnas.analysis.compare import rank_table
    from diffnas.analysis.tables import anchors_view, ranking_view
    from diffnas.selection.truth import ANCHORS

    runs = [make_run(f"r{s}", BASE, s, entropy=[0.9, 0.2], truth=[None, 90.0 + s]) for s in range(3)]
    _, agg = _aggregate(write_results(tmp_path / "r", runs))
    agg = agg.reset_index()
    view = ranking_view(rank_table(agg, "final_val_acc", "max", pd.DataFrame(), None), "final_val_acc")
    assert view.loc[0, "final_truth_acc"] == "91.00"
    anchors = anchors_view(agg, agg["phase"].iloc[0], ANCHORS)
    cells = anchors["cell"].tolist()
    assert len(anchors) == len(ANCHORS) + 1
    mine = next(i for i, c in enumerate(cells) if "final cells" in c)
    # 91.00 sits between the random-cell mean (87.06) and SNAS (92.77)
    assert cells[mine - 1] == "SNAS" and cells[mine + 1].startswith("random cell")
    assert anchors.loc[mine, "truth_acc"] == "91.00"
    _, plain = _aggregate(write_results(tmp_path / "p", [make_run("a", BASE, 0, entropy=[0.9, 0.2])]))
    assert anchors_view(plain.reset_index(), plain["phase"].iloc[0], ANCHORS).empty


def test_report_ranks_by_the_calibrated_proxy_score_mode_max(tmp_path) -> None:
    from diffnas.analysis.compare import rank_metric, rank_table
    from diffnas.analysis.summary import SUMMARY_METRICS
    from diffnas.analysis.tables import ranking_view

    # BASE has the better val_acc, ALT the better final cell by the proxy (and by truth)
    runs = [make_run(f"b{s}", BASE, s, entropy=[0.9, 0.5], val_acc=[0.5, 0.9], proxy=[300.0, 310.0 + s],
                     truth=[None, 80.0]) for s in range(2)]
    runs += [make_run(f"a{s}", ALT, s, entropy=[0.9, 0.5], val_acc=[0.5, 0.7], proxy=[300.0, 350.0 + s],
                      truth=[None, 93.0]) for s in range(2)]
    _, agg = _aggregate(write_results(tmp_path / "r", runs))
    BASE_LABEL, ALT_LABEL = "entropy_weight=0, sampler=softmax", "entropy_weight=0.1, sampler=gumbel"
    assert agg.loc[ALT_LABEL, "final_proxy_score_mean"] == pytest.approx(350.5)
    metric = rank_metric("proxy_score", SUMMARY_METRICS)
    assert metric == "final_proxy_score"
    ranking = rank_table(agg.reset_index(), metric, "max")
    assert ranking["group"].tolist() == [ALT_LABEL, BASE_LABEL]
    view = ranking_view(ranking, metric)
    assert view.loc[0, "final_truth_acc"] == "93.00" and view.loc[1, "final_truth_acc"] == "80.00"
    by_val = ranking_view(rank_table(agg.reset_index(), "final_val_acc", "max"), "final_val_acc")
    assert by_val.loc[0, "config"] == BASE_LABEL and by_val.loc[0, "final_proxy_score"] == "310.5"
