"""The three trackers by name, the extra each needs, and the checks made before anything runs.

``loggers: [tensorboard, mlflow, wandb]`` (a sweep spec) and ``diffnas search --loggers`` name any
subset. A name that is not one of them, or one whose package is not installed, is one
:class:`~diffnas.errors.InputError` line naming the field (and the extra to install): exit 2, before
Ray starts or any data is read. Stdlib only: the check looks packages up without importing them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from diffnas.errors import InputError
from diffnas.inputs import did_you_mean, shown


@dataclass(frozen=True)
class Tracker:
    """A tracker: the ``diffnas`` extra that installs it and the modules it writes with."""

    name: str
    extra: str
    modules: tuple[str, ...]
    reader: str  # the one line that opens what it wrote (README)


LOGGERS: dict[str, Tracker] = {
    # Ray's TBXLoggerCallback and `diffnas search` write with tensorboardX; `tensorboard` reads
    "tensorboard": Tracker("tensorboard", "tensorboard", ("tensorboardX",), "tensorboard --logdir RESULTS/tensorboard"),
    # mlflow-skinny is the client; the SQLite store needs SQLAlchemy and Alembic
    "mlflow": Tracker("mlflow", "mlflow", ("mlflow", "sqlalchemy", "alembic"),
                      "mlflow ui --backend-store-uri sqlite:///RESULTS/mlflow/mlflow.db"),
    "wandb": Tracker("wandb", "wandb", ("wandb",), "wandb sync RESULTS/wandb/offline-run-*"),
}


def parse_loggers(value: Any, where: str) -> tuple[str, ...]:
    """A list of tracker names (or one comma-separated string) as a tuple in the given order;
    InputError naming ``where`` for anything else, an unknown name or a repeat."""
    if value is None:
        return ()
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise InputError(where, f"must be a list of {', '.join(LOGGERS)}, got {shown(value)}")
    for name in items:
        if name not in LOGGERS:
            raise InputError(where, f"unknown logger {shown(name)}{did_you_mean(name, LOGGERS)}; "
                             f"allowed: {', '.join(LOGGERS)}")
    if len(set(items)) != len(items):
        raise InputError(where, f"must not repeat a logger, got {shown(value)}")
    return tuple(items)


def check_installed(names: Sequence[str], where: str) -> None:
    """InputError naming the extra to install when a tracker's package is missing."""
    for name in names:
        tracker = LOGGERS[name]
        for module in tracker.modules:
            if importlib.util.find_spec(module) is None:
                raise InputError(where, f"{name} needs the {tracker.extra} extra (module {module} is missing): "
                                 f"pip install 'diffnas[{tracker.extra}]'")
