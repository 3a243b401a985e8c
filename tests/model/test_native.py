"""diffnas.model.native: the compiled BatchNorm + mixing kernels equal the PyTorch path within float error,
are deterministic, and fall back cleanly.

Tolerance: as the fused path's (rtol 1e-4, atol 1e-5): the kernels only reorder float32 sums (the
statistics and reductions accumulate in double)."""

from __future__ import annotations

import errno
import os

import pytest
import torch
import torch.nn.functional as F

from diffnas.model.native import build
from diffnas.model.native import mix as native_mix
from diffnas.model.spaces import build_space
from diffnas.model.supernet import Supernet
from diffnas.search.samplers import build_sampler

TOL = {"rtol": 1e-4, "atol": 1e-5}
NHWC = torch.channels_last


def test_kernels_build_on_this_machine():
    assert build.kernels() is not None, build.unavailable_reason()
    assert build.unavailable_reason() is None


def test_library_name_follows_the_source_and_flags():
    a = build.library_name(b"int f(void) { return 1; }")
    assert a == build.library_name(b"int f(void) { return 1; }")
    assert a != build.library_name(b"int f(void) { return 2; }")
    assert a != build.library_name(b"int f(void) { return 1; }", ("-O2",))


def test_a_failed_build_says_why_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "false")
    target = tmp_path / "lib.so"
    with pytest.raises(RuntimeError, match="false failed"):
        build.build(target)
    assert list(tmp_path.iterdir()) == []


def test_bn_stats_match_torch():
    x = torch.randn(8, 12, 5, 7).contiguous(memory_format=NHWC) * 3 + 1
    mean, rstd = native_mix.bn_stats(x, 1e-5)
    var, ref_mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
    torch.testing.assert_close(mean, ref_mean, **TOL)
    torch.testing.assert_close(rstd, torch.rsqrt(var + 1e-5), **TOL)


def test_bn_stats_of_an_empty_batch_are_nan_as_torch_and_the_kernels_are_not_used():
    """No rows: no first row to shift by; NaN as torch.var_mean's (the kernel read y[0] and crashed).
    The supernet never sends an empty tensor to the kernels: ``usable`` gives it PyTorch's path."""
    x = torch.zeros(0, 8, 4, 4).contiguous(memory_format=NHWC)
    mean, rstd = native_mix.bn_stats(x, 1e-5)
    assert mean.shape == rstd.shape == (8,) and mean.isnan().all() and rstd.isnan().all()
    assert native_mix.usable(torch.zeros(2, 8, 4, 4).contiguous(memory_format=NHWC), has_affine=False)
    assert not native_mix.usable(x, has_affine=False)


def _reference(weights, rows, free_cols, conv_cols, present, eps, *tensors):
    """The PyTorch composition NativeMix replaces: BatchNorm (no affine) of each conv output, each block
    scaled by its op weight, plus the weighted parameter-free outputs, added to the accs."""
    n_acc, n_conv = sum(present), len(conv_cols)
    accs = iter(tensors[:n_acc])
    ys, frees = tensors[n_acc:n_acc + n_conv], tensors[n_acc + n_conv:]
    normed = [F.batch_norm(y, None, None, None, None, True, 0.0, eps) for y in ys]
    out = []
    for m, row in enumerate(rows):
        t = next(accs) if present[m] else 0
        for j, y in enumerate(normed):
            c = y.shape[1] // len(rows)
            t = t + weights[row, conv_cols[j]] * y[:, m * c:(m + 1) * c]
        for f, y in enumerate(frees):
            t = t + weights[row, free_cols[f]] * y
        out.append(t)
    return tuple(out)


@pytest.mark.parametrize("case", [
    # (rows, free_cols, conv_cols, present)
    ((0, 1, 3), (1, 4), (2, 3), (False, True, True)),   # node 0 of a cell: three edges, skip + pool, two convs
    ((2, 4), (1, 4), (2, 3), (True, False)),             # two edges, one destination still empty
    ((5,), (1, 4), (2, 3), (True,)),                     # one edge
    ((0, 1), (), (2, 3), (False, False)),                # convs only
    ((0, 1), (1, 4), (), (True, True)),                  # parameter-free ops only
])
def test_native_mix_equals_the_pytorch_composition(case):
    rows, free_cols, conv_cols, present = case
    gen = torch.Generator().manual_seed(0)
    n, c, h, w, d = 4, 3, 5, 6, len(rows)

    def t(channels, scale=1.0):
        x = torch.randn(n, channels, h, w, generator=gen) * scale
        return x.contiguous(memory_format=NHWC).requires_grad_(True)

    weights = torch.randn(6, 5, generator=gen).softmax(-1).requires_grad_(True)
    tensors = ([t(c) for p in present if p] + [t(d * c, scale=2.0) for _ in conv_cols]
               + [t(c) for _ in free_cols])
    args = (rows, free_cols, conv_cols, present, 1e-5)
    out = native_mix.NativeMix.apply(weights, *args, *tensors)
    ref = _reference(weights, *args, *tensors)
    grads_out = [torch.randn(o.shape, generator=gen) for o in ref]
    got = torch.autograd.grad(out, [weights, *tensors], grads_out)
    want = torch.autograd.grad(ref, [weights, *tensors], grads_out)
    for o, r in zip(out, ref):
        assert o.is_contiguous(memory_format=NHWC)
        torch.testing.assert_close(o, r, **TOL)
    for g_got, g_want in zip(got, want):
        torch.testing.assert_close(g_got, g_want, **TOL)


def _pair(native: bool):
    torch.manual_seed(0)
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, cells_per_stage=2, stages=2)
    return space, net.configure(fused=True, channels_last=True, native=native)


def _step(net, space, sampler: str):
    alpha = torch.nn.Parameter(torch.randn(space.n_edges, space.n_ops, generator=torch.Generator().manual_seed(1)))
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    y = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(3))
    sample = build_sampler(sampler).sample(alpha, 1.0, torch.Generator().manual_seed(4))
    logits = net(x, sample.weights, sample.chosen)
    F.cross_entropy(logits, y).backward()
    return logits.detach(), alpha.grad.clone(), [p.grad.clone() for p in net.parameters() if p.grad is not None]


def _count_native_calls(monkeypatch) -> list[int]:
    calls = [0]
    original = native_mix.NativeMix.apply

    def counting(*args):
        calls[0] += 1
        return original(*args)

    monkeypatch.setattr(native_mix.NativeMix, "apply", counting)
    return calls


@pytest.mark.parametrize("sampler", ["softmax", "gumbel", "enhanced"])
def test_native_supernet_step_equals_the_pytorch_path(sampler, monkeypatch):
    space, plain = _pair(native=False)
    _, native = _pair(native=True)
    calls = _count_native_calls(monkeypatch)
    want = _step(plain, space, sampler)
    assert calls[0] == 0
    got = _step(native, space, sampler)
    assert calls[0] > 0
    torch.testing.assert_close(got[0], want[0], **TOL)
    torch.testing.assert_close(got[1], want[1], **TOL)
    for g_got, g_want in zip(got[2], want[2], strict=True):
        torch.testing.assert_close(g_got, g_want, **TOL)


def test_native_step_is_deterministic():
    space, net = _pair(native=True)
    first = _step(net, space, "softmax")
    net.zero_grad(set_to_none=True)
    second = _step(net, space, "softmax")
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert all(torch.equal(a, b) for a, b in zip(first[2], second[2], strict=True))


def test_nchw_and_missing_kernels_take_the_pytorch_path(monkeypatch):
    space, plain = _pair(native=False)
    want = _step(plain, space, "softmax")
    calls = _count_native_calls(monkeypatch)
    _, nchw = _pair(native=True)
    nchw.configure(channels_last=False)
    _step(nchw, space, "softmax")
    assert calls[0] == 0
    monkeypatch.setattr(native_mix, "kernels", lambda: None)
    _, without = _pair(native=True)
    got = _step(without, space, "softmax")
    assert calls[0] == 0
    torch.testing.assert_close(got[1], want[1], **TOL)


@pytest.mark.parametrize("shape", [(3, 8, 5, 7), (2, 16, 1, 4), (2, 5, 3, 3)])
def test_avg_pool3x3_equals_torch_forward_and_backward(shape):
    from diffnas.model.native.pool import AvgPool3x3

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=gen).contiguous(memory_format=NHWC).requires_grad_(True)
    g = torch.randn(*shape, generator=gen)
    got = AvgPool3x3.apply(x)
    want = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    torch.testing.assert_close(got, want, **TOL)
    torch.testing.assert_close(torch.autograd.grad(got, x, g)[0], torch.autograd.grad(want, x, g)[0], **TOL)
    # under create_graph the adjoint is differentiable again: d⟨poolᵀ(g), v⟩/dg = pool(v)
    g = g.requires_grad_(True)
    v = torch.randn(*shape, generator=gen)
    adjoint = torch.autograd.grad(AvgPool3x3.apply(x), x, g, create_graph=True)[0]
    torch.testing.assert_close(torch.autograd.grad((adjoint * v).sum(), g)[0],
                               F.avg_pool2d(v, 3, 1, 1, count_include_pad=False), **TOL)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("hw", [(1, 1), (1, 3), (3, 1), (2, 2), (2, 5), (4, 3)])
def test_pool_and_source_kernels_at_every_border_case(hw, threads):
    """The window is summed per image row, vertically then horizontally, with the first and last pixel
    of a row and the first and last row of an image as special cases: every small image (a single row,
    a single column, two of each) at 1 and 2 threads, forward and backward, against PyTorch."""
    from diffnas.model.native.pool import AvgPool3x3, ReluAndPool

    gen = torch.Generator().manual_seed(hw[0] * 10 + hw[1])
    x = torch.randn(3, 3, *hw, generator=gen).contiguous(memory_format=NHWC).requires_grad_(True)
    g = [torch.randn(x.shape, generator=gen) for _ in range(4)]
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        pool_ref = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        pooled = AvgPool3x3.apply(x)
        torch.testing.assert_close(pooled, pool_ref, **TOL)
        torch.testing.assert_close(torch.autograd.grad(pooled, x, g[0])[0],
                                   torch.autograd.grad(pool_ref, x, g[0], retain_graph=True)[0], **TOL)
        relu_a, relu_b, pool, ident = ReluAndPool.apply(x, 2, True)
        torch.testing.assert_close(pool, pool_ref, **TOL)
        got = torch.autograd.grad([relu_a, relu_b, pool, ident], x, g)[0]
        want = torch.autograd.grad([F.relu(x), F.relu(x), pool_ref, x], x, g)[0]
        torch.testing.assert_close(got, want, **TOL)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("shape", [(2, 3, 4, 0), (2, 3, 0, 4), (0, 3, 4, 4)])
def test_pool_and_source_kernels_on_an_empty_tensor(shape):
    """A tensor with no pixels (zero width, height or batch) gives empty outputs and gradients, as
    PyTorch's pool does, instead of a kernel writing past its row or failing to allocate nothing."""
    from diffnas.model.native.pool import AvgPool3x3, ReluAndPool

    x = torch.zeros(*shape).contiguous(memory_format=NHWC).requires_grad_(True)
    pooled = AvgPool3x3.apply(x)
    assert pooled.shape == x.shape
    assert torch.autograd.grad(pooled, x, torch.ones(shape))[0].shape == x.shape
    relu, pool, ident = ReluAndPool.apply(x, 1, True)
    assert relu.shape == pool.shape == ident.shape == x.shape
    grad = torch.autograd.grad([relu, pool, ident], x, [torch.ones(shape)] * 3)[0]
    assert grad.shape == x.shape


def test_pool_kernel_applies_to_nb201_avg_pool_only():
    from diffnas.model.native.pool import applies
    from diffnas.model.ops import OPS

    x = torch.randn(2, 4, 6, 6).contiguous(memory_format=NHWC)
    assert applies(OPS.get("avg_pool_3x3")(4, 1, False), x)
    assert not applies(OPS.get("avg_pool_3x3")(4, 2, False), x)       # stride 2
    assert not applies(OPS.get("max_pool_3x3")(4, 1, False), x)
    assert not applies(OPS.get("avg_pool_3x3")(4, 1, False), x.contiguous())  # NCHW
    assert not applies(OPS.get("avg_pool_3x3")(4, 1, False), x.double().contiguous(memory_format=NHWC))


def test_relu_and_pool_equal_torch_forward_and_backward():
    from diffnas.model.native.pool import ReluAndPool

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 5, 7, generator=gen).contiguous(memory_format=NHWC)
    x[0, 0, 0, :3] = 0.0  # ReLU's gradient at exactly 0 is 0, as in torch
    x.requires_grad_(True)
    g_relu, g_pool = torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)
    relu, pool = ReluAndPool.apply(x)
    ref_relu, ref_pool = F.relu(x), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    torch.testing.assert_close(relu, ref_relu, rtol=0, atol=0)
    torch.testing.assert_close(pool, ref_pool, **TOL)
    got = torch.autograd.grad((relu, pool), x, (g_relu, g_pool))[0]
    want = torch.autograd.grad((ref_relu, ref_pool), x, (g_relu, g_pool))[0]
    torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("with_pool", [True, False])
def test_relu_handles_and_identity_each_get_their_own_gradient(with_pool):
    """ReluAndPool(x, 2, identity=True): two ReLU handles (one per conv op), the pool and x itself; the
    backward adds their gradients in its one pass, as autograd would have: [x > 0]·(g_a + g_b) +
    poolᵀ(g_pool) + g_ident (a pool nobody reads gives no gradient)."""
    from diffnas.model.native.pool import ReluAndPool

    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 8, 5, 6, generator=gen).contiguous(memory_format=NHWC).requires_grad_(True)
    relu_a, relu_b, pool, ident = ReluAndPool.apply(x, 2, True)
    assert relu_b._base is relu_a and ident._base is x  # views: no copies
    torch.testing.assert_close(relu_b, F.relu(x), rtol=0, atol=0)
    torch.testing.assert_close(ident, x, rtol=0, atol=0)
    g = [torch.randn(x.shape, generator=gen) for _ in range(4)]
    outs, ref = [relu_a, relu_b, ident], [F.relu(x), F.relu(x), x]
    if with_pool:
        outs.append(pool)
        ref.append(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    got = torch.autograd.grad(outs, x, g[:len(outs)])[0]
    want = torch.autograd.grad(ref, x, g[:len(ref)])[0]
    torch.testing.assert_close(got, want, **TOL)
    # create_graph: the same gradient from PyTorch ops, differentiable again
    relu_a, relu_b, pool, ident = ReluAndPool.apply(x, 2, True)
    outs = [relu_a, relu_b, ident] + ([pool] if with_pool else [])
    got2 = torch.autograd.grad(outs, x, g[:len(outs)], create_graph=True)[0]
    torch.testing.assert_close(got2, want, **TOL)


def test_relu_and_pool_without_a_relu_handle_is_refused():
    """The backward reads the ReLU gradients from the first n_relu outputs; with n_relu = 0 the forward
    would still hand out one ReLU and every later gradient would land on the wrong term, so it refuses."""
    from diffnas.model.native.pool import ReluAndPool

    x = torch.randn(1, 4, 3, 3).contiguous(memory_format=NHWC).requires_grad_(True)
    with pytest.raises(ValueError, match="n_relu must be >= 1, got 0"):
        ReluAndPool.apply(x, 0, True)


@pytest.mark.parametrize("channels", [3, 4, 8, 16, 32])
def test_kernels_hold_for_every_specialised_channel_count(channels):
    """The row loops are compiled once per usual channel count (4, 8, 16, 32, 64) and once generic:
    each against PyTorch, on a small image where every pixel touches the border."""
    from diffnas.model.native.pool import ReluAndPool

    gen = torch.Generator().manual_seed(channels)
    x = torch.randn(3, channels, 4, 4, generator=gen).contiguous(memory_format=NHWC).requires_grad_(True)
    g_relu, g_pool = torch.randn(x.shape, generator=gen), torch.randn(x.shape, generator=gen)
    got = torch.autograd.grad(ReluAndPool.apply(x), x, (g_relu, g_pool))[0]
    want = torch.autograd.grad((F.relu(x), F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)), x, (g_relu, g_pool))[0]
    torch.testing.assert_close(got, want, **TOL)
    rows, free_cols, conv_cols, present = (0, 1, 3), (1, 4), (2, 3), (False, True, True)
    tensors = [torch.randn(3, ch, 4, 4, generator=gen).contiguous(memory_format=NHWC).requires_grad_(True)
               for ch in (channels, channels, 3 * channels, 3 * channels, channels, channels)]
    weights = torch.randn(6, 5, generator=gen).softmax(-1).requires_grad_(True)
    args = (rows, free_cols, conv_cols, present, 1e-5)
    out, ref = native_mix.NativeMix.apply(weights, *args, *tensors), _reference(weights, *args, *tensors)
    grads_out = [torch.randn(o.shape, generator=gen) for o in ref]
    for a, b in zip(torch.autograd.grad(out, tensors, grads_out), torch.autograd.grad(ref, tensors, grads_out)):
        torch.testing.assert_close(a, b, **TOL)


def test_a_read_only_cache_folder_builds_in_the_temporary_folder(tmp_path, monkeypatch):
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv(build.CACHE_VAR, str(cache))
    monkeypatch.setattr(build.tempfile, "gettempdir", lambda: str(tmp))
    real_build = build.build

    def build_unless_cache(target):
        if cache in target.parents:
            raise OSError(errno.EROFS, "Read-only file system", str(target))
        real_build(target)

    monkeypatch.setattr(build, "build", build_unless_cache)
    path = build._build_or_find("probe.so")
    assert path.exists() and tmp in path.parents and not cache.exists()
    assert path.parent.stat().st_mode & 0o777 == 0o700  # a private folder
    assert build._build_or_find("probe.so") == path  # found, not rebuilt


def test_second_derivatives_through_the_kernels_equal_the_pytorch_path():
    """Under create_graph the kernels' backward recomputes the terms in PyTorch: a Hessian-vector product
    w.r.t. α through a native supernet equals the one through the PyTorch path."""
    hvps = []
    for native in (False, True):
        space, net = _pair(native=native)
        alpha = torch.randn(space.n_edges, space.n_ops, generator=torch.Generator().manual_seed(1), requires_grad=True)
        x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
        loss = net(x, torch.softmax(alpha, -1)).square().mean()
        grad = torch.autograd.grad(loss, alpha, create_graph=True)[0]
        v = torch.randn(alpha.shape, generator=torch.Generator().manual_seed(3))
        hvps.append(torch.autograd.grad(grad, alpha, v)[0])
    assert hvps[0].abs().max() > 0
    torch.testing.assert_close(hvps[1], hvps[0], rtol=1e-3, atol=1e-6)


def test_the_hessian_metric_on_the_kernels_matches_the_reference_path():
    from diffnas.config import SearchConfig
    from diffnas.search.run import SearchRun

    run = SearchRun(SearchConfig.validate({"epochs": 2, "metrics.hessian_iters": 4, "data.subset": 200}))
    assert all(c.native for c in run.model.layers if hasattr(c, "native"))
    fast = run._hessian(1.0)
    with run.model.reference_path():
        reference = run._hessian(1.0)
    assert fast == pytest.approx(reference, rel=1e-3)


def test_a_temporary_folder_others_can_write_is_never_used(tmp_path, monkeypatch):
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    monkeypatch.setenv(build.CACHE_VAR, str(cache))
    monkeypatch.setattr(build.tempfile, "gettempdir", lambda: str(tmp))
    shared = tmp / f"diffnas-native-{os.getuid()}"
    shared.mkdir(parents=True)
    shared.chmod(0o777)  # planted or careless: anyone could have put a library here
    (shared / "probe.so").write_bytes(b"not a library")

    def refuse_cache(target):
        raise OSError(errno.EROFS, "Read-only file system", str(target))

    monkeypatch.setattr(build, "build", refuse_cache)
    with pytest.raises(RuntimeError, match="can be written"):
        build._build_or_find("probe.so")


def test_outputs_are_float32_whatever_the_default_dtype():
    gen = torch.Generator().manual_seed(0)
    rows, free_cols, conv_cols, present = (0, 1), (1, 4), (2, 3), (True, False)
    tensors = [torch.randn(2, ch, 3, 3, generator=gen).contiguous(memory_format=NHWC) for ch in (4, 8, 8, 4, 4)]
    weights = torch.randn(6, 5, generator=gen).softmax(-1)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = native_mix.NativeMix.apply(weights, rows, free_cols, conv_cols, present, 1e-5, *tensors)
    finally:
        torch.set_default_dtype(previous)
    ref = _reference(weights, rows, free_cols, conv_cols, present, 1e-5, *tensors)
    for o, r in zip(out, ref):
        assert o.dtype == torch.float32
        torch.testing.assert_close(o, r, **TOL)


@pytest.mark.parametrize("offset", [0.0, 100.0, 1000.0])
def test_statistics_and_gradients_stay_accurate_far_from_zero(offset):
    """Sums are taken of y − y[0] forward and of Y − mean backward: a mean much larger than the spread
    costs no accuracy (E[y²] − mean² in float32 lost 1.6e-2 of rstd at offset 1000)."""
    gen = torch.Generator().manual_seed(1)
    y = (torch.randn(8, 6, 5, 5, generator=gen, dtype=torch.float64) + offset)
    mean, rstd = native_mix.bn_stats(y.float().contiguous(memory_format=NHWC), 1e-5)
    var, ref_mean = torch.var_mean(y, dim=(0, 2, 3), correction=0)
    torch.testing.assert_close(rstd.double(), torch.rsqrt(var + 1e-5), rtol=1e-5, atol=0)
    torch.testing.assert_close(mean.double(), ref_mean, rtol=1e-6, atol=1e-6 * (1 + offset))
    rows, free_cols, conv_cols, present = (0, 1, 3), (), (2,), (False, False, False)
    ys = (torch.randn(4, 6, 5, 5, generator=gen) + offset).contiguous(memory_format=NHWC).requires_grad_(True)
    weights = torch.randn(6, 5, generator=gen).softmax(-1)
    grads = [torch.randn(4, 2, 5, 5, generator=gen) for _ in rows]
    out = native_mix.NativeMix.apply(weights, rows, free_cols, conv_cols, present, 1e-5, ys)
    got = torch.autograd.grad(out, ys, grads)[0]
    y64 = ys.detach().double().requires_grad_(True)
    ref = _reference(weights.double(), rows, free_cols, conv_cols, present, 1e-5, y64.detach())
    for o, r in zip(out, ref):  # the forward is centred on the mean too
        torch.testing.assert_close(o.double(), r, rtol=1e-4, atol=1e-5)
    want = torch.autograd.grad(_reference(weights.double(), rows, free_cols, conv_cols, present, 1e-5, y64),
                               y64, [g.double() for g in grads])[0]
    torch.testing.assert_close(got.double(), want, rtol=1e-3, atol=1e-4)
