"""Candidate operations of the NAS-Bench-201 and DARTS cells.

Every op maps (N, C, H, W) to (N, C, H/stride, W/stride). BatchNorm layers are built with
``track_running_stats=False``: they always normalise with the current batch's statistics, in
training and evaluation alike. Supernet, eval-weight and discretised evaluations therefore see
the same normalisation, and the supernet-vs-discrete gap is ≈ 0 when α is one-hot (no running
statistics estimated under a different mixture can distort it).

``none`` is :class:`Zero`; the mixed op never computes it (its output is 0 and so is its gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from diffnas.names import SPACE_OPS, check_implemented
from diffnas.registry import Registry

OpBuilder = Callable[[int, int, bool], nn.Module]  # (channels, stride, affine) -> module
OPS: Registry[OpBuilder] = Registry("op")


def _bn(c: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=False)


class Zero(nn.Module):
    """0 · x (with stride); never computed inside a mixed op."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv(k, stride, dilation) → BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int, affine: bool, dilation: int = 1):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, dilation=dilation, bias=False),
            _bn(c_out, affine),
        )


class DilConv(nn.Sequential):
    """ReLU → depthwise Conv(k, dilation) → pointwise Conv → BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int, dilation: int, affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride, pad, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            _bn(c_out, affine),
        )


class SepConv(nn.Sequential):
    """Two stacked DilConv(dilation=1), the first with the stride (DARTS)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int, affine: bool):
        super().__init__(
            DilConv(c_in, c_in, k, stride, pad, 1, affine),
            DilConv(c_in, c_out, k, 1, pad, 1, affine),
        )


class FactorizedReduce(nn.Module):
    """Stride-2 identity substitute: two offset 1×1 stride-2 convs concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(c_out, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        y = x[:, :, 1:, 1:] if x.shape[-1] > 1 else x
        a = self.conv1(x)
        b = self.conv2(nn.functional.pad(y, (0, x.shape[-1] - y.shape[-1], 0, x.shape[-2] - y.shape[-2])))
        return self.bn(torch.cat([a, b], dim=1))


class Pool(nn.Module):
    """3×3 max or average pooling (average excludes padding); BN after it when ``bn``."""

    def __init__(self, kind: str, c: int, stride: int, affine: bool, bn: bool) -> None:
        super().__init__()
        self.pool = (
            nn.MaxPool2d(3, stride=stride, padding=1)
            if kind == "max"
            else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        )
        self.bn = _bn(c, affine) if bn else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pool(x))


def _identity(c: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)


OPS.register("none")(lambda c, stride, affine: Zero(stride))
OPS.register("skip_connect")(_identity)
OPS.register("nor_conv_1x1")(lambda c, stride, affine: ReLUConvBN(c, c, 1, stride, 0, affine))
OPS.register("nor_conv_3x3")(lambda c, stride, affine: ReLUConvBN(c, c, 3, stride, 1, affine))
OPS.register("avg_pool_3x3")(lambda c, stride, affine: Pool("avg", c, stride, affine, bn=False))
OPS.register("max_pool_3x3")(lambda c, stride, affine: Pool("max", c, stride, affine, bn=True))
OPS.register("sep_conv_3x3")(lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine))
OPS.register("sep_conv_5x5")(lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine))
OPS.register("dil_conv_3x3")(lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine))
OPS.register("dil_conv_5x5")(lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine))

check_implemented("op", {op for ops in SPACE_OPS.values() for op in ops}, OPS)

# DARTS pools inside a mixed op get a BatchNorm (as in the DARTS search code); NB201's avg pool does not.
DARTS_AVG_POOL: OpBuilder = lambda c, stride, affine: Pool("avg", c, stride, affine, bn=True)  # noqa: E731


def build_op(name: str, channels: int, stride: int, affine: bool = False, space: str = "nb201") -> nn.Module:
    """Instantiate op ``name``; raises ValueError naming the allowed ops."""
    if name == "avg_pool_3x3" and space == "darts":
        return DARTS_AVG_POOL(channels, stride, affine)
    return OPS.get(name)(channels, stride, affine)
