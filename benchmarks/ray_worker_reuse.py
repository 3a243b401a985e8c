"""Which Ray worker process a new actor lands in (Ray 2.60, local Ray): the evidence behind "a warmed
worker pool cannot host Tune's trials" (docs/performance.md, "Worker start-up").

Tune creates every trial actor with a runtime environment of its own
(``ray.tune.execution.class_cache``: ``runtime_env={"env_vars": {"PL_DISABLE_FORK": "1", ...}}``),
and Ray hands an actor only a worker process that has never run anything and was started for the
same runtime environment. The workers Ray prestarts when the driver connects are started for the
empty environment. Four checks on a fresh 2-CPU local Ray, each printing process ids:

1. an actor without a runtime environment → one of the prestarted idle processes;
2. an actor with Tune's runtime environment → a new process;
3. a task with Tune's runtime environment, then an actor with it → the actor gets a new process
   (a process that ran a task is not given to an actor), while a second task reuses the first's;
4. ``ray.init(runtime_env=...)`` (a job-level environment, as ``worker_process_setup_hook`` makes
   one): even an actor without its own environment gets a new process, not a prestarted one.

Run: ``RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/ray_worker_reuse.py`` (about 20 s).
"""

from __future__ import annotations

import logging
import os
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def idle_workers() -> list[int]:
    """PIDs of this driver's idle Ray worker processes (``ray::IDLE``)."""
    from diffnas.sweeps.local_ray import descendants

    out = []
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if fh.read().startswith(b"ray::IDLE"):
                    out.append(pid)
        except OSError:
            pass
    return sorted(out)


def tune_runtime_env() -> dict:
    """The runtime environment Tune gives its trial actors (read from Tune's own actor class cache)."""
    from ray.tune.execution.class_cache import _ActorClassCache

    class Probe:
        pass

    return _ActorClassCache().get(Probe)._default_options["runtime_env"]


def main() -> int:
    import ray

    def start(**extra) -> list[int]:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, **extra)
        deadline = time.monotonic() + 15
        while len(idle_workers()) < 2 and time.monotonic() < deadline:  # Ray prestarts one per CPU
            time.sleep(0.2)
        return idle_workers()

    @ray.remote(num_cpus=1)
    def task_pid() -> int:
        return os.getpid()

    @ray.remote(num_cpus=1)
    class Actor:
        def pid(self) -> int:
            return os.getpid()

    def actor_pid(**options) -> int:
        actor = Actor.options(**options).remote()
        pid = ray.get(actor.pid.remote())
        ray.kill(actor)
        return pid

    env = tune_runtime_env()
    print(f"Tune's trial-actor runtime_env: {env}")
    idle = start()
    print(f"prestarted idle workers: {idle}")
    pid = actor_pid()
    print(f"1. actor, no runtime_env: pid {pid} ({'a prestarted one' if pid in idle else 'a new process'})")
    pid = actor_pid(runtime_env=env)
    print(f"2. actor, Tune's runtime_env: pid {pid} ({'a prestarted one' if pid in idle else 'a new process'})")
    first, second = ray.get(task_pid.options(runtime_env=env).remote()), ray.get(task_pid.options(runtime_env=env).remote())
    pid = actor_pid(runtime_env=env)
    print(f"3. task, Tune's runtime_env: pid {first}; a second task: pid {second}; then an actor: pid {pid} "
          f"({'the task worker' if pid in (first, second) else 'a new process'})")
    ray.shutdown()
    idle = start(runtime_env={"env_vars": dict(env.get("env_vars", {}))})
    pid = actor_pid()
    print(f"4. job runtime_env set at ray.init; prestarted idle workers {idle}; actor: pid {pid} "
          f"({'a prestarted one' if pid in idle else 'a new process'})")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
