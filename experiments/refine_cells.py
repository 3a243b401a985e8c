"""Refine cells by short retraining (successive halving over one-edge neighbours) and look up their truth.

    .venv/bin/python experiments/refine_cells.py --start zero-cost:synflow [--seeds 1,2,3,4,5]
    .venv/bin/python experiments/refine_cells.py --start results:RESULTS_DIR [--column best_genotype]
        [--limit N] [--rungs 1,3,6] [--eta 3] [--subset 10000] [--resolution 16] [--channels 8]
        [--cells-per-stage 2] [--stages 3]

Starting cells: ``zero-cost:PROXY`` — the Zero-Cost-PT pick of seed s (as experiments/zero_cost_pt.py,
:func:`diffnas.selection.perturbation.seeded_zero_cost_pt`: the study's supernet sizes, 2,000 images); ``results:DIR`` — the trials of a sweep's results folder,
one start per trial (its ``--column``, default ``best_genotype``), refined with the trial's seed.
For seed s, :func:`diffnas.selection.refine.refine_cell` trains on the weight half and scores on the α half of
the Fashion-MNIST split seeded by s (``--subset`` images at ``--resolution`` px), retraining seeded by
s. Prints, per start, the start cell's and the refined cell's CIFAR-10 truth (bundled NATS-Bench
table; never used for the choice), the rung scores of the last rungs and the time; then the means
with 95 % Student-t intervals.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from diffnas.analysis.intervals import t_interval
from diffnas.data.splits import load_dataset
from diffnas.model.spaces import build_space
from diffnas.selection.perturbation import seeded_zero_cost_pt
from diffnas.selection.refine import refine_cell
from diffnas.selection.truth import TruthTable


def starts(spec: str, seeds: list[int], column: str) -> list[tuple[str, int, str]]:
    """(label, seed, genotype) per start."""
    kind, _, arg = spec.partition(":")
    if kind == "zero-cost":
        return [(f"zero-cost {arg}", s, seeded_zero_cost_pt(arg, s)[0]) for s in seeds]
    if kind == "results":
        trials = pd.read_parquet(Path(arg) / "trials")
        trials = trials.sort_values(["config_id", "seed"])
        return [(f"{r['config/sampler']} {column}", int(r["seed"]), r[column]) for _, r in trials.iterrows()
                if isinstance(r[column], str)]
    raise SystemExit(f"--start: zero-cost:PROXY or results:DIR, got {spec!r}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--start", required=True)
    p.add_argument("--column", default="best_genotype")
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--limit", type=int, default=0, help="refine only the first LIMIT starts (0 = all)")
    p.add_argument("--rungs", default="1,3,6")
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--subset", type=int, default=10000)
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--cells-per-stage", type=int, default=2)
    p.add_argument("--stages", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    space, truth = build_space("nb201"), TruthTable()
    rungs = [int(r) for r in args.rungs.split(",")]
    print(f"refine: rungs {rungs} epochs, eta {args.eta}; fashion_mnist {args.subset} images at {args.resolution} px "
          f"(weight half trains, α half scores); {args.channels} channels, {args.cells_per_stage} cell(s)/stage, "
          f"{args.stages} stages")
    before, after = [], []
    todo = starts(args.start, [int(s) for s in args.seeds.split(",")], args.column)
    for label, seed, cell in todo[: args.limit or None]:
        data = load_dataset("fashion_mnist", subset=args.subset, resolution=args.resolution,
                            seed=seed)
        t0 = time.perf_counter()
        best, history = refine_cell(space, cell, data, rungs=rungs, eta=args.eta, channels=args.channels,
                                    cells_per_stage=args.cells_per_stage, stages=args.stages, seed=seed)
        sec = time.perf_counter() - t0
        before.append(truth.lookup(cell))
        after.append(truth.lookup(best))
        print(f"  {label} seed {seed}: {before[-1]:.2f} -> {after[-1]:.2f}  {best}  ({sec:.0f} s)", flush=True)
        for r, rung in enumerate(history):  # truth:val_acc of each rung's best five, and the best truth's rank
            ranked = [truth.lookup(c) for c, _ in rung.scores]
            top = ", ".join(f"{t:.2f}:{v:.3f}" for t, (_, v) in zip(ranked, rung.scores[:5]))
            print(f"    rung {r} ({rung.epochs} epochs, {len(ranked)} cells): {top}; best truth {max(ranked):.2f} "
                  f"ranked {ranked.index(max(ranked)) + 1}", flush=True)
    for name, vals in (("start", before), ("refined", after)):
        m, lo, hi = t_interval(vals)
        print(f"{name:<8} mean truth {m:.2f} [{lo:.2f}, {hi:.2f}] over {len(vals)}")


if __name__ == "__main__":
    main()
