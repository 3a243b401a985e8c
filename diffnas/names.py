"""The names of everything a config chooses by name, in one torch-free place.

Config validation (:mod:`diffnas.config`) takes its allowed values from here, so it never imports
torch; the registries that implement the names (:class:`diffnas.registry.Registry` in
:mod:`diffnas.search.samplers`, :mod:`diffnas.search.schedules`, :mod:`diffnas.search.clipping`, :mod:`diffnas.model.spaces`)
share this book:

* a name registered into a registry of a kind listed here is added here as well, so config
  validation accepts a newly registered sampler (schedule, clip mode, ...) at once;
* each registry checks at import (:meth:`~diffnas.registry.Registry.check_builtins`) that it
  implements every built-in name listed here, so the list and the code cannot drift apart.

:data:`SPACE_OPS` lists each search space's candidate ops in canonical order (the α column order);
its keys are the spaces (a space also needs its edges in :mod:`diffnas.model.spaces`, which checks that
it implements every space listed here, and :mod:`diffnas.model.ops` every op).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["BUILTIN", "ONE_OP_SAMPLERS", "PRUNABLE_SAMPLERS", "SPACE_OPS", "TRUTH_COLUMNS", "add", "check_implemented",
           "names", "remove", "truth_column_of"]

SPACE_OPS: dict[str, tuple[str, ...]] = {
    "nb201": ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"),
    "darts": (
        "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
        "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    ),
}
"""Search space -> its candidate ops."""

BUILTIN: dict[str, tuple[str, ...]] = {
    "sampler": ("softmax", "gumbel", "gumbel_hard", "enhanced", "dirichlet"),
    "sampler_options.hard_forward": ("chosen", "all"),
    "temperature.schedule": ("constant", "linear", "exponential", "cosine", "step"),
    "clip.mode": ("none", "fixed", "adaptive"),
    "metrics.proxy": ("naswot", "synflow", "jacob_cov", "params"),
    "dataset": ("digits", "fashion_mnist", "mnist5k", "cifar10", "cifar100", "imagenet16_120"),
}
"""Registry kind (the config key that chooses from it) -> the names that ship with diffnas."""

ONE_OP_SAMPLERS: frozenset[str] = frozenset({"gumbel_hard"})
"""Samplers whose training step runs only the chosen op of each edge (the others enter with value 0), so
nothing can ride on an op's weight outside that choice (``aux_skip`` needs every op to run)."""

PRUNABLE_SAMPLERS: frozenset[str] = frozenset({"softmax", "gumbel", "gumbel_hard", "enhanced", "dirichlet"})
"""Samplers whose op weights restricted to a subset of ops are exactly their distribution over that subset
(diffnas.search.pruning): softmax, Gumbel-softmax and its one-hot form through α with the pruned ops at −∞ (a pruned
op is never drawn), the enhanced sampler likewise (its op dropout keeps only ops with a finite logit, and an edge
left with none keeps its noisy argmax among the kept ops), the Dirichlet through its subcomposition."""

TRUTH_COLUMNS: dict[str, str] = {"cifar100": "cifar100_test", "imagenet16_120": "imagenet16_120_test"}
"""Dataset -> the NAS-Bench-201 truth column of the same data; every other dataset is scored by CIFAR-10's."""


def truth_column_of(dataset: str) -> str:
    """The NB201 accuracy column a search on ``dataset`` is scored by (``truth.column: null``)."""
    return TRUTH_COLUMNS.get(dataset, "cifar10_test")


_registered: dict[str, list[str]] = {kind: list(built) for kind, built in BUILTIN.items()}


def names(kind: str) -> tuple[str, ...]:
    """The names of ``kind`` known now: the built-ins, then those registered since, in order."""
    return tuple(_registered[kind])


def add(kind: str, name: str) -> None:
    """Record that ``name`` was registered for ``kind`` (no-op for a kind not listed in BUILTIN)."""
    known = _registered.get(kind)
    if known is not None and name not in known:
        known.append(name)


def remove(kind: str, name: str) -> None:
    """Forget a name registered for ``kind`` (built-in names stay)."""
    known = _registered.get(kind)
    if known is not None and name in known and name not in BUILTIN[kind]:
        known.remove(name)


def check_implemented(kind: str, required: Iterable[str], implemented: Iterable[str]) -> None:
    """RuntimeError naming the first of ``required`` that ``implemented`` lacks (an import-time check)."""
    have = set(implemented)
    missing = [n for n in required if n not in have]
    if missing:
        raise RuntimeError(f"{kind}: {missing[0]!r} is listed in diffnas.names but not implemented")
