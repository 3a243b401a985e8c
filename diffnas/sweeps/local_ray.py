"""The local Ray a sweep driver starts: a record of its processes, and clean-up after a killed driver.

When ``diffnas sweep run | resume | confirm`` starts Ray on this machine, it records the driver's
PID and the processes Ray started (its descendants: GCS, raylet, agents, workers, each with its
start time from ``/proc/PID/stat``) in ``DIR/ray/local-processes.json``. A driver that ends
normally shuts Ray down and removes the record. A driver that was SIGKILLed leaves Ray's processes
running; the next ``resume`` / ``confirm`` of the same folder on the same host finds the record,
sees that the driver is gone, and stops exactly the recorded processes that are still the same
processes (same PID *and* start time: a reused PID is never touched), SIGTERM then SIGKILL. What
it cannot stop it names in one line with the exact ``kill`` command.

Also: :class:`MissingCheckpointFilter`, which turns Tune's traceback for an old checkpoint that a
killed run had already deleted (an expected case on resume) into one diffnas line.

Linux (``/proc``) only; elsewhere nothing is recorded and nothing is stopped.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import time
from collections import defaultdict
from typing import Any

from diffnas import storage

RECORD_FILE = "local-processes.json"


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent PID, start time in clock ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> dict[int, int]:
    """``{pid: start time}`` of every live descendant of ``pid``."""
    children: dict[int, list[int]] = defaultdict(list)
    starts: dict[int, int] = {}
    if not os.path.isdir("/proc"):
        return {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children[stat[0]].append(int(entry))
                starts[int(entry)] = stat[1]
    out: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out[child] = starts[child]
                todo.append(child)
    return out


def record_location(root: str) -> str:
    return storage.join(root, "ray", RECORD_FILE)


def write_record(root: str) -> None:
    """Record this driver and the processes it has started so far (call after ``ray.init``)."""
    me = _stat(os.getpid())
    if me is None:
        return
    doc = {"host": socket.gethostname(), "driver_pid": os.getpid(), "driver_start": me[1],
           "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "processes": [{"pid": pid, "start": start} for pid, start in sorted(descendants(os.getpid()).items())]}
    storage.atomic_write(record_location(root), json.dumps(doc, indent=1).encode("utf-8"))


def remove_record(root: str) -> None:
    storage.delete(record_location(root))


def _same(pid: int, start: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] == start


def leftovers(doc: dict[str, Any]) -> list[int]:
    """Recorded processes still alive (same PID and start time) once their driver is gone; [] while
    the driver runs or on another host."""
    if doc.get("host") != socket.gethostname():
        return []
    if _same(int(doc.get("driver_pid", -1)), int(doc.get("driver_start", -1))):
        return []  # the driver is alive: not ours to stop
    return [int(p["pid"]) for p in doc.get("processes", []) if _same(int(p["pid"]), int(p["start"]))]


def stop_leftovers(root: str, grace_s: float = 5.0) -> int:
    """Stop the Ray processes a killed driver of ``root`` left running; returns how many stopped."""
    data = storage.read_bytes(record_location(root))
    if data is None:
        return 0
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError:
        return 0
    pids = leftovers(doc)
    if not pids:
        if doc.get("host") == socket.gethostname() and not _same(int(doc.get("driver_pid", -1)),
                                                                  int(doc.get("driver_start", -1))):
            remove_record(root)
        return 0
    starts = {int(p["pid"]): int(p["start"]) for p in doc["processes"]}
    for pid in list(pids):  # workers the recorded raylet started after the record was written
        for child, start in descendants(pid).items():
            if child not in starts:
                starts[child] = start
                pids.append(child)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            if _same(pid, starts[pid]):
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_same(p, starts[p]) for p in pids):
            time.sleep(0.1)
    remaining = sorted(p for p in pids if _same(p, starts[p]))
    if remaining:
        print(f"could not stop {len(remaining)} Ray processes left by the killed driver (PID "
              f"{doc['driver_pid']}); stop them with: kill -9 {' '.join(map(str, remaining))}", flush=True)
        return 0
    print(f"stopped {len(pids)} local Ray processes left by the killed driver (PID {doc['driver_pid']})",
          flush=True)
    remove_record(root)
    return len(pids)


class MissingCheckpointFilter(logging.Filter):
    """Drop Tune's traceback for deleting an old checkpoint that is already gone and print one line.

    After a killed driver, Tune's restored state may still list a checkpoint that the trial had
    deleted (``num_to_keep``) before the kill; deleting it again raises ``FileNotFoundError``,
    which Tune logs with the whole result dict. The trial's newer checkpoints are intact."""

    def __init__(self) -> None:
        super().__init__()
        self.told: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, FileNotFoundError) or "Error handling checkpoint" not in str(record.msg):
            return True
        first = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        trial = str(getattr(first, "trial_id", first))
        if trial not in self.told:
            self.told.add(trial)
            print(f"trial {trial}: an old checkpoint listed before the interruption was already deleted; "
                  f"continuing from its newest one", file=sys.stdout, flush=True)
        return False


class StorageOutageFilter(logging.Filter):
    """Turn Ray's tracebacks for an experiment-state snapshot that could not reach the results storage
    (an object store that does not answer) into one line at most every ``every_s`` seconds.

    Tune logs each failed snapshot upload with its traceback and tries again at the next snapshot;
    the trials wait for the store themselves (:func:`diffnas.storage.retrying`), and the sink stops
    the sweep with one line if it stays away (:mod:`diffnas.sweeps.sink`)."""

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.last = -every_s

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not storage.is_transient(exc):
            return True
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            reason = " ".join(str(exc).split())
            reason = reason.rsplit("Details: ", 1)[-1][:100]
            print(f"the results storage does not answer ({reason}); Tune saves its state again at the next "
                  "snapshot, trials wait and retry their checkpoints", file=sys.stderr, flush=True)
        return False


TUNE_CONTROLLER_LOGGER = "ray.tune.execution.tune_controller"
STORAGE_LOGGERS = ("ray.train._internal.storage", "ray.tune.execution.experiment_state",
                   "ray.train._internal.syncer")


def install_filters() -> None:
    """Attach :class:`MissingCheckpointFilter` to Tune's controller logger and :class:`StorageOutageFilter`
    to the loggers of Tune's storage sync (once each)."""
    logger = logging.getLogger(TUNE_CONTROLLER_LOGGER)
    if not any(isinstance(f, MissingCheckpointFilter) for f in logger.filters):
        logger.addFilter(MissingCheckpointFilter())
    outage = StorageOutageFilter()
    for name in STORAGE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, StorageOutageFilter) for f in logger.filters):
            logger.addFilter(outage)
