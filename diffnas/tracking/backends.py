"""Writing one run to TensorBoard, MLflow or W&B with each library's own client (no Ray).

Each backend is three calls: ``start`` (run, hyper-parameters, tags), ``epoch`` (the epoch's metrics
and pictures at step = epoch) and ``end`` (the final genotype, its truth and the status as tags /
summary). ``diffnas search`` drives them through :class:`RunTrackers`; the Ray Tune callbacks of
:mod:`diffnas.tracking.tune` reuse the same writing functions (:func:`tb_epoch`, :func:`mlflow_epoch`,
...) on the writer / client that Ray's own callback manages, so a sweep's trials and a single search
look the same in each tool. The libraries are imported inside the functions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diffnas.results.pictures import epoch_pictures
from diffnas.tracking import places
from diffnas.tracking.content import epoch_of, final_tags, scalars


@dataclass
class RunInfo:
    """Who a run is: ``experiment`` (the sweep's or search's name: MLflow experiment, W&B group), its
    ``phase``, ids, hyper-parameters (:func:`diffnas.tracking.content.hyperparameters`) and the
    labels of its α matrix."""

    experiment: str
    phase: str
    trial_id: str
    config_id: str
    seed: int
    hparams: dict[str, Any]
    axes: list[str] = field(default_factory=list)
    ops: list[str] | None = None
    edges: list[str] | None = None

    def tags(self) -> dict[str, str]:
        tags = {"sweep": self.experiment, "phase": self.phase, "trial_id": self.trial_id,
                "config_id": self.config_id, "seed": str(self.seed)}
        if self.axes:
            tags["axes"] = ",".join(self.axes)  # which hyper-parameters the sweep varies
        return tags


# -- TensorBoard (tensorboardX: the writer Ray's TBXLoggerCallback uses) ---------------------------
def tb_epoch(writer: Any, record: Mapping[str, Any], pictures: Mapping[str, Any]) -> None:
    epoch = epoch_of(record)
    for name, value in scalars(record).items():
        writer.add_scalar(name, value, global_step=epoch)
    for name, image in pictures.items():
        writer.add_image(name, image, global_step=epoch, dataformats="HWC")
    writer.flush()


def _tb_hparam(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def tb_end(writer: Any, hparams: Mapping[str, Any], last: Mapping[str, Any], final: Mapping[str, Any],
           step: int | None) -> None:
    """The final genotype and truth as text, and the hyper-parameters with the last metrics in
    TensorBoard's HParams view (written into the run's own event file, as Ray's callback does)."""
    from tensorboardX.summary import hparams as hparams_summary

    for name in ("genotype", "best_genotype", "status"):
        if name in final:
            writer.add_text(name, str(final[name]), global_step=step)
    for name in ("truth_acc", "best_truth_acc"):
        if name in final:
            writer.add_scalar(f"final/{name}", float(final[name]), global_step=step)
    params = {k: _tb_hparam(v) for k, v in hparams.items() if v is not None}
    for summary in hparams_summary(hparam_dict=params, metric_dict=dict(last)):
        writer.file_writer.add_summary(summary)
    writer.flush()


class TensorBoardBackend:
    def __init__(self, root: str) -> None:
        self.root = root
        self.writer: Any = None
        self.last: dict[str, float] = {}

    def start(self, info: RunInfo) -> None:
        from tensorboardX import SummaryWriter

        self.info = info
        self.writer = SummaryWriter(places.tensorboard_dir(self.root, info.experiment, info.trial_id), flush_secs=30)

    def epoch(self, record: Mapping[str, Any], pictures: Mapping[str, Any]) -> None:
        tb_epoch(self.writer, record, pictures)
        self.last = scalars(record)

    def end(self, trial_record: Mapping[str, Any], failed: bool) -> None:
        tb_end(self.writer, self.info.hparams, self.last, final_tags(trial_record), trial_record.get("epochs_run"))
        self.writer.close()


# -- MLflow (MlflowClient) -------------------------------------------------------------------------
_MLFLOW_BATCH = 100  # MLflow's limit on params per log_batch call


def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` on ``uri``; MLflow's and Alembic's INFO lines (creating the SQLite tables) muted."""
    import logging

    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def mlflow_experiment(client: Any, name: str, artifact_location: str | None) -> str:
    """The id of MLflow experiment ``name``, created (with ``artifact_location``) when missing."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def mlflow_params(client: Any, run_id: str, hparams: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, "" if v is None else str(v)) for k, v in hparams.items()]
    for i in range(0, len(items), _MLFLOW_BATCH):
        client.log_batch(run_id, params=items[i:i + _MLFLOW_BATCH], synchronous=True)


def mlflow_epoch(client: Any, run_id: str, record: Mapping[str, Any], pictures: Mapping[str, Any]) -> None:
    from mlflow.entities import Metric

    epoch = epoch_of(record) or 0
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, v, now, epoch) for k, v in scalars(record).items()],
                     synchronous=True)
    for name, image in pictures.items():
        client.log_image(run_id, image, key=name, step=epoch, synchronous=True)


def mlflow_end(client: Any, run_id: str, final: Mapping[str, Any]) -> None:
    for name, value in final.items():
        client.set_tag(run_id, name, str(value))


class MLflowBackend:
    def __init__(self, root: str) -> None:
        self.root = root

    def start(self, info: RunInfo) -> None:
        uri, artifacts = places.mlflow_store(self.root)
        self.client = mlflow_client(uri)
        experiment = mlflow_experiment(self.client, info.experiment, artifacts)
        self.run_id = self.client.create_run(experiment, run_name=info.trial_id, tags=info.tags()).info.run_id
        mlflow_params(self.client, self.run_id, info.hparams)

    def epoch(self, record: Mapping[str, Any], pictures: Mapping[str, Any]) -> None:
        mlflow_epoch(self.client, self.run_id, record, pictures)

    def end(self, trial_record: Mapping[str, Any], failed: bool) -> None:
        mlflow_end(self.client, self.run_id, final_tags(trial_record))
        self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")


# -- Weights & Biases (wandb.init / run.log) -------------------------------------------------------
def wandb_settings() -> Any:
    import wandb

    # quiet, no console capture, no system-stats sampler, no code or git snapshot: the run's own record
    return wandb.Settings(silent=True, console="off", x_disable_stats=True, save_code=False, disable_git=True,
                          disable_job_creation=True)


def wandb_log(record: Mapping[str, Any], pictures: Mapping[str, Any]) -> dict[str, Any]:
    """One ``run.log`` payload: the metrics and the pictures as ``wandb.Image``."""
    import wandb

    out: dict[str, Any] = dict(scalars(record))
    out.update({name: wandb.Image(image) for name, image in pictures.items()})
    return out


def wandb_init_kwargs(info: RunInfo, root: str) -> dict[str, Any]:
    return dict(project=places.wandb_project(), group=info.experiment, job_type=info.phase, name=info.trial_id,
                config=dict(info.hparams), tags=[info.phase], dir=places.wandb_dir(root),
                mode=places.wandb_mode(), settings=wandb_settings(), notes=f"config {info.config_id} seed {info.seed}")


class WandbBackend:
    def __init__(self, root: str) -> None:
        self.root = root

    def start(self, info: RunInfo) -> None:
        import wandb

        self.run = wandb.init(**wandb_init_kwargs(info, self.root), reinit="create_new")
        self.run.summary.update({k: v for k, v in info.tags().items() if k != "phase"})

    def epoch(self, record: Mapping[str, Any], pictures: Mapping[str, Any]) -> None:
        self.run.log(wandb_log(record, pictures), step=epoch_of(record))

    def end(self, trial_record: Mapping[str, Any], failed: bool) -> None:
        self.run.summary.update(final_tags(trial_record))
        self.run.finish(exit_code=1 if failed else 0)


BACKENDS = {"tensorboard": TensorBoardBackend, "mlflow": MLflowBackend, "wandb": WandbBackend}


@dataclass
class RunTrackers:
    """The trackers of one ``diffnas search`` run: each epoch's pictures are drawn once for all of them."""

    names: Sequence[str]
    root: str
    info: RunInfo
    backends: list[Any] = field(default_factory=list)

    def start(self) -> RunTrackers:
        for name in self.names:
            backend = BACKENDS[name](self.root)
            backend.start(self.info)
            self.backends.append(backend)
        return self

    def epoch(self, record: Mapping[str, Any]) -> None:
        if not self.backends:
            return
        pictures = epoch_pictures(record, self.info.ops, self.info.edges, label=self.info.trial_id)
        for backend in self.backends:
            backend.epoch(record, pictures)

    def end(self, trial_record: Mapping[str, Any], failed: bool = False) -> None:
        for backend in self.backends:
            backend.end(trial_record, failed)
        self.backends = []


def open_run_trackers(names: Sequence[str], root: str, *, experiment: str, trial_id: str, config: Any,
                      space: Any) -> RunTrackers | None:
    """The started trackers of one ``diffnas search`` run (phase ``single``) of ``config`` in ``space``
    (None without names); says on stderr where each writes."""
    if not names:
        return None
    import sys

    from diffnas.tracking.content import hyperparameters

    info = RunInfo(experiment, "single", trial_id, config.config_id(), int(config["seed"]),
                   hyperparameters(config.resolved_flat()), ops=list(space.ops),
                   edges=[e.label for e in space.edges])
    for line in places.where(names, root):
        print(line, file=sys.stderr)
    return RunTrackers(names, root, info).start()
