"""diffnas.selection.best_cell: the best cell a run saw, recorded beside the final one."""

import math

import pytest

from diffnas.config import SearchConfig
from diffnas.results.schema import TRIAL_COLUMNS
from diffnas.search.run import SearchRun
from diffnas.selection.best_cell import best_cell, best_index
from tests.helpers import TINY

NAN = float("nan")
RECORDS = [
    {"epoch": 1, "genotype": "g1", "discrete_val_acc": 0.5, "truth_acc": 80.0, "val_loss": 1.0},
    {"epoch": 2, "genotype": "g2", "discrete_val_acc": 0.9, "truth_acc": 93.0, "val_loss": 0.5},
    {"epoch": 3, "genotype": "g3", "discrete_val_acc": 0.9, "truth_acc": 54.3, "val_loss": NAN},
    {"epoch": 4, "genotype": "g4", "discrete_val_acc": NAN, "truth_acc": NAN, "val_loss": 0.7},
]


def test_best_by_metric_earliest_on_ties_nan_never_counts():
    assert best_index(RECORDS, "discrete_val_acc") == 1  # epoch 2 and 3 tie: the earlier wins
    assert best_index(RECORDS, "val_loss", "min") == 1
    assert best_cell(RECORDS, "discrete_val_acc", rule="all") == {"best_genotype": "g2", "best_truth_acc": 93.0,
                                                                  "best_epoch": 2, "best_by": "discrete_val_acc"}
    empty = best_cell([{"epoch": 1, "genotype": "g", "x": NAN}], "x")
    assert empty["best_genotype"] is None and math.isnan(empty["best_truth_acc"])
    # a metric without any value (proxy turned off) falls back on discrete_val_acc, and says so
    no_proxy = [{**r, "proxy_score": NAN} for r in RECORDS]
    assert best_cell(no_proxy, "proxy_score", rule="all")["best_by"] == "discrete_val_acc"
    assert best_cell(no_proxy, "proxy_score", rule="all")["best_genotype"] == "g2"
    assert best_cell(no_proxy, "proxy_score")["best_by"] == "discrete_val_acc, late half"
    with pytest.raises(ValueError, match="best_cell.rule"):
        best_cell(RECORDS, "discrete_val_acc", rule="newest")


def _scored(*scores: float) -> list[dict]:
    return [{"epoch": t, "genotype": f"g{t}", "truth_acc": 90.0 + t, "proxy_score": p} for t, p in enumerate(scores, 1)]


def test_late_rule_hands_back_the_last_halfs_best_unless_the_run_saw_a_far_better_cell():
    from diffnas.selection.best_cell import late_index

    # 6 epochs: the last half is epochs 4-6. A settled run: its early best (100) is within 5 % of the
    # late best (97): the late one is handed back
    settled = _scored(90, 100, 95, 96, 97, 95)
    assert late_index(settled, "proxy_score") == 4
    assert best_cell(settled, "proxy_score")["best_epoch"] == 5
    assert best_cell(settled, "proxy_score")["best_by"] == "proxy_score, late half"
    assert best_cell(settled, "proxy_score", rule="all")["best_epoch"] == 2
    # a run that collapsed: every late cell scores more than 5 % below its best -> the best of the whole run
    collapsed = _scored(90, 100, 80, 70, 60, 50)
    assert best_cell(collapsed, "proxy_score")["best_epoch"] == 2
    # the tolerance is a share of the best value: at 2 % the early 100 beats the late 97
    assert best_cell(settled, "proxy_score", tolerance=0.02)["best_epoch"] == 2
    # minimised metrics mirror it; NaN never counts (a late half of NaN falls back on the whole run)
    assert best_cell(_scored(1.0, 0.5, 0.9, 0.51, 0.6, NAN), "proxy_score", "min")["best_epoch"] == 4
    assert best_cell(_scored(1.0, 0.5, 0.9, 0.6, NAN, NAN), "proxy_score", "min")["best_epoch"] == 2
    assert best_cell(_scored(5.0, NAN, NAN, NAN), "proxy_score")["best_epoch"] == 1
    # one epoch: the only one
    assert best_cell(_scored(3.0), "proxy_score")["best_epoch"] == 1


def test_a_chooser_picks_among_the_last_half_of_a_settled_run_only():
    settled = _scored(90, 100, 95, 96, 97, 95)  # epochs 4-6 compete; the run did not drift (97 is within 5 %)
    prefer = {"g4": 1.0, "g5": 0.5, "g6": 3.0, "g2": 99.0}  # the chooser's score per genotype (g2: not late)
    picked = best_cell(settled, "proxy_score", chooser=prefer.get, chooser_name="synflow")
    assert picked["best_epoch"] == 6 and picked["best_by"] == "proxy_score, late half by synflow"
    # a drifted run hands back its best by the metric, whatever the chooser says
    collapsed = _scored(90, 100, 80, 70, 60, 50)
    assert best_cell(collapsed, "proxy_score", chooser=prefer.get)["best_epoch"] == 2
    # ties go to the earliest; a chooser without a finite score falls back on the metric's late best
    assert best_cell(settled, "proxy_score", chooser=lambda g: 1.0)["best_epoch"] == 4
    assert best_cell(settled, "proxy_score", chooser=lambda g: NAN)["best_epoch"] == 5
    # the whole-run rule ignores the chooser
    assert best_cell(settled, "proxy_score", rule="all", chooser=prefer.get)["best_epoch"] == 2


def test_a_run_records_its_best_cell_by_the_calibrated_metric_and_its_truth():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 3}))
    while not run.done:
        run.step()
    trial = run.trial_record()
    assert trial["best_by"] == "proxy_score, late half by synflow"  # the default rule and chooser
    from diffnas.selection.best_cell import late_index
    from diffnas.selection.proxies import cell_score

    chooser = run.chooser
    assert chooser.name == "synflow"
    i = late_index(run.records, "proxy_score", chooser=chooser)
    # the chooser scores a cell as cell_score does for a network of the run's sizes on the proxy's batch
    x, y = chooser._batch()
    c = run.config
    assert chooser(run.records[i]["genotype"]) == cell_score(
        "synflow", run.space, run.records[i]["genotype"], x, y, num_classes=run.data.num_classes,
        channels=c["model.channels"], cells_per_stage=c["model.cells_per_stage"], stages=c["model.stages"], seed=0)
    assert trial["best_genotype"] == run.records[i]["genotype"]
    assert trial["best_truth_acc"] == run.records[i]["truth_acc"] and 10.0 <= trial["best_truth_acc"] <= 95.0


def test_a_run_records_its_best_cell_by_the_configured_metric():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 2, "best_cell.metric": "val_acc",
                                           "best_cell.rule": "all"}))
    while not run.done:
        run.step()
    trial = run.trial_record()
    assert {"best_genotype", "best_truth_acc", "best_epoch", "best_by"} <= set(TRIAL_COLUMNS) & set(trial)
    i = max(range(2), key=lambda k: (run.records[k]["val_acc"], -k))
    assert trial["best_epoch"] == i + 1 and trial["best_genotype"] == run.records[i]["genotype"]
    assert trial["best_by"] == "val_acc"


def test_window_mean_choice_averages_the_last_epochs():
    from diffnas.selection.best_cell import window_mean_choice

    # 2 edges × 3 ops; the final epoch prefers op 2 on edge 0, the mean of the last three prefers op 0
    rows = [[1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            [0.5, 0.0, 0.5, 0.0, 1.0, 0.0],
            [0.75, 0.0, 0.25, 0.0, 0.25, 0.75],
            [0.25, 0.0, 0.75, 0.0, 1.0, 0.0]]
    assert window_mean_choice(rows, 3, 1) == [2, 1]
    assert window_mean_choice(rows, 3, 3) == [0, 1]   # edge 0: (0.5, 0, 0.5) ties -> lowest index; edge 1: (0, 0.75, 0.25)
    assert window_mean_choice(rows, 3, 10) == [0, 1]  # K = min(window, T)
    with pytest.raises(ValueError, match="window"):
        window_mean_choice(rows, 3, 0)
    with pytest.raises(ValueError, match="n_ops"):
        window_mean_choice(rows, 4, 2)
