"""`diffnas search` / `diffnas evaluate` through the CLI's main(argv), in-process."""

import json
import os
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from diffnas.cli import main
from diffnas.results.schema import (
    EPOCH_COLUMNS,
    IDENTITY_COLUMNS,
    SCHEMA_VERSION,
    SWEEP_ONLY_COLUMNS,
    TRIAL_COLUMNS,
)
from tests.helpers import tiny_overrides


@pytest.mark.parametrize("sampler", ["softmax", "gumbel", "gumbel_hard", "enhanced"])
def test_search_writes_schema(tmp_path, sampler, capsys):
    out = tmp_path / "run"
    argv = ["search", "--set", "space=nb201", "--set", "dataset=digits", "--set", "epochs=3",
            "--set", f"sampler={sampler}", "--set", "metrics.eval_batches=4", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    epochs = pq.read_table(out / "epochs").to_pandas()
    trials = pq.read_table(out / "trials").to_pandas()
    assert (set(EPOCH_COLUMNS) | set(IDENTITY_COLUMNS)) - set(SWEEP_ONLY_COLUMNS) <= set(epochs.columns)
    assert (set(TRIAL_COLUMNS) | set(IDENTITY_COLUMNS)) - set(SWEEP_ONLY_COLUMNS) <= set(trials.columns)
    assert {"config/sampler", "config/temperature.schedule", "config/entropy_weight", "config/clip.mode"} <= set(epochs.columns)
    assert list(epochs.sort_values("epoch")["epoch"]) == [1, 2, 3]
    assert (epochs["config/sampler"] == sampler).all() and (epochs["phase"] == "single").all()
    # provenance for papers: versions, device, precision; the truth column that ran (null = follow the dataset)
    import torch

    import diffnas
    row = trials.iloc[0]
    assert row["diffnas_version"] == diffnas.__version__ and row["torch_version"] == torch.__version__
    assert row["amp"] == "off" and row["device_name"] and pd.isna(row["cuda_version"])  # a CPU-only torch
    assert (epochs["config/truth.column"] == "cifar10_test").all()
    for f in os.listdir(out / "epochs"):
        meta = pq.read_schema(out / "epochs" / f).metadata
        assert meta[b"schema_version"] == SCHEMA_VERSION.encode()
    genotype = json.loads((out / "genotype.json").read_text())  # the handed-back cell, and the rule that chose it
    assert genotype["genotype"] == trials["best_genotype"][0] and genotype["final_genotype"] == trials["final_genotype"][0]
    assert genotype["handed_back"]["by"] == trials["best_by"][0] == "proxy_score, late half by synflow"
    assert genotype["handed_back"]["epoch"] == trials["best_epoch"][0]
    assert "genotype |" in capsys.readouterr().out
    # a second invocation on the finished folder resumes from the checkpoint and duplicates nothing
    assert main(argv) == 0
    again = pq.read_table(out / "epochs").to_pandas()
    assert len(again) == 3


def test_injected_nan_exits_zero_with_warning(tmp_path, capsys):
    out = tmp_path / "nan"
    assert main(["search", *tiny_overrides(epochs=4, **{"fault.nan_at_epoch": 3}), "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "diverged" in err
    trials = pq.read_table(out / "trials").to_pandas()
    assert trials["status"][0] == "diverged"
    assert sorted(pq.read_table(out / "epochs").to_pandas()["epoch"]) == [1, 2, 3]


def test_out_of_memory_exits_one_with_its_reason_and_keeps_the_rows(tmp_path, capsys):
    out = tmp_path / "oom"
    assert main(["search", *tiny_overrides(epochs=3, **{"fault.oom_at_epoch": 2}), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "out_of_memory" in err and "Traceback" not in err
    trials = pq.read_table(out / "trials").to_pandas()
    assert trials["status"][0] == "error" and trials["stop_reason"][0].startswith("out_of_memory")
    assert sorted(pq.read_table(out / "epochs").to_pandas()["epoch"]) == [1, 2]


BAD = [
    (["--set", "colour=blue"], "colour"),
    (["--set", "epochs=ten"], "epochs"),
    (["--set", "epochs=-3"], "epochs"),
    (["--set", "epochs=0"], "epochs"),
    (["--set", "space=resnet"], "space"),
    (["--set", "sampler=no_such_sampler"], "sampler"),
    (["--set", "dataset=cifar"], "dataset"),
    (["--set", "dataset=fashion_mnist", "--set", "data.dir=/nonexistent/fmnist"], "data.dir"),
    (["--set", "temperature.schedule=linear", "--set", "temperature.t0=0.5", "--set", "temperature.t_min=2"], "temperature.t_min"),
    (["--set", "temperature.schedule=warp"], "temperature.schedule"),
    (["--set", "device=cuda"], "device"),
    (["--set", "sampler_options.dropout=1.5"], "sampler_options.dropout"),
    (["--set", "sampler_options.noise_std=-0.1"], "sampler_options.noise_std"),
    (["--set", "clip.mode=soft"], "clip.mode"),
    (["--set", "clip.value=0"], "clip.value"),
    (["--set", "order=third"], "order"),
    (["--set", "ops=[none, conv_9x9]"], "ops"),
    (["--set", "threads=0"], "threads"),
    (["--set", "warmup_epochs=10", "--set", "epochs=5"], "warmup_epochs"),
    (["--set", "l2_weight=-1"], "l2_weight"),
    (["--set", "truth.table=/nonexistent.csv"], "truth.table"),
    (["--set", "noequals"], "--set"),
    (["--config", "/nonexistent/config.yaml"], "--config"),
]


@pytest.mark.parametrize("args,key", BAD, ids=[k for _, k in BAD])
def test_bad_config_is_one_line_exit_2_nothing_written(tmp_path, capsys, args, key):
    if key == "device":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    assert main(["search", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert key in err and "Traceback" not in err
    assert not out.exists()


def test_bad_yaml_and_wrong_shape(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("temperature: [1, 2\n")
    assert main(["search", "--config", str(bad), "--out", str(tmp_path / "o")]) == 2
    shape = tmp_path / "shape.yaml"
    shape.write_text("temperature: 3\n")
    assert main(["search", "--config", str(shape), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_evaluate_retrains_genotype(tmp_path, capsys):
    geno = tmp_path / "g.json"
    geno.write_text(json.dumps({"space": "nb201", "genotype": "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|"
                                "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", "dataset": "digits"}))
    assert main(["evaluate", str(geno), "--epochs", "4"]) == 0
    out = capsys.readouterr().out
    acc = float(out.split("test_acc ")[1].split()[0])
    assert acc > 0.5
    geno.write_text('{"space": "nb201", "genotype": "|conv~0|"}')
    assert main(["evaluate", str(geno)]) == 2


def test_help_is_light():
    code = ("import sys; from diffnas.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'ray', 'pandas', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_list_keys_names_every_public_field_and_no_test_hook(capsys):
    from diffnas.config import SEARCH_KEYS, TEST_HOOKS

    assert main(["search", "--list-keys"]) == 0
    out = capsys.readouterr().out
    assert all(key in out for key in SEARCH_KEYS)
    assert TEST_HOOKS and not any(key in out for key in TEST_HOOKS)
    assert "fault." not in out
    assert "< 0 rewards exploration" in out
    # each sampler's own defaults, where they differ from the global ones, with why
    own = out.split("Each sampler's own defaults", 1)[1]
    lines = {ln.split()[0]: ln for ln in own.splitlines()[1:] if ln.startswith("  ") and not ln.startswith("   ")}
    assert set(lines) == {"softmax", "gumbel", "gumbel_hard", "enhanced", "dirichlet"}
    assert "beta_weight=50.0" in own.split("gumbel_hard", 1)[1].split("enhanced", 1)[0]
    assert "kl_weight=0.001" in own.split("dirichlet", 1)[1]


def test_killed_search_resumes_with_identical_rows(tmp_path):
    import signal
    import time

    import pandas as pd

    args = [*tiny_overrides(epochs=8, sampler="gumbel"), "--quiet"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "diffnas.cli", "search", *args, "--out", str(killed)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            parts = list((killed / "epochs").glob("*.parquet")) if (killed / "epochs").exists() else []
            if len(parts) >= 2 and (killed / "checkpoint.pt").exists():
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert not (killed / "trials").exists()  # it really was cut short
    assert main(["search", *args, "--out", str(killed)]) == 0
    assert main(["search", *args, "--out", str(tmp_path / "whole")]) == 0
    resumed = pd.read_parquet(killed / "epochs").sort_values("epoch").drop(columns="wall_s").reset_index(drop=True)
    whole = pd.read_parquet(tmp_path / "whole" / "epochs").sort_values("epoch").drop(columns="wall_s").reset_index(drop=True)
    assert list(resumed["epoch"]) == list(range(1, 9))
    pd.testing.assert_frame_equal(resumed, whole)


@pytest.mark.parametrize("dataset, writer, column", [("cifar10", "write_cifar10", "cifar10_test"),
                                                      ("cifar100", "write_cifar100", "cifar100_test")])
def test_search_on_cifar_files_records_the_datasets_own_truth(tmp_path, dataset, writer, column):
    """A 2-epoch search on files in CIFAR's published format (written here) runs with NB201's augmentation
    and records truth_acc from the NB201 column of the dataset it searched."""
    from diffnas.selection.truth import nb201_truth
    from tests.data import batch_files

    getattr(batch_files, writer)(tmp_path / "data")
    out = tmp_path / "run"
    argv = ["search", "--set", f"dataset={dataset}", "--set", f"data.dir={tmp_path / 'data'}", "--set", "epochs=2",
            "--set", "model.channels=4", "--set", "model.stages=1", "--set", "data.batch_size=32",
            "--set", "data.subset=120", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    epochs = pq.read_table(out / "epochs").to_pandas().sort_values("epoch")
    assert list(epochs["epoch"]) == [1, 2]
    assert (epochs["config/truth.column"] == column).all()
    for genotype, truth in zip(epochs["genotype"], epochs["truth_acc"], strict=True):
        assert truth == pytest.approx(nb201_truth(genotype, column))
        assert truth != pytest.approx(nb201_truth(genotype, "imagenet16_120_test"))


def test_a_missing_cifar_folder_is_one_line_exit_2(tmp_path, capsys):
    assert main(["search", "--set", "dataset=cifar10", "--set", f"data.dir={tmp_path}", "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.dir" in err[0] and "cifar-10-batches-py" in err[0]
    assert not (tmp_path / "run").exists()
