"""sweeps.spec: validation of sweep specs (no Ray)."""

from __future__ import annotations

import copy
import glob
import os

import pytest

from diffnas.errors import InputError
from sweeps.spec import load_spec, parse_spec

SWEEPS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "sweeps")

GOOD = {
    "name": "ok",
    "base": {"dataset": "digits", "epochs": 4, "data": {"subset": 200}, "temperature": {"schedule": "exponential", "t_min": 0.1}},
    "grid": {"sampler": ["softmax", "gumbel"]},
    "sample": {
        "temperature.t0": {"loguniform": [0.5, 5.0]},
        "entropy_weight": {"uniform": [-0.01, 0.01]},
        "clip.window": {"randint": [5, 40]},
        "clip.mode": {"choice": ["none", "fixed"]},
    },
    "seeds": 3,
    "num_samples": 2,
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
    "baseline": {"sampler": "softmax", "temperature": {"t0": 1.0}},
}


def spec(**changes):
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_good_spec_normalised():
    s = parse_spec(spec())
    assert s.name == "ok" and s.epochs == 4
    assert s.seeds == [0, 1, 2]
    assert s.scheduler == {"type": "asha", "grace_period": 1, "reduction_factor": 2.0, "max_t": 4}
    assert s.n_trials() == 2 * 2 * 3
    assert s.axes == ["sampler", "temperature.t0", "entropy_weight", "clip.window", "clip.mode"]
    assert s.baseline == {"sampler": "softmax", "temperature.t0": 1.0}
    assert s.baseline_config()["temperature.t0"] == 1.0
    assert s.sample["clip.window"].args == (5, 40)
    # the normalised mapping parses back to the same spec (sweep.json -> resume)
    again = parse_spec(s.to_dict())
    assert again.n_trials() == s.n_trials() and again.base == s.base and again.grid == s.grid


def test_defaults_and_shorthands():
    s = parse_spec({"base": {"epochs": 2}, "scheduler": "fifo", "search": "random"}, default_name="stem")
    assert s.name == "stem" and s.scheduler == {"type": "fifo"} and s.seeds == [0]
    assert s.metric == "proxy_score" and s.mode == "max" and s.n_trials() == 1
    assert s.baseline_config() == s.base


def test_confirm_per_names_an_axis():
    s = parse_spec(spec(confirm={"per": "sampler", "top_k": 1}))
    assert s.confirm == {"top_k": 1, "seeds": 3, "per": "sampler"}
    assert parse_spec(s.to_dict()).confirm == s.confirm  # survives sweep.json
    assert parse_spec(spec(confirm={"per": "clip.mode"})).confirm["per"] == "clip.mode"  # a sampled axis too
    assert parse_spec(spec()).confirm["per"] is None


def test_optuna_runs_first_seed():
    s = parse_spec(spec(grid=None, search="optuna", num_samples=5))
    assert s.n_trials() == 5 and s.explore_seeds() == [0]


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(SWEEPS_DIR, "*.yaml"))))
def test_shipped_specs_validate(path):
    s = load_spec(path)
    assert s.n_trials() >= 1
    assert s.name == os.path.splitext(os.path.basename(path))[0]


def test_quick_spec_is_a_demo():
    s = load_spec(os.path.join(SWEEPS_DIR, "quick.yaml"))
    assert s.n_trials() >= 8 and s.scheduler["type"] == "asha" and s.base["dataset"] == "digits"


@pytest.mark.parametrize("changes, field", [
    ({"bogus": 1}, "bogus"),
    ({"base": {"epochz": 3}}, "base.epochz"),
    ({"grid": {"sampler": ["softmax", "nope"]}}, "grid.sampler"),
    ({"sample": {"temperature.t0": {"normal": [0, 1]}}}, "sample.temperature.t0"),
    ({"sample": {"temperature.t0": {"uniform": [2.0, 1.0]}}}, "sample.temperature.t0.uniform"),
    ({"sample": {"temperature.t0": {"loguniform": [0.0, 1.0]}}}, "sample.temperature.t0.loguniform"),
    ({"sample": {"sampler": {"uniform": [0, 1]}}}, "sample.sampler"),
    ({"scheduler": {"type": "asha", "max_t": 9}}, "scheduler.max_t"),
    ({"scheduler": {"type": "fifo", "grace_period": 2}}, "scheduler.grace_period"),
    ({"search": "optuna"}, "grid"),
    ({"seeds": [1, 1]}, "seeds"),
    ({"grid": {"seed": [1, 2]}}, "grid.seed"),
    ({"grid": {"epochs": [1, 2]}}, "grid.epochs"),
    ({"metric": "accuracy"}, "metric"),
    ({"resources": {"gpu": -1}}, "resources.gpu"),
    ({"baseline": {"sampler": "nope"}}, "baseline.sampler"),
    ({"grid": {"temperature.t_min": [2.0]}}, "grid.temperature.t_min"),
    ({"confirm": {"per": "samplers"}}, "confirm.per"),
    ({"confirm": {"per": "seed"}}, "confirm.per"),
])
def test_bad_specs_name_the_key(changes, field):
    with pytest.raises(InputError) as info:
        parse_spec(spec(**changes))
    assert info.value.field == field, str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key, value", [("mode", None), ("mode", "best"), ("num_samples", 2.5), ("num_samples", 0),
                                        ("scheduler.reduction_factor", float("inf")), ("search", 3)])
def test_fixed_fields_use_the_configs_coercion(key, value):
    """A spec's fixed fields are checked by the same code as config keys (diffnas.config.coerce_field)."""
    from diffnas.config import coerce_field
    from sweeps.spec import SPEC_FIELDS

    section, _, leaf = key.partition(".")
    data = copy.deepcopy(GOOD)
    if leaf:
        data[section][leaf] = value
    else:
        data[key] = value
    with pytest.raises(InputError) as spec_err:
        parse_spec(data)
    with pytest.raises(InputError) as field_err:
        coerce_field(key, SPEC_FIELDS[key], value)
    assert str(spec_err.value) == str(field_err.value)
