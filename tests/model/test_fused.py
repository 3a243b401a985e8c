"""The fused NB201 cell equals the reference path within float error, and runs fewer convolutions.

Tolerance: logits and every gradient (α and weights) agree to rtol 1e-4, atol 1e-5 — the fused
convolution only reorders the float32 sums inside one convolution and BatchNorm's affine product.
"""

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from diffnas.model.spaces import build_space
from diffnas.model.supernet import Supernet
from diffnas.search.samplers import build_sampler
from tests.helpers import fused_pair

TOL = {"rtol": 1e-4, "atol": 1e-5}


def _grads(net, x, y, alpha, weights_of):
    net.zero_grad(set_to_none=True)
    alpha.grad = None
    w, chosen = weights_of(alpha)
    logits = net(x, w, chosen)
    F.cross_entropy(logits, y).backward()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()]
    return logits.detach(), alpha.grad.clone(), grads


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("sampler", ["softmax", "gumbel_hard", "enhanced"])
def test_fused_equals_reference(sampler, channels_last):
    space, ref, fast = fused_pair(channels_last)
    alpha = torch.nn.Parameter(torch.randn(space.n_edges, space.n_ops))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    smp = build_sampler(sampler)

    state = torch.Generator().manual_seed(5).get_state()

    def weights_of(a):
        sample = smp.sample(a, 1.0, torch.Generator().set_state(state))
        return sample.weights, sample.chosen

    out_r, da_r, dw_r = _grads(ref, x, y, alpha, weights_of)
    out_f, da_f, dw_f = _grads(fast, x, y, alpha, weights_of)
    torch.testing.assert_close(out_f, out_r, **TOL)
    torch.testing.assert_close(da_f, da_r, **TOL)
    for g_f, g_r in zip(dw_f, dw_r):
        torch.testing.assert_close(g_f, g_r, **TOL)


def test_fused_evaluation_skips_zero_weights_and_matches_discrete():
    space, ref, fast = fused_pair(True)
    alpha = torch.randn(space.n_edges, space.n_ops)
    chosen = space.discrete_choice(alpha)
    weights = space.one_hot(chosen)
    x = torch.randn(8, 1, 8, 8)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x, weights), ref(x, weights), **TOL)
        torch.testing.assert_close(fast(x, weights), fast(x, weights, chosen), **TOL)


class _CountConv(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.conv2d:
            self.calls += 1
        return func(*args, **(kwargs or {}))


def test_fused_cell_runs_one_conv_per_source_node_and_kernel():
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, cells_per_stage=1, stages=1)
    x, w = torch.randn(2, 1, 8, 8), torch.softmax(torch.randn(6, 5), -1)
    counts = {}
    for fused in (False, True):
        net.configure(fused=fused)
        with _CountConv() as mode:
            net(x, w)
        counts[fused] = mode.calls - 1  # minus the stem
    assert counts == {False: 12, True: 6}  # 6 edges × (1×1, 3×3) vs 3 source nodes × (1×1, 3×3)


def test_flop_costs_ignore_the_fused_switch():
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, stages=1)
    ref = net.flop_costs((1, 8, 8))
    net.configure(fused=True, channels_last=True)
    assert torch.equal(net.flop_costs((1, 8, 8)), ref)
    assert net.layers[0].fused  # the switch is restored after pricing


@pytest.mark.parametrize("channels_last", [False, True])
def test_mix_into_gradients_match_finite_differences(channels_last):
    """MixInto's hand-written backward (acc, conv blocks, param-free outputs and the op weights)
    against torch.autograd.gradcheck, in float64: two destinations, one with an acc and one without."""
    from diffnas.model.fused import MixInto

    gen = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def t(*shape):
        x = torch.randn(*shape, generator=gen, dtype=torch.float64).contiguous(memory_format=fmt)
        return x.requires_grad_(True)

    weights = torch.randn(6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    acc, conv_a, conv_b, skip, pool = t(2, 3, 4, 4), t(2, 6, 4, 4), t(2, 6, 4, 4), t(2, 3, 4, 4), t(2, 3, 4, 4)

    def fn(weights, acc, conv_a, conv_b, skip, pool):
        return MixInto.apply(weights, (3, 5), (1, 4), (False, True), 2, acc, conv_a, conv_b, skip, pool)

    assert torch.autograd.gradcheck(fn, (weights, acc, conv_a, conv_b, skip, pool))
