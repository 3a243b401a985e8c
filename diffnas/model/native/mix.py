"""BatchNorm and mixing of one source node's terms in two compiled passes (``perf.native``).

For the D edges m leaving a node, the fused cell's dense step computes (:class:`diffnas.model.fused.MixInto`)

    acc'_m = acc_m + Σ_j s_{m,j} · x̂_j[block m] + Σ_f W[m, f] · F_f,   x̂_j = (Y_j − μ_j) · rstd_j,

where Y_j is conv op j's raw output for all D edges (channel block m = edge m), μ_j and
rstd_j = 1/√(σ²_j + ε) its per-channel batch mean and biased variance (BatchNorm without affine, in
training), s_{m,j} the op weight of conv op j on edge m and W[m, f] that of parameter-free op f. The
PyTorch path writes x̂ to memory and reads it back; here one pass takes the statistics and a second
writes acc'_m directly: acc'_m = acc_m + Σ_j a_j·(Y_j − μ_j) + Σ_f W[m, f]·F_f with a_j = s·rstd_j.

Backward, with g_m = ∂L/∂acc'_m, P = the number of pixels (N·H·W), per channel k of block m:

    SG[k] = Σ_p g_m,   GX_j[k] = Σ_p g_m · x̂_j = rstd_j · Σ_p g_m·(Y_j − μ_j)
    ∂L/∂Y_j = s·rstd_j · (g_m − SG/P − x̂_j · GX_j/P)        (BatchNorm's backward, scaled by s)
    ∂L/∂s_{m,j} = Σ_{k ∈ block m} GX_j[k],   ∂L/∂W[m, f] = ⟨g_m, F_f⟩,
    ∂L/∂F_f = Σ_m W[m, f] · g_m,             ∂L/∂acc_m = g_m,

one pass for the sums (writing ∂L/∂F_f on the way) and one writing ∂L/∂Y_j. Reductions keep float
partial sums over 64 pixels, added into doubles per thread and combined in thread order, so a step
is deterministic for a given thread count (bit-exact resume holds).

Used for float32 CPU tensors in NHWC (``perf.channels_last``) outside autocast, with BatchNorm
without affine (the NB201 search cell); everything else takes the PyTorch path. Under
``create_graph`` (second derivatives: the Hessian eigenvalue metric) the backward runs the same
formulas in PyTorch ops (:func:`backward_in_torch`), so the gradient it returns can be differentiated
again.
"""

from __future__ import annotations

import torch

from diffnas.model.mix_grads import free_op_grads, op_weight_grad
from diffnas.model.native.build import NHWC, check, dptr, kernels, nhwc, ptr, ptrs


def usable(node: torch.Tensor, has_affine: bool) -> bool:
    """True when the native kernels can take this node's terms (and are built); a tensor with no elements
    takes PyTorch's path (its sums over nothing are exact zeros there)."""
    return (node.device.type == "cpu" and node.dtype == torch.float32 and node.dim() == 4 and node.numel() > 0
            and not has_affine and not torch.is_autocast_enabled("cpu")
            and node.is_contiguous(memory_format=NHWC) and kernels() is not None)


def bn_stats(y: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, rstd) per channel of an NHWC float32 tensor over N·H·W (biased variance)."""
    k = y.shape[1]
    mean, rstd = torch.empty(k, dtype=torch.float32), torch.empty(k, dtype=torch.float32)
    check(kernels().bn_stats(ptr(y), y.numel() // k, k, eps, torch.get_num_threads(), ptr(mean), ptr(rstd)),
           "bn_stats")
    return mean, rstd


def backward_in_torch(weights: torch.Tensor, rows: tuple[int, ...], free_cols: tuple[int, ...],
                      conv_cols: tuple[int, ...], eps: float, ys: list[torch.Tensor], frees: list[torch.Tensor],
                      grads: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """(∂L/∂weights, ∂L/∂Y_j, ∂L/∂F_f) by the module docstring's formulas in PyTorch ops, so that they
    can be differentiated again (what the kernels compute, for ``create_graph``)."""
    d = len(rows)
    w = weights[list(rows)]
    dims = (0, 2, 3)
    grad_frees, dots = free_op_grads(grads, w[:, list(free_cols)], frees)
    stacked = torch.cat(grads, dim=1)
    grad_ys, scales = [], []
    for j, y in enumerate(ys):
        c = y.shape[1] // d
        mean = y.mean(dims, keepdim=True)
        rstd = (y.var(dims, unbiased=False, keepdim=True) + eps).rsqrt()
        xhat = (y - mean) * rstd
        gx = (stacked * xhat).sum(dims)
        s = w[:, conv_cols[j]].repeat_interleave(c).view(1, -1, 1, 1)
        grad_ys.append(s * rstd * (stacked - stacked.mean(dims, keepdim=True) - xhat * (gx / (y.numel() // y.shape[1])).view(1, -1, 1, 1)))
        scales.append(gx.view(d, c).sum(1))
    values = torch.cat([dots, *[sc[:, None].to(dots.dtype) for sc in scales]], dim=1)
    return op_weight_grad(weights, rows, (*free_cols, *conv_cols), values), grad_ys, grad_frees


class NativeMix(torch.autograd.Function):
    """acc'_m for the D edges leaving one node (module docstring). Inputs: the op weights (edges × ops),
    the edge rows, the parameter-free and the conv op columns, which accs are present (absent = 0),
    BatchNorm's ε, then the tensors (present accs, raw conv outputs Y_j, parameter-free outputs F_f).
    Outputs: the D new accs (NHWC)."""

    @staticmethod
    def forward(ctx, weights, rows, free_cols, conv_cols, present, eps, *tensors):  # type: ignore[override]
        n_acc, n_conv = sum(present), len(conv_cols)
        inputs = tensors[n_acc:]  # saved as given: a double backward differentiates through them
        tensors = [nhwc(t) for t in tensors]
        accs = iter(tensors[:n_acc])
        ys, frees = tensors[n_acc:n_acc + n_conv], tensors[n_acc + n_conv:]
        d = len(rows)
        w = weights.detach()[list(rows)].float()
        free_w, scale = w[:, list(free_cols)].contiguous(), w[:, list(conv_cols)].contiguous()
        n, _, h, wd = (frees[0] if frees else ys[0]).shape
        c = frees[0].shape[1] if frees else ys[0].shape[1] // d
        pixels = n * h * wd
        stats = torch.empty(2, max(1, n_conv), d * c, dtype=torch.float32)
        out = [torch.empty((n, c, h, wd), dtype=torch.float32, memory_format=NHWC) for _ in range(d)]
        accs_or_none = [next(accs) if p else None for p in present]
        check(kernels().mix_forward(pixels, c, d, n_conv, len(frees), torch.get_num_threads(), eps,
                                     ptrs(accs_or_none), ptrs(ys), ptr(scale), ptrs(frees), ptr(free_w),
                                     ptrs(out), ptr(stats[0]), ptr(stats[1])), "mix_forward")
        ctx.meta = (rows, free_cols, conv_cols, present, pixels, c, d, eps)
        ctx.save_for_backward(weights, stats, *inputs)
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        rows, free_cols, conv_cols, present, pixels, c, d, eps = ctx.meta
        weights, stats, *saved = ctx.saved_tensors
        n_conv, n_free = len(conv_cols), len(free_cols)
        grad_accs = [gm for gm, p in zip(grads, present) if p]
        if torch.is_grad_enabled():  # create_graph: the same backward in PyTorch ops, keeping the graph
            grad_w, grad_ys, grad_frees = backward_in_torch(weights, rows, free_cols, conv_cols, eps,
                                                            list(saved[:n_conv]), list(saved[n_conv:]), list(grads))
            return (grad_w, None, None, None, None, None, *grad_accs, *grad_ys, *grad_frees)
        ys, frees = [nhwc(t) for t in saved[:n_conv]], [nhwc(t) for t in saved[n_conv:]]
        g = [nhwc(gm) for gm in grads]
        w = weights.detach()[list(rows)].float()
        free_w, scale = w[:, list(free_cols)].contiguous(), w[:, list(conv_cols)].contiguous()
        grad_frees = [torch.empty_like(g[0], dtype=torch.float32, memory_format=NHWC) for _ in range(n_free)]
        grad_ys = [torch.empty_like(y, dtype=torch.float32, memory_format=NHWC) for y in ys]
        grad_scale = torch.empty(d, max(1, n_conv), dtype=torch.float64)
        dots = torch.empty(d, max(1, n_free), dtype=torch.float64)
        check(kernels().mix_backward(pixels, c, d, n_conv, n_free, torch.get_num_threads(), ptrs(g), ptrs(ys),
                                      ptrs(frees), ptr(free_w), ptr(scale), ptr(stats[0]), ptr(stats[1]),
                                      ptrs(grad_frees), ptrs(grad_ys), dptr(grad_scale), dptr(dots)),
               "mix_backward")
        grad_w = None
        if ctx.needs_input_grad[0]:
            values = torch.cat([dots[:, :n_free], grad_scale[:, :n_conv]], dim=1)
            grad_w = op_weight_grad(weights, rows, (*free_cols, *conv_cols), values)
        return (grad_w, None, None, None, None, None, *grad_accs, *grad_ys, *grad_frees)
