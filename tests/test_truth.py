import gzip
import math
import os

import pytest

from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.run import SearchRun
from diffnas.truth import TruthTable
from tests.helpers import TINY

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "nb201_accuracy.csv.gz")


def test_truth_table_lookup(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("index,arch_str,cifar10_test\n0,|skip_connect~0|+|a~0|b~1|+|c~0|d~1|e~2|,54.3\n")
    table = TruthTable(str(path))
    assert table.lookup("|skip_connect~0|+|a~0|b~1|+|c~0|d~1|e~2|") == 54.3
    assert math.isnan(table.lookup("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    with pytest.raises(InputError, match="truth.column"):
        TruthTable(str(path), column="imagenet")


def test_search_records_true_accuracy_of_the_current_cell(tmp_path):
    # a table that knows every cell the tiny run could pick: write all 5^6 arch_strs with a known rule
    import itertools

    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    path = tmp_path / "all.csv"
    with open(path, "w") as fh:
        fh.write("arch_str,cifar10_test\n")
        for combo in itertools.product(range(5), repeat=6):
            a = [ops[i] for i in combo]
            arch = f"|{a[0]}~0|+|{a[1]}~0|{a[2]}~1|+|{a[3]}~0|{a[4]}~1|{a[5]}~2|"
            fh.write(f"{arch},{sum(combo)}\n")
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 1, "truth.table": str(path)}))
    record = run.step()
    chosen = run.space.discrete_choice(run.alpha.detach())
    assert record["truth_acc"] == float(chosen.sum())


@pytest.mark.skipif(not os.path.exists(SHARED), reason="shared NB201 table not beside this checkout")
def test_shared_nb201_reference_points():
    table = TruthTable(SHARED)
    assert len(table.table) == 15625
    skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    assert table.lookup(skip) == pytest.approx(54.30, abs=0.01)
