"""URIs end to end: every ``--out`` / ``--storage`` / ``DIR`` that names a URI either writes there or stops
with one line before anything is written anywhere.

- an unsupported scheme (``gs://``, ``hdfs://``), an ``s3://`` without a valid bucket, or a path that
  looks like a URI with a slash missing (``s3:/bucket``) is refused by name, and no local folder named
  like it (``s3:``, ``gs:``) appears;
- an S3 endpoint that does not answer is found by a probe within seconds, before any data is loaded
  or Ray started;
- against a real S3 server (SeaweedFS, ``tests/s3_server.py``), ``diffnas search --out s3://...`` and
  ``diffnas report ... --out s3://...`` write every file to the bucket and none locally.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from diffnas import storage
from diffnas.cli import main
from tests.helpers import tiny_overrides
from tests.s3_server import free_ports
from tests.tree_state import tree_state

SPEC = {"name": "u", "base": {"dataset": "digits", "epochs": 2, "data": {"subset": 200}}, "seeds": [0]}

BAD = [
    ("gs://bucket/p", "unsupported URI scheme gs://"),
    ("hdfs://host/p", "unsupported URI scheme hdfs://"),
    ("abfs://c@acct/p", "unsupported URI scheme abfs://"),
    ("s3://", "names no bucket"),
    ("s3:///p", "names no bucket"),
    ("s3://Bad_Bucket/p", "is not an S3 bucket name"),
    ("s3:/bucket/p", "looks like a URI with a '/' missing"),
    ("file://relative/p", "file:// URI takes an absolute path"),
]


def _commands(uri: str) -> dict[str, tuple[list[str], str]]:
    return {
        "search": (["search", *tiny_overrides(epochs=1), "--out", uri, "--quiet"], "--out"),
        "report": (["report", "results", "--out", uri, "--quiet"], "--out"),
        "sweep-run": (["sweep", "run", "spec.yaml", "--storage", uri], "--storage"),
        "sweep-status": (["sweep", "status", uri], "DIR"),
        "sweep-resume": (["sweep", "resume", uri], "DIR"),
        "sweep-confirm": (["sweep", "confirm", uri], "DIR"),
    }


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ws = tmp_path / "ws"
    (ws / "results" / "epochs").mkdir(parents=True)
    (ws / "spec.yaml").write_text(yaml.safe_dump(SPEC))
    monkeypatch.chdir(ws)
    return ws


def _refused(argv: list[str], field: str, ws: Path, capsys: pytest.CaptureFixture, why: str) -> str:
    before = tree_state(ws)
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f": error: {field}: " in lines[0] and why in lines[0], lines[0]
    assert tree_state(ws) == before  # nothing written anywhere here: no folder named s3:, gs: ...
    return lines[0]


@pytest.mark.parametrize("command", list(_commands("x")))
@pytest.mark.parametrize("uri, why", BAD, ids=[b[0] for b in BAD])
def test_a_uri_that_is_not_supported_is_one_line_and_nothing_is_written(workspace, capsys, command, uri, why):
    argv, field = _commands(uri)[command]
    _refused(argv, field, workspace, capsys, why)


@pytest.mark.parametrize("command", list(_commands("x")))
def test_an_endpoint_that_does_not_answer_is_found_before_anything_runs(workspace, capsys, monkeypatch, command):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    argv, field = _commands("s3://bucket/prefix")[command]
    start = time.monotonic()
    line = _refused(argv, field, workspace, capsys, "cannot reach s3://bucket/prefix at endpoint http://127.0.0.1:")
    assert time.monotonic() - start < 20, line


def test_search_and_report_write_to_the_bucket_and_nowhere_else(s3_server, workspace, capsys, monkeypatch):
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    run, report = "s3://uris/runs/one", "s3://uris/reports/one"
    before = tree_state(workspace)
    args = ["search", *tiny_overrides(epochs=2), "--out", run, "--quiet"]
    assert main(args) == 0, capsys.readouterr()
    assert f"results in {run}" in capsys.readouterr().out
    files = storage.list_tree(run)
    assert {"config.yaml", "checkpoint.pt", "genotype.json"} <= set(files), files
    assert len([f for f in files if f.startswith("epochs/")]) == 2 and len([f for f in files if f.startswith("trials/")]) == 1
    assert json.loads(storage.read_bytes(storage.join(run, "genotype.json")))["space"] == "nb201"
    # the same command again finds the finished run on the bucket and resumes it (nothing left to train)
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().err
    assert storage.list_tree(run) == files

    flags = ["--format", "csv,md", "--plots", "none", "--n-resamples", "200"]
    assert main(["report", run, "--out", report, *flags]) == 0
    out = capsys.readouterr().out
    listed = storage.list_tree(report)
    assert f"wrote {len(listed) - 1} files to {report}" in out, out  # every file but the marker
    assert {".diffnas-report.json", "report.md"} <= set(listed) and any(f.endswith(".csv") for f in listed)
    assert "## Ranking" in storage.read_bytes(storage.join(report, "report.md")).decode()
    assert main(["report", run, "--out", report, *flags]) == 0  # a previous report on the bucket is replaced
    assert storage.list_tree(report) == listed
    capsys.readouterr()
    # the same output rules as on disk: not the results being read, not a prefix holding other objects
    _refused(["report", run, "--out", run, "--quiet"], "--out", workspace, capsys, "is the results folder being read")
    _refused(["report", run, "--out", "s3://uris/runs", "--quiet"], "--out", workspace, capsys, "contains the results")
    _refused(["search", *tiny_overrides(epochs=3), "--out", report, "--quiet"], "--out", workspace, capsys,
             "holds no resumable run")
    assert tree_state(workspace) == before  # nothing was written locally, under any name
