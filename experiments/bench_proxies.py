"""Experiment: which ranking metric tracks NAS-Bench-201 truth? Kendall τ, Spearman ρ and seconds per cell.

    .venv/bin/python experiments/bench_proxies.py [--cells 200] [--seed 0] [--dataset fashion_mnist]
        [--subset 2000] [--resolution 16] [--channels 8] [--stages 3] [--supernet-epochs 3]
        [--finetune-steps 10] [--retrain-epochs 2] [--retrain-cells 50] [--searches 4] [--search-epochs 4]

Part A — ``--cells`` cells drawn uniformly (``random.Random(seed).sample`` of the 15,625 arch_strs of
the bundled table), each scored on the proxy dataset by every candidate, against its CIFAR-10 truth:

* ``supernet_val_acc``: a supernet trained ``--supernet-epochs`` with α fixed at 0
  (``--supernet-sampler``; softmax = DARTS' uniform mixture; gumbel_hard = uniform single-path
  sampling, as SPOS), evaluated with mixed weights softmax(s·onehot(cell)), s = ``--alpha-scale``: the
  ``val_acc`` a search reports when its α has that cell as argmax;
* ``discrete_val_acc``: the same shared weights, the cell's one-hot path (as a search computes it);
  BatchNorm is batch-statistics everywhere in diffnas (``track_running_stats=False``), so its
  statistics are already re-estimated on the evaluation batch — re-estimating BN is this candidate;
* ``finetune_val_acc``: a copy of the shared weights trained ``--finetune-steps`` SGD steps on the
  cell's path, then its discrete accuracy;
* ``retrain_acc``: ``diffnas evaluate``'s network trained from scratch ``--retrain-epochs`` epochs
  on the training split, test accuracy (on the first ``--retrain-cells`` cells);
* zero-cost proxies of :mod:`diffnas.selection.proxies` (``naswot``, ``synflow``, ``jacob_cov``, and
  ``params`` as the baseline a proxy must beat), on a network initialised from seed 0 and the first
  ``--proxy-batch`` training examples.
Seconds per cell exclude the supernet's training, which is printed once (it is shared by all cells).

Part B — cells of real searches: ``--searches`` short searches (samplers softmax, gumbel,
gumbel_hard, enhanced in turn, seeds 0, 1, ...; ``--search-epochs`` epochs, exponential temperature
1 → 0.1, α lr 0.05). τ/ρ of each epoch row's ``val_acc``, ``discrete_val_acc`` and ``proxy_score``
against that row's ``truth_acc``, and of the runs' final values against their final cells' truth.

Accuracies are on the α split (``--eval-size`` examples). Everything runs on ``--threads`` CPU
threads (default 1; the machine is shared).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import random
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from diffnas.config import SearchConfig
from diffnas.data import DataSplits, load_dataset
from diffnas.model.spaces import build_space, choice_from_genotype
from diffnas.model.supernet import Supernet
from diffnas.search.run import SearchRun
from diffnas.search.samplers import build_sampler
from diffnas.selection.evaluate import retrain
from diffnas.selection.proxies import PROXIES, cell_score
from diffnas.selection.truth import TruthTable


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", type=int, default=200, help="uniformly drawn NB201 cells (default 200; 0 = skip part A)")
    p.add_argument("--seed", type=int, default=0, help="seed of the cell draw and of every network (default 0)")
    p.add_argument("--dataset", default="fashion_mnist", help="proxy dataset (default fashion_mnist)")
    p.add_argument("--data-dir", default=None, help="dataset folder (fashion_mnist)")
    p.add_argument("--subset", type=int, default=2000, help="training examples used (default 2000; 0 = all)")
    p.add_argument("--resolution", type=int, default=16, help="image side (default 16; 0 = native)")
    p.add_argument("--channels", type=int, default=8, help="channels of the first stage (default 8)")
    p.add_argument("--stages", type=int, default=3, help="stages (default 3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-size", type=int, default=500, help="α-split examples for accuracies (default 500)")
    p.add_argument("--test-size", type=int, default=1000, help="test examples for retrain_acc (default 1000)")
    p.add_argument("--supernet-epochs", type=int, default=3, help="supernet training epochs (default 3)")
    p.add_argument("--supernet-sampler", default="softmax", help="sampler while training the supernet")
    p.add_argument("--alpha-scale", type=float, default=2.0, help="s of softmax(s·onehot) for supernet_val_acc")
    p.add_argument("--finetune-steps", type=int, default=10, help="SGD steps of finetune_val_acc (default 10)")
    p.add_argument("--retrain-epochs", type=int, default=2, help="epochs of retrain_acc (default 2)")
    p.add_argument("--retrain-cells", type=int, default=50,
                   help="first cells that get retrain_acc (default 50: it costs ~30x a zero-cost proxy)")
    p.add_argument("--proxy-batch", type=int, default=64, help="examples of the zero-cost proxies (default 64)")
    p.add_argument("--searches", type=int, default=4, help="real searches of part B (0 = skip; default 4)")
    p.add_argument("--search-epochs", type=int, default=4, help="epochs of each real search (default 4)")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def accuracy(net: Supernet, weights: torch.Tensor, chosen: torch.Tensor | None, x: torch.Tensor, y: torch.Tensor,
             batch: int) -> float:
    net.eval()
    with torch.no_grad():
        hits = sum(float((net(x[i:i + batch], weights, chosen).argmax(-1) == y[i:i + batch]).sum())
                   for i in range(0, len(y), batch))
    return hits / len(y)


def finetune(net: Supernet, weights: torch.Tensor, chosen: torch.Tensor, data: DataSplits, steps: int,
             batch: int, seed: int) -> Supernet:
    net = copy.deepcopy(net)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    order = torch.randperm(len(data.y_weights), generator=torch.Generator().manual_seed(seed))
    for s in range(steps):
        idx = order[(s * batch) % len(order):][:batch]
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(data.x_weights[idx], weights, chosen), data.y_weights[idx]).backward()
        opt.step()
    return net


def correlate(scores: list[float], truth: list[float]) -> tuple[float, float]:
    s, t = np.asarray(scores, dtype=float), np.asarray(truth, dtype=float)
    ok = np.isfinite(s) & np.isfinite(t)
    if ok.sum() < 3 or np.ptp(s[ok]) == 0:
        return math.nan, math.nan
    return float(stats.kendalltau(s[ok], t[ok])[0]), float(stats.spearmanr(s[ok], t[ok])[0])


def train_supernet(args: argparse.Namespace, data: DataSplits) -> tuple[Supernet, float, float]:
    """A supernet trained on the weight split with α fixed at 0 (uniform over ops), weights as a search
    trains them (SGD momentum 0.9, lr 0.05 cosine, weight decay 3e-4, grad-norm clip 5); returns the
    net, its training seconds and its val_acc with the sampler's eval weights."""
    space = build_space("nb201")
    torch.manual_seed(args.seed)
    net = Supernet(space, data.in_channels, data.num_classes, args.channels, 1, args.stages)
    sampler = build_sampler(args.supernet_sampler)
    alpha = torch.zeros(space.n_edges, space.n_ops)
    gen = torch.Generator().manual_seed(args.seed + 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.supernet_epochs, eta_min=0.001)
    t0 = time.perf_counter()
    for _ in range(args.supernet_epochs):
        net.train()
        order = torch.randperm(len(data.y_weights), generator=gen)
        for s in range(0, len(order), args.batch_size):
            idx = order[s:s + args.batch_size]
            sample = sampler.sample(alpha, 1.0, gen)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(data.x_weights[idx], sample.weights, sample.chosen), data.y_weights[idx]).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
        sched.step()
    sec = time.perf_counter() - t0
    ev = sampler.eval_weights(alpha, 1.0)
    val = accuracy(net, ev.weights, ev.chosen, data.x_alpha[: args.eval_size], data.y_alpha[: args.eval_size],
                   args.batch_size)
    return net, sec, val


def score_cells(args: argparse.Namespace, cells: list[str], truth: list[float], data: DataSplits,
                supernet: Supernet | None, retrain_limit: int) -> dict[str, tuple[list[float], float]]:
    """candidate -> (score per cell, seconds per cell)."""
    space = build_space("nb201")
    xv, yv = data.x_alpha[: args.eval_size], data.y_alpha[: args.eval_size]
    xp, yp = data.x_weights[: args.proxy_batch], data.y_weights[: args.proxy_batch]
    test_data = dataclasses.replace(data, x_test=data.x_test[: args.test_size], y_test=data.y_test[: args.test_size])
    sizes = {"num_classes": data.num_classes, "channels": args.channels, "cells_per_stage": 1, "stages": args.stages}

    def onehot(cell: str) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = choice_from_genotype(space, cell)
        return space.one_hot(chosen), chosen

    candidates: dict[str, Callable[[str], float]] = {}
    if supernet is not None:
        candidates["supernet_val_acc"] = lambda c: accuracy(
            supernet, torch.softmax(args.alpha_scale * onehot(c)[0], -1), None, xv, yv, args.batch_size)
        candidates["discrete_val_acc"] = lambda c: accuracy(supernet, *onehot(c), xv, yv, args.batch_size)
        candidates["finetune_val_acc"] = lambda c: accuracy(
            finetune(supernet, *onehot(c), data, args.finetune_steps, args.batch_size, args.seed), *onehot(c),
            xv, yv, args.batch_size)
    for name in PROXIES:
        candidates[name] = lambda c, name=name: cell_score(name, space, c, xp, yp, seed=0, **sizes)
    candidates["retrain_acc"] = lambda c: retrain(
        space, choice_from_genotype(space, c), test_data, epochs=args.retrain_epochs, channels=args.channels,
        stages=args.stages, batch_size=args.batch_size, seed=args.seed).test_acc

    out: dict[str, tuple[list[float], float]] = {}
    for name, fn in candidates.items():
        todo = cells[:retrain_limit] if name == "retrain_acc" else cells
        if not todo:
            continue
        t0 = time.perf_counter()
        values = [fn(c) for c in todo]
        out[name] = (values, (time.perf_counter() - t0) / len(todo))
        tau, rho = correlate(values, truth[: len(values)])
        print(f"  scored {name:<17} {len(todo)} cells, {out[name][1]:.3f} s/cell, tau {tau:.3f}, rho {rho:.3f}",
              file=sys.stderr, flush=True)
    return out


def print_table(title: str, results: dict[str, tuple[list[float], float]], truth_of: list[float]) -> None:
    print(f"\n{title}")
    print(f"{'candidate':<18} {'n':>4} {'kendall_tau':>11} {'spearman_rho':>12} {'s_per_cell':>10}")
    rows = []
    for name, (values, sec) in results.items():
        tau, rho = correlate(values, truth_of[: len(values)])
        rows.append((name, len(values), tau, rho, sec))
    for name, n, tau, rho, sec in sorted(rows, key=lambda r: -np.nan_to_num(r[2], nan=-9)):
        print(f"{name:<18} {n:>4} {tau:>11.3f} {rho:>12.3f} {sec:>10.3f}")


def real_searches(args: argparse.Namespace, data: DataSplits) -> list[dict]:
    samplers = ("softmax", "gumbel", "gumbel_hard", "enhanced")
    rows = []
    for i in range(args.searches):
        cfg = SearchConfig.validate({
            "space": "nb201", "dataset": args.dataset, "sampler": samplers[i % 4], "seed": i // 4,
            "epochs": args.search_epochs, "temperature.schedule": "exponential", "temperature.t0": 1.0,
            "temperature.t_min": 0.1, "optim.a_lr": 0.05, "model.channels": args.channels,
            "model.stages": args.stages, "data.batch_size": args.batch_size, "threads": args.threads,
            "device": "cpu", "metrics.eval_batches": max(1, args.eval_size // args.batch_size),
            "metrics.proxy_batch": args.proxy_batch, "data.subset": args.subset or None,
            "data.resolution": args.resolution or None, "data.dir": args.data_dir,
        })
        t0 = time.perf_counter()
        run = SearchRun(cfg)  # same dataset, subset and resolution as part A (split seeded by the run seed)
        while not run.done:
            rec = run.step()
            rows.append({"run": i, "sampler": cfg["sampler"], "epoch": rec["epoch"], "val_acc": rec["val_acc"],
                         "discrete_val_acc": rec["discrete_val_acc"], "proxy_score": rec["proxy_score"],
                         "truth_acc": rec["truth_acc"], "genotype": rec["genotype"]})
        print(f"  search {i} ({cfg['sampler']}, seed {cfg['seed']}): {time.perf_counter() - t0:.1f} s, final cell "
              f"truth {rows[-1]['truth_acc']:.2f}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    print("sizes: " + ", ".join(f"{k}={v}" for k, v in vars(args).items()))
    data = load_dataset(args.dataset, subset=args.subset or None, resolution=args.resolution or None,
                        data_dir=args.data_dir, seed=args.seed)
    table = TruthTable()
    cells = random.Random(args.seed).sample(sorted(table.table), args.cells)
    truth = [table.lookup(c) for c in cells]
    if cells:
        print(f"cells: {len(cells)} drawn uniformly (seed {args.seed}); their CIFAR-10 truth: mean "
              f"{np.mean(truth):.2f}, min {min(truth):.2f}, max {max(truth):.2f}")

    supernet = None
    if args.supernet_epochs > 0:
        supernet, sec, val = train_supernet(args, data)
        print(f"supernet: {args.supernet_epochs} epochs ({args.supernet_sampler}, α = 0) in {sec:.1f} s; "
              f"its val_acc {val:.3f}")
    if cells:  # --cells 0 skips part A
        results = score_cells(args, cells, truth, data, supernet, min(args.retrain_cells, len(cells)))
        print_table(f"Part A: {len(cells)} uniformly drawn NB201 cells vs CIFAR-10 truth", results, truth)

    if args.searches > 0:
        rows = real_searches(args, data)
        truth_rows = [r["truth_acc"] for r in rows]
        per_epoch = {m: ([r[m] for r in rows], math.nan) for m in ("val_acc", "discrete_val_acc", "proxy_score")}
        print_table(f"Part B: {len(rows)} epoch rows of {args.searches} real searches (row metric vs row truth)",
                    per_epoch, truth_rows)
        finals = [r for r in rows if r["epoch"] == max(q["epoch"] for q in rows if q["run"] == r["run"])]
        per_run = {m: ([r[m] for r in finals], math.nan) for m in ("val_acc", "discrete_val_acc", "proxy_score")}
        print_table(f"Part B: final rows of {len(finals)} searches (final metric vs final cell truth)", per_run,
                    [r["truth_acc"] for r in finals])
        visited = sorted({r["genotype"] for r in rows})
        print(f"\nPart B: the {len(visited)} distinct cells the searches visited, scored like part A", flush=True)
        visited_truth = [table.lookup(c) for c in visited]
        scored = score_cells(args, visited, visited_truth, data, supernet, min(args.retrain_cells, len(visited)))
        print_table(f"Part B: {len(visited)} visited cells vs CIFAR-10 truth", scored, visited_truth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
