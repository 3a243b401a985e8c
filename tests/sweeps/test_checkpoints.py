"""diffnas.sweeps.checkpoints: every checkpoint kept while an experiment runs, the newest per trial after it."""

from __future__ import annotations

import os

from diffnas.sweeps import checkpoints
from diffnas.sweeps.spec_file import load_spec
from diffnas.sweeps.tuners import _run_config


def _touch(path) -> None:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "run.pt"), "wb") as fh:
        fh.write(b"x")


def test_prune_keeps_each_trials_newest_checkpoint_only(tmp_path):
    exp = tmp_path / "explore"
    for n in (0, 1, 2, 9, 10):  # 10 sorts after 9 only because the names are zero-padded
        _touch(exp / "t_00000" / f"checkpoint_{n:06d}")
    _touch(exp / "t_00001" / "checkpoint_000000")
    (exp / "t_00001" / "params.json").write_text("{}")
    os.makedirs(exp / "t_00002")  # a trial that never checkpointed
    (exp / "experiment_state-2026.json").write_text("{}")

    assert checkpoints.prune_finished(str(exp)) == 4
    assert sorted(os.listdir(exp / "t_00000")) == ["checkpoint_000010"]
    assert sorted(os.listdir(exp / "t_00001")) == ["checkpoint_000000", "params.json"]
    assert os.listdir(exp / "t_00002") == [] and (exp / "experiment_state-2026.json").exists()
    assert checkpoints.prune_finished(str(tmp_path / "missing")) == 0


def test_experiments_keep_every_checkpoint_while_running(tiny_spec, tmp_path):
    """num_to_keep=None: Tune never deletes a checkpoint that a stale experiment snapshot may name."""
    spec = load_spec(tiny_spec())
    config = _run_config(spec, str(tmp_path / "r"), "explore", "explore", None, False)
    assert config.checkpoint_config.num_to_keep is checkpoints.KEEP_WHILE_RUNNING is None


def test_a_finished_sweep_holds_one_checkpoint_per_trial(sweep_results):
    ray_dir = os.path.join(sweep_results, "ray")
    experiments = [e for e in os.listdir(ray_dir) if os.path.isdir(os.path.join(ray_dir, e))]
    assert "explore" in experiments and any(e.startswith("confirm") for e in experiments)
    seen = 0
    for exp in experiments:
        for trial in os.listdir(os.path.join(ray_dir, exp)):
            folder = os.path.join(ray_dir, exp, trial)
            if os.path.isdir(folder):
                kept = [n for n in os.listdir(folder) if n.startswith(checkpoints.PREFIX)]
                assert len(kept) <= 1, (folder, kept)
                seen += len(kept)
    assert seen >= 8
