"""DARTS-'s auxiliary skip: β_t's linear decay, W' = W + β·1_skip, the fused cell on such weights, and a run."""

import pytest
import torch
import torch.nn.functional as F

from diffnas.aux_skip import aux_skip_weight, with_aux_skip
from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.run import SearchRun
from tests.helpers import TINY, fused_pair

TOL = {"rtol": 1e-4, "atol": 1e-5}  # the fused cell's tolerance (tests/test_fused.py)


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


def test_run_trains_on_weights_with_the_decaying_skip_and_evaluates_without():
    run = SearchRun(_config(aux_skip=0.5))
    skip = run.space.ops.index("skip_connect")
    sample = run._train_sample(run.alpha.detach(), 1.0)
    torch.testing.assert_close(sample.weights.sum(-1), torch.full((run.space.n_edges,), 1.5))
    plain = F.softmax(run.alpha.detach(), -1)
    torch.testing.assert_close(sample.weights[:, skip], plain[:, skip] + 0.5)
    run.step()
    run.step()  # epoch 2 of 3: β = 0.5 · (1 − 2/3)
    later = run._train_sample(run.alpha.detach(), 1.0)
    torch.testing.assert_close(later.weights.sum(-1), torch.full((run.space.n_edges,), 1.0 + 0.5 / 3))
    assert run.sampler.eval_weights(run.alpha.detach(), 1.0).weights.sum(-1).allclose(torch.ones(run.space.n_edges))


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
    with pytest.raises(InputError, match="aux_skip") as err:
        SearchRun(_config(aux_skip=1.0, sampler="gumbel_hard"))
    assert "hard_forward" in str(err.value)
    SearchRun(_config(aux_skip=1.0, sampler="gumbel_hard", **{"sampler_options.hard_forward": "all"}))
