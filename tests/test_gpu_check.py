"""benchmarks/gpu_check.py, the prepared GPU check, stays alive: on CPU with small sizes it prints its four
tables from a plain checkout (the package imported from PYTHONPATH, as on a lent GPU machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_cpu_and_prints_every_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--device", "cpu",
                           "--repeats", "1"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("## Step", "## Search: 2 epochs on synthetic files in CIFAR-10's format", "## Sharing: 4 trials",
                    "## Provenance"):
        assert heading in out
    for case in ("softmax fp32 NHWC", "softmax bf16 NCHW", "gumbel_hard fp16 NHWC"):
        assert f"| diffnas {case} |" in out
    sharing = out.split("## Sharing")[1].split("##")[0]
    rows = [line.split("|")[1:-1] for line in sharing.splitlines() if line[:3] in {f"| {i}" for i in range(4)}]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(0, 0), (1, 0), (2, 0), (3, 0)]  # four trials, each exit 0
    assert all(float(r[3]) > 0 for r in rows)  # a peak memory per trial
