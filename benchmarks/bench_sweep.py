"""Sweep efficiency: how much of the machine a sweep turns into search epochs.

    efficiency = Σ_trials trial compute ÷ (wall × slots)

* trial compute: a trial's ``wall_s`` column (the seconds its search run spent in epochs);
* wall: the seconds ``run_sweep`` took (the explore phase), Ray already started; the line
  ``incl. Ray start`` adds the local Ray start-up measured just before it;
* slots: trials that can run at once = min(max_concurrent, ⌊cluster CPUs ÷ CPUs per trial⌋).

The loss is everything a trial does outside its epochs (worker start, imports, data loading,
model construction, checkpoints, reports) plus idle slots (the last trials of a queue, ASHA's
stopped trials). Specs: ``sweeps/quick.yaml`` (ASHA), ``benchmarks/sweep_fifo8.yaml`` (8 trials,
FIFO, ~1-3 s digits trials) and ``benchmarks/sweep_fifo8_study.yaml`` (the same grid with the NB201
study's trial config: ~10-60 s trials). Each spec runs in a fresh temporary results folder; nothing
is kept.

Where the slot-seconds go: the trials append event timestamps to a file (``DIFFNAS_TRIAL_TRACE``,
see :mod:`diffnas.sweeps.trainable`), and each worker process's time line from the sweep's start to its end
is cut into: worker start (sweep start → its process is created, or 0 when Ray had started it before the
sweep), worker boot (from then → its first trial starts: Ray's worker start-up, loading the trainable),
the first trial's set-up in that
process (imports, data; ``start → built``), later trials' set-up, epochs, checkpoint write (state
and history to a temporary folder), report (``tune.report``: persisting the checkpoint, the driver's
callbacks and scheduler, until Tune lets the trial go on), between trials (a trial's end to the next
one's start on the same worker) and idle tail (its last trial's end → the sweep's end). The trace also
carries each process's CPU seconds, so the boot and the first set-up are printed as wall and CPU
seconds per worker process (how much of the start-up is work and how much is waiting).

``--ray-start`` picks how local Ray starts: ``cli`` (default, as ``diffnas sweep run``), or one of the
tries at a cheaper worker start kept for measuring beside it (:data:`RAY_STARTS`); neither helped.

Run: ``RAY_AUTH_MODE=disabled .venv/bin/python benchmarks/bench_sweep.py [--ray-start V] [SPEC ...]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

SPECS = [str(ROOT / "sweeps" / "quick.yaml"), str(ROOT / "benchmarks" / "sweep_fifo8.yaml"),
         str(ROOT / "benchmarks" / "sweep_fifo8_study.yaml")]


# How the benchmark starts local Ray: as ``diffnas sweep run`` does (diffnas.sweeps.session.connect), or one
# of two tries at a cheaper worker start, measured beside it (docs/performance.md, "Worker start-up"):
# no prestarted idle workers (Tune's trial actors never land on them), and no prestart plus a
# setup hook that imports torch, torch._dynamo and diffnas.search.run in a background thread as each worker
# boots (benchmarks/warm_hook.py).
NO_PRESTART = {"_system_config": {"prestart_worker_first_driver": False}}
RAY_STARTS: dict[str, dict] = {
    "cli": {},
    "no-prestart": NO_PRESTART,
    "warm-thread": dict(NO_PRESTART, runtime_env={"worker_process_setup_hook": "benchmarks.warm_hook.start"}),
}


def start_ray(num_cpus: int | None, variant: str) -> None:
    """Start local Ray the ``variant`` way (:data:`RAY_STARTS`)."""
    from diffnas.sweeps.session import connect, quiet_env

    if variant != "cli":
        import logging

        import ray

        quiet_env(False)
        if "runtime_env" in RAY_STARTS[variant]:  # the workers import the hook from this checkout
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 **RAY_STARTS[variant])
        for name in ("ray", "ray.tune", "ray.train", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
    connect(None, num_cpus, verbose=False)  # "cli": starts Ray; otherwise joins the one just started


def efficiency(trial_seconds: list[float], wall: float, slots: int) -> float:
    """Σ trial compute ÷ (wall × slots)."""
    return sum(trial_seconds) / (wall * slots)


# (previous event, event) on one worker -> where that time went
PHASES = {
    ("start", "built"): "later trial set-up", ("built", "epoch"): "epochs", ("reported", "epoch"): "epochs",
    ("epoch", "saved"): "checkpoint write", ("saved", "reported"): "report",
    ("reported", "end"): "between trials", ("end", "start"): "between trials",
}
ORDER = ("epochs", "worker start", "worker boot", "first trial set-up", "later trial set-up", "checkpoint write", "report",
         "between trials", "idle tail", "other")


def breakdown(events: list[dict], start: float, end: float) -> dict[str, float]:
    """Slot-seconds per phase, summed over worker processes (``events``: the trials' trace lines)."""
    by_pid: dict[int, list[dict]] = defaultdict(list)
    for event in events:
        by_pid[event["pid"]].append(event)
    out: dict[str, float] = defaultdict(float)
    for line in by_pid.values():
        line.sort(key=lambda e: e["t"])
        made = [e["created"] for e in line if e.get("created") is not None]
        if made:  # the process's creation time splits its start: before it existed, and its boot
            created = min(max(min(made), start), line[0]["t"])
            out["worker start"] += created - start
            out["worker boot"] += line[0]["t"] - created
        else:
            out["worker start"] += line[0]["t"] - start
        out["idle tail"] += end - line[-1]["t"]
        first = True
        for prev, cur in zip(line, line[1:]):
            phase = PHASES.get((prev["event"], cur["event"]), "other")
            if phase == "later trial set-up" and first:
                phase, first = "first trial set-up", False
            out[phase] += cur["t"] - prev["t"]
    return dict(out)


def first_trial_costs(events: list[dict]) -> list[dict[str, float]]:
    """Per worker process: wall and CPU seconds of its boot (creation → first ``start``) and of its
    first trial's set-up (``start`` → ``built``), from the trace's ``created``, ``t`` and ``cpu``
    (the process's CPU seconds so far, all threads). Processes without those fields are skipped."""
    by_pid: dict[int, list[dict]] = defaultdict(list)
    for event in events:
        by_pid[event["pid"]].append(event)
    out = []
    for line in by_pid.values():
        line.sort(key=lambda e: e["t"])
        start, built = line[0], next((e for e in line if e["event"] == "built"), None)
        if start["event"] != "start" or built is None or start.get("created") is None or "cpu" not in start:
            continue
        out.append({"boot_wall": start["t"] - start["created"], "boot_cpu": start["cpu"],
                    "setup_wall": built["t"] - start["t"], "setup_cpu": built["cpu"] - start["cpu"]})
    return out


def measure(path: str, ray_start_s: float) -> dict[str, float]:
    import pyarrow.parquet as pq
    import ray

    from diffnas.sweeps.commands import run_sweep
    from diffnas.sweeps.spec_file import load_spec
    from diffnas.sweeps.trainable import TRACE_ENV

    spec = load_spec(path)
    cpus = float(ray.cluster_resources().get("CPU", 1))
    per_trial = max(float(spec.resources.get("cpu", 1) or 1), 1e-9)
    slots = int(cpus // per_trial)
    if spec.max_concurrent:
        slots = min(slots, spec.max_concurrent)
    slots = max(1, min(slots, spec.n_trials()))
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        trace = os.environ[TRACE_ENV]
        open(trace, "w").close()
        start, t_start = time.perf_counter(), time.time()
        code = run_sweep(spec, storage=os.path.join(tmp, spec.name))
        wall, t_end = time.perf_counter() - start, time.time()
        if code != 0:
            raise SystemExit(f"bench_sweep: {path} exited {code}")
        trials = pq.read_table(os.path.join(tmp, spec.name, "trials")).to_pandas()
        with open(trace, encoding="utf-8") as fh:
            events = [json.loads(line) for line in fh if line.strip()]
        phases = breakdown(events, t_start, t_end)
        costs = first_trial_costs(events)
    seconds = [float(s) for s in trials["wall_s"] if s == s]
    eff = efficiency(seconds, wall, slots)
    eff_ray = efficiency(seconds, wall + ray_start_s, slots)
    epochs = int(trials["epochs_run"].sum())
    print(f"{spec.name}: {len(seconds)} trials, {epochs} epochs, {slots} slots ({cpus:.0f} CPUs, "
          f"{per_trial:g} per trial); Σ trial compute {sum(seconds):.1f} s; sweep wall {wall:.1f} s "
          f"(+ Ray start {ray_start_s:.1f} s)")
    print(f"  efficiency {eff:.2f} (incl. Ray start {eff_ray:.2f}); mean trial compute "
          f"{sum(seconds) / max(1, len(seconds)):.1f} s; overhead per trial "
          f"{(wall * slots - sum(seconds)) / max(1, len(seconds)):.1f} s")
    total = wall * slots
    print(f"  slot-seconds {total:.1f}: " + ", ".join(
        f"{name} {phases[name]:.1f} ({phases[name] / total:.0%})" for name in ORDER if name in phases))
    if costs:
        mean = {k: sum(c[k] for c in costs) / len(costs) for k in costs[0]}
        print(f"  per worker process ({len(costs)}), mean: boot {mean['boot_wall']:.2f} s wall / "
              f"{mean['boot_cpu']:.2f} s CPU, first trial set-up {mean['setup_wall']:.2f} s wall / "
              f"{mean['setup_cpu']:.2f} s CPU")
    return {"efficiency": eff, "wall": wall, "compute": sum(seconds), "slots": slots}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", default=SPECS,
                        help="sweep specs (default: quick.yaml, fifo8 and fifo8_study)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs for local Ray (default: all)")
    parser.add_argument("--ray-start", choices=sorted(RAY_STARTS), default="cli",
                        help="how local Ray starts (default: cli, as `diffnas sweep run` starts it)")
    args = parser.parse_args(argv)
    from diffnas.sweeps.trainable import TRACE_ENV

    # set before Ray starts, so that its worker processes inherit it
    os.environ[TRACE_ENV] = os.path.join(tempfile.mkdtemp(prefix="bench-sweep-trace-"), "trace.jsonl")

    start = time.perf_counter()
    start_ray(args.num_cpus, args.ray_start)
    ray_start = time.perf_counter() - start
    print(f"Ray started the {args.ray_start!r} way in {ray_start:.1f} s")
    import ray

    try:
        results = {Path(p).stem: measure(p, ray_start) for p in args.specs}
    finally:
        ray.shutdown()
    for name, r in results.items():
        if not math.isfinite(r["efficiency"]):
            return 1
        print(f"=> {name}: sweep efficiency {r['efficiency']:.2f}" + (" (target >= 0.9)" if "fifo" in name else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
