"""Rows of the results schema: identity and ``config/<dotted.key>`` columns for one run, and its trial row.

Both ``diffnas search`` (phase ``single``) and the sweep sink (``explore`` / ``confirm``) build the
identity part of every row here, so a results folder looks the same whoever wrote it; a search run's
trials-table row is summarised from its epoch records by :func:`trial_row`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from diffnas.config import SearchConfig
from diffnas.results.schema import PHASES, config_column
from diffnas.selection.best_cell import best_cell


def config_columns(config: SearchConfig) -> dict[str, Any]:
    """Every config leaf as ``config/<dotted.key>``, as it ran (a null that follows another key resolved:
    :meth:`~diffnas.config.SearchConfig.resolved_flat`); list values become comma-joined strings."""
    out: dict[str, Any] = {}
    for key, value in config.resolved_flat().items():
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


def trial_row(records: Sequence[Mapping[str, Any]], *, status: str | None, stop_reason: str | None, epochs_run: int,
              wall_s: float, best_by: Mapping[str, Any], space: tuple[str, list[str], list[str]]) -> dict[str, Any]:
    """The trials-table row of a run (without identity columns) from its epoch ``records``: the final epoch's
    values, ``best_val_acc`` = max over epochs of ``val_acc``, the handed-back cell chosen by
    :func:`diffnas.selection.best_cell.best_cell` with the keyword arguments ``best_by`` (metric, mode, rule,
    tolerance, chooser, chooser_name), and ``space`` = (name, ops, edge labels)."""
    nan = float("nan")
    last = records[-1] if records else {}
    vals = [r["val_acc"] for r in records if math.isfinite(r.get("val_acc", nan))]
    name, ops, edges = space
    return {
        "status": status,
        "stop_reason": stop_reason,
        "epochs_run": epochs_run,
        "final_genotype": last.get("genotype"),
        "final_val_acc": last.get("val_acc", nan),
        "best_val_acc": max(vals) if vals else nan,
        "final_discrete_val_acc": last.get("discrete_val_acc", nan),
        "final_truth_acc": last.get("truth_acc", nan),
        "final_proxy_score": last.get("proxy_score", nan),
        "final_entropy_norm": last.get("entropy_norm", nan),
        **best_cell(records, **best_by),
        "params": last.get("params"),
        "wall_s": wall_s,
        "space": name,
        "ops": ops,
        "edges": edges,
    }
