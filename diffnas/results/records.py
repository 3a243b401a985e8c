"""Rows of the results schema: identity and ``config/<dotted.key>`` columns for one run.

Both ``diffnas search`` (phase ``single``) and the sweep sink (``explore`` / ``confirm``) build the
identity part of every row here, so a results folder looks the same whoever wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from diffnas.config import SearchConfig
from diffnas.results.schema import PHASES, config_column


def config_columns(config: SearchConfig) -> dict[str, Any]:
    """Every config leaf as ``config/<dotted.key>``; list values become comma-joined strings."""
    out: dict[str, Any] = {}
    for key, value in config.to_flat().items():
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value))
        out[config_column(key)] = value
    return out


def identity_columns(config: SearchConfig, *, trial_id: str, sweep: str, phase: str) -> dict[str, Any]:
    """``sweep``, ``trial_id``, ``config_id``, ``seed``, ``phase`` plus the config columns."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    row: dict[str, Any] = {
        "sweep": sweep,
        "trial_id": trial_id,
        "config_id": config.config_id(),
        "seed": int(config["seed"]),
        "phase": phase,
    }
    row.update(config_columns(config))
    return row


def with_identity(identity: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """One schema row: identity/config columns first, then the metric record."""
    row = dict(identity)
    row.update(record)
    return row
