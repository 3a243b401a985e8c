"""TensorBoard, MLflow and W&B from a spec key (a 2-trial sweep) and from ``diffnas search --loggers``, read
back with each library's own reader: metric names, epochs, hyper-parameters, the genotype tag, one α
image per epoch. A missing package is one line naming the extra, exit 2, before Ray starts."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from diffnas.cli import main
from tests.conftest import write_spec
from tests.helpers import tiny_overrides
from tests.tracking import readers

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")  # MLflow's own

for _module in ("tensorboard", "mlflow", "wandb"):
    if importlib.util.find_spec(_module) is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            raise RuntimeError(f"no {_module} but CI is set: install the test extra (it holds the trackers)")
        pytest.skip(f"no {_module} (pip install 'diffnas[test]')", allow_module_level=True)

LOGGERS = ["tensorboard", "mlflow", "wandb"]
EXPECTED = {"val_acc", "val_loss", "train_loss", "entropy_norm", "temperature", "stability", "proxy_score"}
EPOCHS = 2


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user's credentials or servers: W&B offline, MLflow in the results folder."""
    for key in ("WANDB_API_KEY", "WANDB_MODE", "MLFLOW_TRACKING_URI", "WANDB_PROJECT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def _trials(root: str) -> dict[str, dict[str, Any]]:
    rows = ds.dataset(str(Path(root) / "trials"), format="parquet").to_table().to_pylist()
    return {r["trial_id"]: r for r in rows}


@pytest.fixture(scope="module")
def tracked_sweep(ray_session: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One 2-trial sweep (softmax and gumbel, FIFO, 2 epochs) with all three loggers."""
    mp = pytest.MonkeyPatch()
    for key in ("WANDB_API_KEY", "WANDB_MODE", "MLFLOW_TRACKING_URI", "WANDB_PROJECT"):
        mp.delenv(key, raising=False)
    folder = tmp_path_factory.mktemp("tracked")
    mp.setenv("NETRC", str(folder / "no-netrc"))
    spec = write_spec(folder / "tracked.yaml", {
        "name": "tracked", "sample": None, "grid": {"sampler": ["softmax", "gumbel"]}, "seeds": [0],
        "num_samples": 1, "scheduler": "fifo", "baseline": None, "confirm": None, "base": {"epochs": EPOCHS},
        "loggers": LOGGERS})
    root = str(folder / "results")
    try:
        assert main(["sweep", "run", spec, "--storage", root]) == 0
    finally:
        mp.undo()
    return root


def test_tensorboard_in_a_sweep(tracked_sweep: str) -> None:
    trials = _trials(tracked_sweep)
    assert len(trials) == 2
    for trial_id, trial in trials.items():
        run = readers.tensorboard(str(Path(tracked_sweep, "tensorboard", "explore", trial_id)))
        assert EXPECTED <= set(run["scalars"])
        assert sorted(run["scalars"]["val_acc"]) == list(range(1, EPOCHS + 1))
        assert run["images"]["alpha"] == list(range(1, EPOCHS + 1)) == run["images"]["cell"]
        assert run["texts"]["genotype"] == [trial["final_genotype"]]
        assert run["hparams"]["sampler"] == trial["config/sampler"]
        assert run["hparams"]["temperature.t0"] == pytest.approx(trial["config/temperature.t0"])


def test_mlflow_in_a_sweep(tracked_sweep: str) -> None:
    db = str(Path(tracked_sweep, "mlflow", "mlflow.db"))
    runs = readers.mlflow_runs(db, "tracked")
    trials = _trials(tracked_sweep)
    assert sorted(runs["tags.trial_id"]) == sorted(trials)
    assert set(runs["status"]) == {"FINISHED"}
    assert {f"metrics.{m}" for m in EXPECTED} <= set(runs.columns)
    for _, run in runs.iterrows():
        trial = trials[run["tags.trial_id"]]
        assert run["tags.phase"] == "explore" and run["tags.axes"] == "sampler"
        assert run["tags.genotype"] == trial["final_genotype"] and run["tags.status"] == "completed"
        assert run["params.sampler"] == trial["config/sampler"] and run["tags.config_id"] == trial["config_id"]
        if trial["final_truth_acc"] is not None and math.isfinite(trial["final_truth_acc"]):  # the NB201 truth
            assert float(run["tags.truth_acc"]) == pytest.approx(trial["final_truth_acc"])
        assert sorted(readers.mlflow_history(db, run["run_id"], "val_acc")) == list(range(1, EPOCHS + 1))
        images = [p for p in readers.mlflow_images(db, run["run_id"]) if p.endswith(".png")]
        assert sorted(p for p in images if p.startswith("images/alpha+step+")) == sorted(images)[:EPOCHS]
        assert {p.split("+")[2] for p in images if p.startswith("images/alpha")} == {"1", "2"}


def test_wandb_in_a_sweep(tracked_sweep: str) -> None:
    trials = _trials(tracked_sweep)
    folders = readers.wandb_runs(tracked_sweep)
    assert len(folders) == 2
    for folder in folders:
        run = readers.wandb_run(folder)
        trial = trials[run["name"]]
        assert run["group"] == "tracked"
        assert [k for k in run["config"] if not k.startswith("_")][0] == "sampler"  # the sweep's axis first
        assert run["config"]["sampler"] == trial["config/sampler"]
        assert sorted(run["history"]) == list(range(1, EPOCHS + 1))
        assert EXPECTED <= set(run["history"][EPOCHS])
        assert run["summary"]["genotype"] == trial["final_genotype"]
        if trial["final_truth_acc"] is not None and math.isfinite(trial["final_truth_acc"]):
            assert run["summary"]["truth_acc"] == pytest.approx(trial["final_truth_acc"])
        assert len([f for f in run["images"] if f.startswith("alpha_")]) == EPOCHS


def test_search_with_each_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main(["search", *tiny_overrides(epochs=EPOCHS), "--out", str(out), "--quiet",
                 "--loggers", ",".join(LOGGERS)]) == 0
    (trial,) = _trials(str(out)).values()
    (tb_dir,) = (out / "tensorboard" / "search").iterdir()
    tb = readers.tensorboard(str(tb_dir))
    assert EXPECTED <= set(tb["scalars"]) and tb["images"]["alpha"] == [1, 2]
    assert tb["texts"]["genotype"] == [trial["final_genotype"]]
    runs = readers.mlflow_runs(str(out / "mlflow" / "mlflow.db"), "search")
    assert len(runs) == 1 and runs["tags.genotype"][0] == trial["final_genotype"]
    assert runs["tags.phase"][0] == "single" and runs["params.sampler"][0] == trial["config/sampler"]
    (folder,) = readers.wandb_runs(str(out))
    run = readers.wandb_run(folder)
    assert sorted(run["history"]) == [1, 2] and run["summary"]["genotype"] == trial["final_genotype"]
    assert not (tmp_path / "wandb").exists() and not (tmp_path / "mlflow").exists()  # all inside the results


def _without(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))


def test_a_missing_package_is_one_line_exit_2_before_anything(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _without("wandb", monkeypatch)
    out = tmp_path / "run"
    assert main(["search", *tiny_overrides(epochs=1), "--out", str(out), "--loggers", "wandb"]) == 2
    assert "--loggers: wandb needs the wandb extra" in capsys.readouterr().err and not out.exists()
    spec = write_spec(tmp_path / "s.yaml", {"loggers": ["tensorboard", "wandb"]})
    assert main(["sweep", "run", spec, "--storage", str(tmp_path / "sweep")]) == 2
    err = capsys.readouterr().err
    assert "loggers: wandb needs the wandb extra (module wandb is missing): pip install 'diffnas[wandb]'" in err
    assert not (tmp_path / "sweep").exists()


def test_loggers_are_not_part_of_the_config_id(tmp_path: Path) -> None:
    from diffnas.sweeps.spec_file import load_spec

    plain = load_spec(write_spec(tmp_path / "a.yaml"))
    tracked = load_spec(write_spec(tmp_path / "b.yaml", {"loggers": ["mlflow"]}))
    assert tracked.loggers == ("mlflow",) and plain.loggers == ()
    assert tracked.base.config_id() == plain.base.config_id()
    assert tracked.to_dict()["loggers"] == ["mlflow"]


def test_search_on_a_bucket_keeps_the_local_stores_in_the_current_folder(s3_server: Any, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture) -> None:
    from diffnas import storage

    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    out = "s3://tracking/runs/one"
    assert main(["search", *tiny_overrides(epochs=1), "--out", out, "--quiet", "--loggers", "tensorboard,mlflow"]) == 0
    err = capsys.readouterr().err
    assert f"mlflow: sqlite:///{tmp_path}/mlflow/mlflow.db (the results are on a bucket: this store is local)" in err
    assert "trials/" in " ".join(storage.list_tree(out))  # the results went to the bucket
    (tb_dir,) = (tmp_path / "tensorboard" / "search").iterdir()
    assert readers.tensorboard(str(tb_dir))["images"]["alpha"] == [1]
    assert len(readers.mlflow_runs(str(tmp_path / "mlflow" / "mlflow.db"), "search")) == 1
