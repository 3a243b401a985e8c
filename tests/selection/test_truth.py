import gzip
import math
import os

import pytest

from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.search.run import SearchRun
from diffnas.selection.truth import ALL_SKIP, ANCHORS, BEST_CELL, BUNDLED_COLUMNS, TruthTable, nb201_truth
from tests.helpers import TINY, tiny_overrides

# ../shared/data beside the checkout (the integration repo), or beside the folder of clones
SHARED = next((p for p in (os.path.join(os.path.dirname(__file__), *[".."] * k, "shared", "data", "nb201_accuracy.csv.gz")
                           for k in (2, 3)) if os.path.exists(p)), "")


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


def test_bundled_table_knows_every_cell_and_the_published_reference_points():
    table = TruthTable()  # the NATS-Bench table shipped with the package
    assert len(table.table) == 15625
    assert table.lookup(ALL_SKIP) == pytest.approx(54.30, abs=0.005)
    assert table.lookup(BEST_CELL) == pytest.approx(94.37, abs=0.005)
    assert max(table.table.values()) == table.lookup(BEST_CELL)
    assert sum(table.table.values()) / len(table.table) == pytest.approx(87.06, abs=0.005)
    assert max(TruthTable(None, "cifar100_test").table.values()) == pytest.approx(73.51, abs=0.005)
    assert nb201_truth(ALL_SKIP, "imagenet16_120_test") == pytest.approx(16.32, abs=0.005)
    assert set(BUNDLED_COLUMNS) == {"cifar10_test", "cifar100_test", "imagenet16_120_test"}
    assert ANCHORS["optimum"] == table.lookup(BEST_CELL).__round__(2)
    with pytest.raises(InputError, match="truth.column"):
        TruthTable(None, column="svhn_test")


@pytest.mark.skipif(not os.path.exists(SHARED), reason="shared NB201 table not beside this checkout")
def test_bundled_table_equals_the_shared_reference_file():
    assert TruthTable().table == TruthTable(SHARED).table


def test_nb201_search_records_truth_without_any_flag(tmp_path):
    from diffnas.cli import main

    out = tmp_path / "run"
    code = main(["search", "--set", "space=nb201", *tiny_overrides(epochs=1), "--out", str(out)])
    assert code == 0
    import pyarrow.dataset as ds

    rows = ds.dataset(str(out / "epochs"), format="parquet").to_table().to_pylist()
    assert len(rows) == 1
    assert rows[0]["truth_acc"] == nb201_truth(rows[0]["genotype"])
    assert 10.0 <= rows[0]["truth_acc"] <= 94.37
    trial = ds.dataset(str(out / "trials"), format="parquet").to_table().to_pylist()[0]
    assert trial["final_truth_acc"] == rows[0]["truth_acc"]


def test_truth_column_picks_the_bundled_column():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 1, "truth.column": "cifar100_test"}))
    record = run.step()
    assert record["truth_acc"] == nb201_truth(record["genotype"], "cifar100_test")
