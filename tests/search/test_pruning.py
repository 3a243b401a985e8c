"""DrNAS's progressive shrinking (diffnas.search.pruning) and its place in a run; DrNAS's KL term is in test_regularizers."""

import pytest
import torch
import torch.nn.functional as F

from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.search.pruning import full_mask, masked_alpha, masked_weights, prune_mask
from diffnas.search.run import SearchRun
from tests.helpers import TINY


def test_prune_mask_keeps_the_strongest_ops_among_those_kept():
    alpha = torch.tensor([[0.5, 2.0, -1.0, 1.0, 0.0],
                          [3.0, 3.0, 1.0, 0.0, 3.0]])  # ties: the lower op index first
    mask = prune_mask(alpha, full_mask(2, 5), 2)
    assert mask.tolist() == [[False, True, False, True, False], [True, True, False, False, False]]
    again = prune_mask(alpha, mask & torch.tensor([[True, False, True, True, True]] * 2), 2)
    assert again.tolist() == [[False, False, False, True, False], [True, False, False, False, False]]
    assert prune_mask(alpha, mask, 4).equal(mask)  # keeping more than is left prunes nothing
    with pytest.raises(ValueError, match="prune.keep"):
        prune_mask(alpha, mask, 0)
    with pytest.raises(ValueError, match="shape"):
        prune_mask(alpha, full_mask(3, 5), 2)


def test_masked_softmax_is_the_softmax_over_the_kept_logits():
    z = torch.randn(6, 5, requires_grad=True)
    mask = prune_mask(torch.randn(6, 5), full_mask(6, 5), 3)
    out = masked_weights(F.softmax(z, -1), mask)
    for e in range(6):
        kept = mask[e].nonzero().flatten()
        torch.testing.assert_close(out[e, kept], F.softmax(z[e, kept], -1))
        assert out[e, ~mask[e]].eq(0).all()
    g, = torch.autograd.grad((out * torch.randn(6, 5)).sum(), z)
    assert g[~mask].abs().max() < 1e-7 and g[mask].abs().max() > 0  # a pruned op's α gets no gradient
    assert masked_alpha(z.detach(), mask).argmax(-1).tolist() == \
        torch.where(mask, z.detach(), -torch.inf).argmax(-1).tolist()
    assert F.softmax(masked_alpha(z.detach(), mask), -1)[~mask].eq(0).all()


@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_restricted_gumbel_and_softmax_samples_are_those_of_alpha_without_the_pruned_ops(temperature):
    """For the soft samplers built on softmax, W·M renormalised equals the sampler run on α with −∞ at the
    pruned ops, draw for draw (same generator state)."""
    from diffnas.search.samplers import build_sampler

    alpha = torch.randn(6, 5)
    mask = prune_mask(torch.randn(6, 5), full_mask(6, 5), 2)
    for name in ("softmax", "gumbel"):
        sampler = build_sampler(name)
        restricted = masked_weights(sampler.sample(alpha, temperature, torch.Generator().manual_seed(5)).weights, mask)
        direct = sampler.sample(masked_alpha(alpha, mask), temperature, torch.Generator().manual_seed(5)).weights
        torch.testing.assert_close(restricted, direct)


@pytest.mark.parametrize("name, options", [("gumbel_hard", {}), ("enhanced", {"dropout": 0.9, "noise_std": 0.5})])
def test_one_hot_and_enhanced_samplers_never_draw_a_pruned_op(name, options):
    """On α with −∞ at the pruned ops, a one-hot draw picks a kept op, and the enhanced sampler's op dropout, even
    when it drops every kept op of an edge, keeps one of them (never a pruned op, never a NaN row)."""
    from diffnas.search.samplers import build_sampler

    sampler = build_sampler(name, **options)
    alpha = torch.randn(6, 5, requires_grad=True)
    mask = prune_mask(torch.randn(6, 5), full_mask(6, 5), 2)
    gen = torch.Generator().manual_seed(3)
    drawn = torch.zeros(6, 5, dtype=torch.bool)
    for _ in range(300):
        w = sampler.sample(masked_alpha(alpha, mask), 0.5, gen).weights
        assert torch.isfinite(w).all() and w[~mask].eq(0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(6))
        drawn |= w.detach() > 0.5
    assert drawn[mask].any() and not drawn[~mask].any()
    w.sum().backward()
    assert torch.isfinite(alpha.grad).all() and alpha.grad[~mask].eq(0).all()


def test_masked_dirichlet_draw_is_the_dirichlet_of_the_kept_concentrations():
    """Subcomposition: w ~ Dir(β), restricted to the kept ops and renormalised, is Dir(β_kept)."""
    beta = torch.tensor([[0.7, 2.0, 1.3, 4.0, 0.5]])
    mask = torch.tensor([[True, False, True, True, False]])
    torch.manual_seed(0)
    draws = masked_weights(torch.distributions.Dirichlet(beta).sample((40000,)).squeeze(1), mask[0])
    kept = beta[0, mask[0]]
    mean = kept / kept.sum()
    var = mean * (1 - mean) / (kept.sum() + 1)
    torch.testing.assert_close(draws[:, mask[0]].mean(0), mean, atol=4e-3, rtol=0)
    torch.testing.assert_close(draws[:, mask[0]].var(0), var, atol=2e-3, rtol=0)
    assert draws[:, ~mask[0]].eq(0).all()


def _config(**extra):
    return SearchConfig.validate({**TINY, "epochs": 4, "optim.a_lr": 0.05, **extra})


@pytest.mark.parametrize("sampler, order", [("softmax", "first"), ("dirichlet", "first"), ("gumbel", "first"),
                                            ("gumbel", "second"), ("gumbel_hard", "first"), ("enhanced", "first")])
def test_after_the_prune_epoch_every_weight_and_decision_keeps_to_the_strongest_ops(sampler, order):
    run = SearchRun(_config(sampler=sampler, order=order, **{"prune.epoch": 2, "prune.keep": 2}))
    calls = []
    inner = run.loss_fn

    def recording(x, y, weights, *rest):
        calls.append(weights.detach().clone())
        return inner(x, y, weights, *rest)

    run.loss_fn = recording
    for _ in range(2):
        run.step()
    assert not run.arch.pruned and run.arch.op_mask.all()
    expected = prune_mask(run.alpha.detach(), full_mask(6, 5), 2)  # α as the pruning epoch begins
    calls.clear()
    records = [run.step(), run.step()]
    assert run.arch.pruned and run.arch.op_mask.equal(expected)
    assert calls and all(w[~expected].eq(0).all() for w in calls)  # training, evaluation, discretised
    assert all(torch.allclose(w.sum(-1), torch.ones(6)) for w in calls)
    ops = run.space.ops
    for record in records:
        probs = torch.tensor(record["op_probs"]).view(6, 5)
        assert probs[~expected].eq(0).all()
        chosen = [part.split("~")[0] for node in record["genotype"].split("+") for part in node.strip("|").split("|")]
        assert all(expected[e, ops.index(op)] for e, op in enumerate(chosen))


@pytest.mark.parametrize("sampler, extra", [
    ("softmax", {"entropy_weight": 0.1, "l2_weight": 0.1, "beta_weight": 5.0, "resource_weight": 0.5}),
    ("dirichlet", {"kl_weight": 0.5, "l2_weight": 0.1}),
])
def test_after_pruning_the_regularisers_see_only_the_kept_ops(sampler, extra):
    run = SearchRun(_config(sampler=sampler, **{"prune.epoch": 1, "prune.keep": 2}, **extra))
    run.step(), run.step()
    run.alpha.grad = None
    run._alpha_loss_terms().backward()
    assert run.alpha.grad[~run.arch.op_mask].abs().max() == 0
    assert run.alpha.grad[run.arch.op_mask].abs().max() > 0


def test_a_pruned_op_that_leads_alpha_cannot_starve_the_kept_ops():
    """Softmax-style samplers restrict through their logits: even a pruned α far above the kept ones at a low
    temperature leaves the kept weights a proper distribution (restricting after the softmax would underflow)."""
    run = SearchRun(_config(sampler="gumbel", **{"prune.epoch": 1, "prune.keep": 2, "temperature.t0": 0.05,
                                                 "temperature.t_min": 0.05}))
    run.step(), run.step()
    with torch.no_grad():
        run.alpha[~run.arch.op_mask] = 30.0
    for weights in (run.arch.train_sample(run.alpha.detach(), 0.05, run.epoch, run.config["epochs"]).weights,
                    run.arch.eval_weights(0.05).weights):
        assert torch.isfinite(weights).all() and weights[~run.arch.op_mask].eq(0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(6))


def test_pruning_and_the_kl_term_change_the_run_and_the_config_id_only_when_on():
    base = _config()
    plain, pruned = SearchRun(base), SearchRun(base.replace(**{"prune.epoch": 1, "prune.keep": 2}))
    for _ in range(3):
        plain.step(), pruned.step()
    assert not torch.equal(plain.alpha.detach(), pruned.alpha.detach())
    dirichlet = base.replace(sampler="dirichlet")
    runs = [SearchRun(dirichlet), SearchRun(dirichlet.replace(kl_weight=0.5))]
    for run in runs:
        run.step(), run.step()
    assert not torch.equal(runs[0].alpha.detach(), runs[1].alpha.detach())
    assert base.config_id() == base.replace(**{"prune.epoch": 0, "kl_weight": 0.0}).config_id()
    assert base.config_id() != base.replace(**{"prune.epoch": 1}).config_id()


@pytest.mark.parametrize("extra, key, needle", [
    ({"prune.epoch": 4}, "prune.epoch", "< epochs"),
    ({"prune.epoch": 2, "warmup_epochs": 2}, "prune.epoch", "warmup_epochs"),
    ({"prune.epoch": 1, "prune.keep": 5}, "prune.keep", "5 searched ops"),
    ({"prune.epoch": 1, "prune.keep": 1, "space": "darts", "dataset": "digits"}, "prune.keep", "none"),
    ({"kl_weight": 0.001}, "kl_weight", "dirichlet"),
    ({"kl_weight": -1.0, "sampler": "dirichlet"}, "kl_weight", ">= 0"),
    ({"prune.keep": 0}, "prune.keep", ">= 1"),
    ({"prune.keep": 2}, "prune.keep", "only with prune.epoch > 0"),
])
def test_refusals_name_the_key(extra, key, needle):
    with pytest.raises(InputError) as err:
        _config(**extra)
    text = str(err.value)
    assert text.startswith(key) and needle in text and "\n" not in text
