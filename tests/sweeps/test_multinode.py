"""A sweep on a real multi-node Ray cluster on this machine (head + worker, separate ``ray start``
processes, see tests/ray_cluster.py), joined with ``diffnas sweep run --address``.

Each node has one CPU and two trials run at once, so trials land on both nodes (``node_id`` /
``hostname`` columns). Once a trial on each node has a checkpoint, the worker node's raylet is
SIGKILLed: its trial is retried from its checkpoint on the surviving head, and every epoch row is
written exactly once. The driver runs as a subprocess CLI, so the pytest process keeps its one
session Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

from tests.ray_cluster import LocalCluster, wait_while_running
from tests.sweeps.test_commands import check_exactly_once

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster(cpus=1, head_gpus=2).start(workers=1)
    yield c
    c.stop()


GPU_DRIVER = """
import json, os, sys, time
import ray
from diffnas.sweeps.trainable import trial_device

@ray.remote(num_cpus=0)
class Trial:
    def where(self):
        ids = ray.get_runtime_context().get_accelerator_ids()["GPU"]
        return {"ids": ids, "visible": os.environ.get("CUDA_VISIBLE_DEVICES"), "device": trial_device()}

ray.init(address=sys.argv[1], log_to_driver=False)
noset = {"env_vars": {"RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}}
whole = Trial.options(num_gpus=1, runtime_env=noset).remote()  # sees every GPU: cuda:<its id>
first = ray.get(whole.where.remote())
quarters = [Trial.options(num_gpus=0.25).remote() for _ in range(4)]  # gpu: 0.25 trials
print(json.dumps({"whole": first, "quarters": ray.get([q.where.remote() for q in quarters])}))
"""


def test_fractional_gpu_trials_get_the_gpu_ray_assigned(cluster):
    """The head declares 2 GPUs (no hardware): Ray assigns ids, trial_device() maps them to torch."""
    out = subprocess.run([sys.executable, "-c", GPU_DRIVER, cluster.address], capture_output=True, text=True,
                         timeout=240, env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    whole = got["whole"]
    assert len(whole["ids"]) == 1 and whole["visible"] is None
    assert whole["device"] == f"cuda:{whole['ids'][0]}"
    other = {"0", "1"} - set(whole["ids"])
    for q in got["quarters"]:  # four quarter trials share the other GPU, each seeing only it
        assert set(q["ids"]) == other and q["visible"] == q["ids"][0] and q["device"] == "cuda:0", q


# Long enough that a trial is still running on the worker when it has its first checkpoint, even on an
# idle machine where an epoch takes a fraction of a second.
EPOCHS = 10


def checkpointed_nodes(exp_dir: str) -> set[str]:
    """Node ids of the trials whose first checkpoint the driver has registered. A trial writes its
    second checkpoint only after ``tune.report`` returned from its first, which the driver's next
    ``train`` call releases once it has processed that result (checkpoint included); so the second
    checkpoint folder on disk, not the first, proves the first is known to Tune and a retry resumes
    from it (node ids from the epoch records in its history.json)."""
    nodes: set[str] = set()
    if not os.path.isdir(exp_dir):
        return nodes
    for name in os.listdir(exp_dir):
        path = os.path.join(exp_dir, name, "checkpoint_000001", "history.json")
        try:
            with open(path) as fh:
                nodes.update(r["node_id"] for r in json.load(fh))
        except (OSError, ValueError, KeyError):  # not written yet, or being written
            continue
    return nodes


def test_sweep_spreads_over_nodes_and_survives_a_killed_node(cluster, tiny_spec, tmp_path):
    spec = tiny_spec(name="multinode", sample=None, num_samples=1, seeds=[0, 1], scheduler="fifo",
                     grid={"temperature.t0": [1.0, 2.0]}, baseline={"temperature.t0": 1.0}, max_failures=3,
                     base={"epochs": EPOCHS, "data": {"subset": 1000}, "model": {"channels": 8},
                           # no collapse guard may end a trial early: every trial runs all its epochs
                           "early_stop": {"max_skip_share": None, "max_none_share": None, "gap_growth": None}})
    root = str(tmp_path / "results")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    log_path = tmp_path / "driver.log"
    with open(log_path, "w") as log:
        driver = subprocess.Popen([sys.executable, "-m", "diffnas.cli", "sweep", "run", spec, "--storage", root,
                                   "--address", cluster.address], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        # kill the worker once a trial running there has a checkpoint to continue from
        wait_while_running(driver, lambda: len(checkpointed_nodes(os.path.join(root, "ray", "explore"))) >= 2,
                           log_path, 240, "no trial checkpointed on each node")
        cluster.kill_raylet(0)
        assert driver.wait(timeout=400) == 0, log_path.read_text()
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait(timeout=30)
    out = log_path.read_text()
    assert "retrying from its last checkpoint" in out, out

    epochs, trials = check_exactly_once(root)
    assert len(trials) == 4 and all(r["status"] == "completed" for r in trials), trials
    assert len(epochs) == 4 * EPOCHS
    assert all(r["node_id"] and r["hostname"] for r in epochs + trials)
    nodes_of = defaultdict(list)
    for r in sorted(epochs, key=lambda r: r["epoch"]):
        nodes_of[r["trial_id"]].append(r["node_id"])
    assert len({r["node_id"] for r in epochs}) == 2, "trials did not land on both nodes"
    moved = [t for t in trials if len(set(nodes_of[t["trial_id"]])) == 2]
    assert moved, ("no trial continued on the surviving node", dict(nodes_of), out[-3000:])
    for t in moved:
        # continued from its checkpoint on the other node: the last process started past epoch 0
        assert t["restored_from_epoch"] >= 1, t
        assert t["node_id"] == nodes_of[t["trial_id"]][-1] != nodes_of[t["trial_id"]][0]
