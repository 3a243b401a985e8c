"""Benchmark: load + summarise + aggregate a 1,000,000-row epochs dataset of NAS-Bench-201 shape.

    .venv/bin/python benchmarks/bench_analysis.py [--configs 500] [--seeds 20] [--epochs 100] [--keep DIR]

Builds (in a temporary folder) 500 configs × 20 seeds × 100 epochs = 1,000,000 epoch rows with 30
op probabilities per row (6 edges × 5 ops), genotypes, config columns, and a 10,000-row trials table
with mixed statuses, written as schema-versioned Parquet parts (one per seed). Then, in a fresh
child process (so that the memory figures are the analysis's own), it measures:

  load_results (only the needed columns) + summarise + assign_groups + aggregate with
  2,000-resample percentile-bootstrap CIs for the four headline metrics,

and prints wall time, peak RSS (``ru_maxrss``; the interpreter and imports included, and the RSS
after imports for reference), the peak of Python/numpy allocations seen by ``tracemalloc`` (a
second, traced run), and pyarrow's memory-pool peak. Targets here: ≤ 5 s and ≤ 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
SAMPLERS = ["softmax", "gumbel", "gumbel_hard", "enhanced"]
SCHEDULES = ["constant", "linear", "exponential", "cosine", "step"]


def _genotype_pool(size: int, rng: np.random.Generator) -> list[str]:
    pool = set()
    while len(pool) < size:
        ops = rng.integers(0, 5, 6)
        names = [OPS[i] for i in ops]
        pool.add(f"|{names[0]}~0|+|{names[1]}~0|{names[2]}~1|+|{names[3]}~0|{names[4]}~1|{names[5]}~2|")
    return sorted(pool)


def build(root: str, n_configs: int, n_seeds: int, n_epochs: int, seed: int = 0) -> int:
    """Write the synthetic results folder; returns the number of epoch rows."""
    from diffnas.results.parts import write_table

    rng = np.random.default_rng(seed)
    cfg = np.arange(n_configs)
    sampler = np.array(SAMPLERS)[cfg % len(SAMPLERS)]
    schedule = np.array(SCHEDULES)[(cfg // len(SAMPLERS)) % len(SCHEDULES)]
    entropy_weight = np.round(np.linspace(-0.1, 0.2, 25), 4)[(cfg // 20) % 25]
    config_id = np.array([f"{c:012x}" for c in rng.integers(0, 2**48, n_configs)])
    pool = _genotype_pool(64, rng)
    n_runs = n_configs * n_seeds
    tau = rng.uniform(8, 120, n_runs)  # entropy_norm ~ exp(-epoch / tau): some runs never converge
    settle = rng.integers(5, n_epochs + 20, n_runs)  # argmax genotype stops changing here
    final_geno = rng.integers(0, len(pool), n_runs)
    epochs = np.arange(1, n_epochs + 1)
    trials = []
    for s in range(n_seeds):  # one part file per seed, as a sweep sink would write batches
        runs = np.arange(n_configs) * n_seeds + s
        r = np.repeat(runs, n_epochs)
        c = r // n_seeds
        e = np.tile(epochs, n_configs).astype(np.int64)
        ent = np.clip(np.exp(-e / tau[r]) + rng.normal(0, 0.01, r.size), 0, 1)
        val = np.clip(0.9 - 0.5 * np.exp(-e / 15) - 0.02 * (c % 7) + rng.normal(0, 0.01, r.size), 0, 1)
        gap = np.abs(rng.normal(0.03, 0.01, r.size)) * ent
        stab = np.where(e == 1, np.nan, np.clip(1 - 0.5 * np.exp(-e / 20) + rng.normal(0, 0.05, r.size), 0, 1))
        geno_idx = np.where(e < settle[r], (r * 7 + e // 3) % len(pool), final_geno[r])
        logits = rng.normal(0, 1, (r.size, 30)) * (1 + (1 - ent[:, None]) * 4)
        probs = np.exp(logits.reshape(-1, 6, 5))
        probs = (probs / probs.sum(-1, keepdims=True)).reshape(-1)
        trial_id = np.array([f"t{x:06d}" for x in runs])
        table = pa.table({
            "sweep": pa.array(np.full(r.size, "bench")),
            "trial_id": pa.array(np.repeat(trial_id, n_epochs)),
            "config_id": pa.array(config_id[c]),
            "seed": pa.array(np.full(r.size, s, dtype=np.int64)),
            "phase": pa.array(np.full(r.size, "explore")),
            "config/sampler": pa.array(sampler[c]),
            "config/temperature.schedule": pa.array(schedule[c]),
            "config/entropy_weight": pa.array(entropy_weight[c]),
            "config/seed": pa.array(np.full(r.size, s, dtype=np.int64)),
            "epoch": pa.array(e),
            "temperature": pa.array(np.maximum(0.1, 1 - e / n_epochs)),
            "val_acc": pa.array(val),
            "val_loss": pa.array(-np.log(np.clip(val, 0.05, 1))),
            "discrete_val_acc": pa.array(val - gap),
            "gap": pa.array(gap),
            "entropy": pa.array(ent * np.log(5)),
            "entropy_norm": pa.array(ent),
            "stability": pa.array(stab),
            "skip_fraction": pa.array(rng.integers(0, 7, r.size) / 6),
            "none_fraction": pa.array(np.zeros(r.size)),
            "genotype": pa.array(np.array(pool, dtype=object)[geno_idx], pa.string()),
            "op_probs": pa.ListArray.from_arrays(pa.array(np.arange(0, r.size * 30 + 1, 30, dtype=np.int32)),
                                                 pa.array(probs)),
            "truth_acc": pa.nulls(r.size, pa.float64()),
            "wall_s": pa.array(np.full(r.size, 1.5)),
        })
        write_table(table, root, "epochs", name=f"seed-{s:03d}")
        status = rng.choice(["completed", "early_stopped", "asha_stopped", "diverged"], size=runs.size,
                            p=[0.9, 0.05, 0.03, 0.02])
        trials.append(pa.table({
            "sweep": pa.array(np.full(runs.size, "bench")), "trial_id": pa.array(trial_id),
            "config_id": pa.array(config_id[runs // n_seeds]), "seed": pa.array(np.full(runs.size, s, np.int64)),
            "phase": pa.array(np.full(runs.size, "explore")),
            "config/sampler": pa.array(sampler[runs // n_seeds]),
            "config/temperature.schedule": pa.array(schedule[runs // n_seeds]),
            "config/entropy_weight": pa.array(entropy_weight[runs // n_seeds]),
            "config/seed": pa.array(np.full(runs.size, s, np.int64)),
            "status": pa.array(status), "epochs_run": pa.array(np.full(runs.size, n_epochs, np.int64)),
            "ops": pa.array([OPS] * runs.size, pa.list_(pa.string())),
        }))
    write_table(pa.concat_tables(trials), root, "trials", name="trials")
    return n_runs * n_epochs


CHILD = r"""
import json, os, resource, time, tracemalloc
traced = {traced!r}
import numpy, pandas, pyarrow, scipy.stats  # imports are not part of the measurement
from diffnas.analysis.aggregate import aggregate
from diffnas.analysis.groups import assign_groups, default_group_keys
from diffnas.analysis.load import load_results
from diffnas.analysis.summary import HEADLINE_METRICS, summarise
rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if traced:
    tracemalloc.start()
t0 = time.perf_counter()
results = load_results([{root!r}])
t1 = time.perf_counter()
runs = summarise(results)
t2 = time.perf_counter()
keys = default_group_keys(runs)
runs = assign_groups(runs, keys)
agg = aggregate(runs, keys, metrics=HEADLINE_METRICS, n_resamples=2000, seed=0)
t3 = time.perf_counter()
out = dict(rows=len(results.epochs), runs=len(runs), groups=len(agg), keys=keys,
           load_s=t1 - t0, summarise_s=t2 - t1, aggregate_s=t3 - t2, total_s=t3 - t0,
           rss_imports=rss_imports, rss_peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           arrow_pool_peak=pyarrow.default_memory_pool().max_memory())
if traced:
    out["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
print("RESULT " + json.dumps(out))
"""


def measure(root: str, traced: bool) -> dict:
    """Run the analysis in a fresh interpreter; return its timings and memory figures."""
    code = CHILD.format(root=root, traced=traced)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--keep", help="build the dataset here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    mib = 1024 ** 2
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or os.path.join(tmp, "results")
        t = time.perf_counter()
        n = build(root, args.configs, args.seeds, args.epochs)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
        print(f"dataset: {n:,} epoch rows, {args.configs * args.seeds:,} runs, 30 op probs per row, "
              f"{size / mib:.0f} MiB on disk (built in {time.perf_counter() - t:.1f} s)")
        plain = measure(root, traced=False)
        traced = measure(root, traced=True)
    print(f"groups: {plain['groups']} (keys {', '.join(plain['keys'])}), runs: {plain['runs']:,}, "
          f"rows: {plain['rows']:,}; CIs: 2,000-resample percentile bootstrap, 4 headline metrics")
    print(f"time        load {plain['load_s']:.2f} s + summarise {plain['summarise_s']:.2f} s + "
          f"aggregate {plain['aggregate_s']:.2f} s = {plain['total_s']:.2f} s   (target <= 5 s)")
    print(f"peak RSS    {plain['rss_peak'] / mib:.0f} MiB for the whole process (after imports: "
          f"{plain['rss_imports'] / mib:.0f} MiB)   (target <= 1.5 GB)")
    print(f"tracemalloc peak {traced['tracemalloc_peak'] / mib:.0f} MiB (Python + numpy allocations during the "
          f"measured work; traced run took {traced['total_s']:.2f} s)")
    print(f"pyarrow memory pool peak {plain['arrow_pool_peak'] / mib:.0f} MiB")


if __name__ == "__main__":
    main()
