"""DARTS-'s auxiliary skip: β_t's linear decay, W' = W + β·1_skip, the fused cell on such weights, and a run."""

import pytest
import torch
import torch.nn.functional as F

from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.search.aux_skip import aux_skip_weight, with_aux_skip
from diffnas.search.run import SearchRun
from tests.helpers import TINY, fused_pair

TOL = {"rtol": 1e-4, "atol": 1e-5}  # the fused cell's tolerance (tests/model/test_fused.py)


def test_weight_decays_linearly_from_beta0():
    assert aux_skip_weight(1.0, 0, 10) == 1.0
    assert aux_skip_weight(1.0, 5, 10) == pytest.approx(0.5)
    assert aux_skip_weight(2.0, 9, 10) == pytest.approx(0.2)  # the last epoch: β0 / T
    assert aux_skip_weight(0.0, 3, 10) == 0.0
    with pytest.raises(ValueError, match="aux_skip"):
        aux_skip_weight(-0.1, 0, 10)


def test_adds_beta_to_the_skip_column_only():
    w = F.softmax(torch.randn(6, 5), dim=-1)
    out = with_aux_skip(w, 1, 0.25)
    torch.testing.assert_close(out[:, 1], w[:, 1] + 0.25)
    torch.testing.assert_close(out[:, [0, 2, 3, 4]], w[:, [0, 2, 3, 4]])
    assert with_aux_skip(w, 1, 0.0) is w
    alpha = torch.randn(6, 5, requires_grad=True)  # ∂/∂α is softmax's: the constant leaves it unchanged
    g_plain, = torch.autograd.grad((F.softmax(alpha, -1) * w).sum(), alpha)
    g_aux, = torch.autograd.grad((with_aux_skip(F.softmax(alpha, -1), 1, 0.7) * w).sum(), alpha)
    torch.testing.assert_close(g_aux, g_plain)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_cell_equals_reference_on_weights_with_the_auxiliary_skip(channels_last):
    """Rows of W' sum to 1 + β: the fused cell (MixInto) must still equal the op-by-op reference."""
    space, ref, fast = fused_pair(channels_last)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    alpha = torch.randn(space.n_edges, space.n_ops)
    results = []
    for net in (ref, fast):
        a = torch.nn.Parameter(alpha.clone())
        logits = net(x, with_aux_skip(F.softmax(a, -1), space.ops.index("skip_connect"), 0.8))
        F.cross_entropy(logits, y).backward()
        results.append((logits.detach(), a.grad))
    torch.testing.assert_close(results[1][0], results[0][0], **TOL)
    torch.testing.assert_close(results[1][1], results[0][1], **TOL)


def _config(**extra):
    return SearchConfig.validate({**TINY, **extra})


def _record_weight_sums(run):
    """Wrap the run's loss so that every call records (inference?, α-step?, per-edge sums of its op weights)."""
    calls = []
    inner = run.loss_fn

    def recording(x, y, weights, *rest):
        calls.append((torch.is_inference_mode_enabled(), weights.requires_grad, weights.detach().sum(-1).clone()))
        return inner(x, y, weights, *rest)

    run.loss_fn = recording
    return calls


@pytest.mark.parametrize("order", ["first", "second"])
def test_both_steps_carry_the_decaying_skip_and_evaluation_does_not(order):
    run = SearchRun(_config(aux_skip=0.5, order=order))
    calls = _record_weight_sums(run)
    ones = torch.ones(run.space.n_edges)
    for epoch in range(3):  # β_t = 0.5 · (1 − t/3) during the 0-based epoch t
        calls.clear()
        run.step()
        train = [(alpha_step, sums) for inference, alpha_step, sums in calls if not inference]
        evaluation = [sums for inference, _, sums in calls if inference]
        assert {a for a, _ in train} == {True, False}  # α steps (both losses when unrolled) and weight steps
        for _, sums in train:
            torch.testing.assert_close(sums, ones * (1 + 0.5 * (1 - epoch / 3)))
        assert evaluation and all(torch.allclose(sums, ones) for sums in evaluation)


def test_train_sample_adds_beta_to_the_skip_column():
    run = SearchRun(_config(aux_skip=0.5))
    skip = run.space.ops.index("skip_connect")
    sample = run.arch.train_sample(run.alpha.detach(), 1.0, run.epoch, run.config["epochs"])
    plain = F.softmax(run.alpha.detach(), -1)
    torch.testing.assert_close(sample.weights[:, skip], plain[:, skip] + 0.5)
    others = [o for o in range(run.space.n_ops) if o != skip]
    torch.testing.assert_close(sample.weights[:, others], plain[:, others])


def test_run_with_the_auxiliary_skip_differs_and_default_keeps_config_ids():
    base = _config(epochs=2, **{"optim.a_lr": 0.05})
    plain = SearchRun(base)
    aux = SearchRun(base.replace(aux_skip=1.0))
    plain.step(), aux.step()
    assert not torch.equal(plain.alpha.detach(), aux.alpha.detach())
    assert base.config_id() == base.replace(aux_skip=0.0).config_id()
    assert base.config_id() != base.replace(aux_skip=1.0).config_id()
    assert SearchConfig.validate({**TINY, "epochs": 3, "optim.a_lr": 0.05}).config_id() == "f36327aeb4e5"


def test_refusals_name_the_key():
    with pytest.raises(InputError, match="aux_skip") as err:
        _config(aux_skip=1.0, ops=["none", "nor_conv_3x3"])
    assert "skip_connect" in str(err.value)
    with pytest.raises(InputError, match="aux_skip"):
        _config(aux_skip=-1.0)
    for mode in ("chosen", "all"):  # either way the unchosen ops enter with value 0
        with pytest.raises(InputError, match="aux_skip") as err:
            _config(aux_skip=1.0, sampler="gumbel_hard", **{"sampler_options.hard_forward": mode})
        assert "gumbel_hard" in str(err.value) and "\n" not in str(err.value)


def test_one_op_samplers_are_those_whose_samples_choose():
    """ONE_OP_SAMPLERS (config's refusal) lists exactly the samplers whose training samples carry ``chosen``."""
    from diffnas.names import ONE_OP_SAMPLERS, names
    from diffnas.search.samplers import build_sampler

    alpha = torch.randn(6, 5)
    for name in names("sampler"):
        sample = build_sampler(name).sample(alpha, 1.0, torch.Generator().manual_seed(0))
        assert (sample.chosen is not None) == (name in ONE_OP_SAMPLERS), name
