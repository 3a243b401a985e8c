"""diffnas.sweeps.legacy: a sweep started before the one import namespace resumes as it is.

``data/legacy_sweep`` was written by the code before the move (its Tune state pickles ``sweeps.sink`` and
``sweeps.tuners``; see data/README.md) and killed after the first trial's third epoch."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from diffnas.cli import main
from diffnas.sweeps.legacy import old_module_names
from tests.sweeps.test_commands import check_exactly_once

LEGACY = Path(__file__).parent / "data" / "legacy_sweep"


def test_old_names_resolve_to_the_same_modules_only_inside_the_block():
    import diffnas.sweeps.sink

    foreign = object()
    sys.modules["sweeps"] = foreign  # another package that happens to be called sweeps
    try:
        with old_module_names():
            import sweeps.sink

            assert sweeps.sink is diffnas.sweeps.sink
            assert sweeps.sink.ParquetSink is diffnas.sweeps.sink.ParquetSink
        assert sys.modules["sweeps"] is foreign and "sweeps.sink" not in sys.modules
    finally:
        sys.modules.pop("sweeps", None)


@pytest.mark.ray
def test_a_sweep_started_before_the_move_resumes_every_trial(ray_session, tmp_path):
    root = tmp_path / "legacy"
    shutil.copytree(LEGACY, root)
    assert main(["sweep", "resume", str(root)]) == 0
    epochs, trials = check_exactly_once(str(root))
    # all three trials ran: the two that had not started when the driver died come from the search
    # algorithm's saved state, which also names sweeps.* (without the aliases they were silently dropped)
    assert len(trials) == 3 and len({r["config_id"] for r in trials}) == 3
    assert all(r["status"] in ("completed", "early_stopped") for r in trials)
    assert len(epochs) == sum(r["epochs_run"] for r in trials)
    # the two trials started by this resume keep the global defaults the first one ran with (the sweep predates
    # per-sampler recipes: diffnas.sweeps.defaults pins recipe plain), so the three differ only in the axis
    varying = {k for k in trials[0] if k.startswith("config/") and len({repr(r[k]) for r in trials}) > 1}
    assert varying == {"config/temperature.t0"}
    assert {(r["config/warmup_epochs"], r["config/beta_weight"]) for r in trials} == {(0, 0.0)}
    # ... and ran them: the temperature each epoch reports is the runner's own (softmax's recipe would decay it)
    t0 = {r["trial_id"]: r["config/temperature.t0"] for r in trials}
    assert all(r["temperature"] == t0[r["trial_id"]] for r in epochs)  # the global default's constant schedule
    assert not [m for m in sys.modules if m == "sweeps" or m.startswith("sweeps.")]
