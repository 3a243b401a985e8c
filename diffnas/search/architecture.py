"""The architecture state of a search: α, the op mask after shrinking, the sampler and DARTS-'s auxiliary skip.

α is a matrix of logits, edges × ops. Progressive shrinking (:mod:`diffnas.search.pruning`) may keep only
some ops per edge: the mask M (edges × ops, bool) marks them, and from then on

- decisions and the temperature-free distribution read α with the dropped ops at −∞ (:meth:`masked`);
- a sampler that restricts through its logits (softmax, Gumbel) samples from the masked α, one that does not
  (the Dirichlet) has its weights restricted after: W·M / Σ W·M (:meth:`restrict`);
- a training step's weights carry DARTS-'s auxiliary skip, β(e)·1[skip] added to the skip column with
  β(e) = b0·(1 − e / E) (:mod:`diffnas.search.aux_skip`).

One object holds all of it, so the run loop reads as the algorithm: ``arch.train_sample(...)``,
``arch.eval_weights(T)``, ``arch.prune(keep)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from diffnas.model.spaces import SearchSpace
from diffnas.search.aux_skip import aux_skip_weight, with_aux_skip
from diffnas.search.pruning import full_mask, masked_alpha, masked_weights, prune_mask
from diffnas.search.samplers import OpWeights, Sampler


class Architecture:
    """α (a parameter, edges × ops), its op mask, the sampler with its random stream, the auxiliary skip."""

    def __init__(self, space: SearchSpace, sampler: Sampler, alpha0: torch.Tensor, generator: torch.Generator,
                 aux_skip: float = 0.0) -> None:
        self.space = space
        self.sampler = sampler
        self.generator = generator
        self.aux_skip = aux_skip
        self.alpha = torch.nn.Parameter(alpha0)
        self.op_mask = full_mask(space.n_edges, space.n_ops, alpha0.device)
        self.pruned = False

    def masked(self, alpha: torch.Tensor) -> torch.Tensor:
        """``alpha`` with the pruned ops at −∞; as it is before any pruning."""
        return masked_alpha(alpha, self.op_mask) if self.pruned else alpha

    def kept(self, alpha: torch.Tensor) -> torch.Tensor:
        """``alpha`` with the pruned ops at 0 (the L2 term's view: dropped ops cost nothing)."""
        return alpha * self.op_mask if self.pruned else alpha

    def _sampling_alpha(self, alpha: torch.Tensor) -> torch.Tensor:
        """α as the sampler sees it: masked where the sampler restricts through its logits."""
        return self.masked(alpha) if self.sampler.restricts_logits else alpha

    def _restrict_weights(self, weights: torch.Tensor) -> torch.Tensor:
        if self.pruned and not self.sampler.restricts_logits:
            return masked_weights(weights, self.op_mask)
        return weights

    def restrict(self, sample: OpWeights) -> OpWeights:
        """``sample`` restricted to the kept ops, W·M / Σ W·M, where the sampler does not restrict through its
        logits (the Dirichlet's subcomposition); as it is otherwise."""
        return replace(sample, weights=self._restrict_weights(sample.weights))

    def eval_weights(self, temperature: float) -> OpWeights:
        """The op weights the supernet is evaluated with at ``temperature`` (``val_acc``): the sampler's
        evaluation weights of α, restricted to the kept ops."""
        return self.restrict(self.sampler.eval_weights(self._sampling_alpha(self.alpha.detach()), temperature))

    def effective_probs(self, temperature: float) -> torch.Tensor:
        """The sampler's effective op distribution at ``temperature`` on the kept ops (``entropy_eff``)."""
        return self._restrict_weights(self.sampler.effective_probs(self._sampling_alpha(self.alpha), temperature))

    def train_sample(self, alpha: torch.Tensor, temperature: float, epoch: int, epochs: int) -> OpWeights:
        """A training step's op weights: the sampler's draw on the kept ops, plus the auxiliary skip's
        β(epoch) = b0·(1 − epoch / epochs) on the skip column."""
        sample = self.restrict(self.sampler.sample(self._sampling_alpha(alpha), temperature, self.generator))
        beta = aux_skip_weight(self.aux_skip, epoch, epochs)
        if beta > 0:
            skip = self.space.ops.index("skip_connect")
            sample = replace(sample, weights=with_aux_skip(sample.weights, skip, beta))
        return sample

    def prune(self, keep: int) -> None:
        """DrNAS's progressive shrinking: each edge keeps its ``keep`` strongest ops (once)."""
        self.op_mask = prune_mask(self.alpha, self.op_mask, keep)
        self.pruned = True

    def state_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha.detach().clone(), "op_mask": self.op_mask.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """α and the mask from a checkpoint; a state written before pruning existed has no mask (nothing pruned)."""
        with torch.no_grad():
            self.alpha.copy_(state["alpha"].to(self.alpha.device))
        mask = state.get("op_mask")
        device = self.alpha.device
        self.op_mask = full_mask(self.space.n_edges, self.space.n_ops, device) if mask is None else mask.to(device)
        self.pruned = not bool(self.op_mask.all())  # pruning always drops ops (prune.keep < the ops searched)
