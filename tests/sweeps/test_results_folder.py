"""The results folder: where it is, its sweep.json (round trip, checks), reading Parquet rows back."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diffnas.errors import InputError
from diffnas.sweeps.results_folder import (
    SWEEP_FILE,
    load_sweep,
    read_rows,
    read_sweep,
    read_sweep_checked,
    results_root,
    set_finished,
    sweep_document,
    write_sweep,
)
from diffnas.sweeps.spec import parse_spec
from tests.conftest import TINY_SPEC


def test_results_root_defaults_to_results_name_and_makes_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert results_root(None, "tiny") == os.path.join(str(tmp_path), "results", "tiny")
    assert results_root("out", "tiny") == os.path.join(str(tmp_path), "out")


def test_sweep_document_round_trips_through_the_folder(tmp_path):
    spec = parse_spec(TINY_SPEC)
    doc = sweep_document(spec)
    assert doc["name"] == "tiny" and doc["metric"] == "val_loss" and doc["experiments"] == []
    assert doc["baseline"]["temperature.t0"] == 1.0
    assert doc["baseline_config_id"] == spec.baseline_config().config_id()
    assert read_sweep(str(tmp_path)) is None and read_sweep_checked(str(tmp_path)) is None
    write_sweep(str(tmp_path), doc)
    assert [p.name for p in tmp_path.iterdir()] == [SWEEP_FILE]  # written whole, no temporary left
    data, again = load_sweep(str(tmp_path))
    assert data["spec"] == doc["spec"] and again.to_dict() == spec.to_dict()


def test_set_finished_marks_only_the_named_experiment_and_keeps_the_rest(tmp_path):
    doc = sweep_document(parse_spec(TINY_SPEC))
    doc["experiments"] = [{"name": "explore", "phase": "explore", "finished": False, "seeds": [0, 1]},
                          {"name": "confirm-1", "phase": "confirm", "finished": False, "seeds": [3, 4]}]
    write_sweep(str(tmp_path), doc)
    set_finished(str(tmp_path), "confirm-1", True)
    assert [p.name for p in tmp_path.iterdir()] == [SWEEP_FILE]  # written whole, no temporary left
    data = read_sweep(str(tmp_path))
    assert [(e["name"], e["finished"]) for e in data["experiments"]] == [("explore", False), ("confirm-1", True)]
    assert {k: v for k, v in data.items() if k != "experiments"} == json.loads(json.dumps(
        {k: v for k, v in doc.items() if k != "experiments"}))
    assert data["experiments"][1]["seeds"] == [3, 4]
    set_finished(str(tmp_path), "confirm-1", False)
    assert [e["finished"] for e in read_sweep(str(tmp_path))["experiments"]] == [False, False]


@pytest.mark.parametrize("content,message", [
    ("not json", "not a readable JSON file"),
    ("[1, 2]", "must be a JSON object"),
    ("{}", "has no 'spec' object"),
    (json.dumps({"spec": {}, "experiments": [{"phase": "explore"}]}), "'experiments' must be a list"),
])
def test_a_bad_sweep_file_is_one_input_error(tmp_path, content, message):
    (tmp_path / SWEEP_FILE).write_text(content)
    with pytest.raises(InputError, match=message) as err:
        read_sweep_checked(str(tmp_path))
    assert SWEEP_FILE in str(err.value)


def test_load_sweep_needs_a_sweep_file(tmp_path):
    with pytest.raises(InputError, match="not a sweep results folder"):
        load_sweep(str(tmp_path))


def test_read_rows_reads_the_named_columns_and_names_a_corrupt_part(tmp_path):
    (tmp_path / "trials").mkdir()
    assert read_rows(str(tmp_path), "trials", ["trial_id"]) == []
    pq.write_table(pa.table({"trial_id": ["a", "b"], "seed": [1, 2], "other": [0.5, 0.25]}),
                   tmp_path / "trials" / "part-1.parquet")
    rows = read_rows(str(tmp_path), "trials", ["trial_id", "seed", "missing"])
    assert sorted((r["trial_id"], r["seed"]) for r in rows) == [("a", 1), ("b", 2)]
    assert all("missing" not in r and "other" not in r for r in rows)
    (tmp_path / "trials" / "part-2.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(InputError, match="not readable"):
        read_rows(str(tmp_path), "trials", ["trial_id"])
