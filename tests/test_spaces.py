import json

import pytest
import torch

from diffnas.spaces import build_space, choice_from_genotype, parse_nb201

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
