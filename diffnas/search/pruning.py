"""Progressive op shrinking (DrNAS, Chen et al., "DrNAS: Dirichlet Neural Architecture Search",
ICLR 2021): after ``prune.epoch`` epochs each edge keeps only its ``prune.keep`` strongest ops, and
the search goes on over those.

The kept ops are a boolean mask M (edges × ops). An op's strength is its α: every sampler's op
weights rise with α within an edge (softmax and Gumbel-softmax through exp(α / T), the Dirichlet
sampler through its concentration elu(α) + 1), so the top-k by α is the
top-k by the op distribution.

Op weights (a training sample, the evaluation weights, the effective distribution) are restricted
to the kept ops in one of two exact ways, chosen by the sampler (``Sampler.restricts_logits``):

* softmax, Gumbel-softmax and the samplers built on them see α̃ = α with the pruned ops at −∞
  (:func:`masked_alpha`): softmax(α̃ / T) is the softmax over the kept logits, and no pruned α, however
  large, can make the kept weights underflow; the one-hot ``gumbel_hard`` draws argmax(α̃ + g), never a
  pruned op, and ``enhanced``'s op dropout keeps only ops with a finite logit;
* the Dirichlet (whose concentration elu(α) + 1 has no value for −∞) is restricted after sampling,

      W̃_eo = W_eo · M_eo / Σ_o' W_eo' · M_eo'     (:func:`masked_weights`)

  which is exact: a draw w ~ Dir(β) restricted to a subset and renormalised is distributed Dir(β_kept)
  (the subcomposition property: w = g / Σg with independent g_o ~ Gamma(β_o)), as is its mean.

The samplers for which one of these holds are ``diffnas.names.PRUNABLE_SAMPLERS`` (every built-in sampler); a
registered sampler outside it is refused at config validation.
α's regularisers see the kept ops only (the run's ``_alpha_loss_terms``): a pruned α gets no
gradient from α's loss.

Decisions (the genotype, the argmax, op shares) take α with the pruned entries at −∞,
:func:`masked_alpha`, so a pruned op is never chosen and softmax(α̃) puts 0 on it.
"""

from __future__ import annotations

import torch


def full_mask(n_edges: int, n_ops: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The mask before any pruning: every op of every edge kept."""
    return torch.ones(n_edges, n_ops, dtype=torch.bool, device=device)


def prune_mask(alpha: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    """M' = the ``keep`` largest α_eo among the ops that ``mask`` keeps, per edge (ties: lower op index).

    An edge that keeps ``keep`` or fewer ops already is left as it is."""
    if keep < 1:
        raise ValueError(f"prune.keep: must be >= 1, got {keep}")
    if alpha.shape != mask.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match alpha {tuple(alpha.shape)}")
    k = min(keep, alpha.shape[-1])
    ranked = masked_alpha(alpha.detach(), mask)
    top = torch.argsort(ranked, dim=-1, descending=True, stable=True)[..., :k]
    new = torch.zeros_like(mask)
    new.scatter_(-1, top, True)
    return new & mask


def masked_alpha(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """α̃ = α where kept, −∞ where pruned: for argmax, the genotype and softmax(α̃)."""
    return alpha.masked_fill(~mask.to(alpha.device), float("-inf"))


def masked_weights(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """W̃ = W·M / Σ_o W·M per edge (module docstring); differentiable in W."""
    kept = weights * mask.to(device=weights.device, dtype=weights.dtype)
    return kept / kept.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(weights.dtype).tiny)
