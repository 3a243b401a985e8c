"""Samplers: map architecture parameters α (edges × ops) and a temperature T to op weights.

A sampler does nothing else: no schedules, no losses. Each has

* ``sample(alpha, T, generator)`` – the training-time weights (differentiable w.r.t. α);
* ``eval_weights(alpha, T)`` – deterministic weights for evaluation;
* ``effective_probs(alpha, T)`` – the distribution the sampler effectively uses at T, whose
  entropy is the ``entropy_eff`` metric.

Formulas (row-wise over the ops of each edge, g_i = −log(−log u_i), u_i ~ U(0, 1)):

* ``softmax`` (DARTS):            w = softmax(α / T)
* ``gumbel`` (SNAS-like):         w = softmax((α + g) / T)
* ``gumbel_hard`` (GDAS-like):    y = softmax((α + g) / T), k = argmax(α + g),
  forward w = one_hot(k), backward ∂w/∂α = ∂y/∂α (straight-through: w = one_hot − sg(y) + y).
  P(k = i) = softmax(α)_i, independent of T. Only op k is computed on each edge. How the edge uses
  w is option ``hard_forward`` (config ``sampler_options.hard_forward``; see :mod:`diffnas.model.supernet`):
  ``chosen`` (default, AutoDL's ``forward_gdas_v1``) out = w_k·op_k(x), so α's gradient is
  Jᵀ(⟨G, op_k(x)⟩·e_k); ``all`` (AutoDL's ``forward_gdas``, NASLib) out = w_k·op_k(x) + Σ_{j≠k} w_j,
  so every unselected w_j (0 in value) also carries ΣG and α's gradient is
  Jᵀ(⟨G, op_k(x)⟩·e_k + ΣG·(1 − e_k)); G = ∂L/∂out, J = ∂y/∂α = (diag(y) − y yᵀ)/T.
* ``dirichlet`` (DrNAS-like):     β = (elu(α) + 1) / T (positive concentrations), w ~ Dir(β) drawn
  with the implicit reparameterisation gradient (``torch.distributions.Dirichlet.rsample``); the
  mean β/Σβ = (elu(α) + 1)/Σ(elu(α) + 1) is temperature-free, and a falling T raises the
  concentration, so the samples tighten around it (annealed exploration).
* ``enhanced``:                    α̃ = α + σ·ε, ε ~ N(0, 1); each op is dropped with probability p
  (at least one op per edge is kept) and the kept ops renormalised; w = softmax((α̃ + g) / T) over
  the kept ops (dropped logits set to −∞).

Eval mode: softmax(α / T) for the soft samplers; the argmax one-hot for ``gumbel_hard``; the
Dirichlet mean for ``dirichlet``. Effective distribution: softmax(α / T) for the soft samplers;
softmax(α) (the law of the choice) for ``gumbel_hard``; the Dirichlet mean for ``dirichlet``.

Random numbers come only from the ``torch.Generator`` the caller passes, so a run is reproducible
and resumable from the generator's state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from diffnas.registry import Registry

_EPS = 1e-10


def check_temperature(temperature: float) -> float:
    """T must be a finite number > 0."""
    t = float(temperature)
    if not t > 0 or t != t or t == float("inf"):
        raise ValueError(f"temperature: must be a finite number > 0, got {temperature!r}")
    return t


def gumbel_noise(shape: torch.Size, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """g = −log(−log u), u ~ U(0, 1), drawn from ``generator`` on ``like``'s device and dtype."""
    u = torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
    neg_log_u = (-torch.log(u.clamp_min(_EPS))).clamp_min(_EPS)
    return -torch.log(neg_log_u)


@dataclass
class OpWeights:
    """Weights per edge and op; ``chosen`` (edges,) is set when only one op per edge must run, and
    ``hard_forward`` names how an edge combines the weights with that op (:mod:`diffnas.model.supernet`)."""

    weights: torch.Tensor
    chosen: torch.Tensor | None = None
    hard_forward: str = "chosen"


class Sampler(ABC):
    """Base class. Subclasses register with ``@SAMPLERS.register(name)``."""

    name: ClassVar[str] = ""
    # Whether op weights restricted to a subset of ops (diffnas.search.pruning) come from α with the other ops at −∞
    # (softmax-style samplers); if not, the weights are restricted after sampling, W·M / Σ W·M.
    restricts_logits: ClassVar[bool] = True

    @abstractmethod
    def sample(self, alpha: torch.Tensor, temperature: float, generator: torch.Generator | None) -> OpWeights:
        """Training-time op weights."""

    def eval_weights(self, alpha: torch.Tensor, temperature: float) -> OpWeights:
        """Deterministic weights: softmax(α / T)."""
        return OpWeights(F.softmax(alpha / check_temperature(temperature), dim=-1))

    def effective_probs(self, alpha: torch.Tensor, temperature: float) -> torch.Tensor:
        """The distribution over ops the sampler uses at T (for ``entropy_eff``)."""
        return F.softmax(alpha.detach() / check_temperature(temperature), dim=-1)

    def _need_generator(self, generator: torch.Generator | None) -> torch.Generator:
        if generator is None:
            raise ValueError(f"generator: sampler {self.name!r} is stochastic and needs a torch.Generator")
        return generator


SAMPLERS: Registry[type[Sampler]] = Registry("sampler")


@SAMPLERS.register("softmax")
class SoftmaxSampler(Sampler):
    """DARTS: w = softmax(α / T)."""

    name = "softmax"

    def sample(self, alpha, temperature, generator=None):
        return self.eval_weights(alpha, temperature)


@SAMPLERS.register("gumbel")
class GumbelSampler(Sampler):
    """SNAS-like soft Gumbel-softmax: w = softmax((α + g) / T)."""

    name = "gumbel"

    def perturb(self, alpha: torch.Tensor, temperature: float, generator: torch.Generator | None):
        """(softmax((α + g) / T), α + g) with g drawn from ``generator``."""
        t = check_temperature(temperature)
        perturbed = alpha + gumbel_noise(alpha.shape, self._need_generator(generator), alpha)
        return F.softmax(perturbed / t, dim=-1), perturbed

    def sample(self, alpha, temperature, generator):
        return OpWeights(self.perturb(alpha, temperature, generator)[0])


@SAMPLERS.register("gumbel_hard")
class GumbelHardSampler(GumbelSampler):
    """GDAS-like straight-through Gumbel: forward one-hot of argmax(α + g), backward soft sample's gradient.

    ``hard_forward``: ``chosen`` (AutoDL's ``forward_gdas_v1``, the default) or ``all`` (AutoDL's
    ``forward_gdas``, NASLib); the formulas are in the module docstring."""

    name = "gumbel_hard"

    def __init__(self, hard_forward: str = "chosen") -> None:
        from diffnas.names import names

        if hard_forward not in names("sampler_options.hard_forward"):
            raise ValueError(f"hard_forward: unknown {hard_forward!r}; allowed: "
                             f"{', '.join(names('sampler_options.hard_forward'))}")
        self.hard_forward = hard_forward

    def sample(self, alpha, temperature, generator):
        soft, perturbed = self.perturb(alpha, temperature, generator)
        index = perturbed.argmax(dim=-1)
        hard = F.one_hot(index, alpha.shape[-1]).to(alpha.dtype)
        return OpWeights(hard - soft.detach() + soft, chosen=index, hard_forward=self.hard_forward)

    def eval_weights(self, alpha, temperature):
        check_temperature(temperature)
        index = alpha.argmax(dim=-1)
        return OpWeights(F.one_hot(index, alpha.shape[-1]).to(alpha.dtype), chosen=index)

    def effective_probs(self, alpha, temperature):
        check_temperature(temperature)
        return F.softmax(alpha.detach(), dim=-1)


@SAMPLERS.register("enhanced")
class EnhancedSampler(Sampler):
    """Gaussian noise σ on α and op dropout p (renormalised) before a Gumbel-softmax."""

    name = "enhanced"

    def __init__(self, noise_std: float = 0.1, dropout: float = 0.1) -> None:
        if not noise_std >= 0:
            raise ValueError(f"noise_std: must be >= 0, got {noise_std!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout: must be in [0, 1), got {dropout!r}")
        self.noise_std = float(noise_std)
        self.dropout = float(dropout)

    def sample(self, alpha, temperature, generator):
        t = check_temperature(temperature)
        gen = self._need_generator(generator)
        eps = torch.randn(alpha.shape, generator=gen, device=alpha.device, dtype=alpha.dtype)
        logits = alpha + self.noise_std * eps
        if self.dropout > 0:
            # only ops with a finite logit can be kept: after shrinking the pruned ops are at −∞ (never chosen)
            keep = (torch.rand(alpha.shape, generator=gen, device=alpha.device) >= self.dropout) & logits.isfinite()
            # an edge that lost every (kept) op keeps its noisy argmax
            empty = ~keep.any(dim=-1)
            if empty.any():
                rescue = F.one_hot(logits.detach().argmax(dim=-1), alpha.shape[-1]).bool()
                keep = keep | (rescue & empty.unsqueeze(-1))
            logits = logits.masked_fill(~keep, float("-inf"))
        g = gumbel_noise(alpha.shape, gen, alpha)
        return OpWeights(F.softmax((logits + g) / t, dim=-1))


@SAMPLERS.register("dirichlet")
class DirichletSampler(Sampler):
    """DrNAS-like: w ~ Dir((elu(α) + 1) / T), reparameterised; eval and effective: the mean."""

    name = "dirichlet"
    restricts_logits = False  # elu(−∞) + 1 = 0 is no concentration: restricted after sampling (subcomposition)

    @staticmethod
    def concentration(alpha: torch.Tensor, temperature: float) -> torch.Tensor:
        """β = (elu(α) + 1) / T, > 0 everywhere."""
        return (F.elu(alpha) + 1.0).clamp_min(_EPS) / check_temperature(temperature)

    @staticmethod
    def mean(alpha: torch.Tensor) -> torch.Tensor:
        """E[w] = (elu(α) + 1) / Σ_o (elu(α) + 1), independent of T."""
        beta = (F.elu(alpha) + 1.0).clamp_min(_EPS)
        return beta / beta.sum(dim=-1, keepdim=True)

    def sample(self, alpha, temperature, generator):
        gen = self._need_generator(generator)
        beta = self.concentration(alpha, temperature)
        # torch's Dirichlet draws from the global stream: seed a forked stream from ``generator``
        # so that the run stays reproducible and resumable from the generator's state.
        seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
        devices = [alpha.device] if alpha.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            w = torch.distributions.Dirichlet(beta).rsample()
        return OpWeights(w)

    def eval_weights(self, alpha, temperature):
        check_temperature(temperature)
        return OpWeights(self.mean(alpha))

    def effective_probs(self, alpha, temperature):
        check_temperature(temperature)
        return self.mean(alpha.detach())


SAMPLERS.check_builtins()  # every name diffnas.names lists is implemented

def build_sampler(name: str, **options: Any) -> Sampler:
    """Instantiate a registered sampler; options that its constructor does not take are ignored."""
    import inspect

    cls = SAMPLERS.get(name)
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted}
    return cls(**kwargs)
