"""Reading recorded genotype strings, shared by the search side and the analysis side.

Pure Python (no torch): :mod:`analysis` may import it.

- NAS-Bench-201 ``arch_str``: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. The k-th ``+``-separated block
  (k = 1, 2, ...) lists the inputs of node k: ``op~i`` is an edge i → k carrying ``op``, with i < k.
  Nodes 0..3; node 0 is the cell input, node 3 the output.
- DARTS: JSON ``{"normal": [[op, from], ...], "reduce": [...]}`` with two entries per intermediate
  node; nodes 0 and 1 are the two cell inputs (c_{k−2}, c_{k−1}), entries 2j and 2j+1 feed node
  2 + j (nodes 2..5), and the output concatenates nodes 2..5 (drawn as unlabelled edges to ``out``).

:func:`parse_genotype` turns either into cell graphs (:class:`Cell`) for drawing
(:mod:`diffnas.results.pictures`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Cell", "darts_cells", "nb201_cells", "parse_genotype", "parse_nb201"]


def parse_nb201(arch_str: str) -> list[tuple[str, int, int]]:
    """``|a~0|+|b~0|c~1|+...`` -> [(op, src, dst), ...] in edge order; ValueError naming the bad part."""
    if not isinstance(arch_str, str):
        raise ValueError(f"not a NAS-Bench-201 arch_str: {arch_str!r}")
    blocks = [b for b in arch_str.strip().split("+") if b.strip("|")]
    if not blocks:
        raise ValueError(f"not a NAS-Bench-201 arch_str: {arch_str[:80]!r}")
    out = []
    for dst, block in enumerate(blocks, start=1):
        for token in (t for t in block.split("|") if t):
            op, sep, src = token.rpartition("~")
            if not sep or not op or not src.isdigit() or int(src) >= dst:
                raise ValueError(f"bad NB201 edge {token[:40]!r} in {arch_str[:80]!r}")
            out.append((op, int(src), dst))
    return out


@dataclass(frozen=True)
class Cell:
    """A cell graph: node labels in drawing order and edges (src, dst, op); op None = concat."""

    name: str
    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str, str | None], ...]


def nb201_cells(arch: str) -> list[Cell]:
    """An NB201 ``arch_str`` as one :class:`Cell`, parsed by :func:`parse_nb201`."""
    triples = parse_nb201(arch)
    edges = tuple((str(src), str(dst), op) for op, src, dst in triples)
    nodes = tuple(str(i) for i in range(max(dst for _, _, dst in triples) + 1))
    return [Cell("cell", nodes, edges)]


def darts_cells(text: str) -> list[Cell]:
    """Parse a DARTS genotype (JSON mapping of cell name → [[op, from_node], ...])."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("DARTS genotype must be a JSON object")
    cells = []
    for name in ("normal", "reduce"):
        entries = data.get(name)
        if not entries:
            continue
        n_inter = (len(entries) + 1) // 2
        inter = [str(2 + j) for j in range(n_inter)]
        edges: list[tuple[str, str, str | None]] = []
        for j, entry in enumerate(entries):
            op, src = entry[0], int(entry[1])
            edges.append((str(src), str(2 + j // 2), str(op)))
        edges += [(node, "out", None) for node in inter]
        cells.append(Cell(name, ("0", "1", *inter, "out"), tuple(edges)))
    if not cells:
        raise ValueError("DARTS genotype has neither 'normal' nor 'reduce'")
    return cells


def parse_genotype(text: str) -> list[Cell]:
    """Detect the format (JSON → DARTS, ``|…|`` → NB201) and parse it."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return darts_cells(stripped)
    if stripped.startswith("|"):
        return nb201_cells(stripped)
    raise ValueError(f"unrecognised genotype format: {text[:60]!r}")
