"""Presentation tables: the raw aggregate / comparison / ranking frames formatted as strings
("mean [CI low, CI high]", p-values, censored medians) for Markdown, LaTeX and HTML."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from diffnas.analysis.summary import HEADLINE_METRICS, STOPPED_STATUSES

DASH = "–"


def num(value: object, digits: int = 3) -> str:
    """A float with ``digits`` decimals, integers plainly, missing as an en dash."""
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return DASH
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def pvalue(p: object) -> str:
    """p-values: 3 significant digits, ``< 1e-4`` below that."""
    if p is None or (isinstance(p, float) and np.isnan(p)):
        return DASH
    p = float(p)  # type: ignore[arg-type]
    return "< 1e-4" if p < 1e-4 else f"{p:.3g}"


def with_ci(mean: object, low: object, high: object, digits: int = 3) -> str:
    """``0.815 [0.805, 0.825]``."""
    if isinstance(low, float) and np.isnan(low):
        return num(mean, digits)
    return f"{num(mean, digits)} [{num(low, digits)}, {num(high, digits)}]"


def _stopped(row: pd.Series) -> str:
    parts = [f"{s.replace('_stopped', '')} {int(row[f'n_{s}'])}" for s in STOPPED_STATUSES
             if f"n_{s}" in row and row[f"n_{s}"]]
    return ", ".join(parts) or DASH


def _median(value: object) -> str:
    return "not reached" if isinstance(value, float) and np.isnan(value) else num(value, 1)


CONVERGENCE_COLUMN = "conv. epoch (KM median)"


def _settled(row: pd.Series) -> str:
    """The headline convergence cell: the Kaplan–Meier median epoch, or "not reached" when fewer than
    half the runs settled (censored), with the count of finished runs that settled."""
    text = _median(row["km_median_convergence_epoch"])
    frac, n = row.get("converged_fraction"), row.get("n_finished")
    if n is not None and frac is not None and not (isinstance(frac, float) and np.isnan(frac)) and n > 0:
        text += f" ({int(round(float(frac) * int(n)))}/{int(n)} settled)"
    return text


def aggregate_view(aggregate: pd.DataFrame, metrics: Sequence[str] = HEADLINE_METRICS) -> pd.DataFrame:
    """Per config and phase: runs, stopped runs, headline means with CI, convergence summary."""
    if "final_truth_acc_mean" in aggregate and aggregate["final_truth_acc_mean"].notna().any():
        metrics = (*metrics, "final_truth_acc")  # NAS-Bench-201 truth of the derived cells, when recorded
    rows = []
    for _, row in aggregate.sort_values(["phase", "group"]).iterrows():  # one row per printed config
        out = {"phase": row["phase"], "config": row["group"],
               "finished / runs": f"{int(row['n_finished'])} / {int(row['n_runs'])}",
               "stopped / failed": _stopped(row)}
        for m in metrics:
            if f"{m}_mean" in row:
                out[m] = with_ci(row[f"{m}_mean"], row[f"{m}_ci_low"], row[f"{m}_ci_high"])
        if "converged_fraction" in row:
            out["converged"] = num(row["converged_fraction"], 2)
            out[CONVERGENCE_COLUMN] = _settled(row)
        if "km_median_stabilisation_epoch" in row:
            out["KM median stab. epoch"] = _median(row["km_median_stabilisation_epoch"])
        rows.append(out)
    return pd.DataFrame(rows)


def comparison_view(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per config and metric: difference to the baseline with CI, test, p and Holm-adjusted p."""
    if comparison.empty:
        return pd.DataFrame()
    rows = []
    for _, row in comparison.sort_values(["metric", "group"]).iterrows():
        rows.append({
            "config": row["group"], "metric": row["metric"], "n vs n_base": f"{row['n']} vs {row['n_baseline']}",
            "difference": with_ci(row["diff"], row["diff_ci_low"], row["diff_ci_high"]),
            "test": row["test"], "statistic": num(row["statistic"], 2),
            "p": pvalue(row["p_value"]), "p (Holm)": pvalue(row["p_holm"]),
            "significant": "yes" if row["significant"] else "no",
        })
    return pd.DataFrame(rows)


def _has_truth(frame: pd.DataFrame) -> bool:
    return "final_truth_acc_mean" in frame and bool(frame["final_truth_acc_mean"].notna().any())


def anchors_view(aggregate: pd.DataFrame, phase: str, anchors: dict[str, float]) -> pd.DataFrame:
    """Each config's mean true accuracy of its final cells among the published anchors, best first."""
    if not _has_truth(aggregate):
        return pd.DataFrame()
    rows = [{"cell": name, "truth_acc": value, "source": "published"} for name, value in anchors.items()]
    for _, row in aggregate[aggregate["phase"] == phase].iterrows():
        if not np.isnan(row["final_truth_acc_mean"]):
            rows.append({"cell": f"{row['group']} (final cells, n={int(row['n_finished'])})",
                         "truth_acc": float(row["final_truth_acc_mean"]), "source": "this report"})
    frame = pd.DataFrame(rows).sort_values("truth_acc", ascending=False, kind="stable")
    frame["truth_acc"] = [num(v, 2) for v in frame["truth_acc"]]
    return frame.reset_index(drop=True)


def ranking_view(ranking: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rank table with formatted numbers."""
    rows = []
    for _, row in ranking.iterrows():
        out = {"rank": int(row["rank"]), "config": row["group"] + (" (baseline)" if row.get("baseline") else ""),
               "finished": int(row["n_finished"]),
               metric: with_ci(row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])}
        for m in HEADLINE_METRICS:
            if m != metric and f"{m}_mean" in row:
                out[m] = num(row[f"{m}_mean"])
        if metric != "final_proxy_score" and "final_proxy_score_mean" in ranking \
                and ranking["final_proxy_score_mean"].notna().any():  # the calibrated metric, when recorded
            out["final_proxy_score"] = num(row["final_proxy_score_mean"], 1)
        if metric != "final_truth_acc" and _has_truth(ranking):  # NAS-Bench-201 truth beside the ranking metric
            out["final_truth_acc"] = num(row["final_truth_acc_mean"], 2)
        if "km_median_convergence_epoch" in row:
            out[CONVERGENCE_COLUMN] = _settled(row)
        if "p_holm" in row:
            out["p (Holm) vs baseline"] = pvalue(row["p_holm"])
        rows.append(out)
    return pd.DataFrame(rows)
