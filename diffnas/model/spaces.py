"""Search spaces: the cell topology, its candidate ops, and how α (edges × ops) becomes a genotype.

* ``nb201`` — NAS-Bench-201 cell: nodes 0..3, node i = Σ_{j<i} op_{j→i}(x_j), 6 edges in the order
  (0→1), (0→2), (1→2), (0→3), (1→3), (2→3); 5 ops. The genotype is the canonical ``arch_str``
  ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` with the argmax op of every edge (``none`` included).
* ``darts`` — DARTS cell: inputs 0, 1 (the two previous cells), intermediate nodes 2..5, node i
  takes every earlier node (2 + 3 + 4 + 5 = 14 edges), output = concat(nodes 2..5); a normal and a
  reduction cell, so α has 28 rows (normal 0..13, reduce 14..27). The genotype keeps, per node,
  the top-2 incoming edges ranked by their strongest non-``none`` op probability, each with that
  op (DARTS' derivation), written as JSON ``{"normal": [[op, j], ...], "reduce": [...]}``.

Either discretisation can cap the skip connections of a cell (P-DARTS, Chen et al. 2019;
:func:`cap_skips`): with ``max_skip`` = M, a cell whose chosen ops hold more than M ``skip_connect``
edges keeps the M with the highest softmax(α_e)[skip]; every other one takes its best op but skip.

A config may restrict a space to a subset of its ops (kept in the space's canonical order).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from diffnas.model.genotypes import parse_nb201 as parse_nb201  # re-exported
from diffnas.names import SPACE_OPS, check_implemented
from diffnas.registry import Registry


@dataclass(frozen=True)
class Edge:
    cell: str  # "cell" (nb201), "normal" / "reduce" (darts)
    src: int
    dst: int

    @property
    def label(self) -> str:
        return f"{self.cell}:{self.src}->{self.dst}"


@dataclass(frozen=True)
class SearchSpace:
    """A cell space with its ops; α has one row per edge in ``edges`` and one column per op."""

    name: str
    ops: tuple[str, ...]
    edges: tuple[Edge, ...]

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def n_ops(self) -> int:
        return len(self.ops)

    @property
    def keeps_every_edge(self) -> bool:
        """True when the discretised cell keeps one op on every edge (argmax per edge, ``nb201``), so a
        cell is any choice of one op per edge; False where edges are dropped (``darts``' top-2 inputs)."""
        return DISCRETISERS.get(self.name) is _argmax_choice

    def edge_rows(self, cell: str) -> list[int]:
        return [i for i, e in enumerate(self.edges) if e.cell == cell]

    def discrete_choice(self, alpha: torch.Tensor, max_skip: int | None = None) -> torch.Tensor:
        """Chosen op index per edge for the discretised architecture; −1 = edge dropped. With
        ``max_skip``, at most that many skip connections per cell (:func:`cap_skips`)."""
        chosen = DISCRETISERS.get(self.name)(self, alpha.detach())
        return chosen if max_skip is None else cap_skips(self, alpha.detach(), chosen, max_skip)

    def genotype(self, alpha: torch.Tensor) -> str:
        """The genotype string of the discretised architecture."""
        return self.genotype_of(self.discrete_choice(alpha))

    def genotype_of(self, chosen: torch.Tensor) -> str:
        """The genotype string of the architecture with op ``chosen[k]`` on edge k (−1 = dropped)."""
        return GENOTYPE_WRITERS.get(self.name)(self, chosen)

    def one_hot(self, chosen: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Edges × ops weights with a 1 at op ``chosen[k]`` of edge k (a zero row where ``chosen[k]`` = −1)."""
        weights = torch.zeros((self.n_edges, self.n_ops), dtype=dtype, device=chosen.device)
        keep = chosen >= 0
        weights[keep, chosen[keep]] = 1.0
        return weights


def _nb201_edges() -> tuple[Edge, ...]:
    return tuple(Edge("cell", j, i) for i in range(1, 4) for j in range(i))


def _darts_edges() -> tuple[Edge, ...]:
    return tuple(Edge(cell, j, i) for cell in ("normal", "reduce") for i in range(2, 6) for j in range(i))


_EDGES = {"nb201": _nb201_edges, "darts": _darts_edges}


def _argmax_choice(space: SearchSpace, alpha: torch.Tensor) -> torch.Tensor:
    return alpha.argmax(dim=-1)


def _darts_choice(space: SearchSpace, alpha: torch.Tensor) -> torch.Tensor:
    probs = torch.softmax(alpha.double(), dim=-1)
    if "none" in space.ops:
        probs[:, space.ops.index("none")] = -1.0
    best_p, best_op = probs.max(dim=-1)
    chosen = torch.full((space.n_edges,), -1, dtype=torch.long)
    for cell in ("normal", "reduce"):
        for node in range(2, 6):
            rows = [i for i, e in enumerate(space.edges) if e.cell == cell and e.dst == node]
            ranked = sorted(rows, key=lambda r: (-float(best_p[r]), r))[:2]
            for r in ranked:
                chosen[r] = best_op[r]
    return chosen


def cap_skips(space: SearchSpace, alpha: torch.Tensor, chosen: torch.Tensor, max_skip: int) -> torch.Tensor:
    """P-DARTS's skip cap on a discretised choice, cell by cell.

    With S = {kept edges e of the cell : chosen_e = skip} and |S| > M = ``max_skip``: the edges of S with
    no finite alternative (every op but the skip, and X, pruned to −∞) must keep it and count against M
    first; the remaining slots go to the other edges of S with the highest p_e = softmax(α_e)[skip] (ties:
    the lower edge index); every other e ∈ S takes argmax_{o ∉ {skip} ∪ X} α_e,o, X = {none} in ``darts``
    (its derivation never chooses none). So a cell has at most M skips unless more than M of its edges
    have nothing else left. Which edges are kept (``darts``' top-2 inputs) does not change. Returns a new
    tensor; ``chosen`` is not modified.
    """
    if max_skip < 0:
        raise ValueError(f"max_skip: must be >= 0, got {max_skip}")
    if "skip_connect" not in space.ops:
        return chosen.clone()
    skip = space.ops.index("skip_connect")
    barred = [skip] + ([space.ops.index("none")] if space.name == "darts" and "none" in space.ops else [])
    alpha = alpha.detach().double()
    p_skip = torch.softmax(alpha, dim=-1)[:, skip]
    others = alpha.clone()
    others[:, barred] = float("-inf")
    out = chosen.clone()
    movable = torch.isfinite(others).any(dim=-1)
    for cell in dict.fromkeys(e.cell for e in space.edges):
        skips = [k for k in space.edge_rows(cell) if int(chosen[k]) == skip]
        free = [k for k in skips if bool(movable[k])]
        slots = max(max_skip - (len(skips) - len(free)), 0)
        for k in sorted(free, key=lambda r: (-float(p_skip[r]), r))[slots:]:
            out[k] = int(others[k].argmax())
    return out


def _nb201_genotype(space: SearchSpace, chosen: torch.Tensor) -> str:
    nodes = []
    for i in range(1, 4):
        parts = [f"{space.ops[int(chosen[k])]}~{e.src}" for k, e in enumerate(space.edges) if e.dst == i]
        nodes.append("|" + "|".join(parts) + "|")
    return "+".join(nodes)


def _darts_genotype(space: SearchSpace, chosen: torch.Tensor) -> str:
    out: dict[str, list[list[object]]] = {"normal": [], "reduce": []}
    for k, e in enumerate(space.edges):
        if int(chosen[k]) >= 0:
            out[e.cell].append([space.ops[int(chosen[k])], e.src])
    return json.dumps({**out, "normal_concat": [2, 3, 4, 5], "reduce_concat": [2, 3, 4, 5]})


DISCRETISERS: Registry = Registry("space")
DISCRETISERS.register("nb201")(_argmax_choice)
DISCRETISERS.register("darts")(_darts_choice)
GENOTYPE_WRITERS: Registry = Registry("space")
GENOTYPE_WRITERS.register("nb201")(_nb201_genotype)
GENOTYPE_WRITERS.register("darts")(_darts_genotype)
for _registry in (DISCRETISERS, GENOTYPE_WRITERS, _EDGES):
    check_implemented("space", SPACE_OPS, _registry)


def build_space(name: str, ops: Sequence[str] | None = None) -> SearchSpace:
    """The space ``name`` restricted to ``ops`` (canonical order kept)."""
    if name not in SPACE_OPS:
        raise ValueError(f"space: unknown {name!r}; allowed: {', '.join(SPACE_OPS)}")
    all_ops = SPACE_OPS[name]
    if ops is not None:
        unknown = [o for o in ops if o not in all_ops]
        if unknown:
            raise ValueError(f"ops: unknown op {unknown[0]!r} for space {name}; allowed: {', '.join(all_ops)}")
        chosen = tuple(o for o in all_ops if o in ops)
    else:
        chosen = all_ops
    return SearchSpace(name=name, ops=chosen, edges=_EDGES[name]())


def choice_from_genotype(space: SearchSpace, genotype: str) -> torch.Tensor:
    """Chosen op index per edge (−1 = dropped) from a genotype string of this space."""
    chosen = torch.full((space.n_edges,), -1, dtype=torch.long)
    index = {(e.cell, e.src, e.dst): k for k, e in enumerate(space.edges)}
    if space.name == "nb201":
        triples = [("cell", op, src, dst) for op, src, dst in parse_nb201(genotype)]
    else:
        data = json.loads(genotype)
        triples = []
        for cell in ("normal", "reduce"):
            pairs = data[cell]
            if len(pairs) != 8:
                raise ValueError(f"genotype: {cell} needs 2 edges for each of 4 nodes, got {len(pairs)}")
            for n, (op, src) in enumerate(pairs):
                triples.append((cell, op, int(src), 2 + n // 2))
    for cell, op, src, dst in triples:
        if op not in space.ops:
            raise ValueError(f"genotype: op {op!r} is not in the space's ops ({', '.join(space.ops)})")
        key = (cell, src, dst)
        if key not in index:
            raise ValueError(f"genotype: no edge {src}->{dst} in a {space.name} {cell}")
        chosen[index[key]] = space.ops.index(op)
    if space.name == "nb201" and bool((chosen < 0).any()):
        raise ValueError("genotype: an NB201 arch_str needs all 6 edges")
    return chosen
