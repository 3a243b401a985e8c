"""Loading results folders: validation errors name the file; CLI turns them into one line and exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diffnas.analysis.load import load_results, load_run_epochs
from diffnas.cli import main
from diffnas.errors import InputError
from diffnas.results.parts import rows_to_table
from tests.analysis.synth_results import ALT, BASE, make_run, standard_runs, write_results


def _epoch_part(folder: Path) -> Path:
    return sorted((folder / "epochs").glob("*.parquet"))[0]


def _rewrite(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_results(tmp_path / "r", standard_runs())


def test_loads_only_needed_columns_from_several_folders(tmp_path: Path) -> None:
    a = write_results(tmp_path / "a", [make_run("a0", BASE, 0, entropy=[0.9, 0.2])])
    b = write_results(tmp_path / "b", [make_run("b0", ALT, 0, entropy=[0.9, 0.8, 0.1])])
    res = load_results([str(a), str(b)])
    assert len(res.epochs) == 5 and len(res.trials) == 2
    assert "op_probs" not in res.epochs.columns and "temperature" not in res.epochs.columns
    assert res.epochs.groupby("run")["epoch"].apply(list).tolist() == [[1, 2], [1, 2, 3]]


def test_run_epochs_for_one_trial(folder: Path) -> None:
    frame = load_run_epochs([str(folder)], "synth", "alt-2")
    assert frame["epoch"].tolist() == list(range(1, 11))
    assert len(frame["op_probs"].iloc[0]) == 30


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_parquet_names_the_file(folder: Path, damage: str) -> None:
    part = _epoch_part(folder)
    data = part.read_bytes()
    part.write_bytes({"truncate": data[: len(data) // 2], "garbage": os.urandom(2048), "empty": b""}[damage])
    with pytest.raises(InputError) as err:
        load_results([str(folder)])
    assert str(part) in str(err.value) and "Parquet" in str(err.value)


def test_wrong_or_missing_schema_version(folder: Path) -> None:
    part = _epoch_part(folder)
    table = pq.read_table(part)
    _rewrite(part, table.replace_schema_metadata({"schema_version": "99"}))
    with pytest.raises(InputError, match=r"schema_version is '99'") as err:
        load_results([str(folder)])
    assert str(part) in str(err.value)
    _rewrite(part, table.replace_schema_metadata(None))
    with pytest.raises(InputError, match="no 'schema_version'"):
        load_results([str(folder)])


def test_missing_column_wrong_type_and_unknown_phase(folder: Path) -> None:
    part = _epoch_part(folder)
    table = pq.read_table(part)
    _rewrite(part, table.drop_columns(["entropy_norm"]))
    with pytest.raises(InputError, match="missing required column.*'entropy_norm'") as err:
        load_results([str(folder)])
    assert str(part) in str(err.value)
    idx = table.schema.get_field_index("epoch")
    _rewrite(part, table.set_column(idx, pa.field("epoch", pa.string()), table["epoch"].cast(pa.string())))
    with pytest.raises(InputError, match="column 'epoch' has type string"):
        load_results([str(folder)])
    rows = standard_runs()[0][0]
    _rewrite(part, rows_to_table([{**r, "epoch": None if r["epoch"] == 2 else r["epoch"]} for r in rows]))
    with pytest.raises(InputError, match="column 'epoch' has 1 missing value"):
        load_results([str(folder)])
    bad = rows_to_table([{**r, "phase": "warmup"} for r in rows])
    _rewrite(part, bad)
    with pytest.raises(InputError, match="unknown value 'warmup'"):
        load_results([str(folder)])


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no results") as err:
        load_results([str(tmp_path / "empty")])
    assert str(tmp_path / "empty") in str(err.value)
    (tmp_path / "empty" / "epochs").mkdir()
    with pytest.raises(InputError, match="no results"):
        load_results([str(tmp_path / "empty")])
    with pytest.raises(InputError, match="no such results folder"):
        load_results([str(tmp_path / "nope")])


@pytest.mark.parametrize("case", ["truncated", "empty_folder"])
def test_cli_exit_2_one_line_naming_the_file(tmp_path: Path, capsys, case: str) -> None:
    if case == "truncated":
        folder = write_results(tmp_path / "r", standard_runs())
        part = _epoch_part(folder)
        part.write_bytes(part.read_bytes()[:300])
        named = str(part)
    else:
        folder = tmp_path / "r"
        folder.mkdir()
        named = str(folder)
    out = tmp_path / "out"
    code = main(["report", str(folder), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("diffnas report: error: ") and named in err[0]
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_parts_with_conflicting_types_name_the_folder(tmp_path: Path) -> None:
    folder = write_results(tmp_path / "r", [make_run("a", BASE, 0, entropy=[0.9, 0.2])])
    bad = pa.table({"trial_id": ["b"], "status": ["completed"], "config/sampler": [["x", "y"]]})
    pq.write_table(bad.replace_schema_metadata({"schema_version": "1"}), folder / "trials" / "z.parquet")
    with pytest.raises(InputError, match="disagree on a column's type") as err:
        load_results([str(folder)])
    assert str(folder) in str(err.value)
