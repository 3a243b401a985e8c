"""One search step, diffnas against AutoDL-Projects' own NB201 search models (xautodl 1.0.0).

The work (identical on both sides): NAS-Bench-201 cell with its 5 ops, 16 channels, 3 stages
(ResNet reductions between them), batch 64 of 3-channel images, 10 classes, one forward +
backward to the weights and to α, ``threads`` intra-op threads (2).

* DARTS: xautodl ``TinyNetworkDarts`` vs diffnas ``softmax`` (w = softmax(α));
* GDAS: xautodl ``TinyNetworkGDAS`` vs diffnas ``gumbel_hard`` (one op per edge, straight-through).
  The work depends on which ops are drawn, so both sides draw the same architectures: step r of
  either side sets its α to a one-hot-peaked row per edge (+30 on architecture r's op, a margin
  Gumbel noise cannot overturn) from one shared list of uniformly drawn architectures, and each
  side's FLOPs are averaged over that list;
* sizes: 2 cells per stage at 28 px and 5 cells per stage at 32 px.

All cases of a size are interleaved in one process (case A, B, C, D, A, B, ...) and each time is
the median of ``--repeats`` steps, so load from other processes hits every case alike; the
ratios are what this script is for. Each size also times a dense 2048² float32 matmul at the same
thread count (the machine's practical peak, 2·2048³ FLOP per product) inside the same loop, and
reports each step's GFLOP/s (FLOPs counted by ``torch.utils.flop_counter`` on one step) and its
share of that peak. diffnas runs with the defaults of its ``perf.*`` config keys (its fast path),
with the defaults but ``perf.native`` off (``diffnas-torch``: PyTorch's own kernels for BatchNorm,
pooling and the mixing) and, for reference, with every ``perf`` switch off (``diffnas-ref``).

Small configuration (``--small``, on by default): 8 channels, 16 px, 1 input channel, the default
1 cell per stage and 2 stages, 1 thread: its step time against its *FLOP time*, the time its FLOPs
take at the GFLOP/s the same code reaches on the 2-cell 28 px softmax step at 1 thread, measured
interleaved with it (so the ratio says how much a small configuration pays for overhead rather
than FLOPs).

The process calls :func:`diffnas.model.perf.keep_freed_memory` first, as a diffnas search run on CPU does
(glibc keeps freed activation buffers instead of page-faulting them in again every step); it is
process-wide, so xautodl's models run with the same allocator settings (``--malloc-defaults`` skips it).

``--omp-wait`` picks the OpenMP wait policy for the whole process (both sides and the matmul):
``passive`` (the default here: ``OMP_WAIT_POLICY=PASSIVE``, idle threads sleep at once, robust on a
shared machine; every parallel region then pays for waking the other thread) or ``default``
(libgomp's own policy: idle threads spin a while before sleeping; what a diffnas run gets unless
``OMP_WAIT_POLICY`` is set). ``make bench`` runs both.

``--compile`` adds diffnas softmax with ``perf.compile=on`` and prints the compile time and the
number of steps after which it has paid for itself.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_step.py [--repeats N] [--sizes 2x28,5x32]``.
Needs ``xautodl==1.0.0`` (``pip install --no-deps xautodl==1.0.0``; the models need only torch).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

OMP_WAIT = {
    "passive": "OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep at once (robust on a shared machine)",
    "default": "libgomp's default: idle OpenMP threads spin ~300,000 iterations before sleeping "
               "(what diffnas search and Ray trials run with unless OMP_WAIT_POLICY is set)",
}


def omp_wait_choice(argv: list[str]) -> str:
    """``--omp-wait``'s value; read before torch loads, because libgomp takes its wait policy from the
    environment then."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--omp-wait", choices=sorted(OMP_WAIT), default="passive")
    return pre.parse_known_args(argv)[0].omp_wait


# OpenMP threads that spin while waiting are starved when other processes share the cores; on this
# shared 2-core machine that made every case ~6x slower and very noisy, so passive waiting is the
# default here (both sides and the matmul peak alike). On a quiet machine each parallel region then
# pays for waking the other thread (~54 us on this VM); ``--omp-wait default`` measures libgomp's own
# policy, the one a diffnas run gets.
if omp_wait_choice(sys.argv[1:]) == "passive":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from diffnas.model.perf import CompiledLoss, PerfOptions, keep_freed_memory  # noqa: E402
from diffnas.model.spaces import build_space  # noqa: E402
from diffnas.model.supernet import Supernet  # noqa: E402
from diffnas.search.samplers import build_sampler  # noqa: E402

NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
BATCH, CHANNELS, CLASSES, STAGES = 64, 16, 10, 3
MATMUL_N = 2048

ARCH_MARGIN = 30.0

Step = Callable[[], None]


def draw_archs(n: int, seed: int = 0) -> list[torch.Tensor]:
    """``n`` architectures: one op index per NB201 edge, uniform over the 5 ops."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, len(NB201_OPS), (6,), generator=gen) for _ in range(n)]


def peaked(arch: torch.Tensor) -> torch.Tensor:
    """α whose argmax (with or without Gumbel noise) is ``arch`` on every edge."""
    return torch.nn.functional.one_hot(arch, len(NB201_OPS)).float() * ARCH_MARGIN


def count_flops(step: Step, calls: int = 1) -> float:
    """FLOPs per call of ``step`` (forward + backward; mean of ``calls`` calls) as torch.utils.flop_counter counts them."""
    with FlopCounterMode(display=False) as counter:
        for _ in range(calls):
            step()
    return float(counter.get_total_flops()) / calls


def interleaved(cases: dict[str, Step], repeats: int, warmup: int = 1) -> tuple[dict[str, float], dict[str, float]]:
    """(median wall seconds, median process CPU seconds) per case; the cases run round-robin
    ``repeats`` times after ``warmup`` rounds. CPU time (all threads of this process) barely moves
    with other processes' load, so it cross-checks the wall-clock ratios on a shared machine."""
    for _ in range(warmup):
        for step in cases.values():
            step()
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, step in cases.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return ({name: statistics.median(ts) for name, ts in wall.items()},
            {name: statistics.median(ts) for name, ts in cpu.items()})


def matmul_step(n: int = MATMUL_N) -> tuple[Step, float]:
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)

    def step() -> None:
        torch.mm(a, b, out=out)

    return step, 2.0 * n**3


def xautodl_step(kind: str, cells: int, x: torch.Tensor, y: torch.Tensor,
                 archs: list[torch.Tensor] | None = None) -> Step:
    if kind == "darts":
        from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts as Net
    else:
        from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS as Net
    # affine=False, track_running_stats=False: NB201's search setting, as diffnas' cell ops
    net = Net(CHANNELS, cells, 4, CLASSES, NB201_OPS, False, False)
    if kind == "gdas":
        net.set_tau(10.0)
    calls = [0]

    def step() -> None:
        if archs is not None:
            with torch.no_grad():
                net.arch_parameters.copy_(peaked(archs[calls[0] % len(archs)]))
            calls[0] += 1
        net.zero_grad(set_to_none=True)
        _, logits = net(x)
        F.cross_entropy(logits, y).backward()

    return step


def diffnas_step(sampler: str, cells: int, x: torch.Tensor, y: torch.Tensor, perf: PerfOptions,
                 channels: int = CHANNELS, stages: int = STAGES,
                 archs: list[torch.Tensor] | None = None) -> tuple[Step, CompiledLoss]:
    space = build_space("nb201")
    net = Supernet(space, x.shape[1], CLASSES, channels, cells, stages)
    net.configure(fused=perf.fused, channels_last=perf.channels_last, native=perf.kernels)
    alpha = torch.nn.Parameter(1e-3 * torch.randn(space.n_edges, space.n_ops))
    smp = build_sampler(sampler)
    gen = torch.Generator().manual_seed(0)
    loss_fn = CompiledLoss(net, torch.device("cpu"), perf)
    calls = [0]

    def step() -> None:
        if archs is not None:
            with torch.no_grad():
                alpha.copy_(peaked(archs[calls[0] % len(archs)]))
            calls[0] += 1
        net.zero_grad(set_to_none=True)
        alpha.grad = None
        sample = smp.sample(alpha, 1.0, gen)
        loss, _ = loss_fn(x, y, sample.weights, sample.chosen)
        loss.backward()

    return step, loss_fn


def _row(name: str, seconds: float, cpu: float, flops: float, peak: float, base: float | None,
         base_cpu: float | None) -> str:
    gflops = flops / seconds / 1e9
    ratio = f"{base / seconds:5.2f}x" if base is not None else "      "
    ratio_cpu = f"{base_cpu / cpu:5.2f}x" if base_cpu is not None else "      "
    return (f"  {name:<24} {seconds * 1e3:8.1f} ms {ratio} | cpu {cpu * 1e3:8.1f} ms {ratio_cpu} | "
            f"{flops / 1e9:6.2f} GFLOP {gflops:6.1f} GFLOP/s {100 * gflops / peak:5.1f}% of peak")


def bench_size(cells: int, px: int, repeats: int, with_compile: bool) -> dict[str, float]:
    torch.manual_seed(0)
    x, y = torch.randn(BATCH, 3, px, px), torch.randint(0, CLASSES, (BATCH,))
    fast, ref = PerfOptions(), PerfOptions(fused=False, channels_last=False, native=False)
    torch_kernels = PerfOptions(native=False)  # the defaults but perf.native: PyTorch's own kernels
    mm, mm_flops = matmul_step()
    archs = draw_archs(repeats)
    cases: dict[str, Step] = {
        "xautodl DARTS": xautodl_step("darts", cells, x, y),
        "diffnas softmax": diffnas_step("softmax", cells, x, y, fast)[0],
        "xautodl GDAS": xautodl_step("gdas", cells, x, y, archs),
        "diffnas gumbel_hard": diffnas_step("gumbel_hard", cells, x, y, fast, archs=archs)[0],
        "diffnas-torch softmax": diffnas_step("softmax", cells, x, y, torch_kernels)[0],
        "diffnas-ref softmax": diffnas_step("softmax", cells, x, y, ref)[0],
        "diffnas-ref gumbel_hard": diffnas_step("gumbel_hard", cells, x, y, ref, archs=archs)[0],
        "matmul 2048^2": mm,
    }
    compiled: CompiledLoss | None = None
    if with_compile:
        cases["diffnas softmax compiled"], compiled = diffnas_step(
            "softmax", cells, x, y, PerfOptions(compile="on"))
    # hard cases: FLOPs averaged over the shared architectures (their counters then wrap back to step 0)
    flops = {name: (mm_flops if name.startswith("matmul")
                    else count_flops(step, repeats if ("GDAS" in name or "gumbel" in name) else 1))
             for name, step in cases.items() if not name.endswith("compiled")}
    if compiled is not None:
        cases["diffnas softmax compiled"]()  # compiles (timed inside CompiledLoss)
        flops["diffnas softmax compiled"] = flops["diffnas softmax"]
    med, cpu = interleaved(cases, repeats)
    peak = mm_flops / med["matmul 2048^2"] / 1e9
    peak_cpu = mm_flops / cpu["matmul 2048^2"] / 1e9
    print(f"\n{cells} cells/stage, {px} px, batch {BATCH}, {torch.get_num_threads()} threads "
          f"(median of {repeats}, interleaved; load average {os.getloadavg()[0]:.1f}); matmul peak {peak:.1f} "
          f"GFLOP/s wall ({peak_cpu:.1f} GFLOP per CPU-second)")
    print(f"  {'case':<24} {'wall':>11} {'ratio':>6} | {'CPU time':>15} {'ratio':>6} | FLOPs, rate and share of peak (wall)")
    base = {"diffnas softmax": "xautodl DARTS", "diffnas-ref softmax": "xautodl DARTS",
            "diffnas-torch softmax": "xautodl DARTS",
            "diffnas gumbel_hard": "xautodl GDAS", "diffnas-ref gumbel_hard": "xautodl GDAS",
            "diffnas softmax compiled": "xautodl DARTS"}
    for name, seconds in med.items():
        if name.startswith("matmul"):
            continue
        print(_row(name, seconds, cpu[name], flops[name], peak, med[base[name]] if name in base else None,
                   cpu[base[name]] if name in base else None))
    darts = med["xautodl DARTS"] / med["diffnas softmax"]
    gdas = med["xautodl GDAS"] / med["diffnas gumbel_hard"]
    share = flops["diffnas softmax"] / med["diffnas softmax"] / 1e9 / peak
    share_cpu = flops["diffnas softmax"] / cpu["diffnas softmax"] / 1e9 / peak_cpu
    print(f"  => softmax {darts:.2f}x xautodl DARTS (target >= 2.5), gumbel_hard {gdas:.2f}x xautodl GDAS "
          f"(target >= 1.5), softmax at {100 * share:.1f}% of matmul peak (target >= 35%)")
    print(f"     CPU time: softmax {cpu['xautodl DARTS'] / cpu['diffnas softmax']:.2f}x, gumbel_hard "
          f"{cpu['xautodl GDAS'] / cpu['diffnas gumbel_hard']:.2f}x, softmax at {100 * share_cpu:.1f}% of the "
          f"matmul's FLOP per CPU-second")
    if compiled is not None:
        print_compile(compiled, med["diffnas softmax"], med["diffnas softmax compiled"], "compile", 0)
    return {"darts": darts, "gdas": gdas, "share": share}


def print_compile(compiled: CompiledLoss, eager_s: float, compiled_s: float, label: str, ms_digits: int) -> None:
    """One line: why compile fell back, or its first-call time, the seconds saved per step (eager − compiled
    median) and after how many steps the compile time is paid back (compile_s ÷ saved)."""
    if compiled.fallback:
        print(f"  {label}: {compiled.fallback}")
    elif compiled.compile_s is not None:
        saved = eager_s - compiled_s
        pays = f"pays for itself after {compiled.compile_s / saved:.0f} steps" if saved > 0 else "never pays"
        print(f"  {label}: first call {compiled.compile_s:.1f} s; saves {saved * 1e3:.{ms_digits}f} ms/step; {pays}")


def bench_small(repeats: int, with_compile: bool = False) -> float:
    """Small configuration at 1 thread: step time ÷ FLOP time at the large softmax step's 1-thread rate
    (with ``with_compile`` also the small softmax step under ``perf.compile=on``, same rate)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    xs, ys = torch.randn(BATCH, 1, 16, 16), torch.randint(0, CLASSES, (BATCH,))
    xl, yl = torch.randn(BATCH, 3, 28, 28), torch.randint(0, CLASSES, (BATCH,))
    fast = PerfOptions()
    cases = {
        "small softmax": diffnas_step("softmax", 1, xs, ys, fast, channels=8, stages=2)[0],
        "small gumbel_hard": diffnas_step("gumbel_hard", 1, xs, ys, fast, channels=8, stages=2)[0],
        "large softmax (rate)": diffnas_step("softmax", 2, xl, yl, fast)[0],
    }
    flops = {name: count_flops(step) for name, step in cases.items()}
    compiled: CompiledLoss | None = None
    if with_compile:
        cases["small softmax compiled"], compiled = diffnas_step(
            "softmax", 1, xs, ys, PerfOptions(compile="on"), channels=8, stages=2)
        cases["small softmax compiled"]()  # compiles (timed inside CompiledLoss)
        flops["small softmax compiled"] = flops["small softmax"]
    med, cpu = interleaved(cases, repeats)
    rate = flops["large softmax (rate)"] / med["large softmax (rate)"]
    rate_cpu = flops["large softmax (rate)"] / cpu["large softmax (rate)"]
    print(f"\nsmall config: 8 channels, 16 px, 1 cell/stage, 2 stages, batch {BATCH}, 1 thread "
          f"(median of {repeats}); reference rate {rate / 1e9:.1f} GFLOP/s (2 cells, 28 px, 16 channels, 1 thread)")
    worst = 0.0
    for name in [n for n in cases if n.startswith("small")]:
        flop_time = flops[name] / rate
        ratio = med[name] / flop_time
        worst = max(worst, ratio) if name == "small softmax" else worst
        ratio_cpu = cpu[name] / (flops[name] / rate_cpu)
        print(f"  {name:<20} {med[name] * 1e3:7.1f} ms  {flops[name] / 1e9:6.3f} GFLOP  FLOP time "
              f"{flop_time * 1e3:6.1f} ms  step / FLOP time {ratio:4.2f} (CPU time: {ratio_cpu:4.2f})")
    print(f"  => small softmax step {worst:.2f}x its FLOP time (target <= 1.5)")
    if compiled is not None:
        print_compile(compiled, med["small softmax"], med["small softmax compiled"], "compile (small softmax)", 1)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per case (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", default="2x28,5x32", help="cells-per-stage x pixels, comma separated")
    parser.add_argument("--no-small", action="store_true", help="skip the small-configuration case")
    parser.add_argument("--compile", action="store_true", help="also time perf.compile=on and its compile time")
    parser.add_argument("--omp-wait", choices=sorted(OMP_WAIT), default="passive",
                        help="OpenMP wait policy: passive (sleep at once) or libgomp's default (spin, then sleep)")
    parser.add_argument("--malloc-defaults", action="store_true",
                        help="leave glibc's malloc thresholds at their defaults (no keep_freed_memory)")
    args = parser.parse_args(argv)
    try:
        import xautodl  # noqa: F401
    except ImportError:
        print("bench_step: needs xautodl 1.0.0: .venv/bin/pip install --no-deps xautodl==1.0.0", file=sys.stderr)
        return 2
    # as a diffnas search run does on CPU; process-wide, so xautodl's models get the same allocator
    kept = keep_freed_memory() if not args.malloc_defaults else False
    print(f"torch {torch.__version__}, {torch.get_num_threads()} default threads; timing with {args.threads}; "
          f"OpenMP wait: {OMP_WAIT[args.omp_wait]} (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}); glibc malloc keeps freed memory "
          f"(both sides): {kept}; load average {os.getloadavg()[0]:.1f}")
    for size in args.sizes.split(","):
        cells, px = (int(v) for v in size.lower().split("x"))
        torch.set_num_threads(args.threads)
        bench_size(cells, px, args.repeats, args.compile)
    if not args.no_small:
        bench_small(args.repeats, args.compile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
