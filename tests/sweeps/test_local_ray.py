"""diffnas.sweeps.local_ray: the record of a driver's local Ray, clean-up after a SIGKILLed driver, and the
one-line note instead of Tune's traceback for an already-deleted checkpoint."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

from diffnas.sweeps import local_ray

DRIVER = """
import subprocess, time
from diffnas.sweeps.local_ray import write_record
child = subprocess.Popen(["sleep", "300"])
write_record({root!r})
print(child.pid, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_leftovers_of_a_killed_driver_are_stopped_and_nothing_else(tmp_path, capsys):
    root = str(tmp_path / "results")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER.format(root=root)], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    child = int(driver.stdout.readline())
    try:
        record = json.load(open(os.path.join(root, "ray", local_ray.RECORD_FILE)))
        assert record["driver_pid"] == driver.pid and child in [p["pid"] for p in record["processes"]]
        assert local_ray.stop_leftovers(root) == 0 and _alive(child)  # the driver runs: not ours to stop
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        assert _alive(child)  # orphaned, as Ray's processes are after a SIGKILL
        assert local_ray.stop_leftovers(root) == 1
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
        assert "stopped 1 local Ray processes left by the killed driver" in capsys.readouterr().out
        assert not os.path.exists(os.path.join(root, "ray", local_ray.RECORD_FILE))
    finally:
        for pid in (driver.pid, child):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_reused_pid_is_never_stopped(tmp_path):
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        doc = {"host": os.uname().nodename, "driver_pid": 2**22 + 17, "driver_start": 1,
               "processes": [{"pid": sleeper.pid, "start": 1}]}  # same PID, another start time
        os.makedirs(tmp_path / "ray")
        (tmp_path / "ray" / local_ray.RECORD_FILE).write_text(json.dumps(doc))
        assert local_ray.leftovers(doc) == []
        assert local_ray.stop_leftovers(str(tmp_path)) == 0
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_missing_checkpoint_traceback_becomes_one_line(capsys):
    logger = logging.getLogger("diffnas-test-controller")
    logger.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    logger.addHandler(handler)
    logger.addFilter(local_ray.MissingCheckpointFilter())
    try:
        for _ in range(2):
            try:
                raise FileNotFoundError("/x/checkpoint_000000")
            except FileNotFoundError:
                logger.exception("Trial %s: Error handling checkpoint %s", "t_00001", {"metrics": "x" * 1000})
        try:
            raise ValueError("other")
        except ValueError:
            logger.exception("Trial %s: Error handling checkpoint %s", "t_00002", {})
    finally:
        logger.removeHandler(handler)
    captured = capsys.readouterr()
    assert captured.out.count("\n") == 1 and "trial t_00001: an old checkpoint" in captured.out
    assert "FileNotFoundError" not in captured.err and "ValueError: other" in captured.err
