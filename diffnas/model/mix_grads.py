"""Gradients of a node's mixed sum that the fused cell's autograd functions share.

For the D edges m leaving a node, with parameter-free outputs y_p weighted by W[m, p] and the new
destination sums' gradients g_m:

    ∂L/∂y_p = Σ_m W[m, p] · g_m,        ∂L/∂W[m, p] = ⟨g_m, y_p⟩,

and a block of op-weight gradients lands in the (edges × ops) gradient at the edges' rows and the
ops' columns. Every function here is made of PyTorch ops, so its results can be differentiated again
(``create_graph``).
"""

from __future__ import annotations

import torch


def _flat(t: torch.Tensor) -> torch.Tensor | None:
    """A 1-d view of ``t`` in memory order (contiguous or channels_last), or None."""
    if t.is_contiguous():
        return t.view(-1)
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(-1)
    return None


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """⟨a, b⟩ = Σ a ⊙ b in one pass when both lie in memory the same way."""
    if a.dtype != torch.float32 or b.dtype != torch.float32:  # autocast: accumulate in float32
        return (a.float() * b.float()).sum()
    fa, fb = _flat(a), _flat(b)
    if fa is not None and fb is not None and a.stride() == b.stride():
        return torch.dot(fa, fb)
    return (a * b).sum()


def free_op_grads(grads: list[torch.Tensor], w: torch.Tensor,
                  frees: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(∂L/∂y_p for each p, the D × P matrix ⟨g_m, y_p⟩) with ``w`` the D × P op weights."""
    grad_frees, dots = [], []
    for p, y in enumerate(frees):
        t = grads[0] * w[0, p]
        for m in range(1, len(grads)):
            t = t.addcmul_(grads[m], w[m, p])
        grad_frees.append(t)
        dots.append(torch.stack([dot(gm, y) for gm in grads]))
    return grad_frees, (torch.stack(dots, dim=1) if dots else w.new_zeros(len(grads), 0))


def op_weight_grad(weights: torch.Tensor, rows: tuple[int, ...], cols: tuple[int, ...],
                   values: torch.Tensor) -> torch.Tensor:
    """The (edges × ops) gradient: ``values`` (len(rows) × len(cols)) at those rows and columns, 0 elsewhere."""
    grad = weights.new_zeros(weights.shape)
    return grad.index_put((torch.tensor(rows)[:, None], torch.tensor(cols)[None, :]), values.to(weights.dtype))
