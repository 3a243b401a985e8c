"""diffnas.sweeps.commands end to end on Ray: explore with ASHA, seeds per config, confirm, optuna, resources,
and a SIGKILLed driver resumed with every (trial_id, epoch) row exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict

import pyarrow.dataset as ds
import pytest

from diffnas.cli import main
from diffnas.sweeps.ranking import rank_phase, sweep_rows
from tests.ray_cluster import kill_driver, wait_while_running

pytestmark = pytest.mark.ray


def rows(root: str, kind: str) -> list[dict]:
    return ds.dataset(os.path.join(root, kind), format="parquet").to_table().to_pylist()


def check_exactly_once(root: str) -> tuple[list[dict], list[dict]]:
    """Every trial has one trial row and exactly the epochs 1..epochs_run, each once."""
    epochs, trials = rows(root, "epochs"), rows(root, "trials")
    keys = Counter((r["trial_id"], r["epoch"]) for r in epochs)
    assert max(keys.values()) == 1, [k for k, n in keys.items() if n > 1]
    ids = Counter(r["trial_id"] for r in trials)
    assert max(ids.values()) == 1
    per_trial = defaultdict(set)
    for trial_id, epoch in keys:
        per_trial[trial_id].add(epoch)
    assert set(per_trial) == set(ids)
    for r in trials:
        assert per_trial[r["trial_id"]] == set(range(1, r["epochs_run"] + 1)), r["trial_id"]
    return epochs, trials


def test_explore_asha_seeds_and_rows(sweep_results):
    epochs, trials = check_exactly_once(sweep_results)
    explore = [r for r in trials if r["phase"] == "explore"]
    assert len(explore) >= 8
    statuses = Counter(r["status"] for r in explore)
    assert statuses["asha_stopped"] >= 1 and statuses["completed"] >= 1, statuses
    for r in explore:
        if r["status"] == "asha_stopped":
            assert r["epochs_run"] < 3 and r["stop_reason"] == "asha"
        else:
            assert r["epochs_run"] == 3
    # random search with 3 seeds: every explored config_id ran every seed exactly once
    seeds = defaultdict(list)
    for r in explore:
        seeds[r["config_id"]].append(r["seed"])
    assert len(seeds) == 3
    assert all(sorted(s) == [0, 1, 2] for s in seeds.values()), dict(seeds)
    # config columns are the project's own dotted keys, not Tune's "/" flattening
    assert "config/temperature.t0" in epochs[0] and not any("config/point" in k for k in epochs[0])
    assert all(r["sweep"] == "tiny" for r in trials)


def test_confirm_top_k_plus_baseline_with_fresh_seeds(sweep_results):
    _, trials = check_exactly_once(sweep_results)
    meta = json.load(open(os.path.join(sweep_results, "sweep.json")))
    assert {"name", "baseline", "metric", "mode", "spec"} <= set(meta)
    assert meta["metric"] == "val_loss" and meta["mode"] == "min"
    assert meta["baseline"] == {"temperature.t0": 1.0}
    _, ranked = rank_phase(*sweep_rows(sweep_results, "tiny", "val_loss"), "tiny", "explore", "val_loss", "min")
    top = {ranked[0][0]}
    confirm = [r for r in trials if r["phase"] == "confirm"]
    explore_seeds = {r["seed"] for r in trials if r["phase"] == "explore"}
    assert {r["config_id"] for r in confirm} == top | {meta["baseline_config_id"]}
    by_config = defaultdict(list)
    for r in confirm:
        by_config[r["config_id"]].append(r["seed"])
    assert all(sorted(s) == [3, 4] for s in by_config.values())
    assert not explore_seeds & {3, 4}
    assert all(r["status"] == "completed" and r["epochs_run"] == 3 for r in confirm)
    exp = meta["experiments"]
    assert [e["name"] for e in exp] == ["explore", "confirm-1"] and all(e["finished"] for e in exp)
    # sweep.json's baseline selects exactly the baseline's rows through config/<key> columns
    picked = {r["config_id"] for r in trials
              if all(r[f"config/{k}"] == v for k, v in meta["baseline"].items())}
    assert picked == {meta["baseline_config_id"]}


def test_optuna_search_runs(ray_session, tiny_spec, tmp_path):
    spec = tiny_spec(name="opt", search="optuna", num_samples=3, seeds=[5], scheduler="fifo",
                     base={"epochs": 2}, baseline=None)
    root = str(tmp_path / "results")
    assert main(["sweep", "run", spec, "--storage", root]) == 0
    _, trials = check_exactly_once(root)
    assert len(trials) == 3 and {r["seed"] for r in trials} == {5}
    assert all(r["status"] == "completed" and r["epochs_run"] == 2 for r in trials)
    assert len({r["config/temperature.t0"] for r in trials}) == 3


def test_impossible_resources_exit_2(ray_session, tiny_spec, tmp_path, capsys):
    gpus = ray_session.cluster_resources().get("GPU", 0)  # 0 here: gpu 1 on a machine without GPUs
    spec = tiny_spec(resources={"cpu": 1, "gpu": gpus + 1})
    root = tmp_path / "results"
    assert main(["sweep", "run", spec, "--storage", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "resources.gpu:" in err, err
    assert not root.exists()


def _state_with_checkpoint(exp_dir: str) -> bool:
    if not os.path.isdir(exp_dir):
        return False
    for name in os.listdir(exp_dir):
        if name.startswith("experiment_state") and name.endswith(".json"):
            try:
                with open(os.path.join(exp_dir, name)) as fh:
                    if "checkpoint_0000" in fh.read():
                        return True
            except OSError:
                pass
    return False


def test_sigkill_driver_then_resume(ray_session, tiny_spec, tmp_path):
    spec = tiny_spec(name="killed", sample=None, num_samples=1, seeds=[0, 1], scheduler="fifo",
                     grid={"temperature.t0": [1.0, 1.5, 2.0, 2.5]}, baseline=None,
                     base={"data": {"subset": 1000}, "model": {"channels": 8}})
    root = str(tmp_path / "results")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["TUNE_GLOBAL_CHECKPOINT_S"] = "1"  # snapshot the experiment often, so one holds a checkpoint
    log = open(tmp_path / "driver.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "diffnas.cli", "sweep", "run", spec, "--storage", root,
                             "--num-cpus", "2"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    started: set[int] = set()
    try:
        exp_dir = os.path.join(root, "ray", "explore")
        wait_while_running(proc, lambda: _state_with_checkpoint(exp_dir), tmp_path / "driver.log", 180,
                           "no experiment state with a checkpoint in time")
        started = kill_driver(proc)
        meta = json.load(open(os.path.join(root, "sweep.json")))
        assert meta["experiments"][0]["finished"] is False
        before = len(rows(root, "trials")) if os.path.isdir(os.path.join(root, "trials")) else 0
        assert before < 8, "the sweep finished before the kill; make the spec slower"
        record = os.path.join(root, "ray", "local-processes.json")
        assert json.load(open(record))["driver_pid"] == proc.pid

        # the resume stops the local Ray the killed driver had started, then finishes the sweep
        assert main(["sweep", "resume", root]) == 0
        assert not [pid for pid in started if os.path.exists(f"/proc/{pid}")], "the dead driver's Ray still runs"
        assert not os.path.exists(record)
    finally:
        # clean up only what this test started: the driver's process group and recorded descendants
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
    epochs, trials = check_exactly_once(root)
    assert len(trials) == 8 and all(r["status"] == "completed" for r in trials)
    assert sorted(Counter(r["config_id"] for r in trials).values()) == [2, 2, 2, 2]
    assert len(epochs) == 8 * 3
    assert json.load(open(os.path.join(root, "sweep.json")))["experiments"][0]["finished"] is True
    assert main(["sweep", "resume", root]) == 0  # nothing left: a no-op
    assert len(rows(root, "epochs")) == 8 * 3


def test_confirm_refuses_an_unfinished_explore(tmp_path, tiny_spec, capsys):
    from diffnas.sweeps.results_folder import sweep_document, write_sweep
    from diffnas.sweeps.spec_file import load_spec

    doc = sweep_document(load_spec(tiny_spec()))
    doc["experiments"].append({"name": "explore", "phase": "explore", "finished": False})
    write_sweep(str(tmp_path / "r"), doc)
    assert main(["sweep", "confirm", str(tmp_path / "r")]) == 2
    assert "unfinished" in capsys.readouterr().err
