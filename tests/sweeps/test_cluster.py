"""cluster.yaml passes Ray's own cluster-launcher preparation and schema, offline."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

CLUSTER = os.path.join(os.path.dirname(__file__), "..", "..", "cluster.yaml")

jsonschema = pytest.importorskip("jsonschema")
util = pytest.importorskip("ray.autoscaler._private.util")


def load() -> dict:
    with open(CLUSTER, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def validate(config: dict) -> dict:
    prepared = util.prepare_config(copy.deepcopy(config))
    util.validate_config(prepared)
    return prepared


def test_cluster_yaml_validates_against_ray_schema():
    prepared = validate(load())
    nodes = prepared["available_node_types"]
    head = nodes[prepared["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # the head runs no trials
    assert any("--num-cpus=0" in c for c in prepared["head_start_ray_commands"])
    workers = [n for name, n in nodes.items() if name != prepared["head_node_type"]]
    assert workers and all(w["node_config"]["InstanceType"].startswith("g5.") for w in workers)
    assert all(w["min_workers"] == 0 and w["max_workers"] >= 1 for w in workers)  # autoscaling
    assert any("pip install" in c and "diffnas[sweep]" in c for c in prepared["setup_commands"])


def test_cluster_yaml_holds_no_credentials():
    text = open(CLUSTER, encoding="utf-8").read().lower()
    for word in ("aws_access_key_id", "aws_secret_access_key", "secret_key", "password", "token"):
        assert word not in text


@pytest.mark.parametrize("breakage", ["unknown_key", "bad_head_type", "bad_type"])
def test_broken_copy_fails(breakage):
    config = load()
    if breakage == "unknown_key":
        config["max_wrkers"] = 3
    elif breakage == "bad_head_type":
        config["head_node_type"] = "no_such_node_type"
    else:
        config["available_node_types"]["gpu_worker"]["min_workers"] = "none"
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate(config)
