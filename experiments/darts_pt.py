"""DARTS-PT without fine-tuning on the final supernets of a sweep, against the argmax cells of the same runs.

    .venv/bin/python experiments/darts_pt.py SWEEP_FOLDER SPEC [--seeds LO-HI]

DARTS-PT (Wang et al., "Rethinking Architecture Selection in Differentiable NAS", ICLR 2021) picks each
edge's op by what removing it does to the trained supernet's accuracy
(:func:`diffnas.selection.perturbation.darts_pt`). Here, for every run of the sweep whose last checkpoint is
in ``SWEEP_FOLDER/ray`` (Tune's checkpoints; they are not part of the committed results, so the sweep
has to be run first): the run is restored (:meth:`diffnas.search.run.SearchRun.load`, with the config of SPEC's
single grid point and the run's seed), the base weights are its evaluation weights at its last epoch's
temperature (pruned ops at 0), the score is the supernet's accuracy on the run's whole α split, and the
edges are visited in NB201's order. No fine-tuning between edges (the paper tunes the supernet for a
few epochs after each decision). Prints per seed the argmax cell and the DARTS-PT cell with their
CIFAR-10 truth, then both means with their 95 % Student-t intervals.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import torch

from diffnas.analysis.intervals import t_interval
from diffnas.errors import InputError
from diffnas.inputs import seed_range
from diffnas.search.run import SearchRun
from diffnas.selection.perturbation import darts_pt
from diffnas.sweeps.spec_file import load_spec


def last_checkpoints(folder: Path) -> list[Path]:
    """The newest ``run.pt`` of every trial under ``folder/ray``."""
    found = []
    for trial in sorted(p for p in (folder / "ray").glob("*/*") if p.is_dir()):
        points = sorted(trial.glob("checkpoint_*/run.pt"))
        if points:
            found.append(points[-1])
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("spec")
    p.add_argument("--seeds", type=seed_range, default=None, metavar="LO-HI", help="only these seeds")
    args = p.parse_args(argv)
    spec = load_spec(args.spec)
    points = list(itertools.product(*spec.grid.values()))
    if len(points) != 1 or spec.sample:
        raise InputError("SPEC", "must have a single grid point and no sampled axes")
    config = spec.base.replace(**dict(zip(spec.grid, points[0])))
    lo, hi = args.seeds or (0, 2**31)
    rows = []
    for path in last_checkpoints(args.folder):
        seed = int(torch.load(path, map_location="cpu", weights_only=False)["seed"])
        if not lo <= seed <= hi:
            continue
        run = SearchRun.load(config.replace(seed=seed), str(path))
        t0 = time.perf_counter()
        cell = darts_pt(run)
        final = run.records[-1]["genotype"]
        rows.append((seed, final, run.truth.lookup(final), cell, run.truth.lookup(cell), time.perf_counter() - t0))
    if not rows:
        raise InputError("--seeds", f"no checkpoint of a run with a seed in {lo}-{hi}")
    for seed, final, t_final, cell, t_pt, secs in sorted(rows):
        print(f"seed {seed}: argmax {t_final:.2f} {final}\n         DARTS-PT {t_pt:.2f} {cell} ({secs:.0f} s)")
    for name, col in (("argmax final cells", 2), ("DARTS-PT cells", 4)):
        vals = np.array([r[col] for r in rows])
        mean, lo_ci, hi_ci = t_interval(vals)
        print(f"{name}: {mean:.2f} [{lo_ci:.2f}, {hi_ci:.2f}] over {len(vals)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
