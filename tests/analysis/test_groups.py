"""Group keys, comparison phase and baseline expressions."""

from __future__ import annotations

import pandas as pd
import pytest

from diffnas.analysis.groups import (
    assign_groups,
    baseline_group,
    comparison_phase,
    default_group_keys,
    parse_baseline,
    resolve_group_keys,
)
from diffnas.errors import InputError


def _runs() -> pd.DataFrame:
    return pd.DataFrame({
        "config_id": ["a", "a", "b", "b", "c", "c"],
        "phase": ["explore"] * 6,
        "config/sampler": ["softmax", "softmax", "gumbel", "gumbel", "gumbel", "gumbel"],
        "config/entropy_weight": [0.0, 0.0, 0.0, 0.0, 0.1, 0.1],
        "config/seed": [0, 1, 0, 1, 0, 1],
        "config/device": ["cpu", "cuda", "cpu", "cpu", "cpu", "cpu"],
        "config/space": ["nb201"] * 6,
    })


def test_default_keys_vary_and_exclude_seed_and_device() -> None:
    assert default_group_keys(_runs()) == ["config/sampler", "config/entropy_weight"]
    same = _runs().assign(**{"config/sampler": "x", "config/entropy_weight": 0.0})
    assert default_group_keys(same) == ["config_id"]


def test_group_by_flag_and_unknown_key() -> None:
    assert resolve_group_keys(_runs(), "sampler, config/entropy_weight") == ["config/sampler", "config/entropy_weight"]
    with pytest.raises(InputError, match="unknown config key 'nope'"):
        resolve_group_keys(_runs(), "nope")


def test_labels_and_ids() -> None:
    runs = assign_groups(_runs(), ["config/sampler", "config/entropy_weight"])
    assert runs["group"].tolist()[0] == "sampler=softmax, entropy_weight=0"
    assert runs["group_id"].nunique() == 3


def test_baseline_numeric_string_and_config_id() -> None:
    runs = assign_groups(_runs(), ["config/sampler", "config/entropy_weight"])
    expr = parse_baseline("sampler=gumbel,entropy_weight=0")
    assert expr == {"sampler": "gumbel", "entropy_weight": 0}
    gid = baseline_group(runs, expr, "--baseline")
    assert set(runs.loc[runs["group_id"] == gid, "config_id"]) == {"b"}
    assert baseline_group(runs, parse_baseline("c"), "--baseline") == runs.loc[4, "group_id"]
    assert baseline_group(runs, {"sampler": "softmax"}, "sweep.json baseline") == runs.loc[0, "group_id"]
    with pytest.raises(InputError, match="matches 2 groups"):
        baseline_group(runs, parse_baseline("sampler=gumbel"), "--baseline")
    with pytest.raises(InputError, match="no runs match"):
        baseline_group(runs, parse_baseline("sampler=enhanced"), "--baseline")
    with pytest.raises(InputError, match="unknown config key 'temp'"):
        baseline_group(runs, parse_baseline("temp=1"), "--baseline")
    with pytest.raises(InputError, match="no config_id"):
        baseline_group(runs, parse_baseline("zzz"), "--baseline")


def test_comparison_phase_prefers_confirm() -> None:
    runs = _runs()
    assert comparison_phase(runs) == "explore"
    runs.loc[0, "phase"] = "confirm"
    assert comparison_phase(runs) == "confirm"
    assert comparison_phase(runs, "explore") == "explore"
    with pytest.raises(InputError, match="no runs with phase 'single'"):
        comparison_phase(runs, "single")
