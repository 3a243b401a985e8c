"""Fused forward of a NAS-Bench-201 cell: the reference sums, computed with fewer and larger kernels.

Reference (:meth:`diffnas.supernet.NB201Cell.forward`):

    node_i = Σ_{edges k: j→i} Σ_{ops o active on k} w_{k,o} · op_{k,o}(node_j)

Fused, for each source node j as soon as node_j is known:

* r_j = ReLU(node_j) is computed once and shared by every ReLU→Conv→BN op leaving j;
* for each such op o, the conv weights of the edges k₁, k₂, … leaving j on which o is active are
  stacked along the output channels, Y = BN(conv(r_j, [W_{k₁,o}; W_{k₂,o}; …])). BatchNorm here
  normalises each channel with its own batch statistics, so channel block m of Y equals
  BN(conv(r_j, W_{k_m,o})) in exact arithmetic; one convolution replaces up to three;
* block m of Y is scaled by w_{k_m,o} inside the BatchNorm (its affine factor becomes γ·w, or w when
  it has none) and added into node dst(k_m);
* parameter-free ops (skip, pooling) are computed once per (j, op) and shared, as in the reference;
  w·y is added with one ``addcmul``.

"Active" means what the reference computes: every op but ``none`` whose weight is not exactly 0
(when ``zeros`` is given), or only the ``chosen`` op of each edge. In floating point the fused
result differs from the reference only by the order of the sums inside the convolution (the test
bounds it); the module tree and ``state_dict`` are the reference's, so checkpoints are shared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from diffnas.ops import ReLUConvBN


def _stack(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
    if tensors[0] is None:
        return None
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=0)


def relu_conv_bn(r: torch.Tensor, convs: list[nn.Conv2d], bns: list[nn.BatchNorm2d],
                 scale: torch.Tensor) -> torch.Tensor:
    """s ⊙ BN(conv(r, [W₁; W₂; …])) for convs of one shape applied to the same (already ReLU'd) input.

    ``scale`` holds one factor per conv; it multiplies BN's affine (γ·s, β·s), or stands in for γ
    when BN has none, so the op weight costs no extra pass over the output."""
    conv, bn = convs[0], bns[0]
    weight = _stack([c.weight for c in convs])
    y = F.conv2d(r, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    s = scale.repeat_interleave(conv.out_channels)
    gamma, beta = _stack([b.weight for b in bns]), _stack([b.bias for b in bns])
    return F.batch_norm(y, None, None, s if gamma is None else gamma * s, None if beta is None else beta * s,
                        True, 0.0, bn.eps)


def _add(acc: list[torch.Tensor | None], node: int, term: torch.Tensor) -> None:
    acc[node] = term if acc[node] is None else acc[node] + term


def _add_scaled(acc: list[torch.Tensor | None], node: int, w: torch.Tensor, y: torch.Tensor) -> None:
    """acc[node] += w·y in one pass (addcmul)."""
    acc[node] = w * y if acc[node] is None else torch.addcmul(acc[node], w, y)


def nb201_cell_fused(cell: nn.Module, x: torch.Tensor, weights: torch.Tensor, chosen: list[int] | None,
                     zeros: list[list[bool]] | None) -> torch.Tensor:
    """The fused forward of ``cell`` (an :class:`~diffnas.supernet.NB201Cell`); same result as its reference."""
    edges = cell.space.edges
    n_ops = len(cell.space.ops)
    n_nodes = 1 + max(e.dst for e in edges)
    acc: list[torch.Tensor | None] = [None] * n_nodes
    node = x
    for j in range(n_nodes - 1):
        if j > 0:
            node = acc[j] if acc[j] is not None else x.mul(0.0)
        out_edges = [k for k, e in enumerate(edges) if e.src == j]
        relu = None
        for i in range(n_ops):
            active = []
            for k in out_edges:
                mixed = cell.edges[k]
                if mixed.skip[i]:
                    continue
                if chosen is not None:
                    if chosen[k] == i:
                        active.append(k)
                elif zeros is None or not zeros[k][i]:
                    active.append(k)
            if not active:
                continue
            first = cell.edges[active[0]]
            op = first.ops[i]
            if first.param_free[i]:
                y = op(node)
                for k in active:
                    _add_scaled(acc, edges[k].dst, weights[k, i], y)
            elif isinstance(op, ReLUConvBN):
                if relu is None:
                    relu = F.relu(node)
                y = relu_conv_bn(relu, [cell.edges[k].ops[i][1] for k in active],
                                 [cell.edges[k].ops[i][2] for k in active], weights[active, i])
                for k, part in zip(active, y.split(y.shape[1] // len(active), dim=1)):
                    _add(acc, edges[k].dst, part)
            else:
                for k in active:
                    _add_scaled(acc, edges[k].dst, weights[k, i], cell.edges[k].ops[i](node))
    last = acc[n_nodes - 1]
    return last if last is not None else x.mul(0.0)
