"""``--storage s3://bucket/path`` against a real S3 server (SeaweedFS, started by the test session).

One sweep writes its Parquet, sweep.json and Tune state into a fresh bucket (created on first
write), its driver is SIGKILLed once a checkpoint is on the bucket, ``sweep resume s3://...``
finishes it with every (trial_id, epoch) row exactly once, and ``diffnas report s3://...`` reads
it. Drivers run as subprocess CLIs with their own local Ray, so their workers get the S3
environment (the session's Ray was started before the server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pyarrow.dataset as ds
import pytest

from diffnas import storage
from diffnas.cli import main
from tests.helpers import stop_started
from tests.ray_cluster import kill_driver, wait_while_running

pytestmark = pytest.mark.ray


def bucket_rows(server, root: str, kind: str) -> list[dict]:
    files = storage.list_files(storage.join(root, kind), ".parquet")
    if not files:
        return []
    paths = [storage.resolve(f)[1] for f in files]
    return ds.dataset(paths, format="parquet", filesystem=server.filesystem()).to_table().to_pylist()


# Long enough that the sweep is still running when the experiment state on the bucket first names a
# checkpoint (every checkpoint is kept, so Tune forces no early snapshot; with 3 epochs a quiet machine
# could finish all four trials first).
EPOCHS = 8


def state_with_checkpoint(root: str) -> bool:
    folder = storage.join(root, "ray", "explore")
    for path in storage.list_files(folder, ".json"):
        if os.path.basename(path).startswith("experiment_state"):
            data = storage.read_bytes(path) or b""
            if b"checkpoint_0000" in data:
                return True
    return False


def test_sweep_on_s3_killed_resumed_and_reported(s3_server, tiny_spec, tmp_path, monkeypatch):
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    spec = tiny_spec(name="s3sweep", sample=None, num_samples=1, seeds=[0, 1], scheduler="fifo",
                     grid={"temperature.t0": [1.0, 2.0]}, baseline={"temperature.t0": 1.0},
                     base={"epochs": EPOCHS, "data": {"subset": 1000}, "model": {"channels": 8},
                           # no collapse guard may end a trial early: every trial runs all its epochs
                           "early_stop": {"max_skip_share": None, "max_none_share": None, "gap_growth": None}})
    root = "s3://fresh-bucket/sweeps/s3sweep"
    assert not storage.exists("s3://fresh-bucket/sweeps")
    env = dict(os.environ, TUNE_GLOBAL_CHECKPOINT_S="1")
    log = open(tmp_path / "driver.log", "w")
    cmd = [sys.executable, "-m", "diffnas.cli", "sweep"]
    proc = subprocess.Popen(cmd + ["run", spec, "--storage", root, "--num-cpus", "2"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    started: set[int] = set()
    try:
        wait_while_running(proc, lambda: state_with_checkpoint(root), tmp_path / "driver.log", 240,
                           "no experiment state with a checkpoint on the bucket in time", poll_s=0.5)
        started = kill_driver(proc)
        meta = json.loads(storage.read_bytes(storage.join(root, "sweep.json")))
        assert meta["experiments"][0]["finished"] is False
        assert len(bucket_rows(s3_server, root, "trials")) < 4, "finished before the kill; make the spec slower"

        resumed = subprocess.run(cmd + ["resume", root, "--num-cpus", "2"], env=env, capture_output=True,
                                 text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        # the killed driver's local Ray (recorded on the bucket) was stopped by the resume
        assert "local Ray processes left by the killed driver" in resumed.stdout, resumed.stdout
        assert not [pid for pid in started if os.path.exists(f"/proc/{pid}")]
        assert "Traceback" not in resumed.stdout + resumed.stderr
    finally:
        stop_started(proc, started)  # only what this test's driver started
        log.close()
    epochs, trials = bucket_rows(s3_server, root, "epochs"), bucket_rows(s3_server, root, "trials")
    keys = Counter((r["trial_id"], r["epoch"]) for r in epochs)
    assert len(trials) == 4 and all(r["status"] == "completed" for r in trials)
    assert max(keys.values()) == 1 and len(keys) == 4 * EPOCHS
    assert {t for t, _ in keys} == {r["trial_id"] for r in trials}
    # everything lives in the bucket: nothing was written to a local folder named like the URI
    assert not os.path.exists("s3:") and not (tmp_path / "s3:").exists()

    assert main(["sweep", "status", root]) == 0
    out = tmp_path / "report"
    assert main(["report", root, "--out", str(out), "--format", "csv,md", "--plots", "op_probs,convergence",
                 "--quiet", "--n-resamples", "200"]) == 0
    assert list(out.glob("*.png"))  # the op_probs plot reads one run's rows from the bucket
    text = (out / "report.md").read_text()
    assert "s3sweep" in text or "temperature.t0" in text
    assert len(list(out.glob("*.csv"))) >= 1
