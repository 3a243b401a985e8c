"""Tracker names, the extra a missing package names, where each tracker writes, and what it is sent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from diffnas.errors import InputError
from diffnas.tracking import check_loggers, parse_loggers, places
from diffnas.tracking.content import METRICS, final_tags, hyperparameters, scalars


def test_names_parse_from_a_list_or_a_comma_string() -> None:
    assert parse_loggers(["mlflow", "tensorboard"], "loggers") == ("mlflow", "tensorboard")
    assert parse_loggers("tensorboard, wandb", "--loggers") == ("tensorboard", "wandb")
    assert parse_loggers(None, "loggers") == () and parse_loggers([], "loggers") == ()


@pytest.mark.parametrize("value, message", [
    (["tensorbord"], "unknown logger 'tensorbord'; did you mean 'tensorboard'?"),
    (["mlflow", "mlflow"], "must not repeat a logger"),
    ({"mlflow": 1}, "must be a list of tensorboard, mlflow, wandb"),
    ([3], "must be a list of"),
])
def test_bad_names_are_one_line_naming_the_field(value: object, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_loggers(value, "loggers")
    assert str(err.value).startswith("loggers: ") and message in str(err.value)


def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    assert check_loggers(["tensorboard", "mlflow"], "--loggers") == ("tensorboard", "mlflow")
    with pytest.raises(InputError) as err:
        check_loggers(["wandb"], "--loggers")
    assert str(err.value) == ("--loggers: wandb needs the wandb extra (module wandb is missing): "
                              "pip install 'diffnas[wandb]'")


def test_stores_are_inside_a_local_results_folder(tmp_path: Path) -> None:
    root = str(tmp_path / "results")
    uri, artifacts = places.mlflow_store(root, environ={})
    assert uri == f"sqlite:///{tmp_path}/results/mlflow/mlflow.db"
    assert artifacts == (tmp_path / "results" / "mlflow" / "artifacts").as_uri()
    assert places.mlflow_store(root, environ={"MLFLOW_TRACKING_URI": "http://mlflow:5000"}) == ("http://mlflow:5000", None)
    assert places.tensorboard_dir(root, "explore", "t1") == f"{tmp_path}/results/tensorboard/explore/t1"
    assert places.wandb_dir(root) == f"{tmp_path}/results"


def test_results_on_a_bucket_keep_local_stores_in_the_current_folder(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert places.mlflow_store("s3://bucket/sweep", environ={})[0] == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    lines = places.where(("tensorboard", "mlflow", "wandb"), "s3://bucket/sweep", sweep=True)
    assert lines[0] == "tensorboard: s3://bucket/sweep/ray/<experiment>/<trial_id> (synced by Ray Tune)"
    assert lines[1].startswith(f"mlflow: sqlite:///{tmp_path}/mlflow/mlflow.db (the results are on a bucket")


def test_wandb_is_offline_unless_logged_in(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    assert places.wandb_mode({"NETRC": str(netrc)}) == "offline"
    assert places.wandb_mode({"NETRC": str(netrc), "WANDB_API_KEY": "k" * 40}) == "online"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc.chmod(0o600)
    assert places.wandb_mode({"NETRC": str(netrc)}) == "online"
    assert places.wandb_mode({"NETRC": str(netrc), "WANDB_MODE": "offline"}) == "offline"


def test_metrics_are_the_finite_numeric_epoch_columns() -> None:
    assert {"val_acc", "entropy_norm", "truth_acc", "proxy_score", "params"} <= set(METRICS)
    assert not {"epoch", "genotype", "op_probs", "hostname"} & set(METRICS)
    record = {"epoch": 2, "val_acc": 0.5, "truth_acc": float("nan"), "params": 12, "genotype": "|x~0|", "gap": None}
    assert scalars(record) == {"val_acc": 0.5, "params": 12.0}


def test_hyperparameters_put_the_axes_first_and_final_tags_skip_missing() -> None:
    flat = {"dataset": "digits", "ops": ["a", "b"], "sampler": "gumbel", "temperature.t0": 2.0}
    assert list(hyperparameters(flat, ["temperature.t0", "sampler"])) == ["temperature.t0", "sampler", "dataset", "ops"]
    assert hyperparameters(flat)["ops"] == "a,b"
    tags = final_tags({"final_genotype": "|x~0|", "final_truth_acc": float("nan"), "status": "completed"})
    assert tags == {"genotype": "|x~0|", "status": "completed"}
