"""Two per-epoch diagnostics of α's gradient (the source material's theory section): dilution and estimator noise.

For one epoch, let g_b ∈ R^{E×O} be the gradient of α's loss (validation loss + regularisers, the
hypergradient under second order) at α-step b = 1..B, taken **before clipping**, and a_{b,e} the
argmax op of edge e under α at that step.

* **Gradient dilution** (share of the gradient on the current choice):

      d_b = (1/E') Σ_e |g_b[e, a_{b,e}]| / Σ_o |g_b[e, o]|          (edges with Σ_o |g_b[e,o]| = 0 skipped,
                                                                     E' = the edges kept)
      grad_dilution = (1/B') Σ_b d_b                                  (steps with E' = 0 skipped)

  With O ops and a gradient spread evenly, d = 1/O; d → 1 when all of the signal is on the op an
  edge currently picks, d → 0 when it lands on the ops the edge does not pick (the signal is
  "diluted" across the alternatives). NaN when no α step ran (warm-up) or every gradient was 0.

* **α-gradient estimator noise** (noise-to-signal ratio of the mini-batch gradient):

      ḡ = (1/B) Σ_b g_b,   V = (1/(B−1)) Σ_b (g_b − ḡ)²   (entry-wise, unbiased sample variance)
      alpha_grad_noise = ‖V‖₁ / ‖ḡ‖₂² = Σ_{e,o} V[e,o] / Σ_{e,o} ḡ[e,o]²

  i.e. the trace of the gradient covariance over the squared norm of the mean gradient (the
  "simple noise scale" of McCandlish et al., 2018): ≈ 0 when every batch agrees, ≫ 1 when the
  mean is small next to the batch-to-batch spread. Using the totals rather than a mean of
  entry-wise ratios keeps entries whose mean is near zero from dominating. NaN with fewer than two
  steps or a zero mean gradient.

Pure functions on tensors plus :class:`AlphaGradLog`, which collects one epoch's steps.
"""

from __future__ import annotations

import math

import torch


def step_dilution(grad: torch.Tensor, argmax: torch.Tensor) -> float:
    """d_b for one step: ``grad`` (E × O), ``argmax`` (E,) the chosen op per edge."""
    g = grad.detach().abs().double()
    total = g.sum(dim=-1)
    on_choice = g.gather(-1, argmax.long().view(-1, 1).to(g.device)).squeeze(-1)
    keep = total > 0
    if not bool(keep.any()):
        return math.nan
    return float((on_choice[keep] / total[keep]).mean())


def gradient_dilution(grads: torch.Tensor, argmaxes: torch.Tensor) -> float:
    """Mean over steps of :func:`step_dilution`: ``grads`` (B × E × O), ``argmaxes`` (B × E)."""
    values = [step_dilution(g, a) for g, a in zip(grads, argmaxes)]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def gradient_noise(grads: torch.Tensor) -> float:
    """‖Var_b g_b‖₁ / ‖mean_b g_b‖₂² over the B steps of ``grads`` (B × E × O); unbiased variance."""
    if grads.shape[0] < 2:
        return math.nan
    g = grads.detach().double().reshape(grads.shape[0], -1)
    mean = g.mean(dim=0)
    signal = float((mean * mean).sum())
    if not signal > 0 or not math.isfinite(signal):
        return math.nan
    return float(g.var(dim=0, unbiased=True).sum()) / signal


class AlphaGradLog:
    """One epoch's α gradients (before clipping) and the argmax op per edge at each step."""

    def __init__(self) -> None:
        self.grads: list[torch.Tensor] = []
        self.argmaxes: list[torch.Tensor] = []

    def add(self, grad: torch.Tensor | None, alpha: torch.Tensor) -> None:
        if grad is None:
            return
        # kept on α's device (no host sync per step); moved once per epoch in summary()
        self.grads.append(grad.detach().clone())
        self.argmaxes.append(alpha.detach().argmax(dim=-1))

    def summary(self) -> dict[str, float]:
        """``grad_dilution`` and ``alpha_grad_noise`` of the collected steps (NaN when none)."""
        if not self.grads:
            return {"grad_dilution": math.nan, "alpha_grad_noise": math.nan}
        grads = torch.stack(self.grads).to("cpu", torch.float64)
        argmaxes = torch.stack(self.argmaxes).cpu()
        return {"grad_dilution": gradient_dilution(grads, argmaxes), "alpha_grad_noise": gradient_noise(grads)}
