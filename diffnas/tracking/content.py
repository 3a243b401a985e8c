"""What a run sends to a tracker, under names that do not change: the same for TensorBoard, MLflow and
W&B, for a sweep's trials and for ``diffnas search``.

- metrics, one value per epoch at step = ``epoch``: every numeric epoch column of the results schema
  (:data:`METRICS`, named exactly as the column: ``val_acc``, ``entropy_norm``, ``truth_acc``, ...),
  finite values only (a space without truth has no ``truth_acc`` points rather than NaNs);
- pictures, per epoch: ``alpha`` (the op-probability matrix) and ``cell`` (the current cell)
  (:func:`diffnas.results.pictures.epoch_pictures`);
- hyper-parameters: every config leaf as it ran, dotted (``temperature.t0``), the sweep's axes first;
- tags: ``sweep``, ``phase``, ``trial_id``, ``config_id``, ``seed``; at the end also the final
  genotype, its NAS-Bench-201 truth and the run's status (:func:`final_tags`).

Torch-free and Ray-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from diffnas.results.schema import EPOCH_COLUMNS

METRICS: tuple[str, ...] = tuple(k for k, kind in EPOCH_COLUMNS.items() if kind in ("float", "int") and k != "epoch")
# trial columns written as tags / summary at the end (name there -> trials-table column)
FINAL = {"genotype": "final_genotype", "truth_acc": "final_truth_acc", "status": "status",
         "stop_reason": "stop_reason", "epochs_run": "epochs_run", "best_genotype": "best_genotype",
         "best_truth_acc": "best_truth_acc", "final_val_acc": "final_val_acc"}


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The epoch record's metrics: :data:`METRICS` present with a finite number."""
    out = {}
    for key in METRICS:
        value = _number(record.get(key))
        if value is not None:
            out[key] = value
    return out


def hyperparameters(flat: Mapping[str, Any], axes: Sequence[str] = ()) -> dict[str, Any]:
    """The config leaves (dotted keys; a list joined by commas) with the sweep's ``axes`` first."""
    order = [k for k in axes if k in flat] + [k for k in flat if k not in axes]
    out = {}
    for key in order:
        value = flat[key]
        out[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return out


def final_tags(trial_record: Mapping[str, Any]) -> dict[str, Any]:
    """The run's outcome for tags / summary: :data:`FINAL` names, values that are missing or NaN left out."""
    out = {}
    for name, column in FINAL.items():
        value = trial_record.get(column)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        out[name] = value
    return out


def epoch_of(record: Mapping[str, Any]) -> int | None:
    epoch = record.get("epoch")
    try:
        return int(epoch) if epoch is not None else None
    except (TypeError, ValueError):
        return None
