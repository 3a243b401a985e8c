"""Times of the compiled kernels (``perf.native``) one call at a time, 1 thread, at the small
configuration's sizes (8 channels at 16 px, 16 at 8 px) and the reference step's first stage (16 at
28 px), batch 64: a source node's ReLU + pool forward and backward (two ReLU readers, the pool and the
identity, as in the NB201 cell), the pool alone, and the BatchNorm + mixing of one node with D = 3
edges (2 conv ops, 2 parameter-free ops). Median of ``--repeats`` calls, in microseconds.

    .venv/bin/python benchmarks/kernel_times.py

Run it from two checkouts to compare two versions of ``diffnas/native/mix_kernels.c``.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from diffnas.model.native import mix as native_mix
from diffnas.model.native.build import NHWC, kernels, ptr, ptrs
from diffnas.model.perf import keep_freed_memory

SHAPES = ((8, 16), (16, 8), (16, 28))
BATCH = 64


def median_us(fn: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1e6


def kernel_cases(channels: int, px: int) -> dict[str, Callable[[], object]]:
    gen = torch.Generator().manual_seed(0)

    def rand(ch: int = channels, grad: bool = False) -> torch.Tensor:
        t = torch.randn(BATCH, ch, px, px, generator=gen).contiguous(memory_format=NHWC)
        return t.requires_grad_(grad)

    lib = kernels()
    x, g_relu, g_pool, g_ident = rand(), [rand(), rand()], rand(), rand()
    relu, pool, gx = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    n, c, h, w = BATCH, channels, px, px
    # one node's mixing as in the NB201 cell: D = 3 edges, 2 conv ops, 2 parameter-free ops
    rows, free_cols, conv_cols, present = (1, 2, 3), (1, 4), (2, 3), (True, True, True)
    tensors = [rand(ch, grad=True) for ch in (c, c, c, 3 * c, 3 * c, c, c)]
    weights = torch.randn(6, 5, generator=gen).softmax(-1).requires_grad_(True)
    args = (rows, free_cols, conv_cols, present, 1e-5)
    grads = [t.detach().clone() for t in tensors[:3]]

    def mix_forward() -> None:
        with torch.no_grad():
            native_mix.NativeMix.apply(weights, *args, *tensors)

    def mix_both() -> None:
        out = native_mix.NativeMix.apply(weights, *args, *tensors)
        torch.autograd.grad(out, [weights, *tensors], grads)

    return {
        "source forward": lambda: lib.source_forward(n, h, w, c, 1, ptr(x), ptr(relu), ptr(pool)),
        "source backward": lambda: lib.source_backward(n, h, w, c, 1, ptr(x), 2, ptrs(g_relu), ptr(g_pool),
                                                       ptr(g_ident), ptr(gx)),
        "pool forward": lambda: lib.avg_pool3x3(n, h, w, c, 1, 0, ptr(x), ptr(gx)),
        "pool backward": lambda: lib.avg_pool3x3(n, h, w, c, 1, 1, ptr(g_pool), ptr(gx)),
        "mix forward": mix_forward,
        "mix forward+backward": mix_both,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    keep_freed_memory()
    torch.set_num_threads(1)
    if kernels() is None:
        print("native kernels unavailable")
        return 1
    print(f"torch {torch.__version__}, 1 thread, batch {BATCH}; median of {args.repeats} calls (µs)")
    for channels, px in SHAPES:
        cases = kernel_cases(channels, px)
        times = ", ".join(f"{name} {median_us(fn, args.repeats):.0f}" for name, fn in cases.items())
        print(f"  {channels:>2} ch {px:>2} px: {times}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
