"""NB201's 3×3 average pooling (stride 1, padding 1, padding not counted) as one compiled pass each way.

    y[n, h, w] = (1 / |W(h, w)|) · Σ_{(h', w') ∈ W(h, w)} x[n, h', w']
    ∂L/∂x[n, h', w'] = Σ_{(h, w) : (h', w') ∈ W(h, w)} ∂L/∂y[n, h, w] / |W(h, w)|

with W(h, w) the 3×3 window clipped to the image. PyTorch's NHWC ``avg_pool2d`` takes several times
as long as a pass over the same memory for the few channels of a search cell; this is one pass.
Float32 NHWC CPU tensors only (:func:`applies`); the caller keeps the PyTorch op otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from diffnas.model.native.build import NHWC, check, kernels, nhwc, ptr, ptrs
from diffnas.model.native.mix import usable


def applies(op: nn.Module, x: torch.Tensor) -> bool:
    """True when ``op`` is NB201's stride-1 ``avg_pool_3x3`` (no BatchNorm after it) and ``x`` suits the kernel."""
    from diffnas.model.ops import Pool

    pool = getattr(op, "pool", None)
    return (isinstance(op, Pool) and isinstance(op.bn, nn.Identity) and isinstance(pool, nn.AvgPool2d)
            and pool.kernel_size in (3, (3, 3)) and pool.stride in (1, (1, 1)) and pool.padding in (1, (1, 1))
            and not pool.count_include_pad and not pool.ceil_mode and pool.divisor_override is None
            and usable(x, has_affine=False))


def _run(x: torch.Tensor, backward: bool) -> torch.Tensor:
    x = nhwc(x)
    n, c, h, w = x.shape
    out = torch.empty_like(x, memory_format=NHWC)
    check(kernels().avg_pool3x3(n, h, w, c, torch.get_num_threads(), int(backward), ptr(x), ptr(out)),
           "avg_pool3x3")
    return out


class AvgPool3x3(torch.autograd.Function):
    """The pooling above; backward is the same window sum of ∂L/∂y / |W|."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return _run(x, backward=False)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        if torch.is_grad_enabled():  # create_graph: the adjoint in PyTorch ops, with a graph
            return _pool_adjoint(grad)
        return _run(grad, backward=True)


def _torch_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def _pool_adjoint(grad: torch.Tensor) -> torch.Tensor:
    """avg_pool3x3ᵀ(grad) by PyTorch's own backward (differentiable again: it is linear in grad)."""
    probe = torch.zeros_like(grad, requires_grad=True)
    return torch.autograd.grad(_torch_pool(probe), probe, grad, create_graph=True)[0]


class ReluAndPool(torch.autograd.Function):
    """A source node's terms: ``n_relu`` handles on ReLU(x) (one per conv op reading it), avg_pool3x3(x)
    and, with ``identity``, x itself (the skip op), from one pass; backward

        ∂L/∂x = [x > 0]·Σ_r ∂L/∂relu_r + avg_pool3x3ᵀ(∂L/∂pool) + ∂L/∂identity

    in one pass. The ReLU handles are views of one tensor and the identity a view of x, so autograd
    hands each its own gradient instead of adding them up in passes of its own before this backward."""

    @staticmethod
    def forward(ctx, x_in, n_relu=1, identity=False):  # type: ignore[override]
        if n_relu < 1:  # the backward reads the ReLU gradients from the first n_relu outputs
            raise ValueError(f"ReluAndPool: n_relu must be >= 1, got {n_relu}")
        x = nhwc(x_in)
        n, c, h, w = x.shape
        relu, pool = torch.empty_like(x, memory_format=NHWC), torch.empty_like(x, memory_format=NHWC)
        check(kernels().source_forward(n, h, w, c, torch.get_num_threads(), ptr(x), ptr(relu), ptr(pool)),
               "source_forward")
        ctx.save_for_backward(x_in)
        ctx.n_relu = n_relu
        relus = [relu] + [relu.view_as(relu) for _ in range(n_relu - 1)]
        return (*relus, pool, x_in) if identity else (*relus, pool)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        g_relus = [g for g in grads[:ctx.n_relu] if g is not None]
        g_pool = grads[ctx.n_relu]
        g_ident = grads[ctx.n_relu + 1] if len(grads) > ctx.n_relu + 1 else None
        if torch.is_grad_enabled():  # create_graph: PyTorch ops, with a graph
            gx = torch.zeros_like(x)
            if g_relus:
                gx = gx + torch.where(x > 0, sum(g_relus), torch.zeros_like(g_relus[0]))
            if g_pool is not None:
                gx = gx + _pool_adjoint(g_pool)
            if g_ident is not None:
                gx = gx + g_ident
            return gx, None, None
        x = nhwc(x)
        n, c, h, w = x.shape
        gx = torch.empty_like(x, memory_format=NHWC)
        g_relus = [nhwc(g) for g in g_relus]
        g_pool = nhwc(g_pool) if g_pool is not None else None
        g_ident = nhwc(g_ident) if g_ident is not None else None
        check(kernels().source_backward(n, h, w, c, torch.get_num_threads(), ptr(x), len(g_relus), ptrs(g_relus),
                                         ptr(g_pool), ptr(g_ident), ptr(gx)), "source_backward")
        return gx, None, None
