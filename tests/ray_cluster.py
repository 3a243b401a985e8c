"""A multi-node Ray cluster on one machine for the tests: separate ``ray start --block`` processes.

``LocalCluster().start(workers=1)`` runs a head and ``workers`` worker nodes, each its own
``ray start`` process in its own process group, with its own temp folder (short paths under /tmp:
Unix socket paths are limited to 107 bytes) and every fixed-default port chosen free, so it never
clashes with another Ray on the machine (the test session's own ``ray.init`` included). Each node
has ``cpus`` CPUs; the head may declare ``head_gpus`` GPUs that do not exist (Ray then assigns GPU
ids and sets ``CUDA_VISIBLE_DEVICES`` as on a GPU node, which is what placement tests need). The head's health checks are fast, so a killed node is declared dead in
seconds. ``kill_raylet(i)`` SIGKILLs worker node ``i``'s raylet (a node failure);
``stop()`` ends every process it started, by process group and PID, and removes the temp folders.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from tests.s3_server import free_ports

FAST_HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def descendants(pid: int) -> set[int]:
    """Every live descendant process of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children[ppid].append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def wait_while_running(proc: subprocess.Popen, ready, log_path, timeout_s: float, what: str,
                       poll_s: float = 0.2) -> None:
    """Poll ``ready()`` until true; fail with the driver's log if ``proc`` exits first, or with ``what``
    after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, open(log_path).read()
        assert time.monotonic() < deadline, what
        time.sleep(poll_s)


def kill_driver(proc: subprocess.Popen) -> set[int]:
    """SIGKILL a sweep driver; returns the processes it had started (for the test to clean up)."""
    started = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return started


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


class LocalCluster:
    def __init__(self, cpus: int = 1, head_gpus: int = 0) -> None:
        self.cpus = cpus
        self.head_gpus = head_gpus  # declared only: Ray assigns ids and CUDA_VISIBLE_DEVICES, no hardware
        self.root = tempfile.mkdtemp(prefix="dnray-", dir="/tmp")
        self.procs: list[subprocess.Popen] = []
        self.pids: set[int] = set()
        self.address = ""

    def _ray(self) -> str:
        beside = os.path.join(os.path.dirname(sys.executable), "ray")
        return beside if os.access(beside, os.X_OK) else "ray"

    def _start_node(self, name: str, head: bool) -> subprocess.Popen:
        temp = os.path.join(self.root, name)
        os.makedirs(temp, exist_ok=True)
        p = free_ports(8)
        cmd = [self._ray(), "start", "--block", f"--temp-dir={temp}", f"--num-cpus={self.cpus}",
               f"--num-gpus={self.head_gpus if head else 0}",
               "--node-ip-address=127.0.0.1", f"--node-manager-port={p[0]}", f"--object-manager-port={p[1]}",
               f"--dashboard-agent-listen-port={p[2]}", f"--dashboard-agent-grpc-port={p[3]}",
               f"--metrics-export-port={p[4]}", f"--runtime-env-agent-port={p[5]}",
               "--object-store-memory=100000000", "--disable-usage-stats"]
        if head:
            cmd += ["--head", f"--port={p[6]}", "--include-dashboard=false"]
            self.address = f"127.0.0.1:{p[6]}"
        else:
            cmd += [f"--address={self.address}"]
        env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", **FAST_HEALTH_CHECKS)
        env.pop("RAY_ADDRESS", None)
        log = open(os.path.join(self.root, f"{name}.log"), "wb")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        try:
            with open(os.path.join(self.root, f"{name}.log"), encoding="utf-8", errors="replace") as fh:
                return fh.read()[-3000:]
        except OSError:
            return ""

    def _raylet(self, proc: subprocess.Popen) -> int | None:
        found = [pid for pid in descendants(proc.pid) if _comm(pid) == "raylet"]
        return found[0] if found else None

    def start(self, workers: int = 1, timeout_s: float = 120.0) -> LocalCluster:
        names = ["head"] + [f"worker{i}" for i in range(workers)]
        for i, name in enumerate(names):
            proc = self._start_node(name, head=(i == 0))
            deadline = time.monotonic() + timeout_s
            while self._raylet(proc) is None or "Ray runtime started" not in self.log(name):
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"ray node {name} did not start: {self.log(name)}")
                time.sleep(0.3)
        self._remember()
        return self

    def _remember(self) -> None:
        for proc in self.procs:
            self.pids |= descendants(proc.pid) | {proc.pid}

    def worker_proc(self, i: int = 0) -> subprocess.Popen:
        return self.procs[1 + i]

    def kill_raylet(self, i: int = 0) -> int:
        """SIGKILL worker node ``i``'s raylet and the worker processes it started (its trials), as a
        lost machine would take them; returns the raylet's PID.

        Killing the raylet alone leaves its trial processes running until Ray notices the dead node
        (health checks), long enough for a short trial to finish there instead of moving."""
        self._remember()
        pid = self._raylet(self.worker_proc(i))
        assert pid is not None, "worker raylet not found"
        for victim in [pid, *descendants(pid)]:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def stop(self) -> None:
        self._remember()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # `ray start --block` shuts its node down
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in self.pids:  # anything of ours that left the process group
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        shutil.rmtree(self.root, ignore_errors=True)
