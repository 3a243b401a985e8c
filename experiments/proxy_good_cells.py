"""Experiment: among GOOD cells, which zero-cost proxy (or combination) ranks NAS-Bench-201 truth best?

    .venv/bin/python experiments/proxy_good_cells.py [--cells 200] [--seed 0] [--good 90]
        [--results 'studies/nb201/results/*/epochs/*.parquet'] [--bootstrap 1000] [--out cells.csv]

``bench_proxies.py`` measures the proxies over uniformly drawn cells, where most of the signal is
"broken cell vs working cell". A search that already works chooses among good cells; this script
measures the proxies there, on two sets:

a. **top 10 %**: the NB201 cells whose truth (``--column``, default ``cifar10_test``) is in the top
   ``--top-fraction`` (10 %) of all 15,625 cells (every cell at least as good as the 1,563rd best),
   ``--cells`` of them drawn with ``random.Random(--seed).sample`` (all of them when ``--cells`` is at
   least their number; 0 skips the set);
b. **visited**: the distinct genotypes of the committed study results (``--results``, epoch rows)
   whose runs used this script's sizes (``config/dataset``, ``config/data.subset``,
   ``config/data.resolution``, ``config/model.channels``, ``config/model.cells_per_stage``,
   ``config/model.stages``) and recorded ``proxy_score`` as NASWOT on a 64-example batch; all of
   them, and those with truth >= ``--good``. The recorded ``proxy_score`` is scored too (it must
   equal the recomputed ``naswot``; the largest difference is printed).

Every proxy is computed exactly as a search records ``proxy_score``
(:class:`diffnas.selection.proxies.RunProxy`): :func:`~diffnas.selection.proxies.cell_score` on a
network of the run's sizes initialised from seed 0, on the first ``--proxy-batch`` (64) examples of
the weight split of the seed-0 split of the data config. The defaults are the β-DARTS study's
protocol (``studies/nb201/specs/nb201_study_scaled_deep.yaml`` and the ``nb201_study_beta*`` specs):
Fashion-MNIST from /usr/share/datasets/fashion-mnist, 6,000 images at 16 px, 8 channels, 3 stages,
3 cells per stage.

Candidates: ``naswot``, ``synflow``, ``jacob_cov``, ``params`` (:data:`~diffnas.selection.proxies.PROXIES`)
and rank combinations ``a+b(+c)`` = the mean of the per-proxy ranks (``scipy.stats.rankdata``,
ties averaged, higher score = higher rank) computed within the set being scored:
``naswot+synflow``, ``naswot+jacob_cov``, ``naswot+synflow+jacob_cov``.

Formulas, per set of n cells with proxy scores s and truths t:

* Kendall τ-b: ``scipy.stats.kendalltau(s, t)`` (its default variant b, which corrects for ties);
  via ``bench_proxies.correlate``;
* Δτ = τ(candidate) − τ(naswot) with a 95 % paired bootstrap interval (``--bootstrap`` resamples of
  the cells, seed ``--seed``; percentile interval);
* precision@k = |top-k by proxy ∩ top-k by truth| / k, each top-k the first k of a stable sort by
  descending value (ties broken by the set's order), for k = 10 and k = ceil(10 % of n).

Prints one markdown table per set, the command line and the wall time; with ``--out`` also writes
one CSV row per (set, cell) with its truth and every score. Runs on ``--threads`` (default 1) CPU threads.
"""

from __future__ import annotations

import argparse
import csv
import glob
import math
import random
import shlex
import sys
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from bench_proxies import correlate
from scipy import stats

from diffnas.data.cache import load_dataset_cached
from diffnas.model.spaces import build_space
from diffnas.selection.proxies import PROXIES, RunProxy
from diffnas.selection.truth import TruthTable

COMBINATIONS: tuple[tuple[str, ...], ...] = (("naswot", "synflow"), ("naswot", "jacob_cov"),
                                              ("naswot", "synflow", "jacob_cov"))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", type=int, default=200, help="cells drawn from the top 10 %% (default 200; 0 = skip)")
    p.add_argument("--top-fraction", type=float, default=0.1, help="the 'good' share of all cells (default 0.1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw and of the bootstrap (default 0)")
    p.add_argument("--column", default="cifar10_test", help="truth column of the bundled table")
    p.add_argument("--results", default="studies/nb201/results/*/epochs/*.parquet",
                   help="glob of study epoch tables for the visited cells ('' = skip)")
    p.add_argument("--good", type=float, default=90.0, help="truth threshold of the good visited cells (default 90)")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--subset", type=int, default=6000)
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--stages", type=int, default=3)
    p.add_argument("--cells-per-stage", type=int, default=3)
    p.add_argument("--proxy-batch", type=int, default=64)
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples of the Δτ interval (0 = none)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="optional CSV of every cell's truth and scores")
    return p.parse_args(argv)


def precision_at_k(scores: Sequence[float], truth: Sequence[float], k: int) -> float:
    """|top-k by score ∩ top-k by truth| / k (stable descending sorts)."""
    s, t = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    if k <= 0 or k > len(s) or not np.isfinite(s).all():
        return math.nan
    top_s = set(np.argsort(-s, kind="stable")[:k].tolist())
    top_t = set(np.argsort(-t, kind="stable")[:k].tolist())
    return len(top_s & top_t) / k


def with_combinations(scores: dict[str, list[float]]) -> dict[str, list[float]]:
    """The proxies plus the rank-mean combinations (ranks within this set)."""
    out = dict(scores)
    ranks = {name: stats.rankdata(values) for name, values in scores.items()}
    for combo in COMBINATIONS:
        if all(c in ranks for c in combo):
            out["+".join(combo)] = np.mean([ranks[c] for c in combo], axis=0).tolist()
    return out


def delta_tau_ci(score: np.ndarray, ref: np.ndarray, truth: np.ndarray, resamples: int,
                 seed: int) -> tuple[float, float]:
    """95 % percentile interval of τ(score) − τ(ref), cells resampled with replacement (paired)."""
    if resamples <= 0 or np.array_equal(score, ref):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(resamples):
        idx = rng.integers(0, len(truth), len(truth))
        a, b = stats.kendalltau(score[idx], truth[idx])[0], stats.kendalltau(ref[idx], truth[idx])[0]
        deltas.append(a - b)
    lo, hi = np.nanpercentile(deltas, [2.5, 97.5])
    return float(lo), float(hi)


def table(title: str, scores: dict[str, list[float]], truth: list[float], args: argparse.Namespace) -> None:
    """One markdown table: per candidate n, τ-b, Δτ vs naswot [95 % CI], precision@10, precision@10 %."""
    n = len(truth)
    k10 = math.ceil(0.1 * n)
    t = np.asarray(truth, dtype=float)
    ref = np.asarray(scores["naswot"], dtype=float)
    print(f"\n**{title}** (n = {n}; truth mean {t.mean():.2f}, min {t.min():.2f}, max {t.max():.2f})\n")
    print(f"| candidate | n | kendall_tau_b | Δτ vs naswot [95 % CI] | precision@10 | precision@{k10} |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for name, values in scores.items():
        s = np.asarray(values, dtype=float)
        tau = correlate(values, truth)[0]
        lo, hi = delta_tau_ci(s, ref, t, args.bootstrap, args.seed)
        delta = tau - correlate(ref.tolist(), truth)[0]
        ci = "—" if name == "naswot" or math.isnan(lo) else f"{delta:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        rows.append((name, tau, ci, precision_at_k(s, t, 10), precision_at_k(s, t, k10)))
    for name, tau, ci, p10, pk in sorted(rows, key=lambda r: -np.nan_to_num(r[1], nan=-9)):
        print(f"| {name} | {n} | {tau:.3f} | {ci} | {p10:.2f} | {pk:.2f} |")


def visited_cells(args: argparse.Namespace) -> tuple[list[str], list[float], list[float], str]:
    """Distinct genotypes of the matching study runs, their recorded proxy_score and truth_acc; a summary."""
    files = sorted(glob.glob(args.results))
    if not files:
        return [], [], [], "no result files"
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    keep = ((df["config/dataset"] == args.dataset) & (df["config/data.subset"] == args.subset)
            & (df["config/data.resolution"] == args.resolution) & (df["config/model.channels"] == args.channels)
            & (df["config/model.cells_per_stage"] == args.cells_per_stage)
            & (df["config/model.stages"] == args.stages) & (df["config/metrics.proxy"] == "naswot")
            & (df["config/metrics.proxy_batch"] == args.proxy_batch) & df["genotype"].notna())
    rows = df[keep]
    cells = rows.drop_duplicates("genotype").sort_values("genotype")
    summary = (f"{len(rows)} epoch rows of {rows[['sweep', 'trial_id']].drop_duplicates().shape[0]} runs in "
               f"{rows['sweep'].nunique()} sweeps ({', '.join(sorted(rows['sweep'].unique()))}) of {len(files)} "
               f"result files")
    return (cells["genotype"].tolist(), cells["proxy_score"].astype(float).tolist(),
            cells["truth_acc"].astype(float).tolist(), summary)


def main(argv: list[str] | None = None) -> int:
    t_start = time.perf_counter()
    args = parse(argv)
    torch.set_num_threads(args.threads)
    print("command: " + shlex.join([".venv/bin/python", *sys.argv]))
    print("sizes: " + ", ".join(f"{k}={v}" for k, v in vars(args).items()))

    data = load_dataset_cached(args.dataset, subset=args.subset or None, resolution=args.resolution or None,
                               data_dir=args.data_dir, seed=0, test_fraction=args.test_fraction)
    space = build_space("nb201")
    config = {"seed": 0, "dataset": args.dataset, "metrics.proxy_batch": args.proxy_batch,
              "model.channels": args.channels, "model.cells_per_stage": args.cells_per_stage,
              "model.stages": args.stages}
    scorers = {name: RunProxy({**config, "metrics.proxy": name}, space, data, torch.device("cpu"))
               for name in PROXIES}
    truth_table = TruthTable(None, args.column)
    csv_rows: list[dict[str, object]] = []

    def score_all(cells: list[str]) -> dict[str, list[float]]:
        out = {}
        for name, scorer in scorers.items():
            t0 = time.perf_counter()
            out[name] = [scorer(c) for c in cells]
            print(f"  scored {name:<9} {len(cells)} cells, {(time.perf_counter() - t0) / max(1, len(cells)):.3f} "
                  f"s/cell", file=sys.stderr, flush=True)
        return out

    def record(set_name: str, cells: list[str], truth: list[float], scores: dict[str, list[float]]) -> None:
        for i, cell in enumerate(cells):
            csv_rows.append({"set": set_name, "genotype": cell, "truth": truth[i],
                             **{name: values[i] for name, values in scores.items()}})

    # a. a draw from the top fraction of all cells
    ranked = sorted(truth_table.table.items(), key=lambda kv: -kv[1])
    n_top = math.ceil(args.top_fraction * len(ranked))
    threshold = ranked[n_top - 1][1]
    top = sorted(c for c, v in truth_table.table.items() if v >= threshold)
    if args.cells > 0:
        cells = random.Random(args.seed).sample(top, min(args.cells, len(top)))
        truth = [truth_table.lookup(c) for c in cells]
        print(f"top {args.top_fraction:.0%}: {len(top)} of {len(ranked)} cells have {args.column} >= {threshold:.2f}; "
              f"{len(cells)} drawn (seed {args.seed})")
        scores = with_combinations(score_all(cells))
        table(f"Top {args.top_fraction:.0%} of NB201 cells ({len(cells)} of {len(top)} drawn) vs {args.column}",
              scores, truth, args)
        record("top", cells, truth, scores)

    # b. the cells the study's searches visited
    if args.results:
        cells, recorded, truth_rec, summary = visited_cells(args)
        print(f"\nvisited: {len(cells)} distinct genotypes from {summary}")
        if cells:
            truth = [truth_table.lookup(c) for c in cells]
            diff_truth = np.nanmax(np.abs(np.asarray(truth) - np.asarray(truth_rec)))
            raw = score_all(cells)
            diff_proxy = np.nanmax(np.abs(np.asarray(raw["naswot"]) - np.asarray(recorded)))
            print(f"check: max |recomputed naswot - recorded proxy_score| = {diff_proxy:.2e}; "
                  f"max |table truth - recorded truth_acc| = {diff_truth:.2e}")
            for label, mask in (("all visited cells", [True] * len(cells)),
                                (f"visited cells with truth >= {args.good:g}", [t >= args.good for t in truth])):
                idx = [i for i, m in enumerate(mask) if m]
                sub = {name: [v[i] for i in idx] for name, v in raw.items()}
                scores = with_combinations(sub)
                scores["proxy_score (recorded)"] = [recorded[i] for i in idx]
                table(f"Study searches' {label} vs {args.column}", scores, [truth[i] for i in idx], args)
                record(label, [cells[i] for i in idx], [truth[i] for i in idx], scores)

    if args.out:
        fields = list(dict.fromkeys(k for row in csv_rows for k in row))
        with open(args.out, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(csv_rows)
        print(f"\nwrote {len(csv_rows)} rows to {args.out}")
    print(f"\nwall time: {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
