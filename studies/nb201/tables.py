"""The tables of docs/results.md, regenerated from a study's results folder (Parquet only; no torch/Ray but for
--chooser).

    python studies/nb201/tables.py studies/nb201/results/nb201_study > /tmp/tables.md

Every rule below is pinned here to the value the study used (:data:`GUARDS`, :data:`REPLAYED_RULES`,
:data:`BEST_CELL`, :data:`STABILITY_WINDOW`, :data:`CONVERGENCE`), not read from the project's defaults, so
the committed tables regenerate byte for byte whatever those defaults become.

Per confirmed config (phase ``confirm``: the best explore config of every sampler by ``proxy_score``,
plus the unguarded softmax baseline, each with 5 fresh seeds on FIFO), over its runs:

* ``final truth``: NAS-Bench-201 CIFAR-10 test accuracy (%) of the final argmax cell, mean and 95 %
  Student-t interval  x̄ ± t_{0.975, n−1} · s / √n  (wider than a 5-seed bootstrap, which
  under-covers at n = 5);
* ``by proxy``: truth of the run's best cell by the calibrated metric — :func:`diffnas.selection.best_cell.best_cell`
  (the rule behind the trial column ``best_genotype``: the epoch with the highest ``proxy_score``,
  NASWOT, the earliest on ties) applied to the run's epoch rows, so results written before that
  column existed get the same answer; the rule sees only the proxy, never the truth;
* ``best visited``: the best truth of any cell the run passed through (an oracle, for reference only);
* ``stab. epoch``: first epoch at which the argmax genotype had been unchanged for 3 epochs
  (:func:`diffnas.analysis.summary.summarise`), mean [95 % t-interval] over the runs that stabilised, with
  the count; ``conv. epoch``: the convergence criterion ``entropy_drop`` at threshold 0.5 (the report's
  default when the study ran; :mod:`diffnas.analysis.convergence`: the sampler's effective entropy has
  halved since epoch 1), likewise;
* ``collapsed``: runs whose final cell is below the random-cell mean (87.06) — the definition of
  ``experiments/bench_guards.py``; ``guard stops``: runs the search itself stopped with a collapse
  guard (``stop_reason`` naming one); ``guards replayed``: the collapse guards as the study ran them
  (skip_share and none_share > 0.5, gap_growth > 0.3 over 3 epochs, each held for 2 epochs: the
  project's defaults when the study ran) plus the study's skip-count guard (> 3 of 6 edges on
  skip_connect), through the rules of :class:`diffnas.search.early_stopping.EarlyStopper` (the code a
  run uses; only those four rules, in that order), replayed over each run's epoch rows — how many runs
  they stop, how many of the collapsed ones, and the truth of the cell a guarded run hands back (its
  best cell by ``proxy_score`` up to the stop);
* ``wall``: mean seconds per run (the trial's own ``wall_s``).

``--window K`` adds a table of the cell discretised from the mean op distribution of each run's last K
epochs (:func:`diffnas.selection.best_cell.window_mean`, α averaging) beside the final cell; the truth
of that cell comes from the bundled table (it need not be a cell the run visited). This option imports
torch (the space's genotype writer). ``--skip-cap M`` applies P-DARTS's skip cap
(:func:`diffnas.model.spaces.cap_skips`, the rule of ``discretize.max_skip``) to that cell — with K = 1 (the
default when only ``--skip-cap`` is given) the final epoch's cell capped after the fact, which is what a run
with ``discretize.max_skip: M`` hands back, since the cap does not change training.

``--seeds LO-HI`` keeps the runs with LO ≤ seed ≤ HI in the per-config tables (a pre-registered subset of
a larger confirm, such as its first five seeds); the proxy's calibration line still covers every cell the
folders visited.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from diffnas.analysis.intervals import t_interval
from diffnas.analysis.load import load_results
from diffnas.analysis.summary import summarise
from diffnas.inputs import seed_range
from diffnas.selection.best_cell import best_cell
from diffnas.selection.truth import ANCHORS

AXES = ("config/sampler", "config/temperature.schedule", "config/clip.mode", "config/entropy_weight",
        "config/early_stop.stability_window", "config/early_stop.max_skip")
SHORT = {"config/sampler": "sampler", "config/temperature.schedule": "T decay", "config/clip.mode": "clip",
         "config/entropy_weight": "entropy w", "config/early_stop.stability_window": "stab. stop W",
         "config/early_stop.max_skip": "skip guard"}


def fmt(ci: tuple[float, float, float], digits: int = 2) -> str:
    m, lo, hi = ci
    if math.isnan(m):
        return "–"
    if math.isnan(lo):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


RANDOM_MEAN = ANCHORS["random cell (mean of all 15,625)"]
# The study's rules, pinned (none is read from a project default that may change):
# the collapse guards replayed, with the thresholds the study ran with (the project's defaults then) ...
GUARDS = {"early_stop.patience": 0, "early_stop.stability_window": 0, "early_stop.hessian_growth": None,
          "early_stop.max_skip": 3, "early_stop.max_skip_share": 0.5, "early_stop.max_none_share": 0.5,
          "early_stop.gap_growth": 0.3, "early_stop.gap_window": 3, "early_stop.guard_patience": 2}
# ... exactly these rules, the first of them that fires (in this order) naming the stop;
REPLAYED_RULES = ("skip_collapse", "skip_share", "none_share", "gap_growth")
# the cell a run hands back: max proxy_score (earliest on ties), discrete_val_acc where no epoch has a proxy;
BEST_CELL = {"metric": "proxy_score", "mode": "max", "fallback": "discrete_val_acc", "rule": "all"}
# the stabilisation epoch (argmax genotype unchanged for 3 epochs) and the convergence criterion (the sampler's
# effective entropy halved since epoch 1: diffnas.analysis.convergence's entropy_drop at threshold 0.5).
STABILITY_WINDOW = 3
CONVERGENCE = {"criterion": "entropy_drop", "threshold": 0.5}


def run_best_cell(records: list[dict]) -> dict:
    """The best cell of a run's epoch records by the study's rule (:data:`BEST_CELL`)."""
    return best_cell(records, BEST_CELL["metric"], BEST_CELL["mode"], fallback=BEST_CELL["fallback"],
                     rule=BEST_CELL["rule"])


def replay_guards(records: list[dict]) -> tuple[int | None, str | None, float]:
    """(epoch, rule, truth handed back) of the study's collapse guards replayed over one run."""
    from diffnas.config import SearchConfig
    from diffnas.search.early_stopping import EarlyStopper

    stopper = EarlyStopper(SearchConfig.validate(GUARDS))
    stopper.rules = {name: stopper.rules[name] for name in REPLAYED_RULES}  # KeyError if one is renamed or off
    stop, rule = None, None
    for r in records:
        rec = {k: (math.nan if v is None else v) for k, v in r.items()}
        rule = stopper.update(rec, str(r["genotype"]).count("skip_connect~"))
        if rule is not None:
            stop = int(r["epoch"])
            break
    upto = [r for r in records if stop is None or r["epoch"] <= stop]
    return stop, rule, run_best_cell(upto)["best_truth_acc"]


def per_run(folder: str) -> pd.DataFrame:
    """One row per run: identity, axes, status, truth (final, by proxy, best visited), epochs."""
    epochs = pd.read_parquet(Path(folder) / "epochs")
    trials = pd.read_parquet(Path(folder) / "trials")
    epochs = epochs.sort_values(["trial_id", "epoch"], ignore_index=True)
    # best cell by the calibrated metric (diffnas.selection.best_cell: max proxy_score, earliest on ties)
    cols = ["epoch", "genotype", "truth_acc", "proxy_score", "discrete_val_acc", "val_acc", "gap",
            "skip_fraction", "none_fraction", "stability", "entropy_norm"]
    records = {tid: grp[cols].to_dict("records") for tid, grp in epochs.groupby("trial_id", sort=False)}
    best = {tid: run_best_cell(recs) for tid, recs in records.items()}
    guards = pd.DataFrame.from_dict({tid: dict(zip(("guard_epoch", "guard_rule", "guard_truth"), replay_guards(recs)))
                                     for tid, recs in records.items()}, orient="index")
    by_proxy = pd.DataFrame.from_dict(best, orient="index").rename(
        columns={"best_truth_acc": "truth_acc", "best_epoch": "epoch"})
    skip = epochs["genotype"].str.count("skip_connect~")
    none = epochs["genotype"].str.count("none~")
    epochs = epochs.assign(n_skip=skip, n_none=none)
    g = epochs.groupby("trial_id", sort=False)
    last = g.tail(1).set_index("trial_id")
    results = load_results([folder])
    summ = summarise(results, window=STABILITY_WINDOW, **CONVERGENCE).set_index("trial_id")
    runs = trials.set_index("trial_id")
    out = pd.DataFrame({
        "phase": runs["phase"], "config_id": runs["config_id"], "seed": runs["seed"],
        "status": runs["status"], "stop_reason": runs.get("stop_reason"),
        "epochs_run": runs["epochs_run"], "wall_s": runs["wall_s"],
        "final_truth": last["truth_acc"].reindex(runs.index),
        "final_genotype": last["genotype"].reindex(runs.index),
        "proxy_truth": by_proxy["truth_acc"].reindex(runs.index),
        "proxy_epoch": by_proxy["epoch"].reindex(runs.index),
        "best_visited": g["truth_acc"].max().reindex(runs.index),
        "final_skip": last["n_skip"].reindex(runs.index),
        "final_none": last["n_none"].reindex(runs.index),
        "conv_epoch": summ["convergence_epoch"].where(summ["converged"]).reindex(runs.index),
        "stab_epoch": summ["stabilisation_epoch"].where(summ["stabilised"]).reindex(runs.index),
        "final_proxy": last["proxy_score"].reindex(runs.index),
        "guard_epoch": guards["guard_epoch"].reindex(runs.index),
        "guard_rule": guards["guard_rule"].reindex(runs.index),
        "guard_truth": guards["guard_truth"].reindex(runs.index),
    })
    for a in AXES:
        out[a] = runs[a] if a in runs else last[a].reindex(runs.index)
    for a in LABEL_KEYS:  # the follow-up specs' settings (absent from older results)
        if a in runs or a in last:
            out[a] = runs[a] if a in runs else last[a].reindex(runs.index)
    return out.reset_index()


def label(row: pd.Series) -> str:
    parts = [f"{row['config/sampler']}", f"{row['config/temperature.schedule']}", f"clip {row['config/clip.mode']}",
             f"H·{row['config/entropy_weight']:+g}",
             "stab-stop" if row["config/early_stop.stability_window"] else "no stab-stop",
             guard_label(row)]
    return ", ".join(parts + extras(row))


SHARE_GUARDS = ("config/early_stop.max_skip_share", "config/early_stop.max_none_share", "config/early_stop.gap_growth")
# The study's protocol for each follow-up setting: its value where a folder lacks the column (results from before
# the setting existed); a label names only the settings that differ from it (EXTRAS). Each default stands here once.
PROTOCOL: dict[str, object] = {
    "config/temperature.t0": 1.0, "config/temperature.t_min": 0.1, "config/sampler_options.hard_forward": "chosen",
    "config/order": "first", "config/model.cells_per_stage": 1, "config/data.subset": 2000, "config/epochs": 10,
    "config/beta_weight": 0.0, "config/aux_skip": 0.0, "config/data.resolution": 16, "config/kl_weight": 0.0,
    "config/prune.epoch": 0, "config/prune.keep": 3, "config/model.channels": 8,
    "config/discretize.max_skip": math.inf,  # no skip cap (null in the config)
}
LABEL_KEYS = SHARE_GUARDS + tuple(PROTOCOL)


def guard_label(row: pd.Series) -> str:
    """``skip≤k`` (the skip-count guard), else ``default guards`` where a share/gap guard was on, else ``no guard``
    (results from before the share guards existed have no such columns)."""
    if not pd.isna(row["config/early_stop.max_skip"]):
        return f"skip≤{int(row['config/early_stop.max_skip'])}"
    if any(k in row.index and not pd.isna(row[k]) for k in SHARE_GUARDS):
        return "default guards"
    return "no guard"


EXTRAS: tuple[tuple[str, type, Callable[[object, Callable[[str], object]], str]], ...] = (
    # (key, type its value is compared as, label part given that value and a getter of the row's settings)
    ("config/temperature.t0", float, lambda v, get: f"T {v:g}→{float(get('config/temperature.t_min')):g}"),
    ("config/sampler_options.hard_forward", str, lambda v, get: f"hard_forward {v}"),
    ("config/order", str, lambda v, get: "2nd order"),
    ("config/model.cells_per_stage", int, lambda v, get: f"{v} cells/stage"),
    ("config/model.channels", int, lambda v, get: f"{v} channels"),
    ("config/data.subset", int, lambda v, get: f"{v:,} images"),
    ("config/epochs", int, lambda v, get: f"{v} epochs"),
    ("config/beta_weight", float, lambda v, get: f"β-decay {v:g}"),
    ("config/aux_skip", float, lambda v, get: f"aux skip {v:g}"),
    ("config/data.resolution", int, lambda v, get: f"{v} px"),
    ("config/kl_weight", float, lambda v, get: f"KL {v:g}"),
    ("config/prune.epoch", int, lambda v, get: f"keep {int(get('config/prune.keep'))} ops after epoch {v}"),
    ("config/discretize.max_skip", float, lambda v, get: f"skip cap {v:g}"),
)


def extras(row: pd.Series) -> list[str]:
    """Settings of the follow-up specs that differ from the study's protocol (none for the study itself)."""
    def get(key: str) -> object:
        value = row.get(key, PROTOCOL[key])
        return PROTOCOL[key] if pd.isna(value) else value

    return [part(cast(get(key)), get) for key, cast, part in EXTRAS if cast(get(key)) != cast(PROTOCOL[key])]


def confirm_table(runs: pd.DataFrame, phase: str = "confirm") -> str:
    c = runs[runs["phase"] == phase]
    rows = []
    for _cid, grp in c.groupby("config_id", sort=False):
        first = grp.iloc[0]
        guard = grp["stop_reason"].fillna("").str.contains("collapse|skip|none|gap|guard").sum()
        is_collapsed = grp["final_truth"] < RANDOM_MEAN
        collapsed = int(is_collapsed.sum())
        fired = grp["guard_epoch"].notna()
        rules = ", ".join(f"{r}@{int(e)}" for r, e in zip(grp.loc[fired, "guard_rule"], grp.loc[fired, "guard_epoch"]))
        replayed = (f"{int(fired.sum())} ({int((fired & is_collapsed).sum())} of the collapsed)"
                    + (f": {rules}; hands back {fmt(t_interval(grp['guard_truth']))}" if fired.any() else ""))
        stab, conv = grp["stab_epoch"], grp["conv_epoch"]
        rows.append((t_interval(grp["final_truth"])[0], "| " + " | ".join([
            label(first), f"{len(grp)} ({', '.join(str(s) for s in sorted(grp['seed']))})",
            fmt(t_interval(grp["final_truth"])), fmt(t_interval(grp["proxy_truth"])),
            fmt(t_interval(grp["best_visited"])),
            f"{fmt(t_interval(stab), 1)} ({stab.notna().sum()}/{len(grp)})",
            f"{fmt(t_interval(conv), 1)} ({conv.notna().sum()}/{len(grp)})",
            f"{collapsed}", f"{guard}", replayed, f"{grp['epochs_run'].mean():.1f}", f"{grp['wall_s'].mean():.0f}",
        ]) + " |"))
    rows.sort(key=lambda r: -r[0] if not math.isnan(r[0]) else math.inf)
    head = ("| config | runs (seeds) | final truth | truth by proxy | best visited (oracle) | stab. epoch (n) "
            "| conv. epoch (n) | collapsed | guard stops | guards replayed | epochs | wall s/run |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(r[1] for r in rows)


def anchors_table(runs: pd.DataFrame, phase: str = "confirm") -> str:
    c = runs[runs["phase"] == phase]
    lines = [(v, f"| {k} | {v:.2f} | published |") for k, v in ANCHORS.items()]
    for _, grp in c.groupby("config_id", sort=False):
        m, lo, hi = t_interval(grp["final_truth"])
        pm, plo, phi = t_interval(grp["proxy_truth"])
        lines.append((m, f"| {label(grp.iloc[0])}: final cell | {fmt((m, lo, hi))} | this study, n={len(grp)} |"))
        lines.append((pm, f"| {label(grp.iloc[0])}: best cell by proxy | {fmt((pm, plo, phi))} | this study, n={len(grp)} |"))
    lines.sort(key=lambda x: -x[0])
    return "| cell | CIFAR-10 test % | source |\n|---|---|---|\n" + "\n".join(x[1] for x in lines)


def explore_table(runs: pd.DataFrame) -> str:
    e = runs[runs["phase"] == "explore"].sort_values(["config/sampler", "final_proxy"], ascending=[True, False])
    head = ("| config | status | epochs | final proxy_score | final truth | truth by proxy | best visited |\n"
            "|---|---|---|---|---|---|---|")
    body = [f"| {label(r)} | {r['status']} | {r['epochs_run']} | {r['final_proxy']:.1f} | {r['final_truth']:.2f} "
            f"| {r['proxy_truth']:.2f} | {r['best_visited']:.2f} |" for _, r in e.iterrows()]
    return head + "\n" + "\n".join(body)


def proxy_calibration(folders: Sequence[str]) -> str:
    """Kendall τ and Spearman ρ between proxy_score and truth over the distinct cells the study visited."""
    e = pd.concat([pd.read_parquet(Path(f) / "epochs", columns=["genotype", "proxy_score", "truth_acc"])
                   for f in folders], ignore_index=True)
    cells = e.dropna().drop_duplicates("genotype")
    tau = stats.kendalltau(cells["proxy_score"], cells["truth_acc"]).statistic
    rho = stats.spearmanr(cells["proxy_score"], cells["truth_acc"]).statistic
    return (f"proxy_score (NASWOT) vs NB201 CIFAR-10 truth over the {len(cells)} distinct cells this study "
            f"visited: Kendall tau {tau:.3f}, Spearman rho {rho:.3f}")


def cap_phrase(max_skip: int) -> str:
    """``at most M skip(s)``: the skip cap in a table heading."""
    return f"at most {max_skip} skip{'s' if max_skip != 1 else ''}"


def window_table(folders: Sequence[str], runs: pd.DataFrame, phase: str, window: int,
                 max_skip: int | None = None) -> str:
    """Per config of ``phase``: truth of the final cell and of the last-``window``-epochs mean cell (with at most
    ``max_skip`` skips when given), per seed."""
    import torch

    from diffnas.model.spaces import build_space
    from diffnas.selection.best_cell import window_mean
    from diffnas.selection.truth import TruthTable

    space, truth = build_space("nb201"), TruthTable()
    epochs = pd.concat([pd.read_parquet(Path(f) / "epochs", columns=["trial_id", "epoch", "op_probs"])
                        for f in folders], ignore_index=True)
    mean_truth = {}
    for tid, grp in epochs.sort_values("epoch").groupby("trial_id", sort=False):
        # α̃ = log π̄ (pruned ops at −∞): softmax(α̃) = π̄ and argmax α̃ = argmax π̄ (the lowest index on ties), so
        # the space's own discretisation (with the run's skip cap) gives the mean cell
        mean = torch.tensor(window_mean(list(grp["op_probs"]), space.n_ops, window), dtype=torch.float64)
        mean_truth[tid] = truth.lookup(space.genotype_of(space.discrete_choice(mean.log(), max_skip)))
    c = runs[runs["phase"] == phase].assign(window_truth=lambda d: d["trial_id"].map(mean_truth))
    capped = "" if max_skip is None else f" with {cap_phrase(max_skip)}"
    head = (f"| config | seeds | final truth | truth of the mean cell of the last {window} epochs{capped} | "
            "per seed (final → mean cell) |\n|---|---|---|---|---|")
    rows = []
    for _cid, grp in c.groupby("config_id", sort=False):
        grp = grp.sort_values("seed")
        per_seed = ", ".join(f"{f:.2f} → {w:.2f}" for f, w in zip(grp["final_truth"], grp["window_truth"]))
        rows.append(f"| {label(grp.iloc[0])} | {', '.join(str(int(x)) for x in grp['seed'])} | "
                    f"{fmt(t_interval(grp['final_truth']))} | {fmt(t_interval(grp['window_truth']))} | {per_seed} |")
    return head + "\n" + "\n".join(rows)


HANDBACK_RULES = ("late", "all")  # diffnas.selection.best_cell's rules, at its default tolerance


def run_chooser(trial: Mapping[str, Any], name: str) -> Callable[[str], float]:
    """``name``'s score of a genotype as a run of ``trial``'s config computes it (``best_cell.chooser``:
    :class:`diffnas.selection.proxies.RunProxy` on the seed-0 data; needs torch and the dataset), cached per
    data and sizes."""
    import torch

    from diffnas.selection.proxies import RunProxy
    from diffnas.sweeps.points import config_from_row

    cfg = config_from_row({k: v for k, v in trial.items() if not (str(k).startswith("config/") and _missing(v))})
    key = (name, *(str(cfg[k]) for k in ("dataset", "data.subset", "data.resolution", "data.test_fraction", "space",
                                          "ops", "model.channels", "model.cells_per_stage", "model.stages",
                                          "metrics.proxy_batch")))
    if key not in _CHOOSERS:
        torch.set_num_threads(1)
        _CHOOSERS[key] = RunProxy.for_config(cfg.replace(seed=0), name=name)
    return _CHOOSERS[key]


_CHOOSERS: dict[tuple, Callable[[str], float]] = {}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def handback_runs(folders: Sequence[str], chooser: str | None = None) -> pd.DataFrame:
    """One row per run (no skip cap): its final cell's truth, the handed-back cell it recorded, and the truth of
    the cell each rule of :data:`HANDBACK_RULES` hands back, recomputed from its epoch rows (proxy_score); with
    ``chooser`` (a proxy name) also ``late+<chooser>``, the late rule with that proxy choosing (torch)."""
    rows = []
    for folder in folders:
        epochs = pd.read_parquet(Path(folder) / "epochs").sort_values(["trial_id", "epoch"], ignore_index=True)
        trials = pd.read_parquet(Path(folder) / "trials").set_index("trial_id")
        if "config/discretize.max_skip" in trials:
            trials = trials[trials["config/discretize.max_skip"].isna()]
        for tid, grp in epochs.groupby("trial_id", sort=False):
            if tid not in trials.index or grp["proxy_score"].isna().all():
                continue
            recs = grp.to_dict("records")
            t = trials.loc[tid]
            extra = {}
            if chooser:
                score = run_chooser(t.to_dict(), chooser)
                extra[f"late+{chooser}"] = best_cell(recs, "proxy_score", rule="late", chooser=score)["best_truth_acc"]
            rows.append({"folder": Path(folder).name, "config_id": t["config_id"], "sampler": t["config/sampler"],
                         "phase": t["phase"], "seed": t["seed"], "final": grp["truth_acc"].iloc[-1],
                         "recorded": t.get("best_truth_acc", math.nan), "best_by": t.get("best_by", "–"),
                         "max": grp["truth_acc"].max(),
                         **{rule: best_cell(recs, "proxy_score", rule=rule)["best_truth_acc"]
                            for rule in HANDBACK_RULES}, **extra})
    return pd.DataFrame(rows)


def _rules(hb: pd.DataFrame) -> list[str]:
    return [*HANDBACK_RULES, *(c for c in hb.columns if c.startswith("late+"))]


def handback_table(hb: pd.DataFrame, phase: str) -> str:
    """Per sampler and config: final cell, the recorded handed-back cell and each rule (mean [95% t-interval])."""
    rules = _rules(hb)
    cols = ["final", "recorded", *rules]
    lines = ["| sampler | runs | final cell | handed back (recorded; best_by) | "
             + " | ".join(f"rule {r}" for r in rules) + " |", "|---" * (4 + len(rules)) + "|"]
    for (sampler, _), g in hb[hb["phase"] == phase].groupby(["sampler", "config_id"], sort=False):
        cis = {c: fmt(t_interval(g[c].dropna())) for c in cols}
        lines.append(f"| {sampler} | {len(g)} | {cis['final']} | {cis['recorded']}; {g['best_by'].iloc[0]} | "
                     + " | ".join(cis[r] for r in rules) + " |")
    return "\n".join(lines)


def handback_pooled(hb: pd.DataFrame) -> str:
    """Every run pooled: mean truth of the final cell and of each rule's cell, over all runs, the runs that drifted
    (final cell a point or more below the best cell they visited) and those whose final cell was >= 93; and in how
    many runs each rule hands back a cell half a point or more worse / better than the final cell."""
    sets = {"all runs": hb, "drifted >= 1 point": hb[hb["max"] - hb["final"] >= 1],
            "final >= 93": hb[hb["final"] >= 93]}
    rules = _rules(hb)
    cols = ["final", *rules]
    lines = ["| runs | n | " + " | ".join(cols) + " |", "|---" * (2 + len(cols)) + "|"]
    for name, d in sets.items():
        lines.append(f"| {name} | {len(d)} | " + " | ".join(f"{d[c].mean():.2f}" for c in cols) + " |")
    lines.append("| worse / better than the final cell by >= 0.5 | | – | " + " | ".join(
        f"{int((hb[r] - hb['final'] <= -0.5).sum())} / {int((hb[r] - hb['final'] >= 0.5).sum())}"
        for r in rules) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", help="the study's results folder (epochs/, trials/); several folders "
                   "pool their runs (runs of the same config_id from different sweeps share a row)")
    p.add_argument("--phase", default="confirm", help="phase of the per-config tables (default confirm; "
                                                      "explore for a FIFO sweep without a confirm phase)")
    p.add_argument("--window", type=int, default=0,
                   help="also tabulate the cell of the mean op distribution of each run's last WINDOW epochs")
    p.add_argument("--skip-cap", type=int, default=None, metavar="M",
                   help="in the --window table, cap the cell's skips at M (P-DARTS; --window defaults to 1)")
    p.add_argument("--seeds", type=seed_range, default=None, metavar="LO-HI",
                   help="keep only the runs with LO <= seed <= HI in the per-config tables")
    p.add_argument("--handback", action="store_true",
                   help="only the hand-back tables: each rule of diffnas.selection.best_cell recomputed per run, "
                        "per config and pooled over every run of the folders")
    p.add_argument("--chooser", default=None, metavar="PROXY",
                   help="with --handback: also the late rule with this proxy choosing among the last half's cells "
                        "(best_cell.chooser, e.g. synflow; needs torch and each run's dataset)")
    args = p.parse_args(argv)
    if args.handback:
        hb = handback_runs(args.results, args.chooser)
        if args.seeds is not None:
            hb = hb[hb["seed"].between(*args.seeds)]
        print(f"### The handed-back cell per config (phase {args.phase}; mean [95% t-interval] over seeds)\n")
        print(handback_table(hb, args.phase))
        print("\n### Hand-back rules pooled over every run (mean truth)\n")
        print(handback_pooled(hb))
        return 0
    if args.skip_cap is not None and args.skip_cap < 0:
        p.error(f"--skip-cap: must be >= 0, got {args.skip_cap}")
    if args.window < 0:
        p.error(f"--window: must be >= 1 (or 0 = no such table), got {args.window}")
    window = args.window or (1 if args.skip_cap is not None else 0)
    runs = pd.concat([per_run(f) for f in args.results], ignore_index=True)
    if args.seeds is not None:
        kept = runs[runs["seed"].between(*args.seeds)]
        if kept.empty:
            p.error(f"--seeds: no run has a seed in {args.seeds[0]}-{args.seeds[1]}; the folders hold seeds "
                    f"{', '.join(str(int(x)) for x in sorted(runs['seed'].dropna().unique()))}")
        runs = kept
    print(f"### Configs of phase {args.phase} (mean [95% t-interval] over seeds)\n")
    print(confirm_table(runs, args.phase))
    print("\n### Truth beside the published anchors (CIFAR-10 test %)\n")
    print(anchors_table(runs, args.phase))
    print("\n" + proxy_calibration(args.results))
    if window:
        capped = "" if args.skip_cap is None else f", {cap_phrase(args.skip_cap)}"
        print(f"\n### Mean cell of the last {window} epochs{capped} (phase {args.phase})\n")
        print(window_table(args.results, runs, args.phase, window, args.skip_cap))
    if args.phase != "explore":
        print("\n### Explore (one seed per config; ASHA on proxy_score)\n")
        print(explore_table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
