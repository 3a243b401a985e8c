"""A search-free baseline for the NB201 study: Zero-Cost-PT cells and their NB201 truth.

    .venv/bin/python experiments/zero_cost_pt.py [--proxies naswot,synflow,jacob_cov] [--seeds 1,2,3,4,5]
        [--subset 2000] [--resolution 16] [--channels 8] [--cells-per-stage 1] [--stages 3]

For every proxy and seed s: a supernet of the study's sizes freshly initialised from seed s, uniform
op weights, the first ``--proxy-batch`` examples of the weight split of the Fashion-MNIST split seeded
by s, edges visited in the order ``random.Random(s).shuffle``
(:func:`diffnas.selection.perturbation.seeded_zero_cost_pt`); Zero-Cost-PT picks one op per edge (the op
whose removal lowers the proxy of the supernet most). No training and no
α: what a sampler has to beat. Prints each seed's cell with its CIFAR-10 truth (the bundled
NATS-Bench table), and per proxy the mean with its 95 % Student-t interval and the seconds per pick.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from diffnas.analysis.intervals import t_interval
from diffnas.selection.perturbation import seeded_zero_cost_pt
from diffnas.selection.truth import TruthTable


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--proxies", default="naswot,synflow,jacob_cov")
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default: the Debian package's)")
    p.add_argument("--subset", type=int, default=2000)
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--cells-per-stage", type=int, default=1)
    p.add_argument("--stages", type=int, default=3)
    p.add_argument("--proxy-batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    truth = TruthTable()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"Zero-Cost-PT on fashion_mnist ({args.subset} images at {args.resolution} px), supernet "
          f"{args.channels} channels, {args.cells_per_stage} cell(s)/stage, {args.stages} stages, "
          f"batch {args.proxy_batch}, seeds {seeds}")
    for proxy in args.proxies.split(","):
        values, seconds = [], []
        for s in seeds:
            cell, sec = seeded_zero_cost_pt(proxy, s, data_dir=args.data_dir, subset=args.subset, resolution=args.resolution,
                                    channels=args.channels, cells_per_stage=args.cells_per_stage, stages=args.stages,
                                    proxy_batch=args.proxy_batch)
            seconds.append(sec)
            values.append(truth.lookup(cell))
            print(f"  {proxy:<10} seed {s}: {values[-1]:6.2f}  {cell}", flush=True)
        m, lo, hi = t_interval(values)
        print(f"{proxy:<10} mean truth {m:.2f} [{lo:.2f}, {hi:.2f}] over {len(values)} seeds; "
              f"{np.mean(seconds):.1f} s per pick")


if __name__ == "__main__":
    main()
