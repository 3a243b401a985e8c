"""Dominant eigenvalue of the validation-loss Hessian w.r.t. α (RobustDARTS' collapse indicator).

Power iteration on Hessian-vector products computed by double back-propagation:
    g = ∇_α L(α),  H v = ∇_α (g · v),  v ← H v / ||H v||,  λ ≈ v · H v.
The loss is evaluated with the relaxed weights softmax(α / T) for every sampler (a one-hot
argmax has no curvature), with the weights w held fixed. The start vector is drawn from its own
generator, so measuring never perturbs the run's random streams.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def dominant_eigenvalue(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    alpha: torch.Tensor,
    iters: int = 8,
    seed: int = 0,
) -> float:
    """λ_max (largest in magnitude) of ∇²_α loss_fn(α) by ``iters`` power iterations."""
    a = alpha.detach().clone().requires_grad_(True)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(a.shape, generator=gen, dtype=a.dtype).to(a.device)
    v = v / v.norm()
    grad = torch.autograd.grad(loss_fn(a), a, create_graph=True)[0]
    eig = 0.0
    for _ in range(iters):
        hv = torch.autograd.grad(grad, a, grad_outputs=v, retain_graph=True)[0]
        eig = float((hv * v).sum())
        norm = hv.norm()
        if float(norm) == 0.0:
            return 0.0
        v = hv / norm
    return eig
