"""GFLOP/s of PyTorch's (oneDNN's) channels-last convolutions at the channel counts and sizes of the
bench_step configurations, 1 thread, against a dense 2048² matmul in the same process.

Why: the small configuration of ``bench_step.py`` (8 channels, 16 px) is measured against the GFLOP/s
its own code reaches on the 16-channel 28 px step. This shows how much of that gap the convolutions
alone carry: an NB201 ReLU-Conv-BN op's conv at C → C channels, stride 1, batch 64, forward and
forward + backward (gradients to input and weight, 3× the forward FLOPs: 2·N·C²·k²·H·W per pass).

    .venv/bin/python benchmarks/conv_rates.py
"""
from __future__ import annotations

import time

import torch

BATCH = 64
SHAPES = ((8, 16), (16, 8), (16, 28), (32, 14))  # (channels, px): small config's stages, the reference's first two


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def conv_rate(channels: int, px: int, kernel: int, backward: bool, repeats: int = 30) -> tuple[float, float]:
    """(median seconds, GFLOP/s) of one conv forward (and backward) at 1 thread, channels-last."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, channels, px, px, generator=gen).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(backward)
    conv = torch.nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False)
    conv = conv.to(memory_format=torch.channels_last)
    g = torch.randn(x.shape, generator=gen).contiguous(memory_format=torch.channels_last)

    def run() -> None:
        y = conv(x)
        if backward:
            y.backward(g)

    run()
    seconds = _median(run, repeats)
    flops = 2 * BATCH * channels * channels * kernel * kernel * px * px * (3 if backward else 1)
    return seconds, flops / seconds / 1e9


def matmul_rate(repeats: int = 7) -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    return 2 * 2048 ** 3 / _median(lambda: a @ b, repeats) / 1e9


def main() -> int:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, batch {BATCH}, channels-last; median of 30")
    print(f"dense 2048² matmul: {matmul_rate():.1f} GFLOP/s")
    for channels, px in SHAPES:
        for kernel in (3, 1):
            fwd = conv_rate(channels, px, kernel, backward=False)
            both = conv_rate(channels, px, kernel, backward=True)
            print(f"  conv{kernel}x{kernel} {channels:>2} ch {px:>2} px: forward {fwd[0] * 1e3:6.2f} ms "
                  f"{fwd[1]:6.1f} GFLOP/s | forward + backward {both[0] * 1e3:6.2f} ms {both[1]:6.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
