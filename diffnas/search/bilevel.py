"""Bilevel optimisation of α: first order, and DARTS' second-order (unrolled) hypergradient.

Weights w are trained on the weight split with SGD (momentum μ, weight decay λ, learning rate η);
α on the α split. ``first`` order uses ∇_α L_val(w, α). ``second`` order uses one virtual SGD step

    w' = w − ξ (μ·b + ∇_w L_train(w, α) + λ w)          (b = the optimiser's momentum buffer, ξ = η)

and the hypergradient

    ∇_α L_val(w', α) − ξ ∇²_{α,w} L_train(w, α) · ∇_{w'} L_val(w', α),

whose Hessian-vector product is the central finite difference

    ∇²_{α,w} L_train · v ≈ (∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)) / (2ε),   w± = w ± ε v,  ε = 0.01/||v||.

The losses are passed as closures that read the current parameter values, so the same code serves
the supernet and the tiny test models. Parameters are restored exactly after the virtual step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

LossFn = Callable[[], torch.Tensor]


def _grads(loss: torch.Tensor, tensors: Sequence[torch.Tensor], retain: bool = False) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(tensors), retain_graph=retain, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]


def virtual_step(
    params: Sequence[torch.Tensor],
    train_grads: Sequence[torch.Tensor],
    xi: float,
    momentum: float,
    weight_decay: float,
    momentum_buffers: Sequence[torch.Tensor | None],
) -> list[torch.Tensor]:
    """w' = w − ξ (μ·b + g + λ w) for each parameter (b = 0 where the buffer does not exist yet)."""
    out = []
    for w, g, b in zip(params, train_grads, momentum_buffers):
        step = g + weight_decay * w
        if b is not None:
            step = step + momentum * b
        out.append(w - xi * step)
    return out


def unrolled_alpha_grad(
    params: Sequence[torch.Tensor],
    alpha: torch.Tensor,
    train_loss: LossFn,
    val_loss: LossFn,
    *,
    xi: float,
    momentum: float,
    weight_decay: float,
    momentum_buffers: Sequence[torch.Tensor | None],
    eps: float = 0.01,
) -> tuple[torch.Tensor, float]:
    """DARTS' second-order hypergradient w.r.t. α and the validation loss at w'.

    The closures must compute their loss from the *current* values of ``params`` and ``alpha``
    (their graphs may share a sampler output computed once; they are kept with retain_graph)."""
    params = list(params)
    saved = [p.detach().clone() for p in params]
    g_train = _grads(train_loss(), params, retain=True)
    w_prime = virtual_step(saved, [g.detach() for g in g_train], xi, momentum, weight_decay, momentum_buffers)
    try:
        with torch.no_grad():
            for p, v in zip(params, w_prime):
                p.copy_(v)
        loss_val = val_loss()
        grads = _grads(loss_val, [alpha, *params], retain=True)
        d_alpha, d_w = grads[0], grads[1:]
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in d_w))
        r = eps / float(norm) if float(norm) > 0 else 0.0
        with torch.no_grad():
            for p, w0, v in zip(params, saved, d_w):
                p.copy_(w0 + r * v)
        g_plus = _grads(train_loss(), [alpha], retain=True)[0]
        with torch.no_grad():
            for p, w0, v in zip(params, saved, d_w):
                p.copy_(w0 - r * v)
        g_minus = _grads(train_loss(), [alpha], retain=True)[0]
    finally:
        with torch.no_grad():
            for p, w0 in zip(params, saved):
                p.copy_(w0)
    if r == 0.0:
        return d_alpha.detach(), float(loss_val.detach())
    hessian_vector = (g_plus - g_minus) / (2 * r)
    return (d_alpha - xi * hessian_vector).detach(), float(loss_val.detach())


def momentum_buffers(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    """The SGD momentum buffer of each parameter (None before the first step)."""
    return [optimizer.state.get(p, {}).get("momentum_buffer") for p in params]
