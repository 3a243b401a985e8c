import itertools
import random

import pytest
import torch

from diffnas.config import SearchConfig
from diffnas.data.splits import load_dataset
from diffnas.model.spaces import build_space, choice_from_genotype
from diffnas.search.run import SearchRun
from diffnas.selection.perturbation import (
    alive_weights,
    darts_pt,
    perturb_select,
    seeded_zero_cost_pt,
    split_accuracy,
    zero_cost_pt,
)
from diffnas.selection.proxies import PROXIES, cell_network
from tests.helpers import PROXY_SIZES, TINY, proxy_batch

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


def test_seeded_zero_cost_pt_is_zero_cost_pt_on_the_seeds_split_and_edge_order():
    sizes = {"channels": 4, "cells_per_stage": 1, "stages": 2}
    cell, seconds = seeded_zero_cost_pt("naswot", 3, subset=200, resolution=8, proxy_batch=16, **sizes)
    data = load_dataset("fashion_mnist", subset=200, resolution=8, seed=3, test_fraction=0.2)
    order = list(range(SPACE.n_edges))
    random.Random(3).shuffle(order)
    hand = zero_cost_pt(SPACE, "naswot", data.x_weights[:16], data.y_weights[:16], num_classes=data.num_classes,
                        seed=3, order=order, **sizes)
    assert cell == hand and seconds > 0


# DARTS-PT on a trained run (darts_pt): it starts from the run's own evaluation weights and keeps to the ops
# the run's pruning left


def test_eval_weights_are_the_weights_the_run_reports_val_acc_with():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 3, "prune.epoch": 1, "prune.keep": 2}))
    for _ in range(2):
        record = run.step()
    run.model.eval()
    with torch.no_grad():
        loss, acc = run.accuracy(run.arch.eval_weights(record["temperature"]).weights, None)
    assert (loss, acc) == (record["val_loss"], record["val_acc"])
    assert run.arch.eval_weights(record["temperature"]).weights[~run.arch.op_mask].eq(0).all()


def test_darts_pt_chooses_among_the_kept_ops_only():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 3, "prune.epoch": 1, "prune.keep": 2}))
    while not run.done:
        run.step()
    cell = darts_pt(run)
    chosen = choice_from_genotype(run.space, cell)
    assert run.arch.op_mask[torch.arange(run.space.n_edges), chosen].all()
    assert 0.0 <= split_accuracy(run, run.space.one_hot(chosen)) <= 1.0


def test_split_accuracy_covers_the_whole_alpha_split_whatever_eval_batches_says():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 2, "metrics.eval_batches": 1}))
    run.step()
    run.model.eval()
    w = run.arch.eval_weights(1.0).weights
    with torch.no_grad():
        logits = torch.cat([run.loss_fn(run.data.x_alpha[i:i + run.batch_size], run.data.y_alpha[i:i + run.batch_size],
                                        w, None)[1] for i in range(0, len(run.data.y_alpha), run.batch_size)])
    whole = int((logits.argmax(-1) == run.data.y_alpha).sum()) / len(run.data.y_alpha)
    assert len(run.data.y_alpha) > run.batch_size  # so one batch is not the whole split
    assert split_accuracy(run, w) == whole
    first = run.data.y_alpha[:run.batch_size]
    assert run.accuracy(w, None)[1] == int((logits[:run.batch_size].argmax(-1) == first).sum()) / run.batch_size
