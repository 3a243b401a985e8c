"""diffnas.sweeps.cli through ``diffnas.cli.main``: bad specs exit 2 before Ray starts; status; help."""

from __future__ import annotations

import os

import pytest

from diffnas.cli import main

BAD_SPECS = {
    "unknown_top_key": ("bogus: 1\n", "bogus"),
    "unknown_base_key": ("base: {epochz: 3}\n", "base.epochz"),
    "bad_base_value": ("base: {sampler: nope}\n", "base.sampler"),
    "grid_unknown_key": ("grid: {temperature.tzero: [1, 2]}\n", "grid.temperature.tzero"),
    "grid_bad_value": ("grid: {sampler: [softmax, nope]}\n", "grid.sampler"),
    "grid_not_list": ("grid: {sampler: softmax}\n", "grid.sampler"),
    "sample_bad_distribution": ("sample: {temperature.t0: {normal: [1, 2]}}\n", "sample.temperature.t0"),
    "sample_low_above_high": ("sample: {temperature.t0: {uniform: [3.0, 2.0]}}\n",
                              "sample.temperature.t0.uniform"),
    "sample_out_of_range": ("sample: {clip.value: {uniform: [-1.0, 2.0]}}\n", "sample.clip.value"),
    "asha_max_t": ("scheduler: {type: asha, max_t: 7}\n", "scheduler.max_t"),
    "asha_bad_grace": ("scheduler: {type: asha, grace_period: 0}\n", "scheduler.grace_period"),
    "scheduler_unknown": ("scheduler: {type: hyperband}\n", "scheduler.type"),
    "optuna_with_grid": ("search: optuna\ngrid: {sampler: [softmax, gumbel]}\n", "grid"),
    "bad_metric": ("metric: accuracy\n", "metric"),
    "bad_mode": ("mode: maximise\n", "mode"),
    "duplicate_seeds": ("seeds: [0, 0]\n", "seeds"),
    "negative_cpu": ("resources: {cpu: 0}\n", "resources.cpu"),
    "unknown_resource": ("resources: {tpu: 1}\n", "resources.tpu"),
    "bad_baseline": ("baseline: {clip.mode: sometimes}\n", "baseline.clip.mode"),
    "seed_axis": ("grid: {seed: [1, 2]}\n", "grid.seed"),
    "confirm_per_not_an_axis": ("grid: {sampler: [softmax, gumbel]}\nconfirm: {per: clip.mode}\n", "confirm.per"),
    "not_yaml": ("base: [unclosed\n", "SPEC"),
    "not_mapping": ("- just\n- a list\n", "spec"),
    "duplicate_key": ("metric: val_acc\nmetric: val_loss\n", "SPEC"),
    "nested_and_dotted_differ": ("base: {epochs: 3, data: {subset: 200}, data.subset: 300}\n", "base.data.subset"),
}

BASE = "name: bad\nbase: {dataset: digits, epochs: 3, data: {subset: 200}}\n"


def _no_ray(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    import ray

    import diffnas.sweeps.session

    def refuse(*args, **kwargs):
        calls.append("ray")
        raise AssertionError("Ray must not start for a bad spec")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(diffnas.sweeps.session, "connect", refuse)
    return calls


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_exits_2_naming_the_key(case, tmp_path, monkeypatch, capsys):
    text, key = BAD_SPECS[case]
    # a case's own base replaces BASE's (a key given twice in one YAML mapping is refused)
    base = "" if text.startswith("base:") else BASE.split("\n", 1)[1]
    body = text if case in ("not_yaml", "not_mapping") else "name: bad\n" + base + text
    path = tmp_path / f"{case}.yaml"
    path.write_text(body)
    calls = _no_ray(monkeypatch)
    out = tmp_path / "results"
    code = main(["sweep", "run", str(path), "--storage", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert f"error: {key}:" in err, err
    assert calls == []
    assert not out.exists()


def test_missing_spec_file(tmp_path, monkeypatch, capsys):
    calls = _no_ray(monkeypatch)
    assert main(["sweep", "run", str(tmp_path / "nope.yaml"), "--storage", str(tmp_path / "r")]) == 2
    assert "SPEC: file not found" in capsys.readouterr().err
    assert calls == [] and not (tmp_path / "r").exists()


def test_resume_status_confirm_on_a_non_sweep_folder(tmp_path, monkeypatch, capsys):
    _no_ray(monkeypatch)
    for argv in (["sweep", "resume", str(tmp_path)], ["sweep", "status", str(tmp_path)],
                 ["sweep", "confirm", str(tmp_path)]):
        assert main(argv) == 2
        assert "not a sweep results folder" in capsys.readouterr().err


def test_help_is_instant_and_states_best():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys; from diffnas.cli import main; "
                          "main(['sweep', 'confirm', '--help']); print(sorted(m for m in sys.modules "
                          "if m.split('.')[0] in ('ray', 'torch')))"],
                         capture_output=True, text=True, check=True)
    assert "EVERY explored" in " ".join(out.stdout.split())
    assert out.stdout.strip().endswith("[]")


def test_status_of_shared_sweep(sweep_results, capsys):
    assert main(["sweep", "status", sweep_results]) == 0
    text = capsys.readouterr().out
    assert "explore:" in text and "confirm:" in text and "epochs consumed" in text
    assert "asha_stopped" in text and "best so far" in text


def test_run_refuses_an_existing_sweep_folder(sweep_results, tmp_path, monkeypatch, capsys, tiny_spec):
    calls = _no_ray(monkeypatch)
    before = sorted(os.listdir(sweep_results))
    assert main(["sweep", "run", tiny_spec(), "--storage", sweep_results]) == 2
    assert "already holds a sweep" in capsys.readouterr().err
    assert calls == [] and sorted(os.listdir(sweep_results)) == before


def test_unreachable_address_fails_fast_with_one_line(tmp_path, monkeypatch, capsys, tiny_spec):
    import time

    monkeypatch.chdir(tmp_path)
    spec = tiny_spec()
    start = time.monotonic()
    assert main(["sweep", "run", spec, "--address", "127.0.0.1:1", "--storage", str(tmp_path / "r")]) == 2
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--address: no Ray cluster answers at 127.0.0.1:1" in err, err
    assert not (tmp_path / "r").exists()


def test_unreachable_ray_address_variable_is_named(tmp_path, monkeypatch, capsys, tiny_spec):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    assert main(["sweep", "run", tiny_spec(), "--storage", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "RAY_ADDRESS: no Ray cluster answers at 127.0.0.1:1" in err, err
    assert not (tmp_path / "r").exists()
