"""Local refinement of a cell by short retraining: successive halving over the cell and its neighbours.

A searched (or zero-cost picked) cell c is a starting point, not the answer. Its one-edge
neighbourhood is N(c) = {c} ∪ {c with edge e set to op o : every edge e, every op o ≠ c_e}, 1 + E·(O − 1)
cells (25 for NB201). Successive halving (Jamieson & Talwalkar 2016; Hyperband's inner loop) ranks
them by validation accuracy after short training from scratch:

    S_0 = N(c);   at rung r, train every cell of S_r for E_r epochs, score it;
    S_{r+1} = the ⌈|S_r| / η⌉ best of S_r   (ties: the earlier candidate, the centre first);

and the best cell of the last rung is the refined cell. The score of a cell at rung r is the accuracy
on the search's α split after ``E_r`` epochs of :func:`diffnas.selection.evaluate.retrain` on the weight split
(the test split is never looked at), so picking the cell is a model selection on validation data.

:func:`successive_halving` is the pure selection rule over any candidates and any score;
:func:`refine_cell` applies it to a genotype with the retraining score.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import torch

from diffnas.data.splits import DataSplits
from diffnas.model.spaces import SearchSpace, choice_from_genotype
from diffnas.selection.evaluate import retrain

C = TypeVar("C", bound=Hashable)


@dataclasses.dataclass(frozen=True)
class Rung:
    """One rung: ``epochs`` of training per candidate and every candidate's score, best first."""

    epochs: int
    scores: tuple[tuple[object, float], ...]


def successive_halving(candidates: Sequence[C], score: Callable[[C, int], float], rungs: Sequence[int],
                       eta: int = 3) -> tuple[C, list[Rung]]:
    """The best candidate after the rungs (module docstring) and every rung's scores."""
    if not candidates:
        raise ValueError("successive halving needs at least one candidate")
    if not rungs or any(int(e) < 1 for e in rungs):
        raise ValueError(f"rungs must be epochs >= 1, got {list(rungs)}")
    if eta < 2:
        raise ValueError(f"eta must be >= 2, got {eta}")
    alive = list(candidates)
    history: list[Rung] = []
    for r, epochs in enumerate(rungs):
        scored = [(c, float(score(c, int(epochs)))) for c in alive]
        # best first; a stable sort keeps the earlier candidate first on ties
        ranked = sorted(scored, key=lambda cs: -cs[1] if math.isfinite(cs[1]) else math.inf)
        history.append(Rung(int(epochs), tuple(ranked)))
        keep = 1 if r == len(rungs) - 1 else math.ceil(len(ranked) / eta)
        alive = [c for c, _ in ranked[:keep]]
    return alive[0], history


def neighbourhood(space: SearchSpace, genotype: str) -> list[str]:
    """N(c): the cell first, then every cell with one edge's op changed (edge by edge, op by op)."""
    chosen = choice_from_genotype(space, genotype)
    out = [space.genotype_of(chosen)]
    for e in range(space.n_edges):
        for o in range(space.n_ops):
            if o != int(chosen[e]):
                other = chosen.clone()
                other[e] = o
                out.append(space.genotype_of(other))
    return out


def validation_splits(data: DataSplits) -> DataSplits:
    """The splits :func:`retrain` needs to train on the weight half and score on the α half."""
    return dataclasses.replace(data, x_alpha=data.x_alpha[:0], y_alpha=data.y_alpha[:0],
                               x_test=data.x_alpha, y_test=data.y_alpha)


def refine_cell(space: SearchSpace, genotype: str, data: DataSplits, *, rungs: Sequence[int] = (1, 3, 6),
                eta: int = 3, channels: int = 8, cells_per_stage: int = 1, stages: int = 3, batch_size: int = 64,
                seed: int = 0, device: str = "cpu") -> tuple[str, list[Rung]]:
    """Successive halving over :func:`neighbourhood` of ``genotype``, scored by validation accuracy
    after short retraining from scratch (seeded by ``seed``); returns the refined genotype and the rungs."""
    if not space.keeps_every_edge:
        raise ValueError(f"refinement changes one op per edge: a space that keeps every edge (nb201 only), got {space.name!r}")
    val = validation_splits(data)

    def score(cell: str, epochs: int) -> float:
        with torch.random.fork_rng(devices=[]):
            return retrain(space, choice_from_genotype(space, cell), val, epochs=epochs, channels=channels,
                           cells_per_stage=cells_per_stage, stages=stages, batch_size=batch_size, seed=seed,
                           device=device).test_acc

    return successive_halving(neighbourhood(space, genotype), score, rungs, eta)
