"""Perturbation-based architecture selection: pick each edge's op by what removing it does to a score.

DARTS-PT (Wang et al., "Rethinking Architecture Selection in Differentiable NAS", ICLR 2021) scores
with the supernet's validation accuracy; Zero-Cost-PT (Xiang et al., "Zero-Cost Operation Scoring in
Differentiable Architecture Search", AAAI 2023) with a zero-cost proxy of the supernet at
initialisation, so that no supernet training is needed at all.

Given base op weights B (edges × ops, rows summing to 1) and a score S(W) of the supernet under op
weights W, edges are visited in a given order. A(e) is the set of ops still alive on edge e (at the
start every op, or the ops a run kept after pruning, diffnas.search.pruning); the weights of the alive ops
are the base weights renormalised per edge,

    W_A[e, o] = B[e, o] / Σ_{o' ∈ A(e)} B[e, o']   for o ∈ A(e), 0 otherwise.

At edge e, every alive op o is scored by removing it: s(o) = S(W_{A with A(e) \\ {o}}); the edge keeps
o* = argmin_o s(o), the op whose removal lowers the score most (ties: the lowest op index), and
A(e) = {o*} for the rest of the walk. After the last edge every edge has one op: the genotype.

Each edge costs |ops| score evaluations, 6 × 5 = 30 for an NB201 cell. :func:`perturb_select` is pure
in the sense that it only calls ``score``; proxies that need a network and a batch close over them
(:func:`zero_cost_pt`), and so does DARTS-PT on a trained search run (:func:`darts_pt`).

DARTS-PT here, without the paper's fine-tuning between edges: B = the run's evaluation weights at its
last epoch's temperature (:meth:`diffnas.search.run.SearchRun.eval_weights`, the weights its
``val_acc`` is computed with; pruned ops at 0), A at the start = the ops the run's pruning kept, S =
the supernet's accuracy on the run's whole α split (:func:`split_accuracy`), edges in the space's
order.

Zero-Cost-PT as the NB201 study's search-free baseline (:func:`seeded_zero_cost_pt`): for seed s, a
supernet of the study's sizes freshly initialised from s, uniform B, the first ``proxy_batch``
examples of the weight split of the Fashion-MNIST split seeded by s, edges visited in the order
``random.Random(s).shuffle``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from diffnas.data.splits import load_dataset
from diffnas.model.spaces import SearchSpace, build_space
from diffnas.search.pruning import masked_weights
from diffnas.selection.proxies import PROXIES, cell_network

if TYPE_CHECKING:
    from diffnas.search.run import SearchRun

Score = Callable[[torch.Tensor], float]


def alive_weights(base: torch.Tensor, alive: Sequence[Sequence[int]]) -> torch.Tensor:
    """W_A: the base weights of the alive ops, renormalised per edge (module docstring); the renormalisation is
    the pruning's :func:`diffnas.search.pruning.masked_weights` with A as the mask."""
    mask = torch.zeros(base.shape, dtype=torch.bool, device=base.device)
    for e, ops in enumerate(alive):
        mask[e, list(ops)] = True
    empty = ((base * mask).sum(dim=-1) <= 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"edge {empty[0]}: the alive ops {list(alive[empty[0]])} have zero base weight")
    return masked_weights(base, mask)


def perturb_select(base: torch.Tensor, score: Score, order: Sequence[int] | None = None,
                   keep: torch.Tensor | None = None) -> list[int]:
    """One op index per edge by removal scoring (module docstring); ``order`` = edge visiting order; ``keep``
    (edges × ops, bool) = the ops alive at the start (default: all; a run's pruning mask, diffnas.search.pruning)."""
    n_edges, n_ops = base.shape
    order = list(range(n_edges)) if order is None else list(order)
    if sorted(order) != list(range(n_edges)):
        raise ValueError(f"order must be a permutation of the {n_edges} edges, got {order}")
    keep = torch.ones(n_edges, n_ops, dtype=torch.bool) if keep is None else keep.cpu()
    alive: list[list[int]] = [[o for o in range(n_ops) if keep[e, o]] for e in range(n_edges)]
    if not all(alive):
        raise ValueError("keep: every edge needs a kept op")
    for e in order:
        if len(alive[e]) == 1:
            continue
        scores = []
        for o in alive[e]:
            trial = [list(a) for a in alive]
            trial[e] = [p for p in alive[e] if p != o]
            scores.append((score(alive_weights(base, trial)), o))
        alive[e] = [min(scores)[1]]
    return [a[0] for a in alive]


def zero_cost_pt(space: SearchSpace, proxy: str, x: torch.Tensor, y: torch.Tensor, *, num_classes: int,
                 channels: int, cells_per_stage: int, stages: int, seed: int = 0,
                 order: Sequence[int] | None = None, base: torch.Tensor | None = None) -> str:
    """Zero-Cost-PT: the genotype picked on a supernet freshly initialised from ``seed``, scored by the
    zero-cost proxy ``proxy`` (:data:`diffnas.selection.proxies.PROXIES`) on the batch ``x``/``y``; ``base``
    defaults to uniform weights (no search at all)."""
    if not space.keeps_every_edge:
        raise ValueError(f"zero-cost PT picks one op per edge: a space that keeps every edge (nb201 only), got {space.name!r}")
    fn = PROXIES.get(proxy)
    net = cell_network(space, x.shape[1], num_classes, channels, cells_per_stage, stages, seed).to(x.device)
    net.train()
    base = torch.full((space.n_edges, space.n_ops), 1.0 / space.n_ops) if base is None else base
    chosen = perturb_select(base, lambda w: fn(net, w.to(x.device), None, x, y), order)
    return space.genotype_of(torch.as_tensor(chosen))


def seeded_zero_cost_pt(proxy: str, seed: int, *, data_dir: str | None = None, subset: int = 2000,
                        resolution: int = 16, channels: int = 8, cells_per_stage: int = 1, stages: int = 3,
                        proxy_batch: int = 64) -> tuple[str, float]:
    """The Zero-Cost-PT cell of ``seed`` by the study's protocol (module docstring; ``data_dir`` None = the
    Debian Fashion-MNIST folder) and the seconds the pick took, data loading excluded."""
    space = build_space("nb201")
    data = load_dataset("fashion_mnist", subset=subset, resolution=resolution, data_dir=data_dir, seed=seed,
                        test_fraction=0.2)
    order = list(range(space.n_edges))
    random.Random(seed).shuffle(order)
    t0 = time.perf_counter()
    cell = zero_cost_pt(space, proxy, data.x_weights[:proxy_batch], data.y_weights[:proxy_batch],
                        num_classes=data.num_classes, channels=channels, cells_per_stage=cells_per_stage,
                        stages=stages, seed=seed, order=order)
    return cell, time.perf_counter() - t0


@torch.inference_mode()
def split_accuracy(run: SearchRun, weights: torch.Tensor) -> float:
    """Accuracy of the run's supernet under op ``weights`` on the run's whole α split (whatever
    ``metrics.eval_batches`` says)."""
    return run.accuracy(weights, None, batches=0)[1]


def darts_pt(run: SearchRun) -> str:
    """The DARTS-PT genotype of a trained (or restored) search run, without fine-tuning (module docstring)."""
    temperature = run.records[-1]["temperature"]
    base = run.arch.eval_weights(temperature).weights
    run.model.eval()
    chosen = perturb_select(base, lambda w: split_accuracy(run, w), keep=run.arch.op_mask)
    return run.space.genotype_of(torch.tensor(chosen))
