"""Reading back what the trackers wrote, with each library's own reader: TensorBoard's
EventAccumulator, MLflow's ``search_runs`` / client on the SQLite store, and W&B's offline run file
(its ``Record`` protobufs, framed as W&B's transaction log frames them)."""

from __future__ import annotations

import glob
import json
import os
import struct
from typing import Any


def tensorboard(logdir: str) -> dict[str, Any]:
    """``{"scalars": {tag: {step: value}}, "images": {tag: [steps]}, "texts": {tag: [text]}, "hparams": {...}}``
    of one run folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(logdir, size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    out: dict[str, Any] = {
        "scalars": {t: {e.step: e.value for e in acc.Scalars(t)} for t in tags["scalars"]},
        "images": {t: [e.step for e in acc.Images(t)] for t in tags["images"]},
        "texts": {}, "hparams": {},
    }
    for tag in tags["tensors"]:
        if tag.endswith("/text_summary"):
            out["texts"][tag.split("/")[0]] = [e.tensor_proto.string_val[0].decode() for e in acc.Tensors(tag)]
    try:
        content = acc.PluginTagToContent("hparams")
    except KeyError:  # no HParams summary in this run
        content = {}
    for raw in content.values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.WhichOneof("data") == "session_start_info":
            for key, value in data.session_start_info.hparams.items():
                kind = value.WhichOneof("kind")
                out["hparams"][key] = getattr(value, kind)
    return out


def mlflow_runs(db: str, experiment: str) -> Any:
    """``mlflow.search_runs`` on the SQLite store: one row per run, ``metrics.*`` / ``params.*`` / ``tags.*``."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    return mlflow.search_runs(experiment_names=[experiment])


def mlflow_history(db: str, run_id: str, key: str) -> dict[int, float]:
    from mlflow.tracking import MlflowClient

    return {m.step: m.value for m in MlflowClient(f"sqlite:///{db}").get_metric_history(run_id, key)}


def mlflow_images(db: str, run_id: str) -> list[str]:
    from mlflow.tracking import MlflowClient

    return [a.path for a in MlflowClient(f"sqlite:///{db}").list_artifacts(run_id, "images")]


_BLOCK, _HEADER = 32768, 7  # W&B's transaction log: LevelDB-log framing in 32 KiB blocks, 7-byte headers


def _frames(data: bytes) -> list[bytes]:
    assert data[:4] == b":W&B", "not a W&B run file"
    pos, out, pending = _HEADER, [], b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:
            pos += left
            continue
        length, kind = struct.unpack_from("<HB", data, pos + 4)
        chunk = data[pos + _HEADER: pos + _HEADER + length]
        pos += _HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):  # FULL or LAST
            out.append(pending)
            pending = b""
    return out


def wandb_run(run_dir: str) -> dict[str, Any]:
    """An offline run folder's ``config``, ``history`` (step -> {key: value}) and ``summary``, read from
    its ``run-*.wandb`` file with W&B's ``Record`` protobuf; ``images``: the logged media files."""
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = glob.glob(os.path.join(run_dir, "run-*.wandb"))
    with open(path, "rb") as fh:
        frames = _frames(fh.read())
    out: dict[str, Any] = {"config": {}, "history": {}, "summary": {}, "name": None, "group": None}
    for frame in frames:
        record = pb.Record.FromString(frame)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["name"], out["group"] = record.run.display_name, record.run.run_group
            items = record.run.config.update
        elif kind == "config":
            items = record.config.update
        else:
            items = None
        for item in items or []:
            out["config"][item.key] = json.loads(item.value_json)
        if kind == "history":
            row = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in record.history.item}
            out["history"][int(row.get("_step", record.history.step.num))] = row
        elif kind == "summary":
            for item in record.summary.update:
                out["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    out["images"] = sorted(os.path.basename(p) for p in glob.glob(os.path.join(run_dir, "files", "media", "images",
                                                                                "*")))
    return out


def wandb_runs(folder: str) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "wandb", "offline-run-*")))
