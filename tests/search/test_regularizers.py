import pytest
import torch

from diffnas.search.metrics import mean_entropy, op_probs
from diffnas.search.regularizers import (
    beta_decay_term,
    beta_decay_weight,
    dirichlet_kl_term,
    entropy_term,
    expected_cost,
    l2_term,
    resource_term,
)


def _alpha():
    return torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)


@pytest.mark.parametrize("weight,direction", [(1.0, -1), (-1.0, 1)])
def test_entropy_step_direction(weight, direction):
    a = _alpha()
    before = mean_entropy(op_probs(a))
    entropy_term(a, weight).backward()
    with torch.no_grad():
        a -= 0.1 * a.grad
    after = mean_entropy(op_probs(a))
    assert (after - before) * direction > 0


def test_l2_term_value_and_gradient():
    a = _alpha()
    l2_term(a, 0.5).backward()
    assert torch.allclose(a.grad, a.detach())


def test_expected_cost_bounds_and_resource_step():
    costs = torch.tensor([0.0, 0.0, 1.0, 9.0, 0.0])
    a = torch.zeros(6, 5, requires_grad=True)
    assert float(expected_cost(a.detach(), costs)) == pytest.approx(2.0 / 9.0)
    resource_term(a, costs, 1.0).backward()
    with torch.no_grad():
        a -= 1.0 * a.grad
    assert float(expected_cost(a.detach(), costs)) < 2.0 / 9.0
    one_hot = torch.full((6, 5), -50.0)
    one_hot[:, 3] = 50.0
    assert float(expected_cost(one_hot, costs)) == pytest.approx(1.0)


def test_negative_weights_rejected():
    with pytest.raises(ValueError, match="l2_weight"):
        l2_term(_alpha(), -1.0)
    with pytest.raises(ValueError, match="resource_weight"):
        resource_term(_alpha(), torch.ones(5), -1.0)
    with pytest.raises(ValueError, match="beta_weight"):
        beta_decay_term(_alpha(), -1.0)
    with pytest.raises(ValueError, match="beta_weight"):
        beta_decay_weight(-1.0, 1, 10)
    with pytest.raises(ValueError, match="kl_weight"):
        dirichlet_kl_term(_alpha(), -1.0)


def test_beta_decay_value_and_gradient():
    a = _alpha()
    term = beta_decay_term(a, 2.0)
    assert float(term) == pytest.approx(2.0 * float(torch.log(torch.exp(a.detach()).sum(-1)).mean()))
    term.backward()
    # ∂/∂α_eo = λ π_eo / E: the softmax per edge, scaled
    assert torch.allclose(a.grad, 2.0 * torch.softmax(a.detach(), -1) / a.shape[0])


def test_beta_decay_step_flattens_alpha():
    """A step against R_β lowers the largest α of each edge most: the spread max − min shrinks."""
    a = _alpha()
    spread = (a.max(-1).values - a.min(-1).values).detach()
    beta_decay_term(a, 1.0).backward()
    with torch.no_grad():
        a -= 1.0 * a.grad
    assert ((a.max(-1).values - a.min(-1).values) < spread).all()


def test_beta_decay_weight_ramps_linearly_from_zero():
    assert [beta_decay_weight(4.0, t, 4) for t in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_dirichlet_kl_value_is_the_closed_form_summed_over_edges():
    a = _alpha()
    conc = torch.nn.functional.elu(a.detach()) + 1
    lg, dg = torch.lgamma, torch.digamma
    a0 = conc.sum(-1)
    n = conc.shape[-1]
    # KL(Dir(c) || Dir(1)) = lnΓ(c0) − Σ lnΓ(c) − lnΓ(n) + Σ (c − 1)(ψ(c) − ψ(c0))
    per_edge = lg(a0) - lg(conc).sum(-1) - lg(torch.tensor(float(n), dtype=a.dtype)) \
        + ((conc - 1) * (dg(conc) - dg(a0).unsqueeze(-1))).sum(-1)
    assert float(dirichlet_kl_term(a, 0.5)) == pytest.approx(0.5 * float(per_edge.sum()), rel=1e-10)


def test_dirichlet_kl_matches_torch_and_with_a_mask_is_the_kl_over_the_kept_ops():
    a = _alpha()
    conc = torch.nn.functional.elu(a.detach()) + 1
    dist = torch.distributions
    full = dist.kl_divergence(dist.Dirichlet(conc), dist.Dirichlet(torch.ones_like(conc))).sum()
    assert float(dirichlet_kl_term(a, 1.0)) == pytest.approx(float(full), rel=1e-10)
    mask = torch.zeros(6, 5, dtype=torch.bool)
    mask[:, [0, 2, 3]] = True
    kept = conc[:, [0, 2, 3]]
    sub = dist.kl_divergence(dist.Dirichlet(kept), dist.Dirichlet(torch.ones_like(kept))).sum()
    term = dirichlet_kl_term(a, 1.0, mask)
    assert float(term) == pytest.approx(float(sub), rel=1e-10)
    term.backward()
    assert a.grad[~mask].abs().max() == 0  # a pruned op's α neither enters nor moves


def test_dirichlet_kl_is_zero_at_the_flat_dirichlet_and_pulls_concentrations_back():
    flat = torch.zeros(6, 5, dtype=torch.float64, requires_grad=True)  # elu(0) + 1 = 1: Dir(1) itself
    term = dirichlet_kl_term(flat, 1.0)
    term.backward()
    assert float(term) == pytest.approx(0.0, abs=1e-12) and flat.grad.abs().max() < 1e-10
    a = _alpha()
    before = float(dirichlet_kl_term(a, 1.0))
    dirichlet_kl_term(a, 1.0).backward()
    with torch.no_grad():
        a -= 0.1 * a.grad
    assert float(dirichlet_kl_term(a, 1.0)) < before
