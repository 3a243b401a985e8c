"""Fused forward of a NAS-Bench-201 cell: the reference sums, computed with fewer and larger kernels.

Reference (:meth:`diffnas.model.supernet.NB201Cell.forward`):

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
* dense weights (no ``chosen``, no ``zeros``: the softmax-style training step): all the terms leaving
  node j are added into their destination nodes by one autograd function (:class:`MixInto`),

      acc'_m = acc_m + Σ_c Y_c[block m] + Σ_p W[m, p] · y_p        (m: the edges j→d_m),

  whose backward computes what the many small ``mul``/``add``/``select`` nodes of the plain autograd
  graph did, in fewer passes: ∂L/∂acc_m = g_m, ∂L/∂Y_c = [g_1; g_2; …] (one concatenation shared
  by every conv op), ∂L/∂y_p = Σ_m W[m, p] g_m, ∂L/∂W[m, p] = ⟨g_m, y_p⟩ (one dot product each).

"Active" means what the reference computes: every op but ``none`` whose weight is not exactly 0
(when ``zeros`` is given), or only the ``chosen`` op of each edge. In floating point the fused
result differs from the reference only by the order of the sums inside the convolution (the test
bounds it); the module tree and ``state_dict`` are the reference's, so checkpoints are shared.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from diffnas.model.mix_grads import free_op_grads, op_weight_grad
from diffnas.model.native import mix as native_mix
from diffnas.model.native import pool as native_pool
from diffnas.model.ops import ReLUConvBN


def _stack(tensors: list[torch.Tensor | None]) -> torch.Tensor | None:
    if tensors[0] is None:
        return None
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=0)


def stacked_conv(r: torch.Tensor, convs: list[nn.Conv2d]) -> torch.Tensor:
    """conv(r, [W₁; W₂; …]): convs of one shape applied to the same input, weights stacked along the outputs."""
    conv = convs[0]
    return F.conv2d(r, _stack([c.weight for c in convs]), None, conv.stride, conv.padding, conv.dilation, conv.groups)


def relu_conv_bn(r: torch.Tensor, convs: list[nn.Conv2d], bns: list[nn.BatchNorm2d],
                 scale: torch.Tensor) -> torch.Tensor:
    """s ⊙ BN(conv(r, [W₁; W₂; …])) for convs of one shape applied to the same (already ReLU'd) input.

    ``scale`` holds one factor per conv; it multiplies BN's affine (γ·s, β·s), or stands in for γ
    when BN has none, so the op weight costs no extra pass over the output."""
    conv, bn = convs[0], bns[0]
    y = stacked_conv(r, convs)
    s = scale.repeat_interleave(conv.out_channels)
    gamma, beta = _stack([b.weight for b in bns]), _stack([b.bias for b in bns])
    return F.batch_norm(y, None, None, s if gamma is None else gamma * s, None if beta is None else beta * s,
                        True, 0.0, bn.eps)


def _add(acc: list[torch.Tensor | None], node: int, term: torch.Tensor) -> None:
    acc[node] = term if acc[node] is None else acc[node] + term


def _add_scaled(acc: list[torch.Tensor | None], node: int, w: torch.Tensor, y: torch.Tensor) -> None:
    """acc[node] += w·y in one pass (addcmul)."""
    acc[node] = w * y if acc[node] is None else torch.addcmul(acc[node], w, y)


class MixInto(torch.autograd.Function):
    """acc'_m = acc_m + Σ_c Y_c[:, block m] + Σ_p W[m, p]·y_p for the D edges m leaving one node.

    Inputs: the op weights (edges × ops), the edge rows and param-free op columns that make W
    (D × P), which accs are present (absent = 0), the number of conv outputs Y_c (D channel blocks
    each) and of param-free outputs y_p, then the tensors (present accs, Y_c, y_p). Outputs: the D
    new accs. Backward: module docstring."""

    @staticmethod
    def forward(ctx, weights, rows, cols, present, n_conv, *tensors):  # type: ignore[override]
        n_acc = sum(present)
        accs = iter(tensors[:n_acc])
        convs = tensors[n_acc:n_acc + n_conv]
        frees = tensors[n_acc + n_conv:]
        w = weights[list(rows)][:, list(cols)]
        d = len(rows)
        out = []
        for m in range(d):
            parts = [y.narrow(1, m * (y.shape[1] // d), y.shape[1] // d) for y in convs]
            acc = next(accs) if present[m] else None
            if acc is not None:
                t = acc + parts[0] if parts else acc.clone()
                rest = parts[1:]
            elif len(parts) >= 2:
                t, rest = parts[0] + parts[1], parts[2:]
            elif parts:
                t, rest = parts[0].clone(), []
            else:
                t, rest = frees[0] * w[m, 0], []
            for part in rest:
                t.add_(part)
            for p, y in enumerate(frees):
                if acc is None and not parts and p == 0:
                    continue
                t.addcmul_(w[m, p], y)
            out.append(t)
        ctx.meta = (rows, cols, present, n_conv)
        ctx.save_for_backward(weights, *frees)
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        weights, *frees = ctx.saved_tensors
        rows, cols, present, n_conv = ctx.meta
        g = list(grads)  # autograd materialises unused outputs' gradients as zeros
        w = weights[list(rows)][:, list(cols)]
        grad_accs = [gm for gm, p in zip(g, present) if p]
        grad_conv = (torch.cat(g, dim=1) if len(g) > 1 else g[0]) if n_conv else None
        grad_frees, dots = free_op_grads(g, w, frees)
        grad_w = op_weight_grad(weights, rows, cols, dots) if ctx.needs_input_grad[0] and frees else None
        return (grad_w, None, None, None, None, *grad_accs, *([grad_conv] * n_conv), *grad_frees)


def _dense_source(cell: nn.Module, node: torch.Tensor, weights: torch.Tensor, out_edges: list[int],
                  acc: list[torch.Tensor | None]) -> bool:
    """Adds every term leaving ``node`` (all ops but ``none`` on every edge ``out_edges``) into ``acc``
    with one :class:`MixInto`, or, where the compiled kernels apply (``cell.native``), with one
    :class:`~diffnas.model.native.mix.NativeMix` on the raw conv outputs (BatchNorm inside it) and the node's
    ReLU and average pool from one :class:`~diffnas.model.native.pool.ReluAndPool`; False (nothing done) when
    an op is neither param-free nor ReLUConvBN."""
    first = cell.edges[out_edges[0]]
    if not all(s or f or isinstance(op, ReLUConvBN) for s, f, op in zip(first.skip, first.param_free, first.ops)):
        return False
    dsts = [cell.space.edges[k].dst for k in out_edges]
    conv_cols = [i for i in range(len(first.ops)) if not first.skip[i] and not first.param_free[i]]
    affine = any(first.ops[i][2].weight is not None for i in conv_cols)
    native = cell.native and native_mix.usable(node, affine)
    convs, frees, cols = [], [], []
    relu, pooled = None, None
    pools = [i for i, op in enumerate(first.ops) if native and first.param_free[i] and native_pool.applies(op, node)]
    relus, identity = [], None
    if pools and conv_cols:  # the node's ReLU (one handle per conv op), its pool and itself in one function
        has_identity = any(isinstance(op, nn.Identity) for op in first.ops)
        outs = native_pool.ReluAndPool.apply(node, len(conv_cols), has_identity)
        relus, pooled = list(outs[:len(conv_cols)]), outs[len(conv_cols)]
        identity = outs[-1] if has_identity else None
    for i, op in enumerate(first.ops):
        if first.skip[i]:
            continue
        if first.param_free[i]:
            if i in pools:
                frees.append(pooled if pooled is not None else native_pool.AvgPool3x3.apply(node))
            elif identity is not None and isinstance(op, nn.Identity):
                frees.append(identity)
            else:
                frees.append(op(node))
            cols.append(i)
            continue
        if relus:
            relu = relus.pop(0)
        elif relu is None:
            relu = F.relu(node)
        stacked = [cell.edges[k].ops[i][1] for k in out_edges]
        if native:
            convs.append(stacked_conv(relu, stacked))
        else:
            convs.append(relu_conv_bn(relu, stacked, [cell.edges[k].ops[i][2] for k in out_edges],
                                      weights[out_edges, i]))
    if not convs and not frees:
        return True
    present = tuple(acc[d] is not None for d in dsts)
    tensors = [*[acc[d] for d in dsts if acc[d] is not None], *convs, *frees]
    if native:
        eps = first.ops[conv_cols[0]][2].eps if conv_cols else 1e-5
        new = native_mix.NativeMix.apply(weights, tuple(out_edges), tuple(cols), tuple(conv_cols), present, eps,
                                         *tensors)
    else:
        new = MixInto.apply(weights, tuple(out_edges), tuple(cols), present, len(convs), *tensors)
    for d, t in zip(dsts, new):
        acc[d] = t
    return True


def nb201_cell_fused(cell: nn.Module, x: torch.Tensor, weights: torch.Tensor, chosen: list[int] | None,
                     zeros: list[list[bool]] | None) -> torch.Tensor:
    """The fused forward of ``cell`` (an :class:`~diffnas.model.supernet.NB201Cell`); same result as its reference."""
    edges = cell.space.edges
    n_ops = len(cell.space.ops)
    n_nodes = 1 + max(e.dst for e in edges)
    acc: list[torch.Tensor | None] = [None] * n_nodes
    node = x
    for j in range(n_nodes - 1):
        if j > 0:
            node = acc[j] if acc[j] is not None else x.mul(0.0)
        out_edges = [k for k, e in enumerate(edges) if e.src == j]
        if chosen is None and zeros is None and out_edges and _dense_source(cell, node, weights, out_edges, acc):
            continue
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
