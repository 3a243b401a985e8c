"""rayjob.yaml (KubeRay RayJob) validated offline.

No PyPI package ships KubeRay's CRD schema, so: a structural check of the RayJob, Ray's own
KubeRay translator (``ray.autoscaler._private.kuberay.autoscaling_config``, what the in-tree
autoscaler runs against a live RayCluster) turning the cluster spec into an autoscaler config that
Ray's schema validates, and the entrypoint parsed by diffnas's own CLI with its spec validated."""

from __future__ import annotations

import copy
import os
import shlex

import pytest
import yaml

REPO = os.path.join(os.path.dirname(__file__), "..", "..")
RAYJOB = os.path.join(REPO, "rayjob.yaml")

kuberay = pytest.importorskip("ray.autoscaler._private.kuberay.autoscaling_config")


def load() -> dict:
    with open(RAYJOB, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def autoscaler_config(job: dict) -> dict:
    """What Ray's KubeRay autoscaler derives from the RayCluster this job creates (validated)."""
    cr = {"metadata": {"name": job["metadata"]["name"], "namespace": job["metadata"]["namespace"]},
          "spec": copy.deepcopy(job["spec"]["rayClusterSpec"])}
    return kuberay._derive_autoscaling_config_from_ray_cr(cr)


def entrypoint_args(job: dict) -> list[str]:
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "diffnas"
    return argv[1:]


def test_rayjob_structure():
    job = load()
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"].startswith("2.")
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # the head runs no trials
    containers = [c for g in [head] + cluster["workerGroupSpecs"] for c in g["template"]["spec"]["containers"]]
    for c in containers:
        assert c["image"] and c["name"]
        assert {"secretRef": {"name": "diffnas-s3", "optional": True}} in c["envFrom"]
    gpu = [g for g in cluster["workerGroupSpecs"] if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]
           ["resources"]["limits"]]
    assert gpu and all(g["minReplicas"] <= g["replicas"] <= g["maxReplicas"] and g["maxReplicas"] >= 1 for g in gpu)


def test_ray_kuberay_translator_accepts_the_cluster_with_a_gpu_group():
    config = autoscaler_config(load())
    types = config["available_node_types"]
    assert types["headgroup"]["resources"]["CPU"] == 0
    assert types["gpu"]["resources"]["GPU"] == 1 and types["gpu"]["resources"]["CPU"] == 4
    assert types["gpu"]["max_workers"] == 8 and types["gpu"]["min_workers"] == 0


def test_entrypoint_is_a_valid_diffnas_sweep_on_a_bucket():
    import argparse

    from diffnas.cli import build_parser
    from diffnas.sweeps.spec_file import load_spec

    args = build_parser().parse_args(entrypoint_args(load()))
    assert isinstance(args, argparse.Namespace)
    assert args.command == "sweep" and args.sweep_command == "run"
    assert args.storage.startswith("s3://") and args.resource_check is False
    spec_in_repo = os.path.join(REPO, os.path.relpath(args.spec, "/home/ray/diffnas"))
    spec = load_spec(spec_in_repo)
    assert spec.resources["gpu"] > 0  # the spec asks for the GPUs this job provides


def test_rayjob_holds_no_credentials():
    text = open(RAYJOB, encoding="utf-8").read()
    for line in text.splitlines():
        if "AWS_SECRET_ACCESS_KEY" in line or "AWS_ACCESS_KEY_ID" in line:
            assert line.lstrip().startswith("#"), line  # named in comments only, values come from a Secret


@pytest.mark.parametrize("breakage", ["no_max_replicas", "bad_gpu_quantity", "no_group_name"])
def test_broken_copy_fails(breakage):
    job = load()
    group = job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    if breakage == "no_max_replicas":
        del group["maxReplicas"]
    elif breakage == "bad_gpu_quantity":
        group["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "one"
    else:
        del group["groupName"]
    with pytest.raises((KeyError, ValueError, TypeError)):
        autoscaler_config(job)
