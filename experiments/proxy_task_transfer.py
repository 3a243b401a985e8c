"""Does the proxy task carry the signal? Retrain chosen NB201 cells on Fashion-MNIST and rank them against truth.

    .venv/bin/python experiments/proxy_task_transfer.py [--subset 6000] [--resolution 16] [--channels 8]
        [--cells-per-stage 2] [--epochs 5] [--seeds 0,1]

Eleven cells from the benchmark's top (94.37, 94.36, 94.02, 94.02; three with a skip on edge 0->3, convolutions
elsewhere) through the all-3x3 cell (93.76), cells the study's searches ended on, down to the
all-skip cell (54.30), each trained from scratch by :func:`diffnas.selection.evaluate.retrain` (``diffnas
evaluate``'s network and schedule: the training split, SGD, cosine) for ``--epochs`` epochs per seed
and scored on the held-out test split of Fashion-MNIST. Prints each run, then per cell the mean
accuracy beside its CIFAR-10 truth, and Kendall τ between the two over the cells.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from scipy import stats

from diffnas.data.splits import load_dataset
from diffnas.model.spaces import SearchSpace, build_space, choice_from_genotype
from diffnas.selection.evaluate import retrain
from diffnas.selection.truth import TruthTable

C3, C1, S, N, P = "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "none", "avg_pool_3x3"


# the op on each edge, in the space's edge order (0->1, 0->2, 1->2, 0->3, 1->3, 2->3)
EDGE_OPS = [[C3, C3, C3, S, C3, C1], [C3, C3, C3, S, C3, C3], [C3] * 6, [C1] * 6, [C1, C3, C3, C1, C1, C3],
            [C3, P, C1, S, N, C3], [S, C3, C3, C3, N, P], [C1, N, C3, P, P, N], [S] * 6, [C3, C3, C3, S, S, C3],
            [C3, S, C3, N, C1, S]]


def cells(space: SearchSpace) -> list[str]:
    """The genotype strings of :data:`EDGE_OPS`."""
    return [space.genotype_of(torch.tensor([space.ops.index(op) for op in ops])) for ops in EDGE_OPS]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (default: the Debian package's)")
    p.add_argument("--subset", type=int, default=6000)
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--cells-per-stage", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seeds", default="0,1")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    space, truth = build_space("nb201"), TruthTable()
    data = load_dataset("fashion_mnist", subset=args.subset, resolution=args.resolution, data_dir=args.data_dir,
                        seed=0, test_fraction=0.2)
    rows = []
    for c in cells(space):
        for seed in (int(s) for s in args.seeds.split(",")):
            t0 = time.time()
            r = retrain(space, choice_from_genotype(space, c), data, epochs=args.epochs, channels=args.channels,
                        cells_per_stage=args.cells_per_stage, stages=3, seed=seed)
            rows.append((c, truth.lookup(c), seed, r.test_acc))
            print(f"{truth.lookup(c):.2f} seed{seed} acc {r.test_acc:.4f} {time.time() - t0:.1f}s {c}", flush=True)
    df = pd.DataFrame(rows, columns=["cell", "truth", "seed", "acc"]).groupby("cell").mean(numeric_only=True)
    print(df.sort_values("truth").to_string())
    print("tau", stats.kendalltau(df.truth, df.acc)[0])


if __name__ == "__main__":
    main()
