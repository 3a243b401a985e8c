"""Figures (PNG and SVG), drawn with matplotlib's object API (``matplotlib.figure.Figure``: no pyplot,
no global backend state, headless by construction).

Registry :data:`PLOTS` maps a name to a function ``(PlotInput, out_dir) -> list[FigureFile]``:

- ``convergence``: per config, the mean over its finished runs at each epoch of ``entropy_norm``,
  ``val_acc``, ``truth_acc`` (where the space has NAS-Bench-201 truth), the ranking metric (the sweep's
  ``metric``, e.g. ``proxy_score``), ``stability`` and ``gap`` (:func:`curve_metrics`), with a
  percentile-bootstrap band of that mean at the report's ``--confidence`` (95 % by default)
  (:mod:`diffnas.analysis.bootstrap`, seeded; a band needs ≥ 2 runs at that epoch); one colour per
  config in every panel (:func:`config_colors`);
- ``op_probs``: the op-probability evolution on every edge of one featured run
  (``op_probs`` rows are edges × ops, row-major; labels from the trials' ``ops`` / ``edges``);
- ``cell``: the featured run's final genotype drawn as a graph (:func:`diffnas.results.pictures.draw_cell`,
  the drawing the trackers send per epoch);
- ``outcome``: a config parameter (``entropy_weight`` when it varies) against the convergence epoch
  (hollow markers: censored runs) and the final val accuracy, coloured by the sampler;
- ``diagnostics``: the source material's two α-gradient diagnostics per epoch, ``grad_dilution`` and
  ``alpha_grad_noise`` (formulas in :mod:`diffnas.search.grad_diagnostics`), averaged per sampler over the
  phase's finished runs (the sampler is the line; every config of a sampler pooled), with a
  percentile-bootstrap band of that mean.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from diffnas.analysis.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    DEFAULT_SEED,
    bootstrap_mean_ci,
    confidence_label,
)
from diffnas.analysis.groups import short
from diffnas.results.pictures import cell_figure

CURVE_METRICS = ("entropy_norm", "val_acc", "stability", "gap")  # always drawn; truth and the ranking metric join
FORMATS = ("png", "svg")


@dataclass(frozen=True)
class FigureFile:
    """One written figure: a name, a caption and its files by extension."""

    name: str
    caption: str
    files: dict[str, str]


@dataclass
class PlotInput:
    """What the plots need: epoch curves, per-run summary (with ``group_id``), and choices made."""

    epochs: pd.DataFrame
    runs: pd.DataFrame
    phase: str
    keys: list[str]
    shown_groups: list[int]
    featured: pd.Series | None = None
    featured_probs: pd.DataFrame | None = None
    n_resamples: int = DEFAULT_N_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = DEFAULT_SEED
    notes: list[str] = field(default_factory=list)
    rank_metric: str | None = None  # the epoch column configs are ranked by (drawn beside the others)


def save(fig: Figure, out_dir: str, name: str) -> dict[str, str]:
    """Write ``name.png`` and ``name.svg``; return their paths by extension."""
    files = {}
    for ext in FORMATS:
        path = os.path.join(out_dir, f"{name}.{ext}")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        files[ext] = path
    return files


def curve_metrics(inp: PlotInput) -> list[str]:
    """The convergence panels: entropy and accuracy, then ``truth_acc`` where any run has truth, then the
    ranking metric (an epoch column with values, not already drawn), then stability and gap."""
    def recorded(name: str | None) -> bool:
        return bool(name) and name in inp.epochs and pd.to_numeric(inp.epochs[name], errors="coerce").notna().any()

    out = list(CURVE_METRICS[:2])
    if recorded("truth_acc"):
        out.append("truth_acc")
    if recorded(inp.rank_metric) and inp.rank_metric not in (*out, *CURVE_METRICS):
        out.append(inp.rank_metric)
    return out + list(CURVE_METRICS[2:])


def config_colors(inp: PlotInput) -> dict[int, str]:
    """One colour per shown config (matplotlib's C0..C9 in ranking order), the same in every panel."""
    return {gid: f"C{i % 10}" for i, gid in enumerate(inp.shown_groups)}


def curve_table(inp: PlotInput, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per (shown group, epoch): ``<metric>_mean``, ``_ci_low``, ``_ci_high`` over finished runs
    (``metrics``: :func:`curve_metrics` by default)."""
    metrics = curve_metrics(inp) if metrics is None else metrics
    runs = inp.runs
    sel = runs[runs["finished"] & runs["group_id"].isin(inp.shown_groups) & (runs["phase"] == inp.phase)
               & (runs["run"] >= 0)]
    n_run = int(max(inp.epochs["run"].max(), runs["run"].max())) + 1
    run_group = np.full(n_run, -1, dtype=np.int64)
    run_group[sel["run"].to_numpy(dtype=np.int64)] = sel["group_id"].to_numpy(dtype=np.int64)
    g = run_group[inp.epochs["run"].to_numpy(dtype=np.int64)]
    return _epoch_bands(inp, g, g >= 0, "group_id", metrics)


def _epoch_bands(inp: PlotInput, key: np.ndarray, keep: np.ndarray, key_name: str,
                 metrics: Sequence[str]) -> pd.DataFrame:
    """Per (``key`` of an epoch row, epoch) over the ``keep`` rows: ``<metric>_mean`` and the bootstrap
    ``_ci_low`` / ``_ci_high`` of each metric the epochs carry (one vectorised pass per metric)."""
    epoch = inp.epochs["epoch"].to_numpy(dtype=np.int64)[keep]
    pair, uniques = pd.factorize(pd.MultiIndex.from_arrays([key[keep], epoch]), sort=True)
    table = pd.DataFrame({key_name: uniques.get_level_values(0), "epoch": uniques.get_level_values(1)})
    for m in metrics:
        if m not in inp.epochs:
            continue
        x = pd.to_numeric(inp.epochs[m], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)[keep]
        table[f"{m}_mean"] = pd.Series(x).groupby(pair).mean().reindex(range(len(table))).to_numpy()
        low, high = bootstrap_mean_ci(x, pair, len(table), n_resamples=inp.n_resamples,
                                      confidence=inp.confidence, seed=inp.seed)
        table[f"{m}_ci_low"], table[f"{m}_ci_high"] = low, high
    return table


def plot_convergence(inp: PlotInput, out_dir: str) -> list[FigureFile]:
    """Convergence curves with bootstrap bands, one panel per metric."""
    metrics = curve_metrics(inp)
    table = curve_table(inp, metrics)
    if table.empty:
        inp.notes.append("convergence curves: no finished runs to draw")
        return []
    labels = inp.runs.drop_duplicates("group_id").set_index("group_id")["group"]
    ncols = 2 if len(metrics) <= 4 else 3
    nrows = -(-len(metrics) // ncols)
    fig = Figure(figsize=(5.5 * ncols, 3.75 * nrows))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    colors = config_colors(inp)
    for ax, metric in zip(axes, metrics):
        ax.set_title(f"{metric} (ranking metric)" if metric == inp.rank_metric else metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if f"{metric}_mean" not in table:
            ax.text(0.5, 0.5, "not recorded", ha="center", transform=ax.transAxes)
            continue
        for gid, color in colors.items():
            part = table[table["group_id"] == gid]
            ax.plot(part["epoch"], part[f"{metric}_mean"], color=color, label=labels.get(gid, str(gid)))
            ax.fill_between(part["epoch"], part[f"{metric}_ci_low"], part[f"{metric}_ci_high"],
                            color=color, alpha=0.2, linewidth=0)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(3, max(1, len(names))), fontsize=8,
               bbox_to_anchor=(0.5, -0.02 - 0.025 * ((len(names) - 1) // 3)))
    fig.suptitle(f"Convergence per config (phase {inp.phase}; mean of finished runs, "
                 f"{confidence_label(inp.confidence)} bootstrap band)")
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return [FigureFile("convergence", f"Convergence curves per config with "
                                      f"{confidence_label(inp.confidence)} bootstrap confidence bands",
                       save(fig, out_dir, "convergence"))]


def _labels(values: object, count: int, prefix: str) -> list[str]:
    if isinstance(values, (list, tuple, np.ndarray)) and len(values) == count:
        return [str(v) for v in values]
    return [f"{prefix}{i}" for i in range(count)]


def plot_op_probs(inp: PlotInput, out_dir: str) -> list[FigureFile]:
    """Op-probability evolution per edge for the featured run."""
    probs = inp.featured_probs
    if inp.featured is None or probs is None or probs.empty:
        inp.notes.append("op-probability plot: no op_probs recorded for the featured run")
        return []
    rows = [np.asarray(p, dtype=np.float64) for p in probs["op_probs"] if p is not None]
    width = {r.size for r in rows}
    if len(width) != 1 or not rows:
        inp.notes.append("op-probability plot: op_probs rows have inconsistent lengths")
        return []
    total = width.pop()
    ops_meta = inp.featured.get("ops")
    n_ops = len(ops_meta) if isinstance(ops_meta, (list, tuple, np.ndarray)) and len(ops_meta) else 0
    if not n_ops or total % n_ops:
        n_ops = 5 if total % 5 == 0 else 8 if total % 8 == 0 else total
    n_edges = total // n_ops
    ops = _labels(ops_meta, n_ops, "op")
    edges = _labels(inp.featured.get("edges"), n_edges, "edge ")
    epochs = probs.loc[[p is not None for p in probs["op_probs"]], "epoch"].to_numpy()
    arr = np.stack(rows).reshape(len(rows), n_edges, n_ops)
    ncols = min(n_edges, 7 if n_edges > 12 else 3)
    nrows = -(-n_edges // ncols)
    fig = Figure(figsize=(3.2 * ncols, 2.4 * nrows + 0.8))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True)).ravel()
    for i, ax in enumerate(axes):
        if i >= n_edges:
            ax.set_visible(False)
            continue
        for j in range(n_ops):
            ax.plot(epochs, arr[:, i, j], color=f"C{j % 10}", label=ops[j])
        ax.set_title(edges[i], fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(n_ops, 5), fontsize=8)
    run = inp.featured
    fig.suptitle(f"Op probabilities per edge — {run['group']} (seed {run['seed']}, trial {run['trial_id']})",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    return [FigureFile("op_probs", f"Op-probability evolution per edge, trial {run['trial_id']}",
                       save(fig, out_dir, "op_probs"))]


def plot_cell(inp: PlotInput, out_dir: str) -> list[FigureFile]:
    """The featured run's final genotype as a graph (one panel per cell type)."""
    run = inp.featured
    genotype = None if run is None else run.get("final_genotype")
    if not isinstance(genotype, str) or not genotype:
        inp.notes.append("cell plot: the featured run has no genotype")
        return []
    try:
        fig = cell_figure(genotype, title=f"Derived cell — {run['group']} (seed {run['seed']})")
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        inp.notes.append(f"cell plot: {exc}")
        return []
    return [FigureFile("cell", f"Final genotype of trial {run['trial_id']}", save(fig, out_dir, "cell"))]


def _pick(keys: Sequence[str], runs: pd.DataFrame, numeric: bool, prefer: str) -> str | None:
    cands = [k for k in keys if k in runs and runs[k].nunique(dropna=True) > 1
             and pd.api.types.is_numeric_dtype(runs[k]) == numeric and not pd.api.types.is_bool_dtype(runs[k])]
    if prefer in cands:
        return prefer
    return cands[0] if cands else None


def plot_outcome(inp: PlotInput, out_dir: str) -> list[FigureFile]:
    """Parameter vs outcome: convergence epoch (censored hollow) and final val acc per run."""
    runs = inp.runs[(inp.runs["phase"] == inp.phase) & inp.runs["finished"]]
    if runs.empty:
        inp.notes.append("outcome plot: no finished runs")
        return []
    xkey = _pick(inp.keys, runs, True, "config/entropy_weight")
    ckey = _pick(inp.keys, runs, False, "config/sampler")
    if xkey is None:
        order = {g: i for i, g in enumerate(sorted(runs["group"].unique()))}
        x = runs["group"].map(order).to_numpy(dtype=np.float64)
        xlabel, ticks = "config", order
    else:
        x = runs[xkey].to_numpy(dtype=np.float64, na_value=np.nan)
        xlabel, ticks = short(xkey), None
    cats = runs[ckey].astype(str).to_numpy() if ckey else np.full(len(runs), "all runs", dtype=object)
    jitter = (np.random.default_rng(0).random(len(runs)) - 0.5) * 0.02 * (np.nanmax(x) - np.nanmin(x) or 1.0)
    fig = Figure(figsize=(11, 4.2))
    ax_conv, ax_acc = fig.subplots(1, 2)
    converged = runs["converged"].to_numpy(dtype=bool)
    for i, cat in enumerate(sorted(set(cats))):
        m = cats == cat
        color = f"C{i % 10}"
        ax_conv.scatter(x[m & converged] + jitter[m & converged], runs["convergence_epoch"].to_numpy()[m & converged],
                        color=color, label=str(cat), s=22)
        ax_conv.scatter(x[m & ~converged] + jitter[m & ~converged],
                        runs["convergence_epoch"].to_numpy()[m & ~converged],
                        facecolors="none", edgecolors=color, s=22)
        ax_acc.scatter(x[m] + jitter[m], runs["final_val_acc"].to_numpy()[m], color=color, label=str(cat), s=22)
    ax_conv.set_ylabel("convergence epoch (hollow: censored)")
    ax_acc.set_ylabel("final val acc")
    for ax in (ax_conv, ax_acc):
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if ticks:
            ax.set_xticks(list(ticks.values()), list(ticks.keys()), rotation=30, ha="right", fontsize=7)
    ax_acc.legend(title=short(ckey) if ckey else None, fontsize=8)
    fig.suptitle(f"{xlabel} vs outcome (phase {inp.phase})", fontsize=10)
    fig.tight_layout()
    return [FigureFile("outcome", f"{xlabel} vs convergence epoch and final accuracy", save(fig, out_dir, "outcome"))]


DIAGNOSTICS = ("grad_dilution", "alpha_grad_noise")


def diagnostics_table(inp: PlotInput, by: str = "config/sampler") -> pd.DataFrame:
    """Per (value of ``by``, epoch): ``<diagnostic>_mean`` / ``_ci_low`` / ``_ci_high`` over the phase's
    finished runs (``by`` falls back on the config label when the runs have no such column)."""
    runs = inp.runs[inp.runs["finished"] & (inp.runs["phase"] == inp.phase) & (inp.runs["run"] >= 0)]
    key = by if by in runs else "group"
    n_run = int(max(inp.epochs["run"].max(), inp.runs["run"].max())) + 1
    label = np.full(n_run, None, dtype=object)
    label[runs["run"].to_numpy(dtype=np.int64)] = runs[key].astype(str).to_numpy()
    lab = label[inp.epochs["run"].to_numpy(dtype=np.int64)]
    return _epoch_bands(inp, lab, pd.notna(lab), "value", DIAGNOSTICS)


def plot_diagnostics(inp: PlotInput, out_dir: str) -> list[FigureFile]:
    """Gradient dilution and α-gradient noise per epoch, one line per sampler."""
    table = diagnostics_table(inp)
    cols = [f"{m}_mean" for m in DIAGNOSTICS]
    if table.empty or not any(c in table and table[c].notna().any() for c in cols):
        inp.notes.append("diagnostics plot: no grad_dilution / alpha_grad_noise recorded (older results or "
                         "alpha never trained)")
        return []
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    titles = {"grad_dilution": "gradient dilution (share of |dL/dα| on the argmax op)",
              "alpha_grad_noise": "α-gradient noise (Σ Var_b g / ||mean_b g||², log scale)"}
    for ax, m in zip(axes, DIAGNOSTICS):
        ax.set_title(titles[m], fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if f"{m}_mean" not in table:
            ax.text(0.5, 0.5, "not recorded", ha="center", transform=ax.transAxes)
            continue
        for i, value in enumerate(sorted(table["value"].unique())):
            part = table[table["value"] == value]
            color = f"C{i % 10}"
            ax.plot(part["epoch"], part[f"{m}_mean"], color=color, label=str(value), marker=".")
            ax.fill_between(part["epoch"], part[f"{m}_ci_low"], part[f"{m}_ci_high"], color=color, alpha=0.2,
                            linewidth=0)
        if m == "alpha_grad_noise" and (table[f"{m}_mean"] > 0).any():
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"α-gradient diagnostics per sampler (phase {inp.phase}; mean of finished runs, "
                 f"{confidence_label(inp.confidence)} bootstrap band)", fontsize=10)
    fig.tight_layout()
    return [FigureFile("diagnostics", "Gradient dilution and α-gradient estimator noise per epoch, per sampler",
                       save(fig, out_dir, "diagnostics"))]


PLOTS: dict[str, Callable[[PlotInput, str], list[FigureFile]]] = {
    "convergence": plot_convergence,
    "op_probs": plot_op_probs,
    "cell": plot_cell,
    "outcome": plot_outcome,
    "diagnostics": plot_diagnostics,
}


def draw_all(inp: PlotInput, out_dir: str, names: Sequence[str] = tuple(PLOTS)) -> list[FigureFile]:
    """Draw the named plots into ``out_dir``; a plot that has nothing to draw adds a note instead."""
    figures: list[FigureFile] = []
    for name in names:
        figures.extend(PLOTS[name](inp, out_dir))
    return figures
