"""Pictures of the architecture a run is settling on: the α (op-probability) matrix as a heat map and
the current cell as a small graph, drawn from recorded values so a collapse is seen while it happens.

Pure functions of what the results schema records: an epoch's ``op_probs`` (edges × ops, row-major)
with the trial's ``ops`` / ``edges`` labels, and a ``genotype`` string (parsed by
:func:`diffnas.model.genotypes.parse_genotype`). Drawn with matplotlib's object API (no pyplot, no
global backend: headless by construction); :func:`to_rgb` renders a figure to an ``H × W × 3`` uint8
array, which TensorBoard, MLflow and W&B all take as an image.

Torch-free and Ray-free: the trackers (:mod:`diffnas.tracking`) and the report
(:mod:`diffnas.analysis.plots`) both draw with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

from diffnas.model.genotypes import Cell, parse_genotype

NODE_GAP = 2.4  # horizontal distance between cell nodes (data units)
_ANNOTATE_MAX = 64  # write the probability in each cell of matrices up to this size
PICTURES = ("alpha", "cell")  # names of the per-epoch pictures (:func:`epoch_pictures`)


def op_colors(ops: Sequence[str]) -> dict[str, str]:
    """One colour per op name (sorted, matplotlib's C0..C9 cycle): the same op looks the same everywhere."""
    return {op: f"C{i % 10}" for i, op in enumerate(sorted(set(ops)))}


def _labels(values: Any, count: int, prefix: str) -> list[str]:
    if isinstance(values, (list, tuple, np.ndarray)) and len(values) == count:
        return [str(v) for v in values]
    return [f"{prefix}{i}" for i in range(count)]


def alpha_matrix(op_probs: Sequence[float], n_ops: int) -> np.ndarray:
    """``op_probs`` (edges × ops, row-major) as an ``(edges, ops)`` float array; ValueError when the
    length is not a multiple of ``n_ops``."""
    flat = np.asarray(op_probs, dtype=np.float64).ravel()
    if n_ops < 1 or flat.size == 0 or flat.size % n_ops:
        raise ValueError(f"op_probs of length {flat.size} is not edges × {n_ops} ops")
    return flat.reshape(-1, n_ops)


def draw_alpha(ax: Axes, probs: np.ndarray, ops: Sequence[str], edges: Sequence[str]) -> None:
    """Heat map of ``probs`` (edges × ops) on ``ax``, scale fixed to [0, 1] so epochs compare; each
    edge's argmax op is framed, and small matrices carry their values."""
    n_edges, n_ops = probs.shape
    ax.imshow(probs, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", interpolation="nearest")
    ax.set_xticks(range(n_ops), list(ops), rotation=35, ha="right", fontsize=7)
    ax.set_yticks(range(n_edges), list(edges), fontsize=7 if n_edges <= 14 else 5)
    best = np.nanargmax(np.nan_to_num(probs, nan=-1.0), axis=1)
    for i, j in enumerate(best):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.4))
    if probs.size <= _ANNOTATE_MAX:
        for (i, j), p in np.ndenumerate(probs):
            if math.isfinite(p):
                ax.text(j, i, f"{p:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if p > 0.6 else "white")


def alpha_figure(op_probs: Sequence[float], ops: Sequence[str], edges: Sequence[str] | None = None,
                 title: str | None = None) -> Figure:
    """The α matrix (softmax(α), the schema's ``op_probs``) as a heat map: one row per edge, one column
    per op, the argmax op of every edge framed in red."""
    probs = alpha_matrix(op_probs, len(ops))
    n_edges = probs.shape[0]
    fig = Figure(figsize=(1.0 + 0.55 * len(ops), 1.3 + 0.22 * max(n_edges, 4)))
    ax = fig.subplots()
    draw_alpha(ax, probs, _labels(list(ops), len(ops), "op"), _labels(edges, n_edges, "edge "))
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def draw_cell(ax: Axes, cell: Cell, colors: Mapping[str, str]) -> None:
    """One cell graph on ``ax``: nodes left to right, each edge an arrow coloured by its op (``none``
    dashed grey; concatenation edges unlabelled), longer edges bent so their labels stay apart."""
    pos = {node: (NODE_GAP * i, 0.0) for i, node in enumerate(cell.nodes)}
    reach = 0.6
    for k, (src, dst, op) in enumerate(cell.edges):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        span = round(abs(x2 - x1) / NODE_GAP)
        rad = 0.0 if span <= 1 else (0.3 + 0.05 * span) * (1 if k % 2 == 0 else -1)
        reach = max(reach, 0.5 * abs(rad * (x2 - x1)))
        style = dict(color="0.6", linestyle="--") if op in (None, "none") else dict(color=colors.get(op, "C0"))
        ax.add_patch(FancyArrowPatch((x1, y1), (x2, y2), connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle="-|>", mutation_scale=12, shrinkA=14, shrinkB=14,
                                     linewidth=1.6, **style))
        if op:
            dx, dy = x2 - x1, y2 - y1
            lx, ly = (x1 + x2) / 2 + 0.5 * rad * dy, (y1 + y2) / 2 - 0.5 * rad * dx
            if rad == 0.0:
                ly += 0.3  # straight edge between neighbours: label above the line
            ax.text(lx, ly, op, fontsize=7, ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for node, (x, y) in pos.items():
        ax.add_patch(Circle((x, y), 0.28, fc="#dde7f3", ec="#24476b", zorder=3))
        ax.text(x, y, node, ha="center", va="center", fontsize=9, zorder=4)
    ax.set_xlim(-0.5, NODE_GAP * (len(cell.nodes) - 1) + 0.5)
    ax.set_ylim(-reach - 0.6, reach + 0.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(cell.name, fontsize=9)


def cell_figure(genotype: str, title: str | None = None, width: float = 7.0) -> Figure:
    """A genotype (NB201 ``arch_str`` or DARTS JSON) drawn as its cell graph(s), one panel per cell
    type; ValueError when the genotype does not parse."""
    cells = parse_genotype(genotype)
    colors = op_colors([op for c in cells for *_, op in c.edges if op])
    n_max = max(len(c.nodes) for c in cells)
    fig = Figure(figsize=(max(width, 1.5 * n_max), 3.4 * len(cells)))
    axes = np.atleast_1d(fig.subplots(len(cells), 1)).ravel()
    for ax, cell in zip(axes, cells):
        draw_cell(ax, cell, colors)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def to_rgb(fig: Figure, dpi: int = 72) -> np.ndarray:
    """Render ``fig`` to an ``H × W × 3`` uint8 array (Agg, no display)."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def epoch_pictures(record: Mapping[str, Any], ops: Sequence[str] | None, edges: Sequence[str] | None,
                   label: str = "") -> dict[str, np.ndarray]:
    """The pictures of one epoch record as RGB arrays: ``alpha`` (from ``op_probs``, needs ``ops``) and
    ``cell`` (from ``genotype``); a picture whose input is missing or malformed is left out."""
    epoch = record.get("epoch")
    head = f"{label} epoch {epoch}".strip()
    out: dict[str, np.ndarray] = {}
    probs = record.get("op_probs")
    if ops is not None and len(ops) and probs is not None and len(probs):
        try:
            out["alpha"] = to_rgb(alpha_figure(probs, ops, edges, title=f"{head}: op probabilities"))
        except ValueError:
            pass
    genotype = record.get("genotype")
    if isinstance(genotype, str) and genotype:
        try:
            out["cell"] = to_rgb(cell_figure(genotype, title=f"{head}: current cell", width=5.0))
        except (ValueError, TypeError, KeyError, IndexError):
            pass
    return out
