"""Regularisers of α's loss. All operate on the temperature-free distribution π = softmax(α).

* entropy term:   R_H = w_H · (1/E) Σ_e H(π_e),  H(π) = −Σ_o π_o log π_o.
  ``entropy_weight`` w_H > 0 penalises entropy and so *sharpens* the distribution (pushes it
  towards a single op); w_H < 0 rewards entropy and so *encourages exploration*.
* L2 term:        R_2 = w_2 · ||α||²₂
* β-decay term:   R_β = λ_t · (1/E) Σ_e log Σ_o exp(α_eo)  (β-DARTS, Ye et al. 2022), with λ ramped
  linearly over the search, λ_t = w_β · t / T for epoch t of T. Its gradient ∂R_β/∂α_eo = λ_t π_eo / E
  pulls the largest α of each edge down hardest, so α stays small and near-uniform unless α's loss
  keeps pushing one op up: the argmax then reflects a *persistent* preference, not an early runaway
  (β-DARTS's remedy for DARTS's skip collapse and for the discretisation gap).
* Dirichlet KL term (DrNAS, Chen et al. 2021): R_KL = w_KL · Σ_e KL(Dir(β_e) ‖ Dir(1)) with the
  Dirichlet sampler's concentration β_e = elu(α_e) + 1 (at T = 1) and the flat Dirichlet as anchor,
  KL(Dir(a) ‖ Dir(b)) = ln Γ(a₀) − Σ ln Γ(a_o) − ln Γ(b₀) + Σ ln Γ(b_o) + Σ (a_o − b_o)(ψ(a_o) − ψ(a₀)),
  a₀ = Σ a_o. It is 0 at α = 0 and grows as the concentration sharpens or grows, so α cannot run away
  (DrNAS's regulariser; its reg_scale 1e-3, summed over the edges).
* resource term:  R_C = w_C · Σ_e Σ_o π_eo c_eo / Σ_e max_o c_eo — the expected cost of the
  sampled architecture (parameters or FLOPs per op and edge), normalised to [0, 1], for
  multi-objective search.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from diffnas.search.samplers import DirichletSampler


def edge_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H per edge in nats: −Σ_o p log p (0·log 0 := 0)."""
    return -(probs * torch.log(probs.clamp_min(1e-30))).sum(dim=-1)


def entropy_term(alpha: torch.Tensor, weight: float) -> torch.Tensor:
    """w_H · mean_e H(softmax(α_e)). Positive weight sharpens; negative weight explores."""
    return weight * edge_entropy(F.softmax(alpha, dim=-1)).mean()


def l2_term(alpha: torch.Tensor, weight: float) -> torch.Tensor:
    """w_2 · ||α||²."""
    if weight < 0:
        raise ValueError(f"l2_weight: must be >= 0, got {weight}")
    return weight * (alpha**2).sum()


def beta_decay_weight(weight: float, epoch: int, epochs: int) -> float:
    """λ_t = w_β · t / T: the β-decay weight at (0-based) ``epoch`` of ``epochs``, ramped linearly from 0."""
    if weight < 0:
        raise ValueError(f"beta_weight: must be >= 0, got {weight}")
    return weight * epoch / max(1, epochs)


def beta_decay_term(alpha: torch.Tensor, weight: float) -> torch.Tensor:
    """λ · mean_e logsumexp_o(α_eo): β-DARTS's regulariser of α's magnitude (module docstring)."""
    if weight < 0:
        raise ValueError(f"beta_weight: must be >= 0, got {weight}")
    return weight * torch.logsumexp(alpha, dim=-1).mean()


def dirichlet_kl_term(alpha: torch.Tensor, weight: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """w_KL · Σ_e KL(Dir(elu(α_e) + 1) ‖ Dir(1)) (module docstring), in closed form; with ``mask`` (kept ops,
    diffnas.search.pruning) each edge's Dirichlet is over its kept ops only: a = β_kept, b = 1_kept."""
    if weight < 0:
        raise ValueError(f"kl_weight: must be >= 0, got {weight}")
    conc = DirichletSampler.concentration(alpha, 1.0)
    keep = torch.ones_like(conc, dtype=torch.bool) if mask is None else mask.to(conc.device)
    a = torch.where(keep, conc, torch.ones_like(conc))  # a pruned op enters as a_o = b_o = 1: lnΓ(1) = 0, (a − b) = 0
    a0 = (a * keep).sum(-1)
    n = keep.sum(-1).to(conc.dtype)
    kl = (torch.lgamma(a0) - torch.lgamma(n) - (torch.lgamma(a) * keep).sum(-1)
          + ((a - 1) * (torch.digamma(a) - torch.digamma(a0).unsqueeze(-1)) * keep).sum(-1))
    return weight * kl.sum()


def expected_cost(alpha: torch.Tensor, costs: torch.Tensor) -> torch.Tensor:
    """Σ_e Σ_o softmax(α)_eo c_eo / Σ_e max_o c_eo ∈ [0, 1]; ``costs`` is (ops,) or (edges, ops)."""
    if (costs < 0).any():
        raise ValueError("costs: must be >= 0")
    costs = costs.to(alpha.dtype).expand_as(alpha)
    norm = costs.max(dim=-1).values.sum().clamp_min(1e-12)
    return (F.softmax(alpha, dim=-1) * costs).sum() / norm


def resource_term(alpha: torch.Tensor, costs: torch.Tensor, weight: float) -> torch.Tensor:
    """w_C · expected normalised cost."""
    if weight < 0:
        raise ValueError(f"resource_weight: must be >= 0, got {weight}")
    return weight * expected_cost(alpha, costs)
