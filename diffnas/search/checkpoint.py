"""A search run's checkpoint: everything needed to continue it bit for bit, and writing it atomically.

The state holds the model, the architecture (α and the op mask), both optimisers and their fp16 loss
scalers, the learning-rate
schedule, the temperature position (the epoch counter), the clipper's history, the early-stopping state,
the records so far and every random stream (torch, numpy, python, the sampler's generator, the
batch-order and augmentation generators; CUDA's where used). On CPU a run stopped after epoch k, saved, loaded in a fresh
process and continued gives the same rows as an uninterrupted run (every column but ``wall_s``, same
thread count). A checkpoint names its ``config_id`` and seed and is refused by another config.
"""

from __future__ import annotations

import io
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from diffnas import storage

if TYPE_CHECKING:
    from diffnas.search.run import SearchRun

STATE_VERSION = 1


def _rng_state(run: SearchRun) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "sampler": run.arch.generator.get_state(),
        "batches": run.batch_gen.get_state(),
        "augment": run.augment_gen.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if run.device.type == "cuda" else None,
    }


def _set_rng_state(run: SearchRun, rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    run.arch.generator.set_state(rng["sampler"])
    run.batch_gen.set_state(rng["batches"])
    if rng.get("augment") is not None:  # written before augmentation existed: never drawn from
        run.augment_gen.set_state(rng["augment"])
    if rng.get("cuda") is not None and run.device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])


def state_dict(run: SearchRun) -> dict[str, Any]:
    """The run's whole state (see the module docstring)."""
    return {
        "version": STATE_VERSION,
        "config_id": run.config.config_id(),
        "seed": run.config["seed"],
        "model": run.model.state_dict(),
        **run.arch.state_dict(),
        "w_opt": run.w_opt.state_dict(),
        "w_sched": run.w_sched.state_dict(),
        "a_opt": run.a_opt.state_dict(),
        "scalers": [run.w_scaler.state_dict(), run.a_scaler.state_dict()],  # fp16's loss scales
        "clipper": run.clipper.state_dict(),
        "stopper": run.stopper.state_dict(),
        "epoch": run.epoch,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "prev_choice": run.prev_choice,
        "prev_argmax": run.prev_argmax,
        "records": [dict(r) for r in run.records],
        "wall_s": run.wall_s,
        "rng": _rng_state(run),
    }


def load_state_dict(run: SearchRun, state: dict[str, Any]) -> None:
    """Put ``state`` into ``run``; ValueError when it is of another version, config or seed."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"checkpoint version {state.get('version')!r} is not {STATE_VERSION}")
    if state["config_id"] != run.config.config_id() or state["seed"] != run.config["seed"]:
        raise ValueError("checkpoint belongs to another config or seed")
    run.model.load_state_dict(state["model"])
    run.arch.load_state_dict(state)
    run.w_opt.load_state_dict(state["w_opt"])
    run.w_sched.load_state_dict(state["w_sched"])
    run.a_opt.load_state_dict(state["a_opt"])
    w_scale, a_scale = state.get("scalers") or ({}, {})  # written before fp16 was wired: no scale kept
    run.w_scaler.load_state_dict(w_scale)
    run.a_scaler.load_state_dict(a_scale)
    run.clipper.load_state_dict(state["clipper"])
    run.stopper.load_state_dict(state["stopper"])
    run.epoch = state["epoch"]
    run.status = state["status"]
    run.stop_reason = state["stop_reason"]
    run.prev_choice = state["prev_choice"]
    run.prev_argmax = state["prev_argmax"]
    run.records = [dict(r) for r in state["records"]]
    run.wall_s = state["wall_s"]
    _set_rng_state(run, state["rng"])


def save(run: SearchRun, path: str) -> None:
    """Atomically write the run's state (:func:`diffnas.storage.atomic_write`: temporary file, rename)."""
    buf = io.BytesIO()
    torch.save(state_dict(run), buf)
    storage.atomic_write(path, buf.getvalue())


def read(path: str) -> dict[str, Any]:
    """A saved state, its tensors on CPU (RNG states must stay there)."""
    return torch.load(path, map_location="cpu", weights_only=False)
