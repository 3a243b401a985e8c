"""Fixtures for the analysis tests: synthetic results folders (see ``synth_results``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.synth_results import standard_runs, write_results


@pytest.fixture
def results_factory(tmp_path: Path) -> Callable[..., Path]:
    """``results_factory(name, runs, **kw)`` writes a synthetic results folder under tmp_path."""

    def factory(name: str = "results", runs: Sequence | None = None, **kw: Any) -> Path:
        return write_results(tmp_path / name, runs if runs is not None else standard_runs(), **kw)

    return factory


@pytest.fixture
def standard_results(results_factory: Callable[..., Path]) -> Path:
    """The :func:`standard_runs` folder with a sweep.json naming the softmax baseline."""
    spec = {"name": "synth", "baseline": {"sampler": "softmax", "entropy_weight": 0.0},
            "metric": "val_acc", "mode": "max"}
    return results_factory("results", standard_runs(), spec=spec)
