"""diffnas.sweeps.trainable: config merging, Ray placement, and a faulted trial resuming from its checkpoint."""

from __future__ import annotations

import math
import os
import time

import pyarrow.dataset as ds
import pytest

from diffnas.config import SearchConfig
from diffnas.sweeps.trainable import placement, resolve_flat, trial_search_config


def test_resolve_flat_merges_point_then_keys():
    base = {"sampler": "softmax", "temperature.t0": 1.0, "seed": 0}
    flat = resolve_flat(base, {"point": {"sampler": "gumbel", "temperature.t0": 2.0}, "seed": 7})
    assert flat == {"sampler": "gumbel", "temperature.t0": 2.0, "seed": 7}
    assert base["sampler"] == "softmax"


def test_placement_follows_ray_assignment():
    assert placement({"CPU": 2.0}) == ("cpu", 2)
    assert placement({"CPU": 0.5, "GPU": 0.25}) == ("cuda", 1)
    cfg = trial_search_config(SearchConfig.from_dict({}).to_flat(), {"seed": 3}, {"CPU": 4})
    assert (cfg["seed"], cfg["threads"], cfg["device"]) == (3, 4, "cpu")


def test_cuda_device_maps_ray_gpu_ids_to_the_visible_index():
    from diffnas.sweeps.trainable import cuda_device

    assert cuda_device([], None) == "cpu"
    assert cuda_device(["1"], "1") == "cuda:0"  # Ray's usual case: only the assigned GPU visible
    assert cuda_device(["3"], "2,3") == "cuda:1"
    assert cuda_device(["2"], None) == "cuda:2"  # nothing hidden (RAY_EXPERIMENTAL_NOSET_...)
    assert cuda_device([2], "") == "cuda:2"
    with pytest.raises(RuntimeError, match="CUDA_VISIBLE_DEVICES"):
        cuda_device(["1"], "0")


def _rows(root, kind):
    return ds.dataset(os.path.join(root, kind), format="parquet").to_table().to_pylist()


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.ray
def test_faulted_trial_resumes_from_checkpoint_bit_for_bit(ray_session, tiny_spec, tmp_path):
    """Two trials, same config and seed; one raises after training epoch 2 (max_failures 1).

    The retry restarts from the epoch-1 checkpoint and its rows equal the unfaulted trial's."""
    from diffnas.sweeps.results_folder import sweep_document, write_sweep
    from diffnas.sweeps.spec_file import load_spec
    from diffnas.sweeps.tuners import build_explore_tuner

    marker = str(tmp_path / "fault.marker")
    path = tiny_spec(
        name="fault", sample=None, num_samples=1, seeds=[0], scheduler="fifo", max_failures=1,
        base={"fault": {"marker": marker}}, grid={"fault.raise_at_epoch": [None, 2]}, baseline=None,
    )
    spec = load_spec(path)
    root = str(tmp_path / "results")
    write_sweep(root, sweep_document(spec))
    grid = build_explore_tuner(spec, root).fit()
    assert os.path.exists(marker)
    assert not grid.errors
    restored = sorted(r.metrics["restored_from_epoch"] for r in grid)
    assert restored == [0, 1]  # the faulted trial's last process started from the epoch-1 checkpoint

    epochs = _rows(root, "epochs")
    by_trial: dict[str, dict[int, dict]] = {}
    for row in epochs:
        by_trial.setdefault(row["trial_id"], {})[row["epoch"]] = row
    assert len(epochs) == 6 and all(sorted(v) == [1, 2, 3] for v in by_trial.values())
    (t_a, rows_a), (t_b, rows_b) = sorted(by_trial.items())
    assert rows_a[1]["config_id"] == rows_b[1]["config_id"] and rows_a[1]["seed"] == rows_b[1]["seed"] == 0
    skip = {"wall_s", "trial_id", "config/fault.raise_at_epoch"}
    for epoch in (1, 2, 3):
        a, b = rows_a[epoch], rows_b[epoch]
        diff = [k for k in a if k not in skip and not _same(a[k], b[k])]
        assert diff == [], (epoch, diff)
    trials = {r["trial_id"]: r for r in _rows(root, "trials")}
    assert [trials[t]["status"] for t in (t_a, t_b)] == ["completed", "completed"]
    assert trials[t_a]["final_val_acc"] == trials[t_b]["final_val_acc"]
    assert trials[t_a]["final_genotype"] == trials[t_b]["final_genotype"]


def test_tracer_appends_one_json_line_per_event_and_is_a_noop_without_a_file(tmp_path):
    import json

    from diffnas.sweeps.trainable import tracer

    tracer(None, "t0")("start")  # no file named: nothing happens
    path = tmp_path / "trace.jsonl"
    mark = tracer(str(path), "t1")
    mark("start")
    mark("built")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["trial"], e["event"], e["pid"]) for e in lines] == [("t1", "start", os.getpid()),
                                                                   ("t1", "built", os.getpid())]
    assert lines[0]["t"] <= lines[1]["t"]
    assert lines[0]["created"] <= lines[0]["t"] and "created" not in lines[1]  # this process's creation time
    busy = time.process_time() + 0.05
    while time.process_time() < busy:  # burn some CPU: the next event's ``cpu`` counts it
        pass
    mark("epoch")
    cpu = [json.loads(line)["cpu"] for line in path.read_text().splitlines()]
    assert 0 < cpu[0] <= cpu[1] and cpu[2] >= cpu[1] + 0.05  # this process's CPU seconds so far


def test_gpu_share_caps_only_a_shared_gpu():
    from diffnas.sweeps.trainable import gpu_share

    assert gpu_share({"CPU": 1, "GPU": 0.25}) == 0.25
    assert gpu_share({"CPU": 1, "GPU": 1}) is None and gpu_share({"CPU": 1}) is None


def test_a_trial_out_of_memory_ends_with_that_reason_and_the_sweep_goes_on(ray_session, tiny_spec, tmp_path):
    """A trial whose device runs out of memory at epoch 2 (what a GPU raises past a trial's share; injected by
    the fault.oom_at_epoch hook) ends with status error and an out_of_memory stop_reason, keeps its rows,
    and is not retried; the other trial completes."""
    from diffnas.sweeps.results_folder import sweep_document, write_sweep
    from diffnas.sweeps.spec_file import load_spec
    from diffnas.sweeps.tuners import build_explore_tuner

    spec = load_spec(tiny_spec(name="oom", sample=None, num_samples=1, seeds=[0], scheduler="fifo", max_failures=1,
                               grid={"fault.oom_at_epoch": [None, 2]}, baseline=None))
    root = str(tmp_path / "results")
    write_sweep(root, sweep_document(spec))
    grid = build_explore_tuner(spec, root).fit()
    assert not grid.errors  # ended by the run itself, not by a traceback
    trials = sorted(_rows(root, "trials"), key=lambda r: r["epochs_run"])
    assert [(r["status"], r["epochs_run"]) for r in trials] == [("error", 2), ("completed", 3)]
    assert trials[0]["stop_reason"].startswith("out_of_memory: CUDA out of memory")
    assert trials[0]["restored_from_epoch"] == 0  # not retried
    epochs = _rows(root, "epochs")
    assert sorted(r["epoch"] for r in epochs if r["trial_id"] == trials[0]["trial_id"]) == [1, 2]
    assert len(epochs) == 5
