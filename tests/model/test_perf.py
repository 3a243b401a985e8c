"""perf.* switches: AMP shapes and dtypes on CPU, the compile fallback, eager hard forwards, config keys."""

import pytest
import torch

from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.model import perf
from diffnas.model.perf import CompiledLoss, PerfOptions, Scaler
from diffnas.model.spaces import build_space
from diffnas.model.supernet import Supernet
from diffnas.search.run import SearchRun
from diffnas.search.samplers import build_sampler
from tests.helpers import TINY


def _net():
    torch.manual_seed(0)
    return Supernet(build_space("nb201"), 1, 10, channels=4, stages=1).configure(fused=True, channels_last=True)


@pytest.mark.parametrize("amp,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_amp_autocasts_convolutions_and_returns_float32_logits(amp, dtype):
    net = _net()
    seen = []
    net.stem[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    loss_fn = CompiledLoss(net, torch.device("cpu"), PerfOptions(amp=amp))
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    alpha = torch.zeros(6, 5, requires_grad=True)
    loss, logits = loss_fn(x, y, torch.softmax(alpha, -1))
    loss.backward()
    assert seen == [dtype]
    assert logits.shape == (4, 10) and logits.dtype == torch.float32
    assert alpha.grad is not None and alpha.grad.dtype == torch.float32 and torch.isfinite(alpha.grad).all()
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in net.parameters())


def test_a_scaler_for_fp16_only():
    assert Scaler(torch.device("cpu"), "fp16").enabled  # torch's CPU GradScaler: the fp16 path runs here too
    assert not Scaler(torch.device("cpu"), "bf16").enabled
    assert not Scaler(torch.device("cpu"), "off").enabled


def test_compile_unavailable_falls_back_to_eager(monkeypatch):
    monkeypatch.setattr(perf, "compile_unavailable_reason", lambda: "no compiler here")
    net = _net()
    loss_fn = CompiledLoss(net, torch.device("cpu"), PerfOptions(compile="on"))
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    loss, _ = loss_fn(x, y, torch.softmax(torch.zeros(6, 5, requires_grad=True), -1))
    assert loss_fn.fallback == "no compiler here" and torch.isfinite(loss)


def test_compile_failure_falls_back_once(monkeypatch):
    calls = []

    def broken_compile(fn, **kwargs):
        def run(*args):
            calls.append(1)
            raise RuntimeError("backend exploded\nmore")
        return run

    monkeypatch.setattr(perf, "compile_unavailable_reason", lambda: None)
    monkeypatch.setattr(torch, "compile", broken_compile)
    net = _net()
    loss_fn = CompiledLoss(net, torch.device("cpu"), PerfOptions(compile="on"))
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    w = torch.softmax(torch.zeros(6, 5, requires_grad=True), -1)
    ref, _ = CompiledLoss(net, torch.device("cpu"), PerfOptions())(x, y, w)
    for _ in range(3):
        loss, _ = loss_fn(x, y, w)
        torch.testing.assert_close(loss, ref)
    assert len(calls) == 1
    assert loss_fn.fallback.startswith("torch.compile failed, running eager: RuntimeError: backend exploded")


def test_hard_choices_and_evaluation_never_reach_the_compiled_graph(monkeypatch):
    """gumbel_hard's per-step op choice runs eager: a new choice can never trigger a recompile."""
    traced = []

    def recording_compile(fn, **kwargs):
        def run(*args):
            traced.append(1)
            return fn(*args)
        return run

    monkeypatch.setattr(perf, "compile_unavailable_reason", lambda: None)
    monkeypatch.setattr(torch, "compile", recording_compile)
    net = _net()
    loss_fn = CompiledLoss(net, torch.device("cpu"), PerfOptions(compile="on"))
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    alpha = torch.zeros(6, 5, requires_grad=True)
    hard, gen = build_sampler("gumbel_hard"), torch.Generator().manual_seed(0)
    for _ in range(5):
        sample = hard.sample(alpha, 1.0, gen)
        loss_fn(x, y, sample.weights, sample.chosen)[0].backward()
    with torch.inference_mode():
        loss_fn(x, y, torch.softmax(alpha.detach(), -1))
    assert traced == []
    loss_fn(x, y, torch.softmax(alpha, -1))
    assert traced == [1]


def test_perf_keys_validate_and_do_not_change_config_id():
    base = SearchConfig.validate(dict(TINY))
    other = SearchConfig.validate({**TINY, "perf.channels_last": False, "perf.compile": "on", "perf.amp": "bf16",
                                   "perf.fused": False, "perf.native": False})
    assert base.config_id() == other.config_id()
    with pytest.raises(InputError, match="perf.amp"):
        SearchConfig.validate({**TINY, "perf.amp": "fp8"})
    with pytest.raises(InputError, match="perf.fused"):
        SearchConfig.validate({**TINY, "perf.fused": "yes"})


def test_search_run_with_bf16_amp_trains_and_records():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 1, "perf.amp": "bf16"}))
    record = run.step()
    assert run.model.channels_last and all(cell.fused for cell in run.model.layers if hasattr(cell, "fused"))
    assert 0.0 <= record["val_acc"] <= 1.0 and record["train_loss"] == record["train_loss"]
    assert run.alpha.dtype == torch.float32


def test_perf_native_reaches_every_cell():
    cells = lambda run: [c for c in run.model.layers if hasattr(c, "native")]  # noqa: E731
    on = SearchRun(SearchConfig.validate(dict(TINY)))
    off = SearchRun(SearchConfig.validate({**TINY, "perf.native": False}))
    assert cells(on) and all(c.native for c in cells(on))
    assert cells(off) and not any(c.native for c in cells(off))
    # torch.compile compiles the whole loss itself: the kernels stay off under it
    assert PerfOptions(compile="on").kernels is False and PerfOptions().kernels is True


def test_keep_freed_memory_sets_glibc_thresholds_where_glibc_is_the_allocator():
    import platform

    expected = platform.libc_ver()[0] == "glibc"
    assert perf.keep_freed_memory() is expected
    assert perf.keep_freed_memory() is expected  # idempotent
