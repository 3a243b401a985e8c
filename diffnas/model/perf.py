"""Performance switches of a search run: fused cells, memory format, torch.compile, mixed precision.

None of them changes what is computed, only how (config keys ``perf.*``, excluded from
``config_id`` like ``threads``):

* ``perf.fused`` — NB201 cells batch the convolutions of the edges leaving one node
  (:mod:`diffnas.model.fused`); the sums are the reference's, in another floating-point order.
* ``perf.channels_last`` — weights and activations in NHWC (oneDNN / cuDNN's native layout).
* ``perf.compile`` — the loss L(x, y, w) = CE(supernet(x, w), y) is wrapped in ``torch.compile``
  for dense op weights (every sampler but ``gumbel_hard``). ``gumbel_hard`` and discretised
  evaluation pick one op per edge, a choice that changes every step; they run eager so that the
  choice never triggers a recompile. Where compile is unavailable or fails, the run falls back
  to eager once and says why (:attr:`CompiledLoss.fallback`).
* ``perf.native`` — the fused cell's dense step does BatchNorm and the mixing of a node's terms in
  two compiled passes (:mod:`diffnas.model.native.mix`) instead of PyTorch's separate kernels, for float32
  NHWC tensors on CPU; elsewhere, or where no C compiler is found, the PyTorch path.
* ``perf.amp`` — ``torch.autocast`` to bfloat16 or float16 around the forward pass (CPU and CUDA);
  float16 also scales the weight loss and α's loss, each with its own ``torch.amp.GradScaler``
  (:class:`Scaler`).

A search run on CPU also calls :func:`keep_freed_memory` (glibc's allocator keeps freed activation
buffers instead of handing them back to the OS and faulting them in again on the next step).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class PerfOptions:
    """The ``perf.*`` config keys."""

    fused: bool = True
    channels_last: bool = True
    compile: str = "off"
    amp: str = "off"
    native: bool = True

    @property
    def kernels(self) -> bool:
        """Whether the supernet runs ``perf.native``'s compiled kernels: not under ``perf.compile``,
        which compiles the whole loss itself (a ``ctypes`` call would only break its graph)."""
        return self.native and self.compile == "off"

    @classmethod
    def from_config(cls, config: Any) -> PerfOptions:
        return cls(fused=bool(config["perf.fused"]), channels_last=bool(config["perf.channels_last"]),
                   compile=str(config["perf.compile"]), amp=str(config["perf.amp"]),
                   native=bool(config["perf.native"]))


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to the ``amp`` dtype on ``device`` (a no-op context for ``off``)."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


def compile_unavailable_reason() -> str | None:
    """Why ``torch.compile`` cannot run here, or None when it can."""
    try:
        import torch._dynamo as dynamo
    except Exception as err:  # pragma: no cover - depends on the torch build
        return f"torch._dynamo does not import ({err})"
    if not dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this Python/platform"
    return None


class CompiledLoss:
    """L(x, y, w, chosen) = CE(model(x, w, chosen), y), compiled for dense weights where ``compile`` is on.

    ``compile_s`` is the wall time of the first compiled call (tracing + code generation +
    the step itself); ``fallback`` says why compile is not used, if it was asked for and is not."""

    def __init__(self, model: torch.nn.Module, device: torch.device, options: PerfOptions) -> None:
        self.model = model
        self.device = device
        self.options = options
        self.compile_s: float | None = None
        self.fallback: str | None = None
        self._compiled: Callable[..., torch.Tensor] | None = None
        if options.compile == "on":
            self.fallback = compile_unavailable_reason()
            if self.fallback is None:
                self._compiled = torch.compile(self._dense_loss, dynamic=False)

    def _dense_loss(self, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.device, self.options.amp):
            logits = self.model(x, weights, None, dense=True)
        logits = logits.float()
        return F.cross_entropy(logits, y), logits

    def __call__(self, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, chosen: torch.Tensor | None = None,
                 hard_forward: str = "chosen") -> tuple[torch.Tensor, torch.Tensor]:
        """(mean cross-entropy, logits in float32)."""
        if chosen is None and torch.is_grad_enabled() and self._compiled is not None:
            return self._call_compiled(x, y, weights)
        with autocast(self.device, self.options.amp):
            logits = self.model(x, weights, chosen, hard_forward)
        logits = logits.float()
        return F.cross_entropy(logits, y), logits

    def _call_compiled(self, x, y, weights):
        assert self._compiled is not None
        if self.compile_s is not None:
            return self._compiled(x, y, weights)
        start = time.perf_counter()
        try:
            out = self._compiled(x, y, weights)
        except Exception as err:  # compile failed (no compiler, unsupported op): eager from now on
            self._compiled = None
            self.fallback = f"torch.compile failed, running eager: {type(err).__name__}: {str(err).splitlines()[0]}"
            return self._dense_loss(x, y, weights)
        self.compile_s = time.perf_counter() - start
        return out


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to serve blocks below 32 MiB from its heap and to keep up to 1 GiB of freed heap.

    PyTorch's CPU allocator calls malloc/free for every tensor. With glibc's defaults, freed
    activation buffers (MiBs each) are returned to the OS (``munmap`` / heap trimming) and the next
    step's buffers are page-faulted in and zeroed by the kernel again: on the 2-cell 28 px softmax step
    about 18,000 page faults and 30 ms of system time per step (of ~495 ms CPU). Process-wide and
    idempotent; the cost is that the process keeps its peak heap. Returns False (nothing changed)
    where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


class Scaler:
    """float16 loss scaling for one optimiser: a ``torch.amp.GradScaler`` on the run's device (CUDA's, or the
    CPU scaler torch ships), so small float16 gradients do not flush to zero; the identity for ``off`` and
    ``bf16`` (bfloat16 has float32's exponent range and needs no scaling).

    One step: ``scale(loss).backward()``; ``unscale_(optimizer)`` before reading or clipping the gradients;
    ``step(optimizer)``, which skips the update when a gradient is inf/NaN and adapts the scale
    (×2 every 2,000 clean steps, ×0.5 on an overflow: GradScaler's defaults)."""

    def __init__(self, device: torch.device, amp: str) -> None:
        self.scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None

    @property
    def enabled(self) -> bool:
        return self.scaler is not None

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return self.scaler.scale(loss) if self.scaler is not None else loss

    def unscale_(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
