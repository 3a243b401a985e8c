"""Convergence metrics as pure functions of α (edges × ops) and gradients.

* probabilities π = softmax(α) — temperature-free, so a falling T alone never looks like convergence;
* entropy per edge H_e = −Σ_o π_eo log π_eo (nats); mean entropy H̄ = (1/E) Σ_e H_e;
* normalised entropy H̄ / log(#ops) ∈ [0, 1] (1 = uniform, 0 = one-hot);
* effective entropy: the same on the sampler's effective distribution at the current T;
* stability(a, b) = (1/E) Σ_e [argmax a_e = argmax b_e];
* op share: (1/E) Σ_e [argmax π_e = op];
* gradient norm: sqrt(Σ ||g||²).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F

from diffnas.search.regularizers import edge_entropy


def op_probs(alpha: torch.Tensor) -> torch.Tensor:
    """π = softmax(α) per edge, temperature-free."""
    return F.softmax(alpha.detach().double(), dim=-1)


def mean_entropy(probs: torch.Tensor) -> float:
    """Mean over edges of the entropy in nats."""
    return float(edge_entropy(probs.double()).mean())


def normalised_entropy(probs: torch.Tensor) -> float:
    """Mean entropy ÷ log(#ops); 0 for a single op."""
    n_ops = probs.shape[-1]
    return mean_entropy(probs) / math.log(n_ops) if n_ops > 1 else 0.0


def stability(previous: torch.Tensor | None, current: torch.Tensor) -> float:
    """Share of edges whose argmax op is unchanged; NaN when there is no previous architecture."""
    if previous is None:
        return float("nan")
    return float((previous == current).double().mean())


def op_share(argmax: torch.Tensor, ops: Sequence[str], op: str) -> float:
    """Share of edges whose argmax is ``op`` (0 when the op is not in the searched set)."""
    if op not in ops:
        return 0.0
    return float((argmax == ops.index(op)).double().mean())


def grad_norm_tensor(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """sqrt(Σ ||g||²) over the parameters' gradients, as a tensor (no host transfer; 0 without gradients)."""
    squares = [p.grad.detach().pow(2).sum() for p in params if p.grad is not None]
    if not squares:
        return torch.zeros(())
    return torch.stack(squares).sum().sqrt()
