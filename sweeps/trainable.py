"""The Tune function trainable: one search run per trial, one ``tune.report`` per epoch.

``train_search(config, base)`` merges the trial's sampled values into the sweep's base config,
builds a :class:`diffnas.run.SearchRun` on the device and CPU count Ray assigned the trial (or
restores it from ``tune.get_checkpoint()``), then loops: train one epoch, report that epoch's
record with a checkpoint holding the run's full state (supernet, alpha, optimisers, schedule
position, every RNG). So ASHA pauses, ``FailureConfig`` retries and ``Tuner.restore`` all continue
the run bit-for-bit from its last epoch.

Every report carries the epoch record's columns plus ``record_keys`` (which keys are the
record), ``run_status`` (``None`` while running, then the run's terminal status),
``stop_reason``, ``trial_record`` (the trial columns so far, from ``run.trial_record()``) and
``restored_from_epoch`` (the checkpoint epoch this process started from; 0 when fresh). A trial
whose last report has no terminal status was stopped by the scheduler (the sink writes
``asha_stopped``).

Test hook: ``fault.raise_at_epoch`` + ``fault.marker`` make the trial raise once, after training
that epoch and before reporting it; the marker file records that it fired, so the retry (from
the previous epoch's checkpoint) proceeds.

Only the ``ray.tune`` namespace is used.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import Any

from diffnas.config import SearchConfig

RUN_FILE = "run.pt"
POINT_KEY = "point"  # a trial-config entry holding several dotted keys at once (confirm)


def resolve_flat(base: Mapping[str, Any], trial_config: Mapping[str, Any]) -> dict[str, Any]:
    """The trial's flat config: ``base`` updated by the ``point`` mapping then the other keys."""
    flat = dict(base)
    point = trial_config.get(POINT_KEY)
    if isinstance(point, Mapping):
        flat.update(point)
    for key, value in trial_config.items():
        if key != POINT_KEY:
            flat[key] = value
    return flat


def placement(resources: Mapping[str, float]) -> tuple[str, int]:
    """(device, threads) for Ray's per-trial resources ``{"CPU": c, "GPU": g}``."""
    threads = max(1, int(resources.get("CPU", 1) or 1))
    device = "cuda" if float(resources.get("GPU", 0) or 0) > 0 else "cpu"
    return device, threads


def trial_search_config(base: Mapping[str, Any], trial_config: Mapping[str, Any],
                        resources: Mapping[str, float]) -> SearchConfig:
    """The validated config a trial runs, with device and threads from Ray's assignment."""
    device, threads = placement(resources)
    flat = resolve_flat(base, trial_config)
    flat.update(device=device, threads=threads)
    return SearchConfig.validate(flat)


def _run_class() -> Any:
    from diffnas.run import SearchRun

    return SearchRun


def _maybe_fault(config: SearchConfig, epoch: int) -> None:
    at, marker = config["fault.raise_at_epoch"], config["fault.marker"]
    if at is None or epoch != at:
        return
    if marker is not None and os.path.exists(marker):
        return
    if marker is not None:
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(f"raised at epoch {epoch}\n")
    raise RuntimeError(f"fault.raise_at_epoch: injected failure at epoch {epoch}")


def train_search(config: dict[str, Any], base: Mapping[str, Any] | None = None) -> None:
    """Tune function trainable (wrap with ``tune.with_parameters(train_search, base=...)``)."""
    from ray import tune

    resources = tune.get_context().get_trial_resources().required_resources
    cfg = trial_search_config(base or {}, config, resources)
    device, threads = cfg["device"], cfg["threads"]
    run_cls = _run_class()
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            run = run_cls.load(cfg, os.path.join(folder, RUN_FILE), device=device, threads=threads)
    else:
        run = run_cls(cfg, device=device, threads=threads)
    restored_from = int(run.epoch)

    while not run.done:
        record = dict(run.step())
        _maybe_fault(cfg, int(record["epoch"]))
        metrics = dict(record)
        metrics["record_keys"] = list(record)
        metrics["run_status"] = run.status
        metrics["stop_reason"] = run.stop_reason
        metrics["trial_record"] = dict(run.trial_record())
        metrics["restored_from_epoch"] = restored_from
        with tempfile.TemporaryDirectory(prefix="diffnas-ckpt-") as folder:
            run.save(os.path.join(folder, RUN_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
