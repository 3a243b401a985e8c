"""Zero-cost proxies: score a discretised cell from one mini-batch, without training it.

Each proxy takes a network (the discretised cell built into the supernet skeleton, freshly
initialised — :func:`cell_network`), its one-hot op weights and chosen ops, and one batch ``x``
(``y`` where needed); it returns one float, higher = predicted better.

* ``naswot`` (Mellor et al., "Neural Architecture Search without Training", ICML 2021): every ReLU
  unit u gives input n the binary code c_n,u = [pre-activation > 0]. With U units in all,
  K_H[n, m] = U − Hamming(c_n, c_m) = c_n·c_m + (1 − c_n)·(1 − c_m); score = log det(K_H + I).
  The paper's score is log |det K_H|; K_H is positive semi-definite with entries of order U ≫ 1, so
  the +I changes it little where K_H is regular and keeps the score finite where K_H is singular
  (a cell whose input never reaches its output gives a rank-1 K_H), so means and CIs stay defined.
* ``synflow`` (Tanaka et al. 2020; as a NAS proxy Abdelfattah et al., "Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021): every parameter replaced by |θ|, BatchNorm bypassed, input one
  all-ones example (float64); R = Σ output; score = log(1 + Σ_θ |θ ⊙ ∂R/∂θ|) (the log keeps the
  exponentially large sum comparable; 0 for a cell whose input never reaches its output).
* ``jacob_cov`` (Mellor et al. 2021, v1): J = ∂(Σ_k logits_k)/∂x per input, flattened to rows;
  Σ_J its correlation matrix with eigenvalues λ; score = −Σ_i [log(λ_i + k) + 1/(λ_i + k)],
  k = 1e-5 (a Jacobian row that is all zero gives a zero row and column of Σ_J).
* ``params``: parameter count of the discretised network (a cost, not a quality signal: the
  baseline any proxy must beat).

Proxies register by name in :data:`PROXIES`. :func:`cell_score` builds the network from a genotype
with a fixed initialisation seed, so a genotype's score is a pure function of (genotype, batch,
seed, network sizes) — a search run caches it per genotype.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from diffnas.model.spaces import SearchSpace, choice_from_genotype
from diffnas.model.supernet import Supernet
from diffnas.registry import Registry

Proxy = Callable[[Supernet, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], float]
PROXIES: Registry[Proxy] = Registry("metrics.proxy")


def cell_network(space: SearchSpace, in_channels: int, num_classes: int, channels: int, cells_per_stage: int,
                 stages: int, seed: int) -> Supernet:
    """A freshly initialised supernet skeleton (``torch.manual_seed`` state is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Supernet(space, in_channels, num_classes, channels, cells_per_stage, stages)


def _binary_kernel(codes: torch.Tensor) -> torch.Tensor:
    """K[n, m] = c_n·c_m + (1 − c_n)·(1 − c_m) for codes (N, U) in {0, 1}."""
    c = codes.double()
    return c @ c.T + (1.0 - c) @ (1.0 - c).T


@PROXIES.register("naswot")
@torch.no_grad()
def naswot(net: Supernet, weights: torch.Tensor, chosen: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        kernel.add_(_binary_kernel(inputs[0].reshape(n, -1) > 0))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        net(x, weights, chosen)
    finally:
        for h in handles:
            h.remove()
    kernel += torch.eye(n, dtype=kernel.dtype, device=kernel.device)
    return float(torch.linalg.slogdet(kernel)[1])


@PROXIES.register("synflow")
def synflow(net: Supernet, weights: torch.Tensor, chosen: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    net = net.double()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [m.forward for m in bns]
    try:
        for m in bns:
            m.forward = lambda t: t  # BatchNorm bypassed: synflow is defined on the linearised net
        with torch.no_grad():
            signs = {name: p.sign() for name, p in net.named_parameters()}
            for p in net.parameters():
                p.abs_()
        net.zero_grad(set_to_none=True)
        ones = torch.ones(1, *x.shape[1:], dtype=torch.float64, device=x.device)
        net(ones, weights.double(), chosen).sum().backward()
        total = sum(float((p.detach() * p.grad).abs().sum()) for p in net.parameters() if p.grad is not None)
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.mul_(signs[name])
    finally:
        for m, fwd in zip(bns, saved):
            m.forward = fwd
        net.zero_grad(set_to_none=True)
        net.float()
    return math.log1p(total)


@PROXIES.register("jacob_cov")
def jacob_cov(net: Supernet, weights: torch.Tensor, chosen: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    xg = x.clone().requires_grad_(True)
    net.zero_grad(set_to_none=True)
    net(xg, weights, chosen).sum().backward()
    jac = xg.grad.reshape(x.shape[0], -1).double()
    net.zero_grad(set_to_none=True)
    corr = torch.corrcoef(jac)
    corr = torch.nan_to_num(corr, nan=0.0)
    eig = torch.linalg.eigvalsh(corr).clamp_min(0.0)
    k = 1e-5
    return float(-(torch.log(eig + k) + 1.0 / (eig + k)).sum())


@PROXIES.register("params")
def params(net: Supernet, weights: torch.Tensor, chosen: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(net.genotype_params(chosen))


PROXIES.check_builtins()  # every proxy diffnas.names lists is implemented


def score(name: str, net: Supernet, weights: torch.Tensor, chosen: torch.Tensor, x: torch.Tensor,
          y: torch.Tensor) -> float:
    """The proxy ``name`` of the discretised network (``net`` in train mode, batch statistics)."""
    net.train()
    return PROXIES.get(name)(net, weights.to(x.device), chosen, x, y)


def cell_score(name: str, space: SearchSpace, genotype: str, x: torch.Tensor, y: torch.Tensor, *,
               num_classes: int, channels: int, cells_per_stage: int, stages: int, seed: int = 0) -> float:
    """Proxy ``name`` of ``genotype`` on a network freshly initialised from ``seed``, batch ``x``."""
    chosen = choice_from_genotype(space, genotype)
    net = cell_network(space, x.shape[1], num_classes, channels, cells_per_stage, stages, seed).to(x.device)
    return score(name, net, space.one_hot(chosen), chosen, x, y)


def seed0_data(config: Any) -> Any:
    """The data a seed-0 run of ``config``'s data settings loads (the proxies' batch comes from it)."""
    from diffnas.data.cache import load_dataset_cached

    return load_dataset_cached(config["dataset"], subset=config["data.subset"], resolution=config["data.resolution"],
                               data_dir=config["data.dir"], seed=0, test_fraction=config["data.test_fraction"])


class RunProxy:
    """``metrics.proxy`` of a genotype as a search run records it (``proxy_score``; NaN when off).

    :func:`cell_score` on a network of the run's sizes initialised from seed 0 and the first
    ``metrics.proxy_batch`` examples of the weight split that a seed-0 run of the same data config uses
    — so the same genotype scores the same in every run and seed, and a score is computed once per
    genotype (a pure function of it)."""

    def __init__(self, config: Any, space: SearchSpace, data: Any, device: torch.device,
                 name: str | None = None) -> None:
        self.config, self.space, self.data, self.device = config, space, data, device
        self.name = name or config["metrics.proxy"]  # another proxy than metrics.proxy: best_cell.chooser
        self._cache: dict[str, float] = {}
        self._xy: tuple[torch.Tensor, torch.Tensor] | None = None  # the proxy's batch (seed-0 split)

    @classmethod
    def for_config(cls, config: Any, name: str | None = None, device: torch.device | None = None) -> RunProxy:
        """The proxy a run of ``config`` records, without the run (its space and seed-0 data loaded here): for
        scoring recorded cells again, e.g. with another proxy (``name``)."""
        from diffnas.model.spaces import build_space

        return cls(config, build_space(config["space"], config["ops"]), seed0_data(config),
                   device or torch.device("cpu"), name=name)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._xy is None:
            n = self.config["metrics.proxy_batch"]
            ref = self.data if int(self.config["seed"]) == 0 else seed0_data(self.config)
            self._xy = (ref.x_weights[:n].to(self.device), ref.y_weights[:n].to(self.device))
        return self._xy

    def __call__(self, genotype: str) -> float:
        name = self.name
        if name == "none":
            return float("nan")
        if genotype not in self._cache:
            c = self.config
            x, y = self._batch()
            self._cache[genotype] = cell_score(
                name, self.space, genotype, x, y, num_classes=self.data.num_classes, channels=c["model.channels"],
                cells_per_stage=c["model.cells_per_stage"], stages=c["model.stages"], seed=0)
        return self._cache[genotype]
