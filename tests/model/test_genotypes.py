"""diffnas.model.genotypes: one torch-free NB201 arch_str parser for the search and the analysis side."""

from __future__ import annotations

import pytest

from diffnas.model.genotypes import parse_nb201

ARCH = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"


def test_parse_nb201_edges_in_order():
    assert parse_nb201(ARCH) == [("nor_conv_3x3", 0, 1), ("none", 0, 2), ("avg_pool_3x3", 1, 2),
                                 ("skip_connect", 0, 3), ("nor_conv_1x1", 1, 3), ("none", 2, 3)]


@pytest.mark.parametrize("bad", ["", "|||", "|conv~1|", "|conv|", "|~0|", "|conv~x|", "|a~0|+|b~2|", 5])
def test_parse_nb201_refuses_bad_strings(bad):
    with pytest.raises(ValueError):
        parse_nb201(bad)


def test_search_and_analysis_share_the_parser():
    pytest.importorskip("torch")
    from diffnas.model import spaces
    from diffnas.model.genotypes import parse_genotype

    assert spaces.parse_nb201 is parse_nb201
    (cell,) = parse_genotype(ARCH)
    assert [(op, int(s), int(d)) for s, d, op in cell.edges] == parse_nb201(ARCH)
    assert cell.nodes == ("0", "1", "2", "3")
