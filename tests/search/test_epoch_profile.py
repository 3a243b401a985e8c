"""Epoch profile: every phase of an epoch is charged, the phases add up to the epoch, the CLI prints it."""

import re

from diffnas.cli import main
from diffnas.config import SearchConfig
from diffnas.search.epoch_profile import PHASES, EpochProfile
from diffnas.search.run import SearchRun
from tests.helpers import TINY, tiny_overrides


def test_laps_charge_the_time_since_the_previous_lap():
    prof = EpochProfile()
    prof.start_epoch()
    prof.lap("data")
    prof.lap("alpha_step")
    prof.end_epoch()
    assert prof.epochs == 1 and set(prof.current) == set(PHASES)
    assert all(v >= 0 for v in prof.current.values()) and prof.total == prof.current


def test_search_run_profiles_its_phases_and_they_add_up_to_the_epoch():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 2}))
    record = run.step()
    cur = run.profile.current
    assert cur["alpha_step"] > 0 and cur["weight_step"] > 0 and cur["evaluation"] > 0 and cur["metrics"] > 0
    assert cur["writing"] == 0.0
    assert 0.9 * record["wall_s"] <= sum(cur.values()) <= record["wall_s"] * 1.01


def test_cli_profile_prints_each_epoch_and_the_total(tmp_path, capsys):
    argv = ["search", *tiny_overrides(epochs=2), "--out", str(tmp_path / "run"), "--quiet", "--profile"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert re.search(r"epoch 1: [\d.]+s .*alpha_step [\d.]+s .*weight_step .*evaluation .*metrics .*writing", err)
    assert "profile, 2 epochs:" in err
