import math

import pytest
import torch
import torch.nn.functional as F

from diffnas.search.samplers import SAMPLERS, EnhancedSampler, build_sampler


def _alpha():
    torch.manual_seed(0)
    return torch.randn(6, 5, dtype=torch.float64)


def test_registry_has_required_samplers():
    assert {"softmax", "gumbel", "gumbel_hard", "enhanced"} <= set(SAMPLERS.names())


def test_softmax_low_temperature_is_argmax_one_hot():
    a = _alpha()
    w = build_sampler("softmax").sample(a, 1e-4, None).weights
    assert torch.equal(w, F.one_hot(a.argmax(-1), 5).double())


def test_softmax_high_temperature_approaches_uniform():
    a = _alpha()
    w = build_sampler("softmax").sample(a, 1e6, None).weights
    assert torch.allclose(w, torch.full_like(w, 0.2), atol=1e-5)


def test_gumbel_hard_forward_is_one_hot_and_gradient_equals_soft_sample():
    a = _alpha().requires_grad_(True)
    s = build_sampler("gumbel_hard")
    out = s.sample(a, 0.7, torch.Generator().manual_seed(3))
    assert ((out.weights == 0) | (out.weights == 1)).all()
    assert torch.equal(out.weights.sum(-1), torch.ones(6, dtype=torch.float64))
    assert torch.equal(out.weights.argmax(-1), out.chosen)
    target = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    (out.weights * target).sum().backward()
    g_hard = a.grad.clone()
    assert g_hard.abs().sum() > 0
    # the same noise drawn again gives the soft sample; its gradient must match
    a2 = a.detach().clone().requires_grad_(True)
    soft = build_sampler("gumbel").sample(a2, 0.7, torch.Generator().manual_seed(3)).weights
    (soft * target).sum().backward()
    assert torch.allclose(g_hard, a2.grad, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.5, 5.0])
def test_gumbel_hard_choice_frequencies_match_softmax(temperature):
    alpha = torch.tensor([[1.0, 0.0, -0.5, 0.3, -1.2]], dtype=torch.float64).expand(20000, 5).contiguous()
    out = build_sampler("gumbel_hard").sample(alpha, temperature, torch.Generator().manual_seed(11))
    freq = out.weights.mean(0)
    expected = F.softmax(alpha[0], -1)
    assert (freq - expected).abs().max() < 0.01


def test_gumbel_hard_eval_is_argmax():
    a = _alpha()
    w = build_sampler("gumbel_hard").eval_weights(a, 1.0).weights
    assert torch.equal(w, F.one_hot(a.argmax(-1), 5).double())


@pytest.mark.parametrize("name", ["gumbel", "gumbel_hard", "enhanced", "dirichlet"])
def test_same_seed_same_samples_different_seed_different(name):
    a = _alpha()
    s = build_sampler(name)
    w1 = s.sample(a, 1.0, torch.Generator().manual_seed(1)).weights
    w2 = s.sample(a, 1.0, torch.Generator().manual_seed(1)).weights
    w3 = s.sample(a, 1.0, torch.Generator().manual_seed(2)).weights
    assert torch.equal(w1, w2)
    assert not torch.equal(w1, w3)


@pytest.mark.parametrize("name", ["softmax", "gumbel", "enhanced"])
def test_soft_eval_mode_is_softmax_over_t(name):
    a = _alpha()
    w = build_sampler(name).eval_weights(a, 2.0).weights
    assert torch.allclose(w, F.softmax(a / 2.0, -1))


def test_enhanced_weights_are_distributions_and_drop_ops():
    a = torch.zeros(2000, 5, dtype=torch.float64)
    s = EnhancedSampler(noise_std=0.5, dropout=0.5)
    w = s.sample(a, 1.0, torch.Generator().manual_seed(0)).weights
    assert torch.allclose(w.sum(-1), torch.ones(2000, dtype=torch.float64))
    zero_share = (w == 0).double().mean()
    assert 0.4 < zero_share < 0.6  # about p of the ops dropped (each edge keeps >= 1)
    assert ((w > 0).sum(-1) >= 1).all()


def test_enhanced_noise_only_changes_sample():
    a = _alpha()
    quiet = EnhancedSampler(noise_std=0.0, dropout=0.0).sample(a, 1.0, torch.Generator().manual_seed(5)).weights
    noisy = EnhancedSampler(noise_std=1.0, dropout=0.0).sample(a, 1.0, torch.Generator().manual_seed(5)).weights
    assert not torch.allclose(quiet, noisy)


@pytest.mark.parametrize("t", [0.0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("name", ["softmax", "gumbel", "gumbel_hard", "enhanced", "dirichlet"])
def test_bad_temperature_raises(name, t):
    with pytest.raises(ValueError, match="temperature"):
        build_sampler(name).sample(_alpha(), t, torch.Generator())


def test_dirichlet_mean_is_normalised_elu_plus_one_and_samples_concentrate_as_t_falls():
    a = torch.tensor([[2.0, 0.0, -1.0, -3.0, 0.5]], dtype=torch.float64)
    s = build_sampler("dirichlet")
    beta = torch.tensor([[3.0, 1.0, math.exp(-1.0), math.exp(-3.0), 1.5]], dtype=torch.float64)
    mean = beta / beta.sum()
    assert torch.allclose(s.eval_weights(a, 0.3).weights, mean)
    assert torch.allclose(s.effective_probs(a, 3.0), mean)
    many = a.expand(4000, 5)
    hot = s.sample(many, 1.0, torch.Generator().manual_seed(0)).weights
    cold = s.sample(many, 0.05, torch.Generator().manual_seed(0)).weights
    assert torch.allclose(hot.sum(-1), torch.ones(4000, dtype=torch.float64))
    assert torch.allclose(hot.mean(0), mean[0], atol=0.02)  # E[w] = beta / sum(beta)
    assert torch.allclose(cold.mean(0), mean[0], atol=0.01)
    # Var[w_i] = m_i (1 - m_i) / (sum(beta)/T + 1): the spread shrinks with T
    for w, t in ((hot, 1.0), (cold, 0.05)):
        expected = mean[0] * (1 - mean[0]) / (beta.sum() / t + 1)
        assert torch.allclose(w.var(0), expected, rtol=0.15)


def test_dirichlet_sample_is_differentiable_and_leaves_global_rng_alone():
    a = _alpha().requires_grad_(True)
    before = torch.get_rng_state()
    w = build_sampler("dirichlet").sample(a, 1.0, torch.Generator().manual_seed(3)).weights
    assert torch.equal(torch.get_rng_state(), before)
    w[:, 0].sum().backward()
    assert a.grad is not None and float(a.grad.abs().sum()) > 0


def test_bad_parameters_raise_naming_them():
    with pytest.raises(ValueError, match="sampler.*unknown 'nope'.*softmax"):
        build_sampler("nope")
    with pytest.raises(ValueError, match=r"dropout.*\[0, 1\)"):
        EnhancedSampler(dropout=1.0)
    with pytest.raises(ValueError, match="dropout"):
        EnhancedSampler(dropout=-0.1)
    with pytest.raises(ValueError, match="noise_std.*>= 0"):
        EnhancedSampler(noise_std=-0.5)
    with pytest.raises(ValueError, match="generator"):
        build_sampler("gumbel").sample(_alpha(), 1.0, None)
