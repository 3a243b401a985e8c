"""The GPU check: one prepared script that says whether diffnas's GPU path works and how fast it is.

Run it from a plain checkout with the machine's own Python and torch (Ray and xautodl are optional):

    PYTHONPATH=. python benchmarks/gpu_check.py                 # on a GPU: NB201 sizes, under 5 minutes
    PYTHONPATH=. python benchmarks/gpu_check.py --device cpu    # small sizes, a minute on 2 cores (CI runs it)

It prints four tables:

1. **Step**: one search step (forward + backward to the weights and to α) of the NB201 supernet — C=16,
   5 cells per stage, 3 stages, 32 px, batch 64 on a GPU (``--device cpu``: C=8, 1 cell, 16 px, batch 16) —
   for ``softmax`` and ``gumbel_hard`` in fp32 / bf16 / fp16 (fp16 through a ``torch.amp.GradScaler``), with
   channels_last on and off; beside AutoDL's ``TinyNetworkDarts`` / ``TinyNetworkGDAS`` (xautodl 1.0.0, fp32)
   on the same device where xautodl is installed. Median of ``--repeats`` steps, the cases interleaved.
2. **Search**: a 2-epoch ``SearchRun`` on CIFAR-10 files — the real ones under ``--data-dir`` where they are
   (``cifar-10-batches-py``), else small files written in the same format — with the epoch times, the
   final cell and its NB201 CIFAR-10 truth.
3. **Sharing**: four trials on one device at a quarter each, as ``resources: {gpu: 0.25}`` runs them: four
   processes started together, each capping its CUDA memory to 0.25 (``set_per_process_memory_fraction``)
   and running a 1-epoch search; per trial its wall time and peak memory (CUDA's
   ``max_memory_allocated``; on CPU the process's peak RSS).
4. **Provenance**: torch, CUDA and cuDNN versions and the device name, as a trial row records them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from diffnas.model.perf import CompiledLoss, PerfOptions, Scaler
from diffnas.model.spaces import build_space
from diffnas.model.supernet import Supernet
from diffnas.search.provenance import provenance
from diffnas.search.samplers import build_sampler

SIZES = {  # device type -> (channels, cells per stage, pixels, batch)
    "cuda": (16, 5, 32, 64),
    "cpu": (8, 1, 16, 16),
}
STAGES, CLASSES = 3, 10
NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
Step = Callable[[], None]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(cases: dict[str, Step], device: torch.device, repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each case, the cases run round-robin after one warm-up round."""
    for step in cases.values():
        step()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, step in cases.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(ts) for name, ts in times.items()}


def diffnas_step(sampler: str, amp: str, channels_last: bool, device: torch.device,
                 x: torch.Tensor, y: torch.Tensor, channels: int, cells: int) -> Step:
    """One diffnas search step: sample op weights from α, loss, backward (scaled under fp16)."""
    space = build_space("nb201")
    net = Supernet(space, x.shape[1], CLASSES, channels, cells, STAGES).to(device)
    perf = PerfOptions(channels_last=channels_last, amp=amp)
    net.configure(fused=perf.fused, channels_last=perf.channels_last, native=perf.kernels)
    alpha = torch.nn.Parameter(1e-3 * torch.randn(space.n_edges, space.n_ops, device=device))
    smp = build_sampler(sampler)
    gen = torch.Generator(device=device).manual_seed(0)
    loss_fn = CompiledLoss(net, device, perf)
    scaler = Scaler(device, amp)

    def step() -> None:
        net.zero_grad(set_to_none=True)
        alpha.grad = None
        sample = smp.sample(alpha, 1.0, gen)
        loss, _ = loss_fn(x, y, sample.weights, sample.chosen, sample.hard_forward)
        scaler.scale(loss).backward()

    return step


def xautodl_step(kind: str, device: torch.device, x: torch.Tensor, y: torch.Tensor, channels: int,
                 cells: int) -> Step | None:
    """AutoDL's own search model's step (fp32), or None where xautodl is not installed."""
    try:
        if kind == "darts":
            from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts as Net
        else:
            from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS as Net
    except ImportError:
        return None
    net = Net(channels, cells, 4, CLASSES, NB201_OPS, False, False).to(device)
    if kind == "gdas":
        net.set_tau(10.0)

    def step() -> None:
        net.zero_grad(set_to_none=True)
        _, logits = net(x)
        F.cross_entropy(logits, y).backward()

    return step


def step_table(device: torch.device, repeats: int) -> list[str]:
    channels, cells, px, batch = SIZES[device.type]
    x = torch.randn(batch, 3, px, px, device=device)
    y = torch.randint(0, CLASSES, (batch,), device=device)
    cases: dict[str, Step] = {}
    for sampler in ("softmax", "gumbel_hard"):
        for amp in ("off", "bf16", "fp16"):
            for cl in (True, False):
                name = f"diffnas {sampler} {'fp32' if amp == 'off' else amp} {'NHWC' if cl else 'NCHW'}"
                cases[name] = diffnas_step(sampler, amp, cl, device, x, y, channels, cells)
    for kind in ("darts", "gdas"):
        step = xautodl_step(kind, device, x, y, channels, cells)
        if step is not None:
            cases[f"xautodl {kind} fp32 NCHW"] = step
    ms = median_ms(cases, device, repeats)
    lines = [f"## Step: C={channels}, {cells} cells/stage, {px} px, batch {batch} on {device} "
             f"(median of {repeats})", "", "| case | ms / step | vs xautodl (same sampler) |", "|---|---|---|"]
    for name, value in ms.items():
        peer = ms.get("xautodl darts fp32 NCHW" if "softmax" in name else "xautodl gdas fp32 NCHW")
        ratio = f"{peer / value:.2f}x" if peer is not None and name.startswith("diffnas") else "–"
        lines.append(f"| {name} | {value:.1f} | {ratio} |")
    if not any(name.startswith("xautodl") for name in ms):
        lines.append("| xautodl | not installed (pip install --no-deps xautodl==1.0.0) | – |")
    return lines


def cifar10_folder(data_dir: str | None, scratch: str) -> tuple[str, str]:
    """(data.dir, what it is): the real CIFAR-10 under ``data_dir`` where it is, else small files written in
    the python-version format under ``scratch``."""
    if data_dir and os.path.isfile(os.path.join(data_dir, "cifar-10-batches-py", "data_batch_1")):
        return data_dir, "real CIFAR-10"
    write_cifar10(scratch, n_per_batch=200, n_test=200)
    return scratch, "synthetic files in CIFAR-10's format (1,000 train / 200 test images)"


def write_cifar10(root: str, n_per_batch: int, n_test: int) -> None:
    """``root/cifar-10-batches-py`` in the python-version format (pickled dicts of a uint8 ``data`` array,
    N × 3072 as R, G, B planes, and ``labels``), random pixels: the loader's and the GPU's work, not CIFAR."""
    import pickle

    import numpy as np

    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_per_batch
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, CLASSES, n)], b"batch_label": name.encode()}
        with open(os.path.join(folder, name), "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    with open(os.path.join(folder, "batches.meta"), "wb") as fh:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(CLASSES)]}, fh, protocol=2)


def search_config(device: torch.device, data_dir: str, epochs: int, amp: str = "off") -> Any:
    from diffnas.config import SearchConfig

    channels, cells, _px, batch = SIZES[device.type]
    small = device.type == "cpu"
    return SearchConfig.from_dict({
        "dataset": "cifar10", "data": {"dir": data_dir, "batch_size": batch, "subset": 400 if small else None},
        "model": {"channels": channels, "cells_per_stage": cells, "stages": STAGES}, "epochs": epochs,
        "device": device.type, "perf": {"amp": amp}, "metrics": {"eval_batches": 4 if small else 0},
    })


def search_table(device: torch.device, data_dir: str, what: str) -> list[str]:
    from diffnas.search.run import SearchRun

    run = SearchRun(search_config(device, data_dir, epochs=2), device=str(device))
    lines = [f"## Search: 2 epochs on {what}, {device}", "", "| epoch | wall s | train loss | val acc | cell | "
             "NB201 truth |", "|---|---|---|---|---|---|"]
    while not run.done:
        r = run.step()
        lines.append(f"| {r['epoch']} | {r['wall_s']:.1f} | {r['train_loss']:.3f} | {r['val_acc']:.3f} | "
                     f"{r['genotype'].replace('|', chr(92) + '|')} | {r['truth_acc']:.2f} |")
    return lines


def one_trial(device: str, data_dir: str, share: float) -> dict[str, Any]:
    """A 1-epoch search in this process holding ``share`` of the device's memory (a --trial child)."""
    import resource

    from diffnas.search.run import SearchRun

    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_per_process_memory_fraction(share, dev)
    start = time.perf_counter()
    run = SearchRun(search_config(dev, data_dir, epochs=1), device=device)
    record = run.step()
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"wall_s": time.perf_counter() - start, "peak_mib": peak / 2**20, "status": run.status or "ran",
            "val_acc": record["val_acc"]}


def sharing_table(device: torch.device, data_dir: str, trials: int = 4) -> list[str]:
    share = 1.0 / trials
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    procs = [subprocess.Popen([sys.executable, __file__, "--trial", str(device), "--data-dir", data_dir,
                               "--share", str(share)], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(trials)]
    start = time.perf_counter()
    outs = [p.communicate(timeout=600)[0] for p in procs]
    wall = time.perf_counter() - start
    lines = [f"## Sharing: {trials} trials at {share:.2f} of {device} each, started together "
             f"(all done in {wall:.1f} s)", "", "| trial | exit | wall s | peak MiB | val acc |", "|---|---|---|---|---|"]
    for i, (proc, out) in enumerate(zip(procs, outs, strict=True)):
        row = json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 and out.strip() else {}
        lines.append(f"| {i} | {proc.returncode} | {row.get('wall_s', float('nan')):.1f} | "
                     f"{row.get('peak_mib', float('nan')):.0f} | {row.get('val_acc', float('nan')):.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="cuda (default where available) or cpu (small sizes)")
    p.add_argument("--data-dir", default=None, help="a folder holding cifar-10-batches-py (else synthetic files)")
    p.add_argument("--repeats", type=int, default=None, help="steps per case (default 20 on a GPU, 3 on CPU)")
    p.add_argument("--trial", metavar="DEVICE", default=None, help=argparse.SUPPRESS)
    p.add_argument("--share", type=float, default=0.25, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.trial is not None:  # a child of the sharing table
        print(json.dumps(one_trial(args.trial, args.data_dir, args.share)))
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    repeats = args.repeats or (20 if device.type == "cuda" else 3)
    start = time.perf_counter()
    lines = [f"# diffnas GPU check ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]
    lines += step_table(device, repeats) + [""]
    with tempfile.TemporaryDirectory(prefix="diffnas-gpu-check-") as scratch:
        data_dir, what = cifar10_folder(args.data_dir, scratch)
        lines += search_table(device, data_dir, what) + [""]
        lines += sharing_table(device, data_dir) + [""]
    prov = provenance(device, "off")
    lines += ["## Provenance", "", *(f"- {k}: {prov[k]}" for k in ("torch_version", "cuda_version", "cudnn_version",
                                                                  "device_name", "diffnas_version", "diffnas_commit")),
              "", f"total {time.perf_counter() - start:.0f} s"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
