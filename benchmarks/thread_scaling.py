"""Where a second thread helps the softmax step, op by op.

Profiles the step of ``bench_step.py`` (diffnas softmax, NB201, 16 channels, 2 cells per stage, 28 px,
batch 64, fused + NHWC) with ``torch.profiler`` at 1 and at 2 threads and prints, for the ops that take
the most time, the milliseconds per step at each thread count and the speedup t₁ / t₂. Ops near 1.0×
run on one core whatever the thread count (on this machine: BatchNorm's forward and the memory-bound
sums), which is why the step uses about 1.5 of 2 cores while the matmul peak uses 2.

    .venv/bin/python benchmarks/thread_scaling.py [--steps 5] [--top 16]
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench_step.py: no spinning threads on a shared machine

import torch  # noqa: E402
from bench_step import BATCH, CLASSES, diffnas_step  # noqa: E402  (bench_step.py, beside this script)
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from diffnas.model.perf import PerfOptions, keep_freed_memory  # noqa: E402


def op_times(step, steps: int) -> Counter:
    """Self CPU milliseconds per step of every op, from the profiler (time on the calling thread)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return Counter({ev.key: ev.self_cpu_time_total / steps / 1e3 for ev in prof.key_averages()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="profiled steps per thread count")
    parser.add_argument("--top", type=int, default=16, help="ops shown (by their 1-thread time)")
    args = parser.parse_args(argv)
    keep_freed_memory()
    torch.manual_seed(0)
    x, y = torch.randn(BATCH, 3, 28, 28), torch.randint(0, CLASSES, (BATCH,))
    step, _ = diffnas_step("softmax", 2, x, y, PerfOptions())
    times: dict[int, Counter] = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for _ in range(3):
            step()
        times[threads] = op_times(step, args.steps)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            step()
        wall, cpu = (time.perf_counter() - wall) / args.steps, (time.process_time() - cpu) / args.steps
        print(f"{threads} thread(s): {wall * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU per step "
              f"({cpu / wall:.2f} cores busy); load average {os.getloadavg()[0]:.1f}")
    print(f"\n{'op':<44} {'1 thread':>9} {'2 threads':>10} {'speedup':>8}")
    for key in sorted(times[1], key=lambda k: -times[1][k])[:args.top]:
        one, two = times[1][key], times[2].get(key)
        shown = f"{two:8.1f} ms {one / two:7.2f}x" if two else f"{'–':>11} {'–':>8}"  # not run at 2 threads
        print(f"{key[:44]:<44} {one:7.1f} ms {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
