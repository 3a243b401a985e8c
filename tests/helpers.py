"""Shared test helpers: tiny, fast search configs."""

from __future__ import annotations

TINY = {
    "dataset": "digits",
    "data.subset": 200,
    "data.batch_size": 50,
    "model.channels": 4,
    "model.stages": 1,
    "epochs": 3,
}


def tiny_overrides(**extra: object) -> list[str]:
    """``--set`` strings for a tiny digits search (about a second per epoch)."""
    values = {**TINY, **extra}
    return [f"--set={k}={v}" for k, v in values.items()]
