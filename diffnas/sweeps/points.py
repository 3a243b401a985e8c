"""Confirm's points: the configs that confirm re-runs, as flat configs without a seed.

An explored config is rebuilt from its trial row's ``config/<key>`` columns
(:func:`config_from_row`; a list was written comma-joined, a null may come back as NaN) and must
hash to the ``config_id`` it was written under. Its point is its flat config without the seed, with
the non-identity keys (:data:`diffnas.config.NON_IDENTITY_KEYS`: device, threads, data folder, ...)
taken from the sweep's current base and the fault hooks cleared; confirm runs each point with fresh
seeds (:func:`diffnas.sweeps.tuners.confirm_param_space`). No Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from diffnas.config import FIELDS, NON_IDENTITY_KEYS, SearchConfig
from diffnas.results.schema import TRIALS_DIR, config_column
from diffnas.sweeps.ranking import is_missing
from diffnas.sweeps.results_folder import read_rows


def config_from_row(row: Mapping[str, Any]) -> SearchConfig:
    """Rebuild a run's SearchConfig from its ``config/<key>`` columns (lists were comma-joined)."""
    flat: dict[str, Any] = {}
    for key, spec_field in FIELDS.items():
        col = config_column(key)
        if col not in row:
            continue
        value = row[col]
        if is_missing(value):
            value = None
        elif spec_field.kind.startswith("list") and isinstance(value, str):
            value = value.split(",")
        flat[key] = value
    return SearchConfig.validate(flat)


def explored_points(root: str, sweep: str, config_ids: Sequence[str],
                    base: SearchConfig) -> dict[str, dict[str, Any]]:
    """Confirm points (:func:`confirm_point`) of the explored ``config_ids``, rebuilt from their trial rows."""
    columns = ("sweep", "phase", "config_id") + tuple(config_column(k) for k in FIELDS)
    found: dict[str, dict[str, Any]] = {}
    for row in read_rows(root, TRIALS_DIR, columns):
        cid = row.get("config_id")
        if cid not in config_ids or cid in found or row.get("sweep") != sweep:
            continue
        cfg = config_from_row(row)
        if cfg.config_id() != cid:
            raise RuntimeError(f"config {cid}: its config columns hash to {cfg.config_id()}")
        found[cid] = confirm_point(cfg, base)
    return found


def confirm_point(cfg: SearchConfig, base: SearchConfig) -> dict[str, Any]:
    """``cfg`` flat, without its seed, with the non-identity keys (device, threads, data.dir, ...) of
    this sweep's ``base`` and no fault hooks."""
    flat = cfg.to_flat()
    for key in NON_IDENTITY_KEYS:
        flat[key] = base[key] if not key.startswith("fault.") else None
    flat.pop("seed", None)
    return flat
