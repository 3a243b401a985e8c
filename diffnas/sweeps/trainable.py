"""The Tune function trainable: one search run per trial, one ``tune.report`` per epoch.

``train_search(config, base)`` merges the trial's sampled values into the sweep's base config,
builds a :class:`diffnas.search.run.SearchRun` on the device and CPU count Ray assigned the trial (or
restores it from ``tune.get_checkpoint()``), then loops: train one epoch, report that epoch's
record with a checkpoint holding the run's full state (supernet, alpha, optimisers, schedule
position, every RNG). So ASHA pauses, ``FailureConfig`` retries and ``Tuner.restore`` all continue
the run bit-for-bit from its last epoch.

Every report carries the epoch record's columns plus ``record_keys`` (which keys are the
record), ``run_status`` (``None`` while running, then the run's terminal status),
``stop_reason``, ``trial_record`` (the trial columns so far, from ``run.trial_record()``) and
``restored_from_epoch`` (the checkpoint epoch this process started from; 0 when fresh). Each
record also names where it ran: ``node_id`` (the Ray node id) and ``hostname``; the trial record
carries the last epoch's and ``restored_from_epoch``. A trial
whose last report has no terminal status was stopped by the scheduler (the sink writes
``asha_stopped``).

A checkpoint holds ``run.pt`` (``SearchRun.save``) and ``history.json`` (every epoch record so
far). The first report after a restore also carries ``history``: the records up to the
checkpoint, so the driver's sink can write rows it had buffered but lost with a killed driver
(it drops the ones it has). A run restored after its last epoch reports that epoch once more.

Faults (docs/sweeps.md, "What survives what"):

- an unreadable checkpoint (truncated or zeroed by a dying node): the trial falls back to its next
  older checkpoint on storage, or starts over when none loads, and its first report carries
  ``restore_note`` (one line the driver prints) saying which checkpoint it skipped and why;
- the results storage not answering (an object store gone for a while): the checkpoint upload of a
  report and the download of a restore are retried with back-off (:func:`diffnas.storage.retrying`);
  past that budget the trial fails with :class:`StorageUnavailable`, which stops the sweep
  (:mod:`diffnas.sweeps.sink`) instead of burning the trial's retries;
- a memory limit (``resources.memory_gb``): while the trial builds its run and trains an epoch, its
  process may map at most that many more bytes of address space than it had when the trial began
  (``RLIMIT_AS``, :class:`AddressSpaceLimit`; lifted while Tune reports and uploads, and after the
  trial, since Ray reuses the process for the next one; torch and the modules a run imports lazily
  are loaded before it, :data:`PRELOAD`); an allocation past it ends the run with
  status ``error`` and ``stop_reason`` ``out_of_memory: ...`` (one NaN row for the epoch it was
  in, as for a device out of memory); past it while the run is being built, the trial fails with
  :class:`TrialOutOfMemory` (its ``stop_reason`` is ``error: out_of_memory: ...``).

Test hook: ``fault.raise_at_epoch`` + ``fault.marker`` make the trial raise once, after training
that epoch and before reporting it; the marker file records that it fired, so the retry (from
the previous epoch's checkpoint) proceeds.

Benchmark hook: where the environment names a file in ``DIFFNAS_TRIAL_TRACE``, every trial
appends one JSON line per event (``start``, ``built``, ``epoch``, ``saved``, ``reported``, ``end``)
with its process id, trial id, ``time.time()`` and the process's CPU seconds so far (``start`` also
when the process was created);
``benchmarks/bench_sweep.py`` turns them into where a sweep's slot-seconds go.

Only the ``ray.tune`` namespace is used.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from diffnas import storage
from diffnas.config import SearchConfig
from diffnas.search.memory import is_memory_error
from diffnas.sweeps.memory import AddressSpaceLimit, TrialOutOfMemory, limit_text, memory_limit, preload

RUN_FILE = "run.pt"
HISTORY_FILE = "history.json"  # every epoch record so far, next to the run's state
POINT_KEY = "point"  # a trial-config entry holding several dotted keys at once (confirm)
TRACE_ENV = "DIFFNAS_TRIAL_TRACE"  # a file that each trial appends its event timestamps to


class StorageUnavailable(RuntimeError):
    """The results storage did not answer within :func:`diffnas.storage.retrying`'s budget."""


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


def gpu_share(resources: Mapping[str, float]) -> float | None:
    """The share of one GPU a trial holds (``resources: {gpu: 0.25}`` -> 0.25), or None for a whole GPU or none:
    a trial that shares its GPU caps its PyTorch memory to that share
    (``torch.cuda.set_per_process_memory_fraction``), so one trial's growth ends that trial with
    ``out_of_memory`` instead of starving the trials beside it."""
    share = float(resources.get("GPU", 0) or 0)
    return share if 0 < share < 1 else None


def cuda_device(gpu_ids: Sequence[str], visible: str | None) -> str:
    """The torch device of a trial that Ray assigned the GPUs ``gpu_ids`` (``"cpu"`` without any).

    Ray normally sets ``CUDA_VISIBLE_DEVICES`` (``visible``) to the assigned ids, so the trial's GPU
    is ``cuda:<position of its first id in that list>`` (``cuda:0``); where it is unset (all GPUs
    visible, e.g. ``RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES=1``) it is ``cuda:<id>``. A
    fractional trial (``gpu: 0.25``) holds one id shared with other trials on the same GPU."""
    ids = [str(i).strip() for i in gpu_ids if str(i).strip()]
    if not ids:
        return "cpu"
    listed = [v.strip() for v in (visible or "").split(",") if v.strip()]
    if not listed:
        return f"cuda:{int(ids[0])}"
    if ids[0] not in listed:
        raise RuntimeError(f"Ray assigned GPU {ids[0]} but CUDA_VISIBLE_DEVICES is {visible!r}")
    return f"cuda:{listed.index(ids[0])}"


def trial_device() -> str:
    """This Ray worker's torch device, from its accelerator ids and ``CUDA_VISIBLE_DEVICES``."""
    import ray

    ids = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
    return cuda_device(ids, os.environ.get("CUDA_VISIBLE_DEVICES"))


def trial_search_config(base: Mapping[str, Any], trial_config: Mapping[str, Any],
                        resources: Mapping[str, float]) -> SearchConfig:
    """The validated config a trial runs, with device and threads from Ray's assignment."""
    device, threads = placement(resources)
    flat = resolve_flat(base, trial_config)
    flat.update(device=device, threads=threads)
    return SearchConfig.validate(flat)


def tune_trial_config(base: Mapping[str, Any], trial: Any) -> SearchConfig:
    """The config a Tune ``trial`` runs, as the driver's callbacks see it (:func:`trial_search_config` with
    the trial's own resources)."""
    try:
        resources = dict(trial.placement_group_factory.required_resources)
    except Exception:  # pragma: no cover - defensive: older trial objects
        resources = {"CPU": 1.0}
    return trial_search_config(base, trial.config, resources)


def node_columns() -> dict[str, str]:
    """``{"node_id", "hostname"}`` of the process running this trial (the Ray node id)."""
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname()}


def _run_class() -> Any:
    from diffnas.search.run import SearchRun

    return SearchRun


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays in a record -> plain Python for JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _read_history(folder: str) -> list[dict[str, Any]]:
    path = os.path.join(folder, HISTORY_FILE)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return list(json.load(fh))


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


def _process_start_time() -> float | None:
    """When this process was created (``time.time()`` scale), from Linux's ``/proc``; None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: start time since boot
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


def tracer(path: str | None, trial_id: str) -> Callable[[str], None]:
    """``mark(event)`` appending ``{"pid", "trial", "event", "t", "cpu"}`` to ``path`` (a no-op without
    one; ``cpu``: this process's CPU seconds so far, all threads); ``start`` also carries ``created``,
    when this process was created (None where unknown)."""
    if not path:
        return lambda event: None

    def mark(event: str) -> None:
        entry = {"pid": os.getpid(), "trial": trial_id, "event": event, "t": time.time(), "cpu": time.process_time()}
        if event == "start":
            entry["created"] = _process_start_time()
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    return mark


def _sibling_checkpoints(checkpoint: Any) -> list[Any]:
    """The trial's checkpoints older than ``checkpoint`` on its storage, newest first."""
    from ray import tune

    filesystem, path = checkpoint.filesystem, str(checkpoint.path).rstrip("/")
    parent, name = path.rsplit("/", 1)
    try:
        from pyarrow import fs as pafs

        infos = filesystem.get_file_info(pafs.FileSelector(parent, allow_not_found=True))
    except OSError:
        return []
    older = sorted((i.base_name for i in infos if i.type == pafs.FileType.Directory
                    and i.base_name.startswith("checkpoint_") and i.base_name < name), reverse=True)
    return [tune.Checkpoint(path=f"{parent}/{n}", filesystem=filesystem) for n in older]


def _load(run_cls: Any, cfg: SearchConfig, checkpoint: Any, device: str, threads: int,
          limiter: AddressSpaceLimit) -> tuple[Any, list]:
    """The run and its history from one checkpoint (downloaded, retried while storage does not answer)."""
    def once() -> tuple[Any, list]:
        with checkpoint.as_directory() as folder:
            with limiter:
                run = run_cls.load(cfg, os.path.join(folder, RUN_FILE), device=device, threads=threads)
            history = _read_history(folder)
        if len(history) != int(run.epoch):
            raise ValueError(f"{HISTORY_FILE} holds {len(history)} epochs, {RUN_FILE} {run.epoch}")
        return run, history

    try:
        return storage.retrying(once)
    except Exception as err:
        if storage.is_transient(err):
            raise StorageUnavailable(f"reading {checkpoint.path}: {err}") from err
        raise


def restore(run_cls: Any, cfg: SearchConfig, checkpoint: Any, device: str, threads: int,
            limiter: AddressSpaceLimit | None = None) -> tuple[Any, list[dict[str, Any]], str | None]:
    """``(run, history, note)`` from ``checkpoint``, else from the newest older checkpoint that loads,
    else a fresh run; ``note`` says which checkpoints were unreadable (None when the first loaded)."""
    limiter = limiter or AddressSpaceLimit(None)
    skipped: list[str] = []
    for candidate in [checkpoint, *_sibling_checkpoints(checkpoint)]:
        try:
            run, history = _load(run_cls, cfg, candidate, device, threads, limiter)
        except (StorageUnavailable, TrialOutOfMemory):
            raise
        except Exception as err:  # noqa: BLE001 - any unreadable checkpoint: try the one before it
            if is_memory_error(err):
                raise
            if not skipped:
                reason = " ".join(f"{type(err).__name__}: {err}".split())[:90]
                skipped.append(f"{_name(candidate)} unreadable ({reason})")
            else:
                skipped.append(_name(candidate))
            continue
        if not skipped:
            return run, history, None
        return run, history, f"{_skipped(skipped)}; resumed from {_name(candidate)} (epoch {run.epoch})"
    with limiter:
        run = run_cls(cfg, device=device, threads=threads)
    return run, [], f"{_skipped(skipped)}; no checkpoint loads: started over"


def _name(checkpoint: Any) -> str:
    return str(checkpoint.path).rstrip("/").rsplit("/", 1)[-1]


def _skipped(skipped: list[str]) -> str:
    more = len(skipped) - 1
    return skipped[0] + (f", and {more} older checkpoint{'s' if more > 1 else ''} too" if more else "")


def _report(metrics: dict[str, Any], folder: str) -> None:
    """``tune.report`` with the checkpoint in ``folder``; the upload is retried while the storage does not
    answer (a failed upload leaves a partial ``checkpoint_N`` that nothing names; the retry uploads
    ``checkpoint_N+1``)."""
    from ray import tune

    try:
        storage.retrying(lambda: tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder)))
    except Exception as err:
        if storage.is_transient(err):
            raise StorageUnavailable(f"saving a checkpoint: {' '.join(str(err).split())[:200]}") from err
        raise


def train_search(config: dict[str, Any], base: Mapping[str, Any] | None = None,
                 ended: Sequence[str] = ()) -> None:
    """Tune function trainable (wrap with ``tune.with_parameters(train_search, base=...)``).

    ``ended``: trial ids that already have their trial row (``resume`` passes them, because it
    resumes errored trials too: those that failed on a storage fault have no row and continue; the
    others return at once)."""
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    if trial_id in set(ended):
        return
    mark = tracer(os.environ.get(TRACE_ENV), trial_id)
    mark("start")
    resources = tune.get_context().get_trial_resources().required_resources
    cfg = trial_search_config(base or {}, config, resources)
    limit = memory_limit(resources)
    _run_class()
    if limit is not None:
        preload()
    _train(cfg, resources, limit, AddressSpaceLimit(limit), mark)
    mark("end")


def _train(cfg: SearchConfig, resources: Mapping[str, float], limit: int | None, limiter: AddressSpaceLimit,
           mark: Callable[[str], None]) -> None:
    from ray import tune

    # the exact GPU Ray gave this trial (cuda:N); the config keeps the portable "cuda" / "cpu"
    device, threads = (trial_device() if cfg["device"] == "cuda" else "cpu"), cfg["threads"]
    share = gpu_share(resources)
    if device.startswith("cuda") and share is not None:
        import torch

        torch.cuda.set_per_process_memory_fraction(share, torch.device(device))
    run_cls = _run_class()
    history: list[dict[str, Any]] = []
    note = None
    checkpoint = tune.get_checkpoint()
    try:
        if checkpoint is not None:
            run, history, note = restore(run_cls, cfg, checkpoint, device, threads, limiter)
        else:
            with limiter:
                run = run_cls(cfg, device=device, threads=threads)
    except Exception as err:
        if is_memory_error(err, limit is not None):
            raise TrialOutOfMemory(f"out_of_memory: {limit_text(limit)} while building the run: "
                                   f"{' '.join(str(err).split())[:150]}") from err
        raise
    if limit is not None:
        run.memory_note = limit_text(limit)  # its out_of_memory reason names the limit
    restored_from = int(run.epoch)
    mark("built")
    where = node_columns()
    # After a restore, the first report carries the records up to the checkpoint, so the sink
    # recovers any it had buffered but not written when the driver died.
    resend = list(history) if checkpoint is not None else []

    def metrics_for(record: dict[str, Any]) -> dict[str, Any]:
        metrics = dict(record)
        metrics["record_keys"] = list(record)
        metrics["run_status"] = run.status
        metrics["stop_reason"] = run.stop_reason
        metrics["trial_record"] = dict(run.trial_record(), **where, restored_from_epoch=restored_from)
        metrics["restored_from_epoch"] = restored_from
        if resend:
            metrics["history"] = resend
        if note:
            metrics["restore_note"] = note
        return metrics

    if run.done:  # restored after its last epoch: report that epoch again (the sink drops repeats)
        if history:
            tune.report(metrics_for(history[-1]))
        return
    while not run.done:
        with limiter:
            record = dict(run.step())  # a memory error ends the run itself (SearchRun.step)
        mark("epoch")
        record.update(where)
        _maybe_fault(cfg, int(record["epoch"]))
        history.append(record)
        metrics = metrics_for(record)
        resend, note = [], None
        with tempfile.TemporaryDirectory(prefix="diffnas-ckpt-") as folder:
            run.save(os.path.join(folder, RUN_FILE))
            with open(os.path.join(folder, HISTORY_FILE), "w", encoding="utf-8") as fh:
                json.dump(history, fh, default=_jsonable)
            mark("saved")
            _report(metrics, folder)
            mark("reported")
