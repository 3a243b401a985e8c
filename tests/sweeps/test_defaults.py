"""diffnas.sweeps.defaults: a sweep keeps the defaults its trials resolve; resume and confirm check them."""

from __future__ import annotations

import json

import pytest

from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.sweeps.defaults import (
    DEFAULTS_KEY,
    changed_keys,
    check_defaults,
    record_defaults,
    resolved_defaults,
    sweep_samplers,
)
from diffnas.sweeps.results_folder import sweep_document
from diffnas.sweeps.spec import parse_spec

BASE = {"dataset": "digits", "epochs": 12, "model": {"channels": 8, "stages": 1}}


def _spec(**extra):
    return parse_spec({"name": "s", "base": BASE, "grid": {"sampler": ["softmax", "enhanced"]}, "seeds": [0],
                       "scheduler": "fifo", **extra})


def _written(spec) -> dict:
    """sweep.json as `sweep run` writes it and a later command reads it (a JSON round trip)."""
    return json.loads(json.dumps(sweep_document(spec), default=str))


def test_a_sweep_records_every_default_its_samplers_resolve_and_checks_them_unchanged():
    spec = _spec()
    data = _written(spec)
    assert set(data[DEFAULTS_KEY]) == {"softmax", "enhanced"}
    enhanced = data[DEFAULTS_KEY]["enhanced"]
    assert enhanced["prune.epoch"] == 6 and enhanced["beta_weight"] == 10.0  # the recipe's values
    assert "epochs" not in enhanced and "sampler" not in enhanced and "seed" not in enhanced  # set, or not identity
    assert check_defaults(data, spec, "resume") is spec


def test_a_changed_default_is_refused_naming_the_sampler_and_the_key():
    spec = _spec()
    data = _written(spec)
    data[DEFAULTS_KEY]["enhanced"]["prune.epoch"] = 0  # as a diffnas whose enhanced recipe did not shrink wrote it
    with pytest.raises(InputError) as err:
        check_defaults(data, spec, "resume")
    text = str(err.value)
    assert text.startswith("DIR: the defaults changed") and "\n" not in text
    assert "with sampler enhanced, prune.epoch was 0, now 6" in text and "resume it with the diffnas" in text


def test_a_key_added_since_counts_only_away_from_its_global_default():
    now = resolved_defaults(SearchConfig.from_dict(BASE), "softmax")
    then = {k: v for k, v in now.items() if k not in ("prune.epoch", "clip.mode")}
    assert changed_keys(then, now) == [("prune.epoch", "(no such key)", 6)]  # clip.mode is at its global default


def test_a_sweep_from_before_the_record_is_pinned_to_the_global_defaults_it_ran_with(capsys):
    spec = _spec()
    plain_id = SearchConfig.from_dict({**BASE, "recipe": "plain"}).config_id()
    old = {"baseline_config_id": plain_id}  # what sweep.json kept before per-sampler recipes
    pinned = check_defaults(old, spec, "confirm")
    assert pinned.base["recipe"] == "plain" and pinned.baseline_config().config_id() == plain_id
    assert pinned.base.replace(sampler="enhanced")["prune.epoch"] == 0  # its trials keep the global defaults
    assert "started before per-sampler recipes" in capsys.readouterr().out
    assert check_defaults({"baseline_config_id": spec.baseline_config().config_id()}, spec, "confirm") is spec
    with pytest.raises(InputError, match=r"^DIR: the defaults changed since this sweep started \(its baseline ran "
                                         r"as config 0123456789ab"):
        check_defaults({"baseline_config_id": "0123456789ab"}, spec, "confirm")


def test_the_samplers_a_sweep_can_run():
    assert sweep_samplers(_spec()) == ["softmax", "enhanced"]
    one = parse_spec({"name": "s", "base": {**BASE, "sampler": "gumbel"}, "grid": {"temperature.t0": [1.0, 2.0]},
                      "seeds": [0], "scheduler": "fifo", "baseline": {"sampler": "softmax"}})
    assert sweep_samplers(one) == ["gumbel", "softmax"]
    sampled = parse_spec({"name": "s", "base": BASE, "sample": {"sampler": {"choice": ["softmax", "gumbel"]}},
                          "seeds": [0], "scheduler": "fifo"})
    assert set(sweep_samplers(sampled)) == {"softmax", "gumbel", "gumbel_hard", "enhanced", "dirichlet"}
    assert set(record_defaults(sampled)) == set(sweep_samplers(sampled))
