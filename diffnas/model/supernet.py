"""The supernet: a stem, cells stacked in stages with reductions between them, and a classifier.

Every edge of every cell is a :class:`MixedOp`: out = Σ_o w_o · op_o(x) with w = the sampler's
weights for that edge's row of α. Compute rules:

* ``none`` is never computed (its output and its gradient are 0);
* ops whose weight is exactly 0 (dropped by the ``enhanced`` sampler, or dropped edges of a
  discretised DARTS cell) are skipped only when no gradient flows to the weights (evaluation,
  ``torch.no_grad`` weight steps): then a zero weight's term is exactly 0 in value and nothing is
  lost. When the weights require a gradient every op except ``none`` is computed (the skip test would
  cost a host transfer per forward);
* when the sampler returns ``chosen`` (``gumbel_hard``, argmax evaluation) the edge's output follows
  the registered hard forward (:data:`HARD_FORWARDS`, the config key
  ``sampler_options.hard_forward``), with h the straight-through weights (one-hot in value):

  - ``chosen`` (default; AutoDL's ``forward_gdas_v1``): out = h_k · op_k(x). Only op k runs; α's
    gradient comes through h_k alone: ∂L/∂h_k = ⟨∂L/∂out, op_k(x)⟩, ∂L/∂h_j = 0 for j ≠ k.
  - ``all`` (AutoDL's ``forward_gdas``, NASLib's GDAS mixed op): out = h_k · op_k(x) + Σ_{j≠k} h_j,
    the unselected weights added as scalars (value 0, broadcast over the output). Still only op k
    runs, but every unselected weight gets the gradient ∂L/∂h_j = Σ ∂L/∂out (the sum of the output
    gradient), which changes α's gradient: ∂L/∂α = Jᵀ ∂L/∂h with J = ∂y/∂α of the soft sample y;
* parameter-free ops (skip, pooling — with DARTS' parameter-free batch-statistics BN) are computed
  once per (source node, op, stride) in a cell's forward pass and shared by every edge leaving that
  node, instead of once per edge.

``nb201`` stacks NB201 cells (all cells share α's 6 rows) with ResNet basic blocks as reductions;
``darts`` stacks normal cells and searched reduction cells (α rows 0..13 normal, 14..27 reduce).
BatchNorm uses batch statistics everywhere (``track_running_stats=False``, see :mod:`diffnas.model.ops`).

Performance switches (:meth:`Supernet.configure`, off by default = the reference path): ``fused``
computes NB201 cells with :func:`diffnas.model.fused.nb201_cell_fused` (convs of edges leaving the same
node batched into one; same sums; the ``chosen`` hard forward and dense weights; ``all`` runs the
reference); ``channels_last`` stores weights and activations NHWC.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from diffnas.model.fused import nb201_cell_fused
from diffnas.model.ops import FactorizedReduce, ReLUConvBN, build_op
from diffnas.model.spaces import SearchSpace
from diffnas.registry import Registry

HardForward = Callable[["MixedOp", torch.Tensor, torch.Tensor, int, int, "dict | None"], "torch.Tensor | None"]
HARD_FORWARDS: Registry[HardForward] = Registry("sampler_options.hard_forward")
"""How an edge combines a sampled one-hot choice with its ops (see the module docstring)."""


class MixedOp(nn.Module):
    """All candidate ops of one edge."""

    def __init__(self, space: SearchSpace, channels: int, stride: int) -> None:
        super().__init__()
        self.names = space.ops
        self.ops = nn.ModuleList(build_op(n, channels, stride, affine=False, space=space.name) for n in space.ops)
        self.skip = tuple(n == "none" for n in space.ops)
        self.stride = stride
        self.param_free = tuple(not any(True for _ in op.parameters()) for op in self.ops)

    def _run_op(self, i: int, x: torch.Tensor, src: int, cache: dict | None) -> torch.Tensor:
        if cache is None or not self.param_free[i]:
            return self.ops[i](x)
        key = (src, self.names[i], self.stride)
        out = cache.get(key)
        if out is None:
            out = cache[key] = self.ops[i](x)
        return out

    def forward(self, x: torch.Tensor, w: torch.Tensor, chosen: int | None, src: int = 0,
                cache: dict | None = None, zeros: list[bool] | None = None,
                hard_forward: str = "chosen") -> torch.Tensor | None:
        """Σ_o w_o·op_o(x); ``zeros`` marks ops whose weight is exactly 0 (given when w needs no grad).
        With ``chosen`` (an op index, −1 = edge dropped) the registered ``hard_forward`` decides."""
        if chosen is not None:
            if chosen < 0:
                return None
            return HARD_FORWARDS.get(hard_forward)(self, x, w, chosen, src, cache)
        out = None
        for i in range(len(self.ops)):
            if self.skip[i] or (zeros is not None and zeros[i]):
                continue
            term = w[i] * self._run_op(i, x, src, cache)
            out = term if out is None else out + term
        return out


@HARD_FORWARDS.register("chosen")
def chosen_only(mixed: MixedOp, x: torch.Tensor, w: torch.Tensor, k: int, src: int,
                cache: dict | None) -> torch.Tensor | None:
    """out = w_k · op_k(x) (AutoDL's ``forward_gdas_v1``); None when op k is ``none``."""
    return None if mixed.skip[k] else w[k] * mixed._run_op(k, x, src, cache)


@HARD_FORWARDS.register("all")
def chosen_plus_unselected(mixed: MixedOp, x: torch.Tensor, w: torch.Tensor, k: int, src: int,
                           cache: dict | None) -> torch.Tensor:
    """out = w_k · op_k(x) + Σ_{j≠k} w_j (AutoDL's ``forward_gdas``, NASLib): the unselected
    straight-through weights enter as scalars, 0 in value (w_j − sg(w_j), exact) with gradient 1."""
    rest = torch.cat([w[:k], w[k + 1:]])
    st = (rest - rest.detach()).sum()
    if mixed.skip[k]:
        return x[:, :, ::mixed.stride, ::mixed.stride].mul(0.0) + st
    return w[k] * mixed._run_op(k, x, src, cache) + st


HARD_FORWARDS.check_builtins()


def _op_macs(op: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of ``op`` for one sample of ``x``: Σ over its convs of
    Cout·Hout·Wout·(Cin/groups)·k², plus Σ over its k×k pools of C·Hout·Wout·k²."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        size = module.kernel_size
        k = size * size if isinstance(size, int) else size[0] * size[1]
        per_sample = output[0].numel()
        total += per_sample * (module.in_channels // module.groups) * k if isinstance(module, nn.Conv2d) \
            else per_sample * k

    handles = [m.register_forward_hook(hook) for m in op.modules()
               if isinstance(m, (nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d))]
    try:
        with torch.no_grad():
            op(x)
    finally:
        for h in handles:
            h.remove()
    return total


def _sum_or_zero(terms: list[torch.Tensor | None], like: torch.Tensor, stride: int = 1) -> torch.Tensor:
    present = [t for t in terms if t is not None]
    if not present:
        return like[:, :, ::stride, ::stride].mul(0.0)
    out = present[0]
    for t in present[1:]:
        out = out + t
    return out


class NB201Cell(nn.Module):
    """Node i = Σ_{j<i} mixed_op_{j→i}(node j); output = node 3."""

    def __init__(self, space: SearchSpace, channels: int) -> None:
        super().__init__()
        self.space = space
        self.edges = nn.ModuleList(MixedOp(space, channels, 1) for _ in space.edges)
        self.fused = False
        self.native = False  # fused dense steps through diffnas.model.native's kernels where they apply

    def forward(self, x, weights, chosen, zeros=None, hard_forward="chosen"):
        if self.fused and (chosen is None or hard_forward == "chosen"):
            return nb201_cell_fused(self, x, weights, chosen, zeros)
        nodes = [x]
        cache: dict = {}
        for node in range(1, 4):
            terms = [
                self.edges[k](nodes[e.src], weights[k], None if chosen is None else chosen[k], e.src, cache,
                              None if zeros is None else zeros[k], hard_forward)
                for k, e in enumerate(self.space.edges)
                if e.dst == node
            ]
            nodes.append(_sum_or_zero(terms, x))
        return nodes[-1]


class ResNetReduction(nn.Module):
    """NB201's fixed reduction: ReLUConvBN(3×3, s2) → ReLUConvBN(3×3) + (AvgPool(2) → Conv1×1)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = ReLUConvBN(c_in, c_out, 3, 2, 1, affine=True)
        self.b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine=True)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x):
        return self.b(self.a(x)) + self.shortcut(x)


class DartsCell(nn.Module):
    """DARTS cell: 2 inputs, 4 intermediate nodes over all earlier nodes, output concat(2..5)."""

    def __init__(self, space: SearchSpace, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.kind = "reduce" if reduction else "normal"
        self.rows = space.edge_rows(self.kind)
        self.space = space
        self.pre0 = FactorizedReduce(c_pp, c, affine=False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, False)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(space, c, 2 if reduction and space.edges[r].src < 2 else 1) for r in self.rows
        )

    def forward(self, s0, s1, weights, chosen, zeros=None, hard_forward="chosen"):
        nodes = [self.pre0(s0), self.pre1(s1)]
        stride = 2 if self.reduction else 1
        cache: dict = {}
        for node in range(2, 6):
            terms = []
            for local, row in enumerate(self.rows):
                e = self.space.edges[row]
                if e.dst == node:
                    terms.append(self.edges[local](nodes[e.src], weights[row], None if chosen is None else chosen[row],
                                                   e.src, cache, None if zeros is None else zeros[row],
                                                   hard_forward))
            nodes.append(_sum_or_zero(terms, nodes[1], stride if node >= 2 else 1))
        return torch.cat(nodes[2:], dim=1)


class Supernet(nn.Module):
    """Stem → stages of cells (reductions between stages) → BN-ReLU-GAP → linear classifier."""

    def __init__(self, space: SearchSpace, in_channels: int, num_classes: int, channels: int = 8,
                 cells_per_stage: int = 1, stages: int = 2) -> None:
        super().__init__()
        self.space = space
        self.kind = space.name
        builder = _BUILDERS[space.name]
        builder(self, in_channels, num_classes, channels, cells_per_stage, stages)
        self.channels_last = False

    def configure(self, fused: bool | None = None, channels_last: bool | None = None,
                  native: bool | None = None) -> Supernet:
        """Switch the fused cell path, the NHWC memory format and the fused path's compiled kernels on or
        off (results equal within float error)."""
        for layer in self.layers:
            if isinstance(layer, NB201Cell):
                if fused is not None:
                    layer.fused = bool(fused)
                if native is not None:
                    layer.native = bool(native)
        if channels_last is not None:
            self.channels_last = bool(channels_last)
            self.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        return self

    @contextlib.contextmanager
    def reference_path(self) -> Iterator[None]:
        """Run the reference (unfused, module-by-module) path inside the block."""
        saved = [(layer, layer.fused) for layer in self.layers if isinstance(layer, NB201Cell)]
        try:
            for layer, _ in saved:
                layer.fused = False
            yield
        finally:
            for layer, value in saved:
                layer.fused = value

    # -- construction -------------------------------------------------------------------------
    def _build_nb201(self, in_ch, n_cls, c, per_stage, stages):
        self.stem = nn.Sequential(nn.Conv2d(in_ch, c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c, track_running_stats=False))
        layers: list[nn.Module] = []
        c_cur = c
        for s in range(stages):
            if s > 0:
                layers.append(ResNetReduction(c_cur, c_cur * 2))
                c_cur *= 2
            layers.extend(NB201Cell(self.space, c_cur) for _ in range(per_stage))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c_cur, track_running_stats=False), nn.ReLU())
        self.classifier = nn.Linear(c_cur, n_cls)

    def _build_darts(self, in_ch, n_cls, c, per_stage, stages):
        stem_c = 3 * c
        self.stem = nn.Sequential(nn.Conv2d(in_ch, stem_c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem_c, track_running_stats=False))
        layers: list[nn.Module] = []
        c_pp, c_p, c_cur, red_prev = stem_c, stem_c, c, False
        for s in range(stages):
            if s > 0:
                c_cur *= 2
                cell = DartsCell(self.space, c_pp, c_p, c_cur, True, red_prev)
                layers.append(cell)
                c_pp, c_p, red_prev = c_p, 4 * c_cur, True
            for _ in range(per_stage):
                layers.append(DartsCell(self.space, c_pp, c_p, c_cur, False, red_prev))
                c_pp, c_p, red_prev = c_p, 4 * c_cur, False
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.ReLU())
        self.classifier = nn.Linear(c_p, n_cls)

    # -- forward ------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, weights: torch.Tensor, chosen: torch.Tensor | None = None,
                hard_forward: str = "chosen", dense: bool = False) -> torch.Tensor:
        """Logits for ``x`` under op ``weights`` (edges × ops); with ``chosen`` one op per edge, combined
        by the registered ``hard_forward`` (module docstring). ``dense`` computes every op but ``none``
        even where its weight is 0 (no host transfer; for traced/compiled forwards)."""
        picks = None if chosen is None else [int(c) for c in chosen.tolist()]
        # ops with weight exactly 0 are skipped; one host transfer per forward, only when no grad flows
        zeros = None if weights.requires_grad or dense else (weights.detach() == 0).cpu().tolist()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.stem(x)
        if self.kind == "nb201":
            for layer in self.layers:
                h = layer(h, weights, picks, zeros, hard_forward) if isinstance(layer, NB201Cell) else layer(h)
        else:
            s0 = s1 = h
            for cell in self.layers:
                s0, s1 = s1, cell(s0, s1, weights, picks, zeros, hard_forward)
            h = s1
        h = self.head(h)
        return self.classifier(h.mean(dim=(2, 3)))

    # -- costs --------------------------------------------------------------------------------
    def mixed_ops(self) -> list[tuple[int, MixedOp]]:
        """(α row, mixed op) for every edge of every cell."""
        out = []
        for layer in self.layers:
            if isinstance(layer, NB201Cell):
                out.extend(enumerate(layer.edges))
            elif isinstance(layer, DartsCell):
                out.extend(zip(layer.rows, layer.edges))
        return out

    def param_costs(self) -> torch.Tensor:
        """(edges, ops): parameters of each op summed over the cells that share that α row."""
        table = torch.zeros(self.space.n_edges, self.space.n_ops, dtype=torch.float64)
        for row, mixed in self.mixed_ops():
            for i, op in enumerate(mixed.ops):
                table[row, i] += sum(p.numel() for p in op.parameters())
        return table

    def flop_costs(self, input_shape: tuple[int, int, int]) -> torch.Tensor:
        """(edges, ops): multiply-accumulates of each op for one input of ``input_shape`` (C, H, W),
        summed over the cells that share that α row.

        Conv: Cout·Hout·Wout·(Cin/groups)·k²; k×k pooling: C·Hout·Wout·k²; identity, ``none``, ReLU
        and BatchNorm: 0. Every (edge, op) is priced on its own: one forward pass records the input
        shape of each edge, then each op runs alone on an input of that shape. (The forward pass
        shares a parameter-free op between the edges leaving one node; pricing through it would
        charge that op to the first such edge only.)
        """
        shapes: dict[int, tuple[int, ...]] = {}

        def record(module: nn.Module, args: tuple) -> None:
            shapes[id(module)] = tuple(args[0].shape[1:])

        handles = [mixed.register_forward_pre_hook(record) for _, mixed in self.mixed_ops()]
        try:
            with torch.no_grad(), self.reference_path():
                device = next(self.parameters()).device
                ones = torch.ones(self.space.n_edges, self.space.n_ops, device=device)
                self.forward(torch.zeros(2, *input_shape, device=device), ones)
        finally:
            for h in handles:
                h.remove()
        table = torch.zeros(self.space.n_edges, self.space.n_ops, dtype=torch.float64)
        for row, mixed in self.mixed_ops():
            x = torch.zeros(2, *shapes[id(mixed)], device=device)  # 2: BatchNorm needs > 1 value
            for i, op in enumerate(mixed.ops):
                if not mixed.skip[i]:
                    table[row, i] += _op_macs(op, x)
        return table

    def fixed_params(self) -> int:
        """Parameters outside the mixed ops (stem, preprocessing, reductions, classifier)."""
        mixed = sum(p.numel() for _, m in self.mixed_ops() for p in m.parameters())
        return sum(p.numel() for p in self.parameters()) - mixed

    def genotype_params(self, chosen: torch.Tensor, param_costs: torch.Tensor | None = None) -> int:
        """Parameters of the discretised network: fixed part + the chosen op of every kept edge."""
        costs = self.param_costs() if param_costs is None else param_costs
        total = self.fixed_params()
        for row, c in enumerate(chosen.tolist()):
            if c >= 0:
                total += int(costs[row, c])
        return int(total)


_BUILDERS = {"nb201": Supernet._build_nb201, "darts": Supernet._build_darts}
