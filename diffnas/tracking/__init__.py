"""Experiment tracking: a run's epochs in TensorBoard, MLflow and Weights & Biases, where researchers look.

Chosen by name — ``loggers: [tensorboard, mlflow, wandb]`` in a sweep spec (not part of any config id),
``diffnas search --loggers tensorboard,mlflow`` — and written offline into the results folder by default.

- :mod:`~diffnas.tracking.registry` — the names, the extra each needs, the checks made before Ray starts;
- :mod:`~diffnas.tracking.content` — what is sent, under names that do not change (metrics = schema
  columns at step = epoch, config as hyper-parameters with the sweep's axes first, outcome as tags);
- :mod:`~diffnas.tracking.places` — where each writes (local results, ``s3://`` results, the user's URIs);
- :mod:`~diffnas.tracking.backends` — the libraries' own clients, for ``diffnas search`` (no Ray);
- :mod:`~diffnas.tracking.tune` — Ray Tune's own logger callbacks, subclassed, for sweeps.

The α matrix and the current cell are drawn per epoch by :mod:`diffnas.results.pictures`. Importing this
package imports neither torch nor Ray nor any tracking library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from diffnas.tracking.registry import LOGGERS, check_installed, parse_loggers

__all__ = ["LOGGERS", "check_installed", "check_loggers", "parse_loggers", "tune_callbacks"]


def check_loggers(value: Any, where: str) -> tuple[str, ...]:
    """Parse tracker names and check their packages are installed (InputError naming ``where``)."""
    names = parse_loggers(value, where)
    check_installed(names, where)
    return names


def tune_callbacks(names: Sequence[str], root: str, sweep: str, phase: str, base: Mapping[str, Any],
                   axes: Sequence[str]) -> list[Any]:
    """The Ray Tune callbacks of ``names`` for one experiment of a sweep (imports Ray)."""
    if not names:
        return []
    from diffnas.tracking.tune import CALLBACKS

    return [CALLBACKS[name](root, sweep, phase, base, axes) for name in names]
