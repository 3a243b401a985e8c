"""Experiment: how many collapses the collapse guards catch, and how many good runs they cut short.

    .venv/bin/python experiments/bench_guards.py [--epochs 10] [--seeds 3] [--subset 800] [--workers 2]
                                                 [--spec sweeps/quick.yaml]  # the spec's base config instead
                                                 [--runs DIR]    # reuse an earlier run's trajectories

Two measurements against NAS-Bench-201 truth (CIFAR-10 test accuracy of the bundled table):

1. **The table**: over all 15,625 cells, the cells each share guard flags (skip_connect or ``none``
   on more than half of the 6 edges, the default thresholds) — how many, their mean truth, and how
   many of them are bad (below the random-cell mean 87.06) or good (>= 93.0, GDAS-level).
2. **Real searches**: NB201 searches on digits (4 samplers x seeds, exponential temperature 1 -> 0.1,
   alpha lr 0.05; or, with ``--spec``, that sweep's base config and baseline overrides, e.g. the
   demo's) with every guard **off**, each epoch's argmax cell looked up in the table; then
   the default guards (:class:`diffnas.search.early_stopping.EarlyStopper`, the same code a run uses) are
   replayed over each trajectory. A run *collapsed* when its final cell is below the random-cell
   mean; it is *good* when its final cell is >= 90. Printed: collapsed runs caught, good runs cut
   short, the epoch each guard fired, and the truth of the cell a guarded run hands back (its best
   cell up to the stop, by the calibrated metric — :mod:`diffnas.selection.best_cell`) next to the cell it
   would have ended on.

The trajectories are written to ``--out`` (default a temporary folder) as ``runs.json`` so that
``--runs`` can replay them with other thresholds (``--set early_stop.max_skip_share=0.4`` ...).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

SAMPLERS = ("softmax", "gumbel", "gumbel_hard", "enhanced")
RANDOM_MEAN = 87.06
GOOD = 90.0
OFF = {"early_stop.max_skip_share": None, "early_stop.max_none_share": None, "early_stop.gap_growth": None}


def _search(args: tuple[str, int, int, int, str | None]) -> dict[str, Any]:
    from diffnas.config import SearchConfig
    from diffnas.search.run import SearchRun

    sampler, seed, epochs, subset, spec_path = args
    if spec_path:
        from diffnas.sweeps.spec_file import load_spec

        spec = load_spec(spec_path)
        cfg = spec.base.replace(**{**spec.baseline, "sampler": sampler, "seed": seed, **OFF})
    else:
        cfg = SearchConfig.validate({
            "space": "nb201", "dataset": "digits", "data.subset": subset, "data.batch_size": 32,
            "model.channels": 8, "model.stages": 1, "epochs": epochs, "sampler": sampler, "seed": seed,
            "temperature.schedule": "exponential", "temperature.t0": 1.0, "temperature.t_min": 0.1,
            "optim.w_lr": 0.1, "optim.a_lr": 0.05, **OFF,
        })
    t0 = time.perf_counter()
    run = SearchRun(cfg)
    while not run.done:
        run.step()
    keep = ("epoch", "genotype", "truth_acc", "proxy_score", "val_acc", "discrete_val_acc", "gap",
            "skip_fraction", "none_fraction", "stability", "entropy_norm", "hessian_eig")
    return {"sampler": sampler, "seed": seed, "wall_s": time.perf_counter() - t0,
            "records": [{k: r.get(k) for k in keep} for r in run.records]}


def table_section() -> None:
    from diffnas.selection.truth import TruthTable, bundled_table_path

    table = TruthTable(bundled_table_path(), "cifar10_test").table
    rows = []
    for arch, acc in table.items():
        ops = [tok.split("~")[0] for tok in arch.strip("|").replace("|+|", "|").split("|")]
        rows.append((ops.count("skip_connect") / 6, ops.count("none") / 6, acc))
    print(f"1. The table: {len(rows)} NB201 cells, CIFAR-10 test accuracy (mean {sum(r[2] for r in rows) / len(rows):.2f})")
    print(f"   {'guard (default threshold)':34s} {'cells':>6s} {'mean truth':>10s} {'bad <87.06':>11s} {'good >=93':>10s}")
    for name, idx in (("skip share > 0.5", 0), ("none share > 0.5", 1)):
        hit = [r[2] for r in rows if r[idx] > 0.5]
        bad = sum(a < RANDOM_MEAN for a in hit)
        good = sum(a >= 93.0 for a in hit)
        print(f"   {name:34s} {len(hit):6d} {sum(hit) / len(hit):10.2f} {bad:5d} ({bad / len(hit):4.0%}) "
              f"{good:4d} ({good / len(hit):3.0%})")
    all_bad = sum(r[2] < RANDOM_MEAN for r in rows)
    flagged_bad = sum(r[2] < RANDOM_MEAN and (r[0] > 0.5 or r[1] > 0.5) for r in rows)
    all_good = sum(r[2] >= 93.0 for r in rows)
    flagged_good = sum(r[2] >= 93.0 and (r[0] > 0.5 or r[1] > 0.5) for r in rows)
    print(f"   either guard: flags {flagged_bad} of the {all_bad} bad cells ({flagged_bad / all_bad:.1%}) and "
          f"{flagged_good} of the {all_good} good cells ({flagged_good / all_good:.2%})")


def replay(records: list[dict[str, Any]], overrides: dict[str, Any]) -> tuple[int | None, str | None]:
    """(epoch, rule) at which the default guards stop this trajectory, or (None, None)."""
    from diffnas.config import SearchConfig
    from diffnas.search.early_stopping import EarlyStopper

    stopper = EarlyStopper(SearchConfig.validate(overrides))
    for r in records:
        rec = {k: (math.nan if v is None else v) if k != "genotype" else v for k, v in r.items()}
        fired = stopper.update(rec, 0)
        if fired is not None:
            return int(r["epoch"]), fired
    return None, None


def search_section(runs: list[dict[str, Any]], overrides: dict[str, Any]) -> None:
    from diffnas.selection.best_cell import best_cell

    print(f"\n2. Real searches: {len(runs)} runs, guards off, replayed with the default guards"
          + (f" and {overrides}" if overrides else ""))
    print(f"   {'sampler':12s} {'seed':>4s} {'final truth':>11s} {'skip':>5s} {'none':>5s} {'guard':>16s} "
          f"{'handed back':>11s} {'best seen':>9s}")
    collapsed = caught = good = cut = 0
    handed_back, finals = [], []
    for run in runs:
        recs = run["records"]
        last = recs[-1]
        final = last["truth_acc"]
        epoch, rule = replay(recs, overrides)
        is_collapsed = final is not None and final < RANDOM_MEAN
        is_good = final is not None and final >= GOOD
        collapsed += is_collapsed
        good += is_good
        caught += is_collapsed and epoch is not None
        cut += is_good and epoch is not None
        upto = [r for r in recs if epoch is None or r["epoch"] <= epoch]
        back = best_cell(upto, "proxy_score")["best_truth_acc"]
        best_seen = max((r["truth_acc"] for r in recs if r["truth_acc"] is not None), default=math.nan)
        handed_back.append(back)
        finals.append(final)
        guard = f"{rule}@{epoch}" if epoch is not None else "-"
        print(f"   {run['sampler']:12s} {run['seed']:4d} {final:11.2f} {last['skip_fraction']:5.2f} "
              f"{last['none_fraction']:5.2f} {guard:>16s} {back:11.2f} {best_seen:9.2f}")
    print(f"   collapsed runs (final cell < {RANDOM_MEAN}): {collapsed}, caught by a guard: {caught}")
    print(f"   good runs (final cell >= {GOOD}): {good}, cut short by a guard: {cut}")
    ok = [(b, f) for b, f in zip(handed_back, finals) if not (math.isnan(b) or f is None)]
    if ok:
        print(f"   mean truth of the cell handed back (best by proxy_score up to the stop): "
              f"{sum(b for b, _ in ok) / len(ok):.2f}, of the final cell without guards: "
              f"{sum(f for _, f in ok) / len(ok):.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--subset", type=int, default=800)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--spec", help="search with this sweep spec's base config + baseline (sampler and seed varied)")
    p.add_argument("--runs", help="folder with runs.json from an earlier invocation (no searches)")
    p.add_argument("--out", help="where to write runs.json (default: a temporary folder)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="guard overrides for the replay, e.g. early_stop.max_skip_share=0.4")
    args = p.parse_args()
    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    table_section()
    if args.runs:
        with open(os.path.join(args.runs, "runs.json"), encoding="utf-8") as fh:
            runs = json.load(fh)
    else:
        jobs = [(s, seed, args.epochs, args.subset, args.spec) for s in SAMPLERS for seed in range(args.seeds)]
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            runs = list(pool.map(_search, jobs))
        out = args.out or tempfile.mkdtemp(prefix="bench-guards-")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "runs.json"), "w", encoding="utf-8") as fh:
            json.dump(runs, fh)
        what = f"with {args.spec}'s base config" if args.spec else f"of {args.epochs} epochs on {args.subset} digits"
        print(f"\n   ({len(runs)} searches {what} in "
              f"{time.perf_counter() - t0:.0f} s with {args.workers} workers; trajectories in {out}/runs.json)")
    search_section(runs, overrides)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
