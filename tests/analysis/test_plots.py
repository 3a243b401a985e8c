"""Plots: every registered plot writes PNG and SVG; genotypes of both spaces parse into cell graphs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from diffnas.analysis.groups import assign_groups, default_group_keys
from diffnas.analysis.load import load_results, load_run_epochs
from diffnas.analysis.plots import PLOTS, PlotInput, curve_table, diagnostics_table, draw_all, plot_cell
from diffnas.analysis.summary import summarise
from diffnas.model.genotypes import parse_genotype
from tests.analysis.synth_results import G_CONV

DARTS = json.dumps({
    "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["skip_connect", 0], ["sep_conv_3x3", 1],
               ["skip_connect", 0], ["dil_conv_3x3", 2], ["sep_conv_3x3", 0], ["max_pool_3x3", 1]],
    "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
               ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["avg_pool_3x3", 0]],
})


def test_parse_nb201_and_darts() -> None:
    (cell,) = parse_genotype(G_CONV)
    assert cell.nodes == ("0", "1", "2", "3")
    assert cell.edges[:3] == (("0", "1", "nor_conv_3x3"), ("0", "2", "nor_conv_3x3"), ("1", "2", "avg_pool_3x3"))
    assert len(cell.edges) == 6
    normal, reduce = parse_genotype(DARTS)
    assert normal.nodes == ("0", "1", "2", "3", "4", "5", "out")
    assert normal.edges[5] == ("2", "4", "dil_conv_3x3") and reduce.edges[0] == ("0", "2", "max_pool_3x3")
    assert sum(op is None for *_, op in normal.edges) == 4  # concat of nodes 2..5
    with pytest.raises(ValueError):
        parse_genotype("Genotype(normal=...)")


def _input(folder: Path) -> PlotInput:
    results = load_results([str(folder)])
    runs = summarise(results)
    keys = default_group_keys(runs)
    runs = assign_groups(runs, keys)
    featured = runs[runs["trial_id"] == "alt-1"].iloc[0]
    probs = load_run_epochs([str(folder)], "synth", "alt-1")
    return PlotInput(epochs=results.epochs, runs=runs, phase="explore", keys=keys,
                     shown_groups=sorted(runs["group_id"].unique().tolist()), featured=featured,
                     featured_probs=probs, n_resamples=300)


def test_every_plot_writes_png_and_svg(standard_results: Path, tmp_path: Path) -> None:
    inp = _input(standard_results)
    out = tmp_path / "figs"
    out.mkdir()
    figures = draw_all(inp, str(out))
    assert [f.name for f in figures] == list(PLOTS)
    for fig in figures:
        png = imread(fig.files["png"])
        assert png.shape[0] > 100 and np.std(png[..., :3]) > 0.01  # not blank
        assert Path(fig.files["svg"]).read_text().lstrip().startswith("<?xml")
    assert inp.notes == []


def test_curve_table_uses_finished_runs_only(standard_results: Path) -> None:
    inp = _input(standard_results)
    table = curve_table(inp, ("val_acc",))
    gumbel = int(inp.runs.loc[inp.runs["config/sampler"] == "gumbel", "group_id"].iloc[0])
    row = table[(table["group_id"] == gumbel) & (table["epoch"] == 2)].iloc[0]
    # finished gumbel runs at epoch 2: 0.5 + (0.35 + 0.01 s) / 9, s = 0..3 (ASHA/diverged runs excluded)
    assert row["val_acc_mean"] == pytest.approx(np.mean([0.5 + (0.35 + 0.01 * s) / 9 for s in range(4)]))


def test_diagnostics_are_averaged_per_sampler_over_finished_runs(standard_results: Path) -> None:
    inp = _input(standard_results)
    table = diagnostics_table(inp)
    assert set(table["value"]) == {"softmax", "gumbel"}
    row = table[(table["value"] == "gumbel") & (table["epoch"] == 2)].iloc[0]
    # finished gumbel runs (seeds 0..3): dilution 0.2 + 0.01 + 0.001 s, noise 2 + s
    assert row["grad_dilution_mean"] == pytest.approx(0.21 + 0.001 * 1.5)
    assert row["alpha_grad_noise_mean"] == pytest.approx(3.5)
    assert row["alpha_grad_noise_ci_low"] <= 3.5 <= row["alpha_grad_noise_ci_high"]


def test_darts_cell_and_missing_genotype_note(tmp_path: Path) -> None:
    featured = pd.Series({"final_genotype": DARTS, "group": "g", "seed": 0, "trial_id": "t"})
    inp = PlotInput(epochs=pd.DataFrame(), runs=pd.DataFrame(), phase="explore", keys=[], shown_groups=[],
                    featured=featured)
    (fig,) = plot_cell(inp, str(tmp_path))
    assert Path(fig.files["png"]).stat().st_size > 1000
    inp.featured = featured.copy()
    inp.featured["final_genotype"] = None
    assert plot_cell(inp, str(tmp_path)) == [] and "no genotype" in inp.notes[0]


def test_convergence_draws_truth_and_the_ranking_metric(standard_results: Path, tmp_path: Path) -> None:
    from diffnas.analysis.plots import config_colors, curve_metrics, plot_convergence

    inp = _input(standard_results)
    inp.epochs["proxy_score"] = inp.epochs["epoch"] * 0.1  # the synthetic runs carry no proxy
    inp.rank_metric = "proxy_score"
    has_truth = pd.to_numeric(inp.epochs["truth_acc"], errors="coerce").notna().any()
    metrics = curve_metrics(inp)
    assert metrics[:2] == ["entropy_norm", "val_acc"] and metrics[-2:] == ["stability", "gap"]
    assert ("truth_acc" in metrics) == bool(has_truth)
    assert "proxy_score" in metrics
    inp.rank_metric = "val_acc"  # already drawn: not twice
    assert curve_metrics(inp).count("val_acc") == 1
    inp.rank_metric = "proxy_score"
    table = curve_table(inp)
    assert "proxy_score_mean" in table
    colors = config_colors(inp)
    assert list(colors) == inp.shown_groups and len(set(colors.values())) == min(10, len(colors))
    (figure,) = plot_convergence(inp, str(tmp_path))
    assert imread(figure.files["png"]).shape[1] > 1200  # three panels wide
