"""Driver-side Tune callbacks: the Parquet results sink and a concise progress printer.

:class:`ParquetSink` writes ``RESULTS/epochs/*.parquet`` (one row per trial per epoch) and
``RESULTS/trials/*.parquet`` (one row per trial) through :mod:`diffnas.results.parts`, with identity and
``config/<dotted.key>`` columns built by :mod:`diffnas.results.records` (not Tune's ``/`` flattening).

Exactly once, across kills and resumes:

- On start (``setup``) it rebuilds the (trial_id, epoch) keys and trial ids already written from
  the folder, and skips any row whose key it has seen: a resumed trial re-reports the epochs after
  its last restorable checkpoint, which are dropped here.
- Rows are buffered and written as one immutable part every ``flush_rows`` rows, every
  ``flush_s`` seconds, at the end of the experiment, and before any Tune snapshot of the
  experiment state (``get_state``) that would record a trial as ended while its rows are still
  buffered (an ended trial is never run again). Rows of running trials may stay buffered across
  a snapshot: after a kill, each resumed trial's first report carries its records up to the
  checkpoint it restarts from (``history``), and the epochs after it are reported again. So a
  kill loses nothing, and parts stay few even though Tune snapshots every couple of checkpoints.

Trial status: the run's own terminal status from the last report (``completed``,
``early_stopped``, ``diverged``); a trial that ended without one was stopped by the scheduler
(``asha_stopped``); a trial that failed after its retries is ``error``.

Storage faults (:mod:`diffnas.storage`): a part that cannot be written because the object store
does not answer is retried with back-off (:func:`diffnas.storage.retrying`); one that still fails, or
that finds the disk full, stays in the buffer and raises :class:`diffnas.storage.StorageError`,
which ends the experiment before Tune snapshots anything that the failed part would have recorded
(:meth:`ParquetSink.get_state` runs inside the snapshot). A trial that fails because *its*
checkpoint could not be written (a full disk, an object store gone) stops the experiment the same
way, before Tune retries it into ``error``: no trial row is written for it, so ``diffnas sweep
resume`` continues it from its last checkpoint (:func:`diffnas.sweeps.tuners.restore_tuner`).
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ray import tune

from diffnas import storage
from diffnas.results.parts import read_keys, write_part
from diffnas.results.records import identity_columns, with_identity
from diffnas.results.schema import EPOCH_COLUMNS, EPOCHS_DIR, TRIAL_COLUMNS, TRIALS_DIR
from diffnas.sweeps.trainable import POINT_KEY, tune_trial_config

# result keys the trainable adds next to the record (never written as epoch columns)
_NOT_RECORD = {"record_keys", "run_status", "stop_reason", "trial_record", "restored_from_epoch", "history",
               "restore_note"}


def trial_status(trial: Any, errored: bool) -> str:
    """``error`` | the run's terminal status | ``asha_stopped`` (ended without one)."""
    if errored:
        return "error"
    last = trial.last_result or {}
    status = last.get("run_status")
    return str(status) if status else "asha_stopped"


class ParquetSink(tune.Callback):
    """Writes the schema's epoch and trial rows for one experiment (one phase) of a sweep."""

    def __init__(self, root: str, sweep: str, phase: str, base: Mapping[str, Any],
                 flush_rows: int = 1024, flush_s: float = 60.0) -> None:
        self.root = root
        self.sweep = sweep
        self.phase = phase
        self.base = dict(base)
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._reset()

    def _reset(self) -> None:
        self._epoch_keys: set[tuple[str, int]] = set()
        self._trial_keys: set[str] = set()
        self._epoch_rows: list[dict[str, Any]] = []
        self._trial_rows: list[dict[str, Any]] = []
        self._identity: dict[str, dict[str, Any]] = {}
        self.unended: list[str] | None = None  # set at the experiment's end: trials without a row
        self.fault: storage.StorageError | None = None  # a write that failed: the experiment stops
        self._ended_buffered = False  # a trial row waits in the buffer
        self._last_flush = time.monotonic()

    def __getstate__(self) -> dict[str, Any]:
        # pickled into Tune's tuner state: configuration only, never buffered rows
        return {k: self.__dict__[k] for k in ("root", "sweep", "phase", "base", "flush_rows", "flush_s")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    # -- keys already written -----------------------------------------------------------------
    def setup(self, **info: Any) -> None:
        self._reset()
        table = read_keys(self.root, EPOCHS_DIR, ("trial_id", "epoch"))
        if table is not None and table.num_rows:
            self._epoch_keys = set(zip(table.column("trial_id").to_pylist(),
                                       table.column("epoch").to_pylist()))
        table = read_keys(self.root, TRIALS_DIR, ("trial_id",))
        if table is not None and table.num_rows:
            self._trial_keys = set(table.column("trial_id").to_pylist())

    def identity(self, trial: Any) -> dict[str, Any]:
        ident = self._identity.get(trial.trial_id)
        if ident is None:
            config = tune_trial_config(self.base, trial)
            ident = identity_columns(config, trial_id=trial.trial_id, sweep=self.sweep, phase=self.phase)
            self._identity[trial.trial_id] = ident
        return ident

    # -- Tune hooks ---------------------------------------------------------------------------
    def _add(self, trial: Any, record: Mapping[str, Any]) -> None:
        if "epoch" not in record:
            return
        key = (trial.trial_id, int(record["epoch"]))
        if key in self._epoch_keys or trial.trial_id in self._trial_keys:
            return  # written already, or the trial already has its final row (restored from an older snapshot)
        self._epoch_rows.append(with_identity(self.identity(trial), record))
        self._epoch_keys.add(key)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        for record in result.get("history") or []:
            self._add(trial, record)
        names = result.get("record_keys")
        if names is None:
            names = [k for k in EPOCH_COLUMNS if k in result]
        self._add(trial, {k: result.get(k) for k in names if k not in _NOT_RECORD})
        if len(self._epoch_rows) >= self.flush_rows or time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, errored=False)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._storage_fault(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._storage_fault(trial)
        self._finish(trial, errored=True)

    def _storage_fault(self, trial: Any) -> None:
        """Stop the experiment (no trial row) when the trial failed on the results storage itself."""
        text = _error_text(trial) or ""
        fault = storage_fault(text, self.root)
        if fault is not None:
            self.fault = fault
            raise fault

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        # Only trials that Tune reported as complete or errored get a trial row: on an interrupt
        # (Ctrl-C) Tune snapshots its state, then marks the live trials TERMINATED without
        # completing them; those stay without a row and continue on resume.
        if self.fault is None:
            self.flush()
        else:  # the experiment stops on a storage fault: one more try, without waiting
            try:
                self.flush(retry=False)
            except OSError:
                pass
        self.unended = sorted(t.trial_id for t in trials if t.trial_id not in self._trial_keys)

    def get_state(self) -> dict | None:
        # Tune is about to snapshot the experiment: a trial it records as ended is never run
        # again, so its buffered rows must reach disk first (running trials re-send theirs).
        if self._ended_buffered or time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()
        return None

    # -- rows ---------------------------------------------------------------------------------
    def trial_row(self, trial: Any, errored: bool) -> dict[str, Any]:
        last = trial.last_result or {}
        status = trial_status(trial, errored)
        record = last.get("trial_record")
        row: dict[str, Any] = {k: None for k in TRIAL_COLUMNS}
        if isinstance(record, Mapping):
            row.update(record)
        row["status"] = status
        if status == "asha_stopped":
            row["stop_reason"] = "asha"
        elif errored:
            # the traceback's last line goes into stop_reason: every part keeps the same columns
            # (a run that ended itself with status error, out of memory, keeps its own reason)
            line = _error_line(trial)
            if line and "TrialOutOfMemory: " in line:  # past resources.memory_gb while building the run
                row["stop_reason"] = line.split("TrialOutOfMemory: ", 1)[1]
            else:
                row["stop_reason"] = f"error: {line}" if line else "error"
        if row.get("epochs_run") is None:
            row["epochs_run"] = int(last.get("epoch", 0) or 0)
        return with_identity(self.identity(trial), row)

    def _finish(self, trial: Any, errored: bool) -> None:
        if trial.trial_id in self._trial_keys:
            return
        self._trial_rows.append(self.trial_row(trial, errored))
        self._trial_keys.add(trial.trial_id)
        self._ended_buffered = True

    def flush(self, retry: bool = True) -> None:
        """Write buffered rows as immutable parts (epochs first, so a trial row implies its epochs).

        A part is retried while the store does not answer (same name: a retry replaces, never
        duplicates); rows that could not be written stay buffered and :class:`~diffnas.storage.StorageError`
        is raised (see the module docstring)."""
        self._last_flush = time.monotonic()
        stamp = f"{self.phase}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        for kind, attr in ((EPOCHS_DIR, "_epoch_rows"), (TRIALS_DIR, "_trial_rows")):
            rows = getattr(self, attr)
            if not rows:
                continue
            try:
                storage.retrying(lambda rows=rows, kind=kind: write_part(rows, self.root, kind, stamp),
                                 budget_s=None if retry else 0.0, on_retry=self._waiting)
            except OSError as err:
                fault = storage.write_error(storage.join(self.root, kind), err)
                self.fault = self.fault or fault
                raise fault from err
            setattr(self, attr, [])
        self._ended_buffered = False

    def _waiting(self, err: BaseException, wait_s: float) -> None:
        print(f"{storage.write_error(self.root, err)}; "
              f"retrying in {wait_s:.1f} s", file=sys.stderr, flush=True)


def _error_text(trial: Any) -> str | None:
    """The trial's error text: Tune's local copy first (the storage copy may be what failed)."""
    path = getattr(trial, "error_file", None)
    if path:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            pass
    try:
        return trial.get_error()
    except Exception:  # pragma: no cover - the error file may be gone
        return None


def storage_fault(text: str, root: str) -> storage.StorageError | None:
    """The :class:`~diffnas.storage.StorageError` of a trial whose last failure (Tune's error text,
    each failure appended) was the results storage itself: a full disk, or an object store that did
    not answer within the trainable's retries; None for any other failure."""
    last = text.strip().rsplit("Failure # ", 1)[-1]
    if storage.is_disk_full(OSError(last)):
        return storage.disk_full_error(root)
    if "StorageUnavailable" in last:
        line = [ln for ln in last.splitlines() if "StorageUnavailable" in ln][-1]
        return storage.StorageError(5, f"{root}: the object store does not answer "
                                       f"({line.split('StorageUnavailable:', 1)[-1].strip()[:120]})")
    return None


def _error_line(trial: Any) -> str | None:
    text = _error_text(trial)
    if not text:
        return None
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else None


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


class Progress(tune.Callback):
    """Concise live progress: one line per finished trial and a summary line every ``every_s``."""

    def __init__(self, total: int | None, metric: str, phase: str, every_s: float = 15.0,
                 stream: TextIO | None = None, axes: Sequence[str] = (), root: str | None = None) -> None:
        self.total = total
        self.metric = metric
        self.phase = phase
        self.every_s = every_s
        self.stream = stream
        self.axes = list(axes)
        self.root = root  # results folder: counts continue from what earlier runs of it wrote
        self._reset()

    def _reset(self) -> None:
        self._start = time.monotonic()
        self._last = self._start
        self._epochs = 0
        self._done: dict[str, int] = {}
        self._running: set[str] = set()
        self._ended_before: set[str] = set()  # trials with a row from an earlier run (resumed errored ones)
        self._counted_before = False

    def _count_before(self, trials: Sequence[Any]) -> None:
        """Once: add the trials ended and epochs written by earlier (interrupted) runs of this
        experiment, so that counts are cumulative across resumes."""
        if self._counted_before:
            return
        self._counted_before = True
        if self.root is None:
            return
        ids = {t.trial_id for t in trials}
        ended = read_keys(self.root, TRIALS_DIR, ("trial_id", "status"))
        for row in [] if ended is None else ended.to_pylist():
            if row.get("trial_id") in ids:
                self._done[str(row["status"])] = self._done.get(str(row["status"]), 0) + 1
                self._ended_before.add(str(row["trial_id"]))
        epochs = read_keys(self.root, EPOCHS_DIR, ("trial_id",))
        if epochs is not None:
            self._epochs += sum(1 for t in epochs.column("trial_id").to_pylist() if t in ids)

    def __getstate__(self) -> dict[str, Any]:
        keep = ("total", "metric", "phase", "every_s", "axes", "root")
        return {k: self.__dict__.get(k) for k in keep} | {"stream": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def _print(self, text: str) -> None:
        elapsed = time.monotonic() - self._start
        print(f"[{self.phase} {elapsed:6.1f}s] {text}", file=self.stream or sys.stdout, flush=True)

    def setup(self, **info: Any) -> None:
        self._reset()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._count_before(trials)
        if not self._running and not self._done and not self._epochs:
            self._print("first trials starting (a new worker first imports torch; each trial loads its data)")
        self._running.add(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._count_before(trials)
        if result.get("restore_note"):  # the trial's newest checkpoint did not load (trainable.restore)
            self._print(f"trial {trial.trial_id}: {result['restore_note']}")
        if result.get("restored_from_epoch") and int(result.get("epoch") or 0) <= int(result["restored_from_epoch"]):
            return  # a restored trial re-reporting its checkpoint epoch, counted already
        self._epochs += 1
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._print(self._summary())

    def _summary(self) -> str:
        done = sum(self._done.values())
        total = f"/{self.total}" if self.total else ""
        by = ", ".join(f"{k} {v}" for k, v in sorted(self._done.items()))
        return (f"{done}{total} trials done ({by or 'none yet'}), {len(self._running)} running, "
                f"{self._epochs} epochs reported")

    def _end(self, trial: Any, errored: bool) -> None:
        if trial.trial_id in self._ended_before:  # ended in an earlier run (resume re-queues errored trials)
            self._running.discard(trial.trial_id)
            return
        status = trial_status(trial, errored)
        self._done[status] = self._done.get(status, 0) + 1
        self._running.discard(trial.trial_id)
        last = trial.last_result or {}
        config = dict(trial.config or {})
        config.update(config.pop(POINT_KEY, None) or {})
        where = "".join(f" {k}={_short(config[k])}" for k in self.axes or () if k in config)
        self._print(f"trial {trial.trial_id}{where} seed {config.get('seed', '?')}: {status} after "
                    f"{last.get('epoch', 0)} epochs, {self.metric} {_fmt(last.get(self.metric))}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, errored=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial, errored=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._print(f"trial {trial.trial_id} failed; retrying from its last checkpoint")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._print(self._summary())
