"""How many OpenMP parallel regions one search step opens, and what one costs under each wait policy.

Each ``#pragma omp parallel`` (in PyTorch's ops, oneDNN's convolutions and diffnas's kernels) wakes
the process's other OpenMP threads. With ``OMP_WAIT_POLICY=PASSIVE`` they sleep between regions and
every region pays for waking them; with libgomp's default they spin a while first. This script

1. counts the regions of one 2-cell 28 px step (the step benchmark's work, 2 threads) for diffnas's
   defaults, diffnas on PyTorch's kernels (``perf.native`` off) and xautodl's DARTS, by interposing
   libgomp's ``GOMP_parallel`` (a few lines of C built with the system compiler and preloaded into a
   child process);
2. times one empty region (a 2×2-pixel pool through the native kernels) at 1 and 2 threads in child
   processes under ``OMP_WAIT_POLICY=PASSIVE`` and under libgomp's default.

Run: ``.venv/bin/python benchmarks/omp_regions.py`` (needs ``xautodl==1.0.0`` and a C compiler).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
static long regions;
void GOMP_parallel(void (*fn)(void *), void *data, unsigned nt, unsigned flags) {
    static void (*real)(void (*)(void *), void *, unsigned, unsigned);
    if (!real) real = dlsym(RTLD_NEXT, "GOMP_parallel");
    regions++;
    real(fn, data, nt, flags);
}
long omp_regions(void) { return regions; }
"""


def count_regions() -> None:
    """Child: regions per step of each case (the shim is preloaded)."""
    import ctypes

    import torch
    from bench_step import BATCH, CLASSES, diffnas_step, xautodl_step

    from diffnas.model.perf import PerfOptions

    torch.set_num_threads(2)
    shim = ctypes.CDLL(None)
    shim.omp_regions.restype = ctypes.c_long
    x, y = torch.randn(BATCH, 3, 28, 28), torch.randint(0, CLASSES, (BATCH,))
    cases = {"diffnas softmax": diffnas_step("softmax", 2, x, y, PerfOptions())[0],
             "diffnas-torch softmax": diffnas_step("softmax", 2, x, y, PerfOptions(native=False))[0],
             "xautodl DARTS": xautodl_step("darts", 2, x, y)}
    for name, step in cases.items():
        step()
        before = shim.omp_regions()
        step()
        print(f"  {name:<22} {shim.omp_regions() - before:5d} parallel regions per step")


def time_region() -> None:
    """Child: median wall time of one near-empty native-kernel call at 1 and 2 threads."""
    import time

    import torch

    from diffnas.model.native.build import kernels, ptr

    lib = kernels()
    x = torch.randn(1, 2, 2, 16)
    out = torch.empty_like(x)
    label = os.environ.get("OMP_WAIT_POLICY", "unset (libgomp default)")
    for nt in (1, 2):
        times = []
        for i in range(310):
            start = time.perf_counter()
            lib.avg_pool3x3(1, 2, 2, 16, nt, 0, ptr(x), ptr(out))
            if i >= 10:
                times.append(time.perf_counter() - start)
        print(f"  OMP_WAIT_POLICY={label:<24} {nt} thread(s): {sorted(times)[len(times) // 2] * 1e6:6.1f} us per region")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--count":
        count_regions()
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--time":
        time_region()
        return 0
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    with tempfile.TemporaryDirectory() as tmp:
        src, lib = Path(tmp) / "shim.c", Path(tmp) / "shim.so"
        src.write_text(SHIM)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", str(src), "-o", str(lib), "-ldl"], check=True)
        print("one 2-cell 28 px softmax step, batch 64, 2 threads:")
        subprocess.run([sys.executable, __file__, "--count"], env={**env, "LD_PRELOAD": str(lib)}, check=True)
    print("one near-empty parallel region:")
    for policy in ("PASSIVE", None):
        child = {**env, "OMP_WAIT_POLICY": policy} if policy else env
        subprocess.run([sys.executable, __file__, "--time"], env=child, check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
