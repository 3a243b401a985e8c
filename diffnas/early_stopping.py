"""Early stopping and collapse guards, each a small rule with state; the first that fires stops.

* ``patience``:        no improvement of ``val_acc`` over the best for P epochs.
* ``stability``:       argmax architecture unchanged for W consecutive epochs (stability = 1)
                       while ``entropy_norm`` < threshold.
* ``skip_collapse``:   the discretised genotype has more than k ``skip_connect`` edges.
* ``hessian_growth``:  λ_t / λ_{t−W} > r over the last W eigenvalue measurements (RobustDARTS).

``update(record, skip_count)`` returns the name of the rule that fired, or None.
"""

from __future__ import annotations

import math
from typing import Any

from diffnas.config import SearchConfig


class EarlyStopper:
    """All configured rules; state is a plain dict for checkpoints."""

    def __init__(self, config: SearchConfig) -> None:
        self.patience = config["early_stop.patience"]
        self.window = config["early_stop.stability_window"]
        self.threshold = config["early_stop.entropy_threshold"]
        self.max_skip = config["early_stop.max_skip"]
        self.growth = config["early_stop.hessian_growth"]
        self.growth_window = config["early_stop.hessian_window"]
        self.best = -math.inf
        self.since_best = 0
        self.stable_run = 0
        self.eigs: list[float] = []

    def update(self, record: dict[str, Any], skip_count: int) -> str | None:
        val = record["val_acc"]
        if val > self.best:
            self.best, self.since_best = val, 0
        else:
            self.since_best += 1
        self.stable_run = self.stable_run + 1 if record["stability"] == 1.0 else 0
        eig = record.get("hessian_eig")
        if eig is not None and not math.isnan(eig):
            self.eigs.append(float(eig))
        if self.patience and self.since_best >= self.patience:
            return "patience"
        if self.window and self.stable_run >= self.window and record["entropy_norm"] < self.threshold:
            return "stability"
        if self.max_skip is not None and skip_count > self.max_skip:
            return "skip_collapse"
        if self.growth is not None and len(self.eigs) > self.growth_window:
            past = self.eigs[-1 - self.growth_window]
            if past > 0 and self.eigs[-1] / past > self.growth:
                return "hessian_growth"
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "since_best": self.since_best, "stable_run": self.stable_run,
                "eigs": list(self.eigs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.since_best = state["since_best"]
        self.stable_run = state["stable_run"]
        self.eigs = list(state["eigs"])
