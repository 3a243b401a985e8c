"""Output safety (diffnas/results/outputs.py): ``report --out`` never destroys results or foreign files.

A real results folder comes from a 1-epoch ``diffnas search`` on a digits subset; every ``--out``
that overlaps it is refused with exit 2 and one line, and the whole tree stays byte-identical."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from diffnas.cli import main
from diffnas.errors import InputError
from diffnas.results.outputs import REPORT_MARKER, check_report_out, check_storage, is_within
from tests.tree_state import tree_state

TINY = ["--set", "epochs=1", "--set", "data.subset=200", "--set", "data.resolution=8", "--set", "model.channels=4",
        "--set", "model.stages=1", "--set", "metrics.eval_batches=2"]
REPORT = ["--format", "md,csv", "--plots", "none", "--quiet", "--n-resamples", "100"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ws/results/run`` holds a real 1-epoch search run; ``ws/results/notes.txt`` a foreign file."""
    ws = tmp_path_factory.mktemp("ws")
    run = ws / "results" / "run"
    assert main(["search", *TINY, "--quiet", "--out", str(run)]) == 0
    (ws / "results" / "notes.txt").write_text("my notes\n")
    return ws


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], root: Path) -> str:
    before = tree_state(root)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) <= 200 and "--out" in err[0], err
    assert tree_state(root) == before
    return err[0]


@pytest.mark.parametrize("out, why", [
    ("results", "contains the results folder"),                # the parent
    (".", "contains the results folder"),                      # the working folder
    ("results/run", "is the results folder"),                  # the folder itself
    ("results/run/", "is the results folder"),
    ("results/run/epochs", "lies inside the data"),             # its epoch parts
    ("results/run/trials", "lies inside the data"),
    ("results/run/epochs/new", "lies inside the data"),
    ("results/run/genotype.json", "exists and is not a folder"),
    ("results/notes.txt", "exists and is not a folder"),
    ("results/notes.txt/sub", "is a file, not a folder"),
    ("foreign", "not a diffnas report"),                       # a folder holding foreign files
    ("", "must not be empty"),
])
def test_overlapping_out_refused_and_results_byte_identical(workspace: Path, capsys, monkeypatch, out: str,
                                                             why: str) -> None:
    monkeypatch.chdir(workspace)
    (workspace / "foreign").mkdir(exist_ok=True)
    (workspace / "foreign" / "thesis.tex").write_text("keep me\n")
    line = _refused(capsys, ["report", "results/run", "--out", out, *REPORT], workspace)
    assert why in line


def test_symlinked_out_into_results_refused(workspace: Path, tmp_path: Path, capsys) -> None:
    link = tmp_path / "alias"
    link.symlink_to(workspace / "results" / "run" / "epochs")
    _refused(capsys, ["report", str(workspace / "results" / "run"), "--out", str(link), *REPORT], workspace)


def test_previous_report_replaced_foreign_files_kept(workspace: Path, tmp_path: Path) -> None:
    results = str(workspace / "results" / "run")
    out = tmp_path / "report"
    assert main(["report", results, "--out", str(out), "--format", "md,csv,html", "--plots", "convergence",
                 "--quiet", "--n-resamples", "100"]) == 0
    marker = json.loads((out / REPORT_MARKER).read_text())
    assert "report.html" in marker["files"] and "convergence.png" in marker["files"]
    (out / "my-notes.txt").write_text("mine\n")               # foreign files inside the report folder
    (out / "drafts").mkdir()
    (out / "drafts" / "d1.md").write_text("draft\n")
    (tmp_path / "beside.txt").write_text("next to it\n")       # and next to it
    assert main(["report", results, "--out", str(out), *REPORT]) == 0
    names = {str(p.relative_to(out)) for p in out.rglob("*")}
    assert "report.html" not in names and "convergence.png" not in names   # the old report's own files went
    assert {"report.md", "runs.csv", "my-notes.txt", "drafts/d1.md", REPORT_MARKER} <= names
    assert (out / "my-notes.txt").read_text() == "mine\n" and (out / "drafts" / "d1.md").read_text() == "draft\n"
    assert (tmp_path / "beside.txt").read_text() == "next to it\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beside.txt", "report"]  # no temporary folders left
    assert "my-notes.txt" not in json.loads((out / REPORT_MARKER).read_text())["files"]


def test_report_inside_results_folder_allowed_and_results_untouched(workspace: Path) -> None:
    results = workspace / "results" / "run"
    data = {k: v for k, v in tree_state(results).items() if not k.startswith("report")}
    assert main(["report", str(results), "--out", str(results / "report"), *REPORT]) == 0
    assert main(["report", str(results), "--out", str(results / "report"), *REPORT]) == 0  # replaced
    after = tree_state(results)
    assert {k: v for k, v in after.items() if not k.startswith("report")} == data
    assert "report/report.md" in after


def test_foreign_file_the_new_report_would_replace_stops_the_swap(workspace: Path, tmp_path: Path, capsys) -> None:
    results = str(workspace / "results" / "run")
    out = tmp_path / "report"
    assert main(["report", results, "--out", str(out), "--format", "csv", "--plots", "none", "--quiet",
                 "--n-resamples", "100"]) == 0
    (out / "report.md").write_text("my own report.md\n")       # not written by the previous report
    line = _refused(capsys, ["report", results, "--out", str(out), *REPORT], tmp_path)
    assert "report.md" in line


def test_check_report_out_unit(tmp_path: Path) -> None:
    results = tmp_path / "r"
    (results / "epochs").mkdir(parents=True)
    check_report_out(str(tmp_path / "new"), [str(results)])
    check_report_out(str(results / "report"), [str(results)])
    for bad in (tmp_path, results, results / "epochs", results / "sweep.json", results / ".hidden"):
        with pytest.raises(InputError) as err:
            check_report_out(str(bad), [str(results)])
        assert err.value.field == "--out"
    assert is_within(str(results / "epochs"), str(results)) and not is_within(str(tmp_path / "rx"), str(results))


@pytest.mark.parametrize("storage, why", [
    ("ftp://host/x", "unsupported URI scheme ftp://"),
    ("gs://bucket/x", "unsupported URI scheme gs://"),
    ("hdfs://host/x", "unsupported URI scheme hdfs://"),
    ("s3://", "names no bucket"),
    ("s3:/bucket/x", "looks like a URI with a '/' missing"),
    ("FILE", "exists and is not a folder"),
    ("FILE/sub", "is a file, not a folder"),
    ("RUN", "not a sweep's"),
    ("", "non-empty"),
])
def test_check_storage_unit(tmp_path: Path, storage: str, why: str) -> None:
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "RUN" / "epochs").mkdir(parents=True)
    path = storage if ":" in storage or not storage else str(tmp_path / storage)
    with pytest.raises(InputError, match=why):
        check_storage(path)
    check_storage(str(tmp_path / "fresh"))
    check_storage("s3://bucket/sweeps/x")
    os.makedirs(tmp_path / "sweep" / "epochs")
    (tmp_path / "sweep" / "sweep.json").write_text("{}")
    check_storage(str(tmp_path / "sweep"))
