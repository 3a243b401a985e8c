"""diffnas.sweeps.sink: Parquet rows exactly once, identity/config columns, trial statuses (fake trials, no Ray)."""

from __future__ import annotations

import math
import pickle
from types import SimpleNamespace

import pyarrow.dataset as ds
import pytest

from diffnas.config import SearchConfig
from diffnas.results.schema import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from diffnas.sweeps.sink import ParquetSink, Progress, trial_status

pytest.importorskip("ray")

BASE = SearchConfig.from_dict({"dataset": "digits", "epochs": 3, "data": {"subset": 200}}).to_flat()


class FakeTrial:
    def __init__(self, trial_id: str, seed: int, t0: float = 2.0) -> None:
        self.trial_id = trial_id
        self.config = {"seed": seed, "temperature.t0": t0}
        self.last_result: dict = {}
        self.status = "RUNNING"
        self.placement_group_factory = SimpleNamespace(required_resources={"CPU": 2.0})

    def get_error(self) -> str:
        return "Traceback ...\nRuntimeError: boom\n"


def result(epoch: int, status: str | None = None) -> dict:
    record = {"epoch": epoch, "val_acc": 0.1 * epoch, "genotype": "g", "op_probs": [0.5, 0.5], "wall_s": 1.0}
    return {**record, "record_keys": list(record), "run_status": status, "stop_reason": None,
            "trial_record": {"status": status, "epochs_run": epoch, "best_val_acc": 0.1 * epoch,
                             "final_val_acc": 0.1 * epoch, "wall_s": float(epoch)},
            "training_iteration": epoch, "time_this_iter_s": 1.0, "config": {"seed": 0}}


def feed(sink: ParquetSink, trial: FakeTrial, epochs: range, final: str | None = None) -> None:
    for e in epochs:
        res = result(e, final if e == epochs[-1] else None)
        sink.on_trial_result(iteration=e, trials=[trial], trial=trial, result=res)
        trial.last_result = res


def table(root, kind):
    return ds.dataset(f"{root}/{kind}", format="parquet").to_table()


def test_rows_identity_config_and_status(tmp_path):
    root = str(tmp_path)
    sink = ParquetSink(root, "s", "explore", BASE)
    sink.setup()
    done, stopped, failed = FakeTrial("t_0", 0), FakeTrial("t_1", 1), FakeTrial("t_2", 2)
    feed(sink, done, range(1, 4), final="completed")
    sink.on_trial_complete(iteration=3, trials=[], trial=done)
    feed(sink, stopped, range(1, 2))
    sink.on_trial_complete(iteration=4, trials=[], trial=stopped)
    feed(sink, failed, range(1, 3))
    sink.on_trial_error(iteration=5, trials=[], trial=failed)
    sink.get_state()  # Tune snapshots: ended trials' rows reach disk first

    epochs = table(root, "epochs")
    assert epochs.schema.metadata[SCHEMA_VERSION_KEY.encode()] == SCHEMA_VERSION.encode()
    rows = epochs.to_pylist()
    assert sorted((r["trial_id"], r["epoch"]) for r in rows) == [
        ("t_0", 1), ("t_0", 2), ("t_0", 3), ("t_1", 1), ("t_2", 1), ("t_2", 2)]
    row = rows[0]
    assert row["sweep"] == "s" and row["phase"] == "explore"
    assert row["config/temperature.t0"] == 2.0 and row["config/threads"] == 2  # Ray's CPUs -> threads
    assert row["config_id"] == SearchConfig.validate({**BASE, "temperature.t0": 2.0}).config_id()
    # only the record is written: none of Tune's or the trainable's bookkeeping keys
    for key in ("training_iteration", "time_this_iter_s", "config", "record_keys", "run_status",
                "trial_record", "temperature.t0"):
        assert key not in row
    trials = {r["trial_id"]: r for r in table(root, "trials").to_pylist()}
    assert trials["t_0"]["status"] == "completed" and trials["t_0"]["epochs_run"] == 3
    assert trials["t_1"]["status"] == "asha_stopped" and trials["t_1"]["stop_reason"] == "asha"
    assert trials["t_1"]["epochs_run"] == 1 and math.isclose(trials["t_1"]["best_val_acc"], 0.1)
    assert trials["t_2"]["status"] == "error" and trials["t_2"]["stop_reason"] == "error: RuntimeError: boom"
    # every part has the same columns, so a dataset over the folder sees all of them
    assert {tuple(sorted(r)) for r in trials.values()} == {tuple(sorted(trials["t_0"]))}


def test_resumed_sink_writes_each_row_once(tmp_path):
    root = str(tmp_path)
    done, running = FakeTrial("t_0", 0), FakeTrial("t_1", 1)
    first = ParquetSink(root, "s", "explore", BASE)
    first.setup()
    feed(first, done, range(1, 4), final="completed")
    first.on_trial_complete(iteration=3, trials=[], trial=done)
    feed(first, running, range(1, 3))
    first.get_state()  # snapshot: t_0 ended, so the buffer goes to disk
    feed(first, running, range(3, 4))  # buffered after the snapshot: lost with the killed driver
    assert len(table(root, "epochs")) == 5
    del first

    # the Tuner pickles the sink with its configuration only; a restore sets it up again
    second = pickle.loads(pickle.dumps(ParquetSink(root, "s", "explore", BASE)))
    second.setup()
    resumed = FakeTrial("t_1", 1)
    # restarted from its epoch-2 checkpoint: the first report re-sends epochs 1-2 as history
    res = result(3, "completed")
    res["history"] = [{k: result(e)[k] for k in result(e)["record_keys"]} for e in (1, 2)]
    second.on_trial_result(iteration=1, trials=[], trial=resumed, result=res)
    resumed.last_result = res
    second.on_trial_complete(iteration=2, trials=[], trial=resumed)
    second.on_trial_complete(iteration=2, trials=[], trial=resumed)  # duplicate end: still one row
    second.on_experiment_end(trials=[done, resumed])
    assert second.unended == []
    keys = [(r["trial_id"], r["epoch"]) for r in table(root, "epochs").to_pylist()]
    assert sorted(keys) == [("t_0", 1), ("t_0", 2), ("t_0", 3), ("t_1", 1), ("t_1", 2), ("t_1", 3)]
    assert sorted(r["status"] for r in table(root, "trials").to_pylist()) == ["completed", "completed"]


def test_running_rows_wait_across_snapshots_until_a_bound(tmp_path):
    sink = ParquetSink(str(tmp_path), "s", "explore", BASE, flush_s=3600)
    sink.setup()
    trial = FakeTrial("t_0", 0)
    feed(sink, trial, range(1, 3))
    sink.get_state()
    assert not (tmp_path / "epochs").exists()  # running trial: its rows can be re-sent
    sink.on_experiment_end(trials=[trial])
    assert table(str(tmp_path), "epochs").num_rows == 2 and sink.unended == ["t_0"]


def test_flush_every_n_rows(tmp_path):
    sink = ParquetSink(str(tmp_path), "s", "explore", BASE, flush_rows=2)
    sink.setup()
    feed(sink, FakeTrial("t_0", 0), range(1, 4))
    assert table(str(tmp_path), "epochs").num_rows == 2


def test_status_and_progress_lines(capsys):
    trial = FakeTrial("t_0", 0)
    trial.last_result = result(2)
    assert trial_status(trial, errored=False) == "asha_stopped"
    assert trial_status(trial, errored=True) == "error"
    trial.last_result = result(3, "early_stopped")
    assert trial_status(trial, errored=False) == "early_stopped"
    progress = Progress(total=2, metric="val_acc", phase="explore", every_s=0.0, axes=["temperature.t0"])
    progress.setup()
    progress.on_trial_start(iteration=0, trials=[], trial=trial)
    progress.on_trial_result(iteration=1, trials=[], trial=trial, result=trial.last_result)
    progress.on_trial_complete(iteration=2, trials=[], trial=trial)
    out = capsys.readouterr().out.splitlines()
    assert any("trial t_0 temperature.t0=2 seed 0: early_stopped after 3 epochs, val_acc 0.3000" in line
               for line in out), out
    assert pickle.loads(pickle.dumps(progress)).total == 2


def test_progress_counts_continue_across_a_resume(tmp_path, capsys):
    """A resumed experiment's progress starts from what the interrupted run had written."""
    root = str(tmp_path / "results")
    done, running, other = FakeTrial("t_0", 0), FakeTrial("t_1", 1), FakeTrial("x_9", 2)
    sink = ParquetSink(root, "s", "explore", BASE)
    sink.setup()
    feed(sink, done, range(1, 4), final="completed")
    done.status = "TERMINATED"
    sink.on_trial_complete(iteration=3, trials=[done], trial=done)
    feed(sink, running, range(1, 3))
    feed(sink, other, range(1, 2), final="completed")  # another experiment's trial: not counted
    sink.on_trial_complete(iteration=3, trials=[other], trial=other)
    sink.flush()

    # the resumed run: a fresh (unpickled) Progress; t_1 continues from its epoch-2 checkpoint
    progress = pickle.loads(pickle.dumps(Progress(total=2, metric="val_acc", phase="explore", every_s=0.0,
                                                  root=root)))
    progress.setup()
    progress.on_trial_start(iteration=0, trials=[done, running], trial=running)
    progress.on_trial_result(iteration=1, trials=[done, running], trial=running, result=result(3))
    assert progress._summary() == "1/2 trials done (completed 1), 1 running, 6 epochs reported"
