"""Early stopping and collapse guards: a registry of small rules with state; the first that fires stops.

Each rule sees the epoch's record (the schema's epoch columns) and the discretised genotype's
skip-connection count, in registry order:

* ``patience``:        no improvement of ``val_acc`` over the best for P epochs.
* ``stability``:       argmax architecture unchanged for W consecutive epochs (stability = 1)
                       while ``entropy_norm`` < threshold.
* ``skip_collapse``:   the discretised genotype has more than k ``skip_connect`` edges.
* ``skip_share``:      collapse guard, **on in recipe plain**: ``skip_fraction`` (share of edges whose
                       argmax op is skip_connect) > s for ``guard_patience`` consecutive epochs.
* ``none_share``:      collapse guard, **on in recipe plain**: ``none_fraction`` > s for
                       ``guard_patience`` consecutive epochs (a cell of mostly ``none`` edges is cut
                       off from its input).
* ``gap_growth``:      collapse guard, **on in recipe plain**: the discretisation gap
                       g_t = ``val_acc`` − ``discrete_val_acc`` rose by more than Δ over the last W
                       epochs, g_t − min(g_{t−W}, …, g_{t−1}) > Δ, for ``guard_patience``
                       consecutive epochs (the supernet keeps improving while its argmax cell does
                       not: the DARTS failure mode).
* ``hessian_growth``:  λ_t / λ_{t−W} > r over the last W eigenvalue measurements (RobustDARTS).

The default thresholds come from NAS-Bench-201 truth (docs/search.md, ``experiments/bench_guards.py``):
the 265 cells with more than half their edges skip_connect average 81.92 % CIFAR-10 test accuracy
(all-skip 54.30 %), the 265 with more than half ``none`` 43.14 %, against 87.06 % for a random cell;
neither set holds a cell at >= 93 %.

``update(record, skip_count)`` returns the name of the rule that fired, or None. New rules register
in :data:`RULES` with a class taking the config; ``build`` returns None when the config turns it off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from diffnas.config import SearchConfig
from diffnas.registry import Registry


def _num(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    return float(value) if value is not None else math.nan


class Rule:
    """One stopping rule: ``fires(record, skip_count)`` → bool; its state is a plain dict."""

    name = "rule"

    def fires(self, record: dict[str, Any], skip_count: int) -> bool:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        del state


RULES: Registry[Callable[[SearchConfig], Rule | None]] = Registry("early-stopping rule")


@RULES.register("patience")
class Patience(Rule):
    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best = -math.inf
        self.since_best = 0

    @classmethod
    def build(cls, config: SearchConfig) -> Patience | None:
        return cls(config["early_stop.patience"]) if config["early_stop.patience"] else None

    def fires(self, record: dict[str, Any], skip_count: int) -> bool:
        val = _num(record, "val_acc")
        if val > self.best:
            self.best, self.since_best = val, 0
        else:
            self.since_best += 1
        return self.since_best >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "since_best": self.since_best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.since_best = state["best"], state["since_best"]


@RULES.register("stability")
class Stability(Rule):
    def __init__(self, window: int, threshold: float) -> None:
        self.window, self.threshold = window, threshold
        self.stable_run = 0

    @classmethod
    def build(cls, config: SearchConfig) -> Stability | None:
        window = config["early_stop.stability_window"]
        return cls(window, config["early_stop.entropy_threshold"]) if window else None

    def fires(self, record: dict[str, Any], skip_count: int) -> bool:
        self.stable_run = self.stable_run + 1 if record.get("stability") == 1.0 else 0
        return self.stable_run >= self.window and _num(record, "entropy_norm") < self.threshold

    def state_dict(self) -> dict[str, Any]:
        return {"stable_run": self.stable_run}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stable_run = state["stable_run"]


@RULES.register("skip_collapse")
class SkipCount(Rule):
    def __init__(self, max_skip: int) -> None:
        self.max_skip = max_skip

    @classmethod
    def build(cls, config: SearchConfig) -> SkipCount | None:
        return None if config["early_stop.max_skip"] is None else cls(config["early_stop.max_skip"])

    def fires(self, record: dict[str, Any], skip_count: int) -> bool:
        return skip_count > self.max_skip


class Persistent(Rule):
    """A condition that must hold for ``patience`` consecutive epochs before the rule fires."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.held = 0

    def condition(self, record: dict[str, Any]) -> bool:
        raise NotImplementedError

    def fires(self, record: dict[str, Any], skip_count: int) -> bool:
        self.held = self.held + 1 if self.condition(record) else 0
        return self.held >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"held": self.held}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.held = state["held"]


class ShareGuard(Persistent):
    column = ""
    key = ""

    def __init__(self, limit: float, patience: int) -> None:
        super().__init__(patience)
        self.limit = limit

    @classmethod
    def build(cls, config: SearchConfig) -> ShareGuard | None:
        limit = config[cls.key]
        return None if limit is None else cls(limit, config["early_stop.guard_patience"])

    def condition(self, record: dict[str, Any]) -> bool:
        return _num(record, self.column) > self.limit


@RULES.register("skip_share")
class SkipShare(ShareGuard):
    column, key = "skip_fraction", "early_stop.max_skip_share"


@RULES.register("none_share")
class NoneShare(ShareGuard):
    column, key = "none_fraction", "early_stop.max_none_share"


@RULES.register("gap_growth")
class GapGrowth(Persistent):
    def __init__(self, growth: float, window: int, patience: int) -> None:
        super().__init__(patience)
        self.growth, self.window = growth, window
        self.gaps: list[float] = []

    @classmethod
    def build(cls, config: SearchConfig) -> GapGrowth | None:
        growth = config["early_stop.gap_growth"]
        if growth is None:
            return None
        return cls(growth, config["early_stop.gap_window"], config["early_stop.guard_patience"])

    def condition(self, record: dict[str, Any]) -> bool:
        gap = _num(record, "gap")
        if math.isnan(gap):
            gap = _num(record, "val_acc") - _num(record, "discrete_val_acc")
        past = [g for g in self.gaps[-self.window:] if not math.isnan(g)]
        self.gaps = (self.gaps + [gap])[-self.window:]
        return bool(past) and not math.isnan(gap) and gap - min(past) > self.growth

    def state_dict(self) -> dict[str, Any]:
        return {"held": self.held, "gaps": list(self.gaps)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.held, self.gaps = state["held"], list(state["gaps"])


@RULES.register("hessian_growth")
class HessianGrowth(Rule):
    def __init__(self, growth: float, window: int) -> None:
        self.growth, self.window = growth, window
        self.eigs: list[float] = []

    @classmethod
    def build(cls, config: SearchConfig) -> HessianGrowth | None:
        growth = config["early_stop.hessian_growth"]
        return None if growth is None else cls(growth, config["early_stop.hessian_window"])

    def fires(self, record: dict[str, Any], skip_count: int) -> bool:
        eig = _num(record, "hessian_eig")
        if not math.isnan(eig):
            self.eigs.append(eig)
        if len(self.eigs) > self.window:
            past = self.eigs[-1 - self.window]
            return past > 0 and self.eigs[-1] / past > self.growth
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"eigs": list(self.eigs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.eigs = list(state["eigs"])


def build_rules(config: SearchConfig, names: list[str] | None = None) -> dict[str, Rule]:
    """The rules the config turns on (all of :data:`RULES` or ``names``), in registry order."""
    rules: dict[str, Rule] = {}
    for name in RULES:
        if names is not None and name not in names:
            continue
        rule = RULES.get(name).build(config)  # type: ignore[attr-defined]
        if rule is not None:
            rules[name] = rule
    return rules


class EarlyStopper:
    """All configured rules; every rule sees every epoch (so its state is complete), the first in
    registry order that fires names the stop. State is a plain dict for checkpoints."""

    def __init__(self, config: SearchConfig) -> None:
        self.rules = build_rules(config)

    def update(self, record: dict[str, Any], skip_count: int) -> str | None:
        fired = [name for name, rule in self.rules.items() if rule.fires(record, skip_count)]
        return fired[0] if fired else None

    def state_dict(self) -> dict[str, Any]:
        return {name: rule.state_dict() for name, rule in self.rules.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, rule in self.rules.items():
            if name in state:
                rule.load_state_dict(state[name])
