"""``diffnas report``: load → summarise → aggregate → compare → plot → export, all-or-nothing.

Inputs are validated and every number is computed before anything is written; figures and exports
go into a temporary folder beside ``--out`` that is renamed to ``--out`` at the end (an existing
``--out`` folder is replaced only then). On any error the temporary folder is removed, so a failed
report leaves nothing half-written. ``--out`` must not overlap a results folder being read and may
replace only a previous diffnas report, whose foreign files are kept (:mod:`diffnas.results.outputs`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from diffnas import storage
from diffnas.analysis.aggregate import aggregate
from diffnas.analysis.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_N_RESAMPLES, DEFAULT_SEED, confidence_label
from diffnas.analysis.compare import LOGRANK_NAME, TEST_NAME, compare_to_baseline, rank_metric, rank_table
from diffnas.analysis.convergence import CRITERIA, DEFAULT_CRITERION, threshold_for
from diffnas.analysis.export import EXPORTERS, ReportBundle
from diffnas.analysis.groups import (
    assign_groups,
    baseline_group,
    comparison_phase,
    default_group_keys,
    parse_baseline,
    resolve_group_keys,
    short,
)
from diffnas.analysis.load import load_results, load_run_epochs
from diffnas.analysis.plots import PLOTS, PlotInput, draw_all
from diffnas.analysis.summary import (
    DEFAULT_COLLAPSE,
    DEFAULT_WINDOW,
    HEADLINE_METRICS,
    SUMMARY_METRICS,
    summarise,
)
from diffnas.analysis.tables import aggregate_view, anchors_view, comparison_view, ranking_view
from diffnas.errors import InputError
from diffnas.results.outputs import check_report_out, publish_report_remote, replace_report
from diffnas.results.schema import CONFIG_PREFIX
from diffnas.selection.truth import ANCHORS


@dataclass
class ReportOptions:
    """Everything ``diffnas report`` can be told (CLI flags map 1:1)."""

    results: list[str]
    out: str
    baseline: str | None = None
    group_by: str | None = None
    threshold: float | None = None
    convergence: str = DEFAULT_CRITERION
    window: int = DEFAULT_WINDOW
    collapse: float = DEFAULT_COLLAPSE
    formats: Sequence[str] = tuple(EXPORTERS)
    plots: Sequence[str] = tuple(PLOTS)
    n_resamples: int = DEFAULT_N_RESAMPLES
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = DEFAULT_SEED
    phase: str | None = None
    metric: str | None = None
    mode: str | None = None
    max_curves: int = 8
    featured: str | None = None
    progress: Callable[[str], None] = field(default=lambda msg: None)


@dataclass
class Analysis:
    """The computed report content (before anything is written)."""

    runs: pd.DataFrame
    keys: list[str]
    aggregate: pd.DataFrame
    phase: str
    baseline_id: int | None
    comparison: pd.DataFrame
    ranking: pd.DataFrame
    metric: str
    mode: str
    plot_input: PlotInput
    notes: list[str]
    methods: list[str]


def validate(opts: ReportOptions) -> None:
    """Check the options before any work; raises :class:`InputError` naming the flag."""
    unknown = [f for f in opts.formats if f not in EXPORTERS]
    if unknown or not opts.formats:
        raise InputError("--format", f"unknown format {unknown[0]!r} (known: {', '.join(EXPORTERS)})"
                         if unknown else "no format given")
    bad_plots = [p for p in opts.plots if p not in PLOTS]
    if bad_plots:
        raise InputError("--plots", f"unknown plot {bad_plots[0]!r} (known: {', '.join(PLOTS)})")
    if opts.convergence not in CRITERIA:
        raise InputError("--convergence", f"unknown criterion {opts.convergence!r} (known: {', '.join(CRITERIA)})")
    if opts.threshold is not None and not 0.0 < opts.threshold <= 1.0:
        raise InputError("--threshold", f"must be in (0, 1], got {opts.threshold}")
    if opts.window < 1:
        raise InputError("--window", f"must be >= 1, got {opts.window}")
    if not 0.0 < opts.confidence < 1.0:
        raise InputError("--confidence", f"must be in (0, 1), got {opts.confidence}")
    if not 100 <= opts.n_resamples <= 1_000_000:
        raise InputError("--n-resamples", f"must be an integer in 100..1000000, got {opts.n_resamples}")
    if not 0.0 < opts.collapse <= 1.0:
        raise InputError("--collapse", f"must be a skip share in (0, 1], got {opts.collapse}")
    if not 0 <= opts.seed <= 2**32 - 1:
        raise InputError("--seed", f"must be an integer in 0..4294967295, got {opts.seed}")
    if opts.max_curves < 1:
        raise InputError("--max-curves", f"must be >= 1, got {opts.max_curves}")
    if opts.mode not in (None, "max", "min"):
        raise InputError("--mode", f"must be max or min, got {opts.mode!r}")
    check_report_out(opts.out, opts.results)


def _spec_value(specs: list[dict[str, Any]], key: str) -> Any:
    for spec in specs:
        if spec.get(key) is not None:
            return spec[key]
    return None


def analyse(opts: ReportOptions) -> Analysis:
    """Compute every table of the report in memory."""
    opts.progress(f"loading {len(opts.results)} results folder(s)")
    results = load_results(opts.results)
    notes = list(results.notes)
    runs = summarise(results, threshold=opts.threshold, window=opts.window, collapse_threshold=opts.collapse,
                     criterion=opts.convergence)
    opts.progress(f"summarised {len(runs)} runs ({len(results.epochs)} epoch rows)")
    keys = resolve_group_keys(runs, opts.group_by)
    runs = assign_groups(runs, keys)
    agg = aggregate(runs, keys, metrics=SUMMARY_METRICS, n_resamples=opts.n_resamples,
                    confidence=opts.confidence, seed=opts.seed)
    phase = comparison_phase(runs, opts.phase)
    if runs["phase"].nunique() > 1:
        notes.append(f"results hold phases {', '.join(sorted(runs['phase'].unique()))}; comparisons, ranking and "
                     f"plots use phase '{phase}' only (phases are never mixed)")
    pruns = runs[runs["phase"] == phase].reset_index(drop=True)

    baseline_id = _baseline(opts, results.specs, pruns, notes)
    wanted = opts.metric or _spec_value(results.specs, "metric")
    available = [m for m in SUMMARY_METRICS if f"{m}_mean" in agg and agg[f"{m}_mean"].notna().any()]
    metric = rank_metric(wanted, available)
    mode = opts.mode or _spec_value(results.specs, "mode") or "max"
    if wanted and metric not in (wanted, f"final_{wanted}"):
        if opts.metric:
            raise InputError("--metric", f"unknown metric {wanted!r} (known: {', '.join(available)})")
        notes.append(f"sweep metric {wanted!r} has no summary column; ranking by final_val_acc (max)")
        metric, mode = "final_val_acc", "max"
    if mode not in ("max", "min"):
        notes.append(f"sweep.json mode {mode!r} not understood; ranking with mode max")
        mode = "max"
    comparison = pd.DataFrame()
    if baseline_id is not None and pruns["group_id"].nunique() > 1:
        opts.progress("comparing configs with the baseline")
        metrics = tuple(dict.fromkeys((metric, *HEADLINE_METRICS)))
        comparison = compare_to_baseline(pruns, baseline_id, metrics=metrics, n_resamples=opts.n_resamples,
                                         confidence=opts.confidence, seed=opts.seed)
    ranking = rank_table(agg[agg["phase"] == phase], metric, mode, comparison, baseline_id)

    shown = ranking["group_id"].tolist()[: opts.max_curves]
    if baseline_id is not None and baseline_id not in shown:
        shown = shown[: max(0, opts.max_curves - 1)] + [baseline_id]
    if len(ranking) > len(shown):
        notes.append(f"convergence curves show the top {len(shown)} of {len(ranking)} configs "
                     f"(by {metric}; baseline included)")
    featured = _featured(opts, pruns, ranking, metric, mode)
    probs = None
    if featured is not None and "op_probs" in opts.plots:
        probs = load_run_epochs(opts.results, str(featured["sweep"]), str(featured["trial_id"]))
    plot_input = PlotInput(
        epochs=results.epochs, runs=runs, phase=phase, keys=keys, shown_groups=shown, featured=featured,
        featured_probs=probs, n_resamples=opts.n_resamples, confidence=opts.confidence, seed=opts.seed,
        rank_metric=_curve_metric(metric, results.epochs.columns),
    )
    differ = [short(k) for k in default_group_keys(pruns) if k != "config_id"]
    hidden = [k for k in differ if CONFIG_PREFIX + k not in keys]
    if hidden:
        notes.append(f"the configs compared also differ in {', '.join(hidden)} (not grouped by: --group-by)")
    methods = _methods(opts, keys, phase, baseline_id, pruns, metric, mode)
    if differ:
        methods.insert(2, f"The configs compared differ in {len(differ)} resolved key{'s' if len(differ) > 1 else ''} "
                          f"(a sampler's own defaults count: diffnas.config.recipes): {', '.join(differ)}.")
    return Analysis(runs, keys, agg, phase, baseline_id, comparison, ranking, metric, mode, plot_input,
                    notes, methods)


def _curve_metric(metric: str, columns: Any) -> str | None:
    """The epoch column behind the ranking metric (``final_proxy_score`` -> ``proxy_score``), if recorded."""
    name = metric[len("final_"):] if metric.startswith("final_") else metric
    return name if name in columns else None


def _baseline(opts: ReportOptions, specs: list[dict[str, Any]], pruns: pd.DataFrame, notes: list[str]) -> int | None:
    if opts.baseline:
        return baseline_group(pruns, parse_baseline(opts.baseline), "--baseline")
    spec_baseline = _spec_value(specs, "baseline")
    if not spec_baseline:
        notes.append("no baseline (none given and no sweep.json baseline): comparisons skipped")
        return None
    try:
        return baseline_group(pruns, spec_baseline, "sweep.json baseline")
    except InputError as err:
        notes.append(f"{err}; comparisons skipped")
        return None


def _featured(opts: ReportOptions, pruns: pd.DataFrame, ranking: pd.DataFrame, metric: str,
              mode: str) -> pd.Series | None:
    if opts.featured:
        hit = pruns[pruns["trial_id"].astype(str) == opts.featured]
        if hit.empty:
            raise InputError("--featured", f"no run with trial_id {opts.featured!r} in phase {pruns['phase'].iloc[0]!r}")
        return hit.iloc[0]
    if ranking.empty:
        return None
    top = pruns[pruns["group_id"] == ranking["group_id"].iloc[0]]
    fin = top[top["finished"]] if top["finished"].any() else top
    values = pd.to_numeric(fin[metric], errors="coerce") if metric in fin else pd.Series(np.nan, index=fin.index)
    if values.notna().any():
        return fin.loc[values.idxmax() if mode == "max" else values.idxmin()]
    return fin.iloc[0]


def _methods(opts: ReportOptions, keys: list[str], phase: str, baseline_id: int | None, pruns: pd.DataFrame,
             metric: str, mode: str) -> list[str]:
    pct = confidence_label(opts.confidence)
    lines = [
        f"Results: {', '.join(opts.results)}.",
        f"Configs grouped by {', '.join(short(k) for k in keys)} within each phase; comparisons, ranking and "
        f"plots use phase '{phase}'.",
        f"Convergence epoch (--convergence {opts.convergence}): "
        f"{CRITERIA[opts.convergence].describe(threshold_for(opts.convergence, opts.threshold), opts.window)}; "
        "runs that never get there are censored at their last epoch (Kaplan–Meier median over all runs of a "
        "config, 'not reached' when fewer than half settle; settled share over finished runs).",
        f"Stabilisation epoch: first epoch at which the argmax genotype has been unchanged for {opts.window} "
        "consecutive epochs; censored likewise.",
        "Final metrics average finished runs only (completed, early_stopped); ASHA-stopped, diverged, errored and "
        "incomplete runs are counted separately.",
        f"{pct} CIs: percentile bootstrap of the mean, {opts.n_resamples} resamples, numpy default_rng seed "
        f"{opts.seed} (equal to scipy.stats.bootstrap(method='percentile') with that seed).",
        f"Comparison with the baseline: difference of means with a {pct} percentile-bootstrap CI; {TEST_NAME} "
        f"across configs; convergence epoch: {LOGRANK_NAME}.",
        f"Ranking by mean {metric} ({'higher' if mode == 'max' else 'lower'} is better).",
        f"Collapse: final share of skip_connect edges >= {opts.collapse:g}.",
    ]
    if baseline_id is not None:
        label = pruns.loc[pruns["group_id"] == baseline_id, "group"].iloc[0]
        lines.insert(2, f"Baseline: {label}" + (f" (from --baseline {opts.baseline})" if opts.baseline
                                                 else " (from sweep.json)"))
    return lines


def bundle(analysis: Analysis, figures: list, title: str) -> ReportBundle:
    """Raw tables and presentation views of an :class:`Analysis`."""
    runs = analysis.runs.drop(columns=["run"], errors="ignore")
    tables = {"runs": runs, "aggregate": analysis.aggregate, "ranking": analysis.ranking}
    views = {"ranking": (f"Ranking (phase {analysis.phase}, by {analysis.metric})",
                         ranking_view(analysis.ranking, analysis.metric)),
             "aggregate": (f"Per-config summary across seeds (finished runs; mean "
                           f"[{confidence_label(analysis.plot_input.confidence)} CI])",
                           aggregate_view(analysis.aggregate))}
    anchors = anchors_view(analysis.aggregate, analysis.phase, ANCHORS) if _cifar10_truth(analysis.runs) \
        else pd.DataFrame()
    if not anchors.empty:
        views["anchors"] = ("NAS-Bench-201 truth (CIFAR-10 test %) of the final cells beside published anchors",
                            anchors)
    if not analysis.comparison.empty:
        tables["comparison"] = analysis.comparison
        views["comparison"] = ("Difference to the baseline", comparison_view(analysis.comparison))
    return ReportBundle(title=title, tables=tables, views=views, figures=figures,
                        methods=analysis.methods, notes=analysis.notes + analysis.plot_input.notes)


def _cifar10_truth(runs: pd.DataFrame) -> bool:
    """True unless the runs say their truth column is not CIFAR-10 (the anchors are CIFAR-10 numbers)."""
    col = "config/truth.column"
    if col not in runs:
        return True
    values = {str(v) for v in runs[col].dropna().unique()}
    return values <= {"cifar10_test"}


def write_report(opts: ReportOptions) -> dict[str, list[str]]:
    """Run the whole report; returns the written files (locations under ``--out``) by format.

    ``--out`` on a bucket (``s3://``): the report is built in a local temporary folder and published
    by :func:`diffnas.results.outputs.publish_report_remote`. A disk that fills while the report is
    written leaves nothing behind (the temporary folder is removed; a previous report stays) and
    raises :class:`diffnas.storage.StorageError` naming the folder and its free space."""
    validate(opts)
    analysis = analyse(opts)
    remote = storage.is_remote(opts.out)
    out = storage.normalize(opts.out)
    parent = None if remote else os.path.dirname(out)
    try:
        if parent is not None:
            os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-" if parent else "diffnas-report-", dir=parent)
    except OSError as err:
        raise storage.write_error(parent or out, err) from err
    try:
        opts.progress(f"drawing {len(opts.plots)} plot(s)")
        figures = draw_all(analysis.plot_input, tmp, opts.plots)
        title = f"diffnas report — {', '.join(os.path.basename(os.path.normpath(r)) for r in opts.results)}"
        content = bundle(analysis, figures, title)
        written: dict[str, list[str]] = {"figures": [p for f in figures for p in f.files.values()]}
        for fmt in opts.formats:
            opts.progress(f"writing {fmt}")
            written[fmt] = EXPORTERS[fmt](content, tmp)
        if remote:
            opts.progress(f"uploading to {out}")
            publish_report_remote(tmp, out)
        else:
            replace_report(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if storage.is_disk_full(err) or remote:
            raise storage.write_error(out if remote else parent, err) from err
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if remote:
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: [storage.join(out, os.path.relpath(p, tmp).replace(os.sep, "/")) for p in v]
            for k, v in written.items()}


def stderr_progress(msg: str) -> None:
    """Progress lines on stderr."""
    print(f"diffnas report: {msg}", file=sys.stderr, flush=True)
