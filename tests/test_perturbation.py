import itertools

import pytest
import torch

from diffnas.model.spaces import build_space, choice_from_genotype
from diffnas.selection.perturbation import alive_weights, perturb_select, zero_cost_pt
from diffnas.selection.proxies import PROXIES, cell_network
from tests.helpers import PROXY_SIZES, proxy_batch

SPACE = build_space("nb201")


def test_alive_weights_renormalise_the_base_over_the_alive_ops():
    base = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    w = alive_weights(base, [[1, 3], [0, 1, 2, 3]])
    assert torch.allclose(w[0], torch.tensor([0.0, 0.2 / 0.6, 0.0, 0.4 / 0.6]))
    assert torch.allclose(w[1], base[1])
    with pytest.raises(ValueError, match="edge 0"):
        alive_weights(torch.tensor([[0.0, 1.0]]), [[0]])


def test_each_edge_keeps_the_op_whose_removal_lowers_the_score_most():
    # S(W) = Σ_e Σ_o value[e, o] · W[e, o]: removing op o from a uniform edge of n ops changes the
    # edge's term from mean(v) to (Σv − v_o)/(n − 1), lowest for the largest v_o, so the pick is the
    # argmax of value on every edge, whatever the order
    value = torch.tensor([[0.0, 3.0, 1.0], [5.0, 1.0, 2.0], [1.0, 1.0, 4.0]])
    base = torch.full((3, 3), 1 / 3)
    for order in itertools.permutations(range(3)):
        assert perturb_select(base, lambda w: float((value * w).sum()), order) == [1, 0, 2]


def test_the_walk_scores_each_edge_in_the_context_of_the_edges_already_fixed():
    # an interaction: op 1 on edge 1 pays only when edge 0 holds op 0. Edge 0 first: removing op 0
    # loses the product with edge 1's weight on op 1 (1/2), so op 0 stays; edge 1 then sees
    # W[0,0] = 1 and keeps op 1. Every call's rows sum to 1 (renormalised over the alive ops).
    calls = []

    def score(w):
        calls.append(w.clone())
        return float(w[0, 0] * w[1, 1] * 4 + w[0, 1] * 1)

    base = torch.full((2, 2), 0.5)
    assert perturb_select(base, score, [0, 1]) == [0, 1]
    assert len(calls) == 4  # two ops on each of two edges
    assert all(torch.allclose(c.sum(1), torch.ones(2)) for c in calls)
    assert calls[2][0].tolist() == [1.0, 0.0]  # edge 0 fixed to op 0 while edge 1 is scored


def test_ops_not_kept_are_never_scored_nor_chosen():
    """A pruned op adds nothing to remove: even where every removal of a kept op raises the score (so
    'removing' the pruned op would be the minimum), the pick is among the kept ops."""
    base = torch.tensor([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    keep = base > 0
    calls = []

    def score(w):
        calls.append(w.clone())
        return float((w * w).sum())  # removing a live op from edge 0 concentrates its weight: the score rises

    assert perturb_select(base, score, keep=keep) == [0, 1]
    assert len(calls) == 2  # edge 0's two kept ops; edge 1 has one kept op and is not scored
    with pytest.raises(ValueError, match="zero base weight"):  # without the mask a zero-weight op is a candidate
        perturb_select(base, score)
    with pytest.raises(ValueError, match="kept op"):
        perturb_select(base, score, keep=torch.tensor([[False, False, False], [True, True, True]]))


def test_order_must_be_a_permutation_of_the_edges():
    with pytest.raises(ValueError, match="permutation"):
        perturb_select(torch.full((2, 2), 0.5), lambda w: 0.0, [0, 0])


def test_zero_cost_pt_returns_a_cell_of_the_space_and_matches_a_hand_run_walk():
    x, y = proxy_batch()
    geno = zero_cost_pt(SPACE, "naswot", x, y, seed=3, order=[5, 4, 3, 2, 1, 0], **PROXY_SIZES)
    chosen = choice_from_genotype(SPACE, geno)
    assert chosen.shape == (SPACE.n_edges,) and bool((chosen >= 0).all())
    net = cell_network(SPACE, 1, 10, 4, 1, 2, seed=3)
    net.train()
    base = torch.full((SPACE.n_edges, SPACE.n_ops), 1 / SPACE.n_ops)
    hand = perturb_select(base, lambda w: PROXIES.get("naswot")(net, w, None, x, y), [5, 4, 3, 2, 1, 0])
    assert chosen.tolist() == hand


def test_zero_cost_pt_only_for_one_op_per_edge_spaces():
    x, y = proxy_batch()
    with pytest.raises(ValueError, match="nb201 only"):
        zero_cost_pt(build_space("darts"), "naswot", x, y, **PROXY_SIZES)
