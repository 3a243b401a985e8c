"""A trial resumed by a new driver (``sweep resume`` after a kill): its first result carries the epochs up
to its checkpoint (``history``). TensorBoard shows every epoch once (the rewrite purges the killed
driver's events) and MLflow goes on in the trial's run, each epoch once. Driven through the callbacks
with a stand-in for Tune's trial, no Ray session needed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from diffnas.config import SearchConfig
from tests.conftest import TINY_BASE
from tests.tracking import readers

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")
if importlib.util.find_spec("mlflow") is None or importlib.util.find_spec("tensorboard") is None:
    pytest.skip("no mlflow / tensorboard (pip install 'diffnas[test]')", allow_module_level=True)

BASE = SearchConfig.from_dict({**TINY_BASE, "epochs": 4}).to_flat()
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
ARCH = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"


class Factory:
    required_resources = {"CPU": 1.0}


class Trial:
    """What the callbacks read of Tune's trial."""

    def __init__(self, folder: Path) -> None:
        self.trial_id, self.config, self.experiment_dir_name = "abcde_00000", {"sampler": "gumbel", "seed": 0}, "explore"
        self.placement_group_factory, self.local_path, self.last_result = Factory(), str(folder / "staging"), {}

    def init_local_path(self) -> None:
        Path(self.local_path).mkdir(parents=True, exist_ok=True)


def record(epoch: int) -> dict[str, Any]:
    return {"epoch": epoch, "val_acc": 0.1 * epoch, "wall_s": 1.0 * epoch, "op_probs": [0.2] * 30, "genotype": ARCH}


def result(epoch: int, history: list[int] = ()) -> dict[str, Any]:
    out = {**record(epoch), "record_keys": list(record(epoch)),
           "trial_record": {"ops": OPS, "edges": [f"e{i}" for i in range(6)], "final_genotype": ARCH,
                            "status": "completed"}}
    if history:
        out["history"] = [record(e) for e in history]
    return out


def drivers(cls: Any, root: str, trial: Trial, killed: range, resumed: list[dict[str, Any]]) -> None:
    """One driver sends ``killed`` epochs and dies; a second gets the resumed results and ends the trial."""
    first = cls(root, "tiny", "explore", BASE, ["sampler"])
    first.setup()
    first.log_trial_start(trial)
    for epoch in killed:
        first.log_trial_result(epoch, trial, result(epoch))
    second = cls(root, "tiny", "explore", BASE, ["sampler"])
    second.setup()
    second.log_trial_start(trial)
    for res in resumed:
        trial.last_result = res
        second.log_trial_result(res["epoch"], trial, res)
    second.log_trial_end(trial)


def test_resumed_trial_in_tensorboard_and_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from diffnas.tracking.tune import MLflowCallback, TensorBoardCallback

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = str(tmp_path / "results")
    # killed after sending epochs 1..3; the checkpoint it resumes from is epoch 2
    resumed = [result(3, history=[1, 2]), result(4)]
    drivers(TensorBoardCallback, root, Trial(tmp_path), range(1, 4), resumed)
    drivers(MLflowCallback, root, Trial(tmp_path), range(1, 4), resumed)

    tb = readers.tensorboard(str(Path(root, "tensorboard", "explore", "abcde_00000")))
    assert tb["images"]["alpha"] == [1, 2, 3, 4]  # each epoch once: the killed driver's copies purged
    assert sorted(tb["scalars"]["val_acc"]) == [1, 2, 3, 4]
    db = str(Path(root, "mlflow", "mlflow.db"))
    runs = readers.mlflow_runs(db, "tiny")
    assert len(runs) == 1 and runs["status"][0] == "FINISHED"
    steps = [m for m in readers.mlflow_history(db, runs["run_id"][0], "val_acc")]
    assert steps == [1, 2, 3, 4]
    assert len([p for p in readers.mlflow_images(db, runs["run_id"][0]) if p.startswith("images/alpha") and p.endswith(".png")]) == 4
