import json

import pytest
import torch

from diffnas.model.spaces import build_space, choice_from_genotype, parse_nb201

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_nb201_arch_str_round_trip():
    space = build_space("nb201")
    assert space.n_edges == 6 and space.n_ops == 5
    chosen = choice_from_genotype(space, EXAMPLE)
    alpha = torch.full((6, 5), -5.0)
    alpha[torch.arange(6), chosen] = 5.0
    assert space.genotype(alpha) == EXAMPLE
    assert parse_nb201(EXAMPLE)[2] == ("avg_pool_3x3", 1, 2)


def test_darts_genotype_top2_excluding_none():
    space = build_space("darts")
    assert space.n_edges == 28 and space.n_ops == 8
    alpha = torch.zeros(28, 8)
    alpha[:, 0] = 10.0  # none dominates everywhere but must be excluded
    rows = space.edge_rows("normal")
    node2 = [r for r in rows if space.edges[r].dst == 2]  # edges 0->2, 1->2
    node3 = [r for r in rows if space.edges[r].dst == 3]  # 0->3, 1->3, 2->3
    alpha[node3[2], space.ops.index("sep_conv_3x3")] = 9.0
    alpha[node3[0], space.ops.index("skip_connect")] = 8.0
    geno = json.loads(space.genotype(alpha))
    assert len(geno["normal"]) == 8 and len(geno["reduce"]) == 8
    assert all(op != "none" for op, _ in geno["normal"] + geno["reduce"])
    assert {(op, src) for op, src in geno["normal"][2:4]} == {("sep_conv_3x3", 2), ("skip_connect", 0)}
    assert len(node2) == 2
    chosen = choice_from_genotype(space, space.genotype(alpha))
    assert int((chosen >= 0).sum()) == 16


def test_op_subset_keeps_canonical_order():
    space = build_space("nb201", ["nor_conv_3x3", "skip_connect"])
    assert space.ops == ("skip_connect", "nor_conv_3x3")
    with pytest.raises(ValueError, match="ops: unknown op 'sep_conv_3x3'"):
        build_space("nb201", ["sep_conv_3x3"])


def test_keeps_every_edge_follows_the_discretiser():
    """nb201 keeps one op on every edge (so one-edge neighbours and per-edge picks make sense); darts drops edges."""
    assert build_space("nb201").keeps_every_edge
    assert build_space("nb201", ["none", "nor_conv_3x3"]).keeps_every_edge
    assert not build_space("darts").keeps_every_edge


def _alpha_for(space, rows):
    """α with the given (edge, op, logit) entries on a flat -2 background."""
    alpha = torch.full((space.n_edges, space.n_ops), -2.0, dtype=torch.float64)
    for edge, op, value in rows:
        alpha[edge, space.ops.index(op)] = value
    return alpha


def test_skip_cap_keeps_the_strongest_skips_and_gives_the_rest_their_next_op():
    space = build_space("nb201")
    alpha = _alpha_for(space, [
        (0, "skip_connect", 3.0), (0, "nor_conv_1x1", 2.5),   # skip, p(skip) middle
        (1, "nor_conv_3x3", 1.0),
        (2, "skip_connect", 1.0), (2, "avg_pool_3x3", 0.9),   # skip, p(skip) lowest
        (3, "skip_connect", 4.0), (3, "none", 1.0),           # skip, p(skip) highest
        (4, "nor_conv_3x3", 1.0), (5, "nor_conv_3x3", 1.0)])
    plain = space.discrete_choice(alpha)
    assert space.genotype_of(plain).count("skip_connect") == 3
    capped = space.discrete_choice(alpha, max_skip=1)
    assert space.genotype_of(capped) == ("|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
                                         "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    two = space.genotype_of(space.discrete_choice(alpha, max_skip=2))
    assert two.startswith("|skip_connect~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|")
    assert space.discrete_choice(alpha, max_skip=3).equal(plain)  # at or under the cap: unchanged
    none_left = space.genotype_of(space.discrete_choice(alpha, max_skip=0))
    assert "skip_connect" not in none_left and "|none~0|" in none_left  # in nb201 none is a valid next op
    assert plain.equal(space.discrete_choice(alpha))  # the input choice is not modified


def test_skip_cap_ties_go_to_the_lower_edge_and_a_pruned_edge_keeps_its_skip():
    space = build_space("nb201")
    alpha = _alpha_for(space, [(e, "skip_connect", 1.0) for e in range(6)])
    assert space.discrete_choice(alpha, max_skip=2).tolist()[:2] == [1, 1]
    assert all(c != 1 for c in space.discrete_choice(alpha, max_skip=2).tolist()[2:])
    alpha[5] = float("-inf")
    alpha[5, space.ops.index("skip_connect")] = 0.0  # every other op of edge 5 pruned
    assert space.discrete_choice(alpha, max_skip=0).tolist()[5] == space.ops.index("skip_connect")
    capped = space.discrete_choice(alpha, max_skip=1).tolist()  # edge 5 must keep its skip: it takes the slot
    assert capped[5] == 1 and capped.count(1) == 1


def test_skip_cap_ranks_by_the_skip_probability_not_the_raw_logit():
    space = build_space("nb201")
    alpha = _alpha_for(space, [(0, "skip_connect", 3.0), (0, "nor_conv_3x3", 2.9),  # p(skip) ≈ 0.51
                               (3, "skip_connect", 2.0)]                               # p(skip) ≈ 0.87
                       + [(e, "nor_conv_3x3", 1.0) for e in (1, 2, 4, 5)])
    capped = space.genotype_of(space.discrete_choice(alpha, max_skip=1))
    assert capped.startswith("|nor_conv_3x3~0|") and "|skip_connect~0|nor_conv_3x3~1|" in capped


def test_skip_cap_in_darts_counts_per_cell_never_chooses_none_and_keeps_the_edges():
    space = build_space("darts")
    alpha = torch.zeros(28, 8, dtype=torch.float64)
    skip, none, sep = (space.ops.index(o) for o in ("skip_connect", "none", "sep_conv_3x3"))
    alpha[:, skip] = 5.0
    alpha[:, none] = 9.0
    alpha[:, sep] = 4.0
    plain = space.discrete_choice(alpha)
    capped = space.discrete_choice(alpha, max_skip=2)
    assert (capped >= 0).equal(plain >= 0)  # the same edges are kept
    for cell in ("normal", "reduce"):
        rows = space.edge_rows(cell)
        assert int((plain[rows] == skip).sum()) == 8 and int((capped[rows] == skip).sum()) == 2
        assert not bool((capped[rows] == none).any())
        assert set(capped[rows][capped[rows] >= 0].tolist()) == {skip, sep}


def test_skip_cap_without_skip_connect_changes_nothing():
    space = build_space("nb201", ops=["nor_conv_3x3", "nor_conv_1x1"])
    alpha = torch.randn(6, 2)
    assert space.discrete_choice(alpha, max_skip=0).equal(space.discrete_choice(alpha))
    with pytest.raises(ValueError, match="max_skip"):
        space.discrete_choice(alpha, max_skip=-1)
