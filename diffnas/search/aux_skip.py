"""DARTS-'s auxiliary skip connection (Chu et al., "DARTS-: Robustly Stepping out of Performance
Collapse Without Indicators", ICLR 2021).

During the search every edge e also carries its input x with a weight β_t outside the architecture
weights,

    ō_e(x) = β_t · x + Σ_o w_eo · o(x),        β_t = β_0 · (1 − t / T)

(t the 0-based epoch, T the epochs): β decays linearly from β_0 to β_0 / T in the last epoch and is
0 after the search, so the cell that is handed back has no auxiliary path. The residual path gives
the supernet the easy gradient flow that otherwise only ``skip_connect`` offers, so α no longer
favours the skip for that reason alone (the skip-connection collapse of DARTS).

The space's ``skip_connect`` op is that identity x (on an NB201 edge; on a DARTS reduction edge the
factorised reduction), and it is computed once per source node already, so the auxiliary path is
the op weights with β_t added to the skip column, W' = W + β_t · 1_skip: no op runs twice, and
∂L/∂W is unchanged, so α's gradient keeps its form. Evaluation and the discretised cell use W.
"""

from __future__ import annotations

import torch


def aux_skip_weight(beta0: float, epoch: int, epochs: int) -> float:
    """β_t = β_0 · (1 − t / T) at the 0-based ``epoch`` of ``epochs``."""
    if beta0 < 0:
        raise ValueError(f"aux_skip: must be >= 0, got {beta0}")
    return beta0 * (1.0 - epoch / max(1, epochs))


def with_aux_skip(weights: torch.Tensor, skip_index: int, beta: float) -> torch.Tensor:
    """W' = W + β · 1_skip: ``weights`` (edges × ops) with β added to column ``skip_index``."""
    if beta == 0:
        return weights
    bump = torch.zeros(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    bump[skip_index] = beta
    return weights + bump
