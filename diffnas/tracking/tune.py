"""Ray Tune's own logger callbacks, fed the diffnas record: a sweep's trials in TensorBoard, MLflow and W&B.

Each class subclasses Ray's callback (``ray.tune.logger.TBXLoggerCallback``,
``ray.air.integrations.mlflow.MLflowLoggerCallback``, ``ray.air.integrations.wandb.WandbLoggerCallback``),
which keeps what Ray does well — a writer / run / logging actor per trial, opened on the trial's start
and closed at its end, on the driver — and changes what is sent: instead of every key of Tune's
result under Ray's names, the epoch's schema metrics at step = ``epoch``, the α and cell pictures, the
trial's config as hyper-parameters (the sweep's axes first) and the outcome as tags / summary
(:mod:`diffnas.tracking.content`), written by the same functions as ``diffnas search``
(:mod:`diffnas.tracking.backends`). After a resume, a trial's first result carries the epochs up to
its checkpoint (``history``); epochs a callback has already sent are not sent twice. A new driver
(``diffnas sweep resume`` after a kill) continues each trial's MLflow run, rewrites its TensorBoard
events with ``purge_step`` (TensorBoard hides the killed driver's copies), and starts a new W&B run
(W&B cannot resume offline runs; the killed driver's stays as far as it got).

Imports Ray at module level: :mod:`diffnas.sweeps.tuners` imports it inside its functions.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor
from ray.tune.logger import TBXLoggerCallback

from diffnas import storage
from diffnas.results.pictures import epoch_pictures
from diffnas.tracking import places
from diffnas.tracking.backends import (
    RunInfo,
    mlflow_client,
    mlflow_end,
    mlflow_epoch,
    mlflow_experiment,
    mlflow_params,
    tb_end,
    tb_epoch,
    wandb_init_kwargs,
)
from diffnas.tracking.content import epoch_of, final_tags, hyperparameters, scalars

_SUMMARY = "__diffnas_summary__"  # a W&B payload key: the outcome so far, written to the run's summary
_PICTURES: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()  # shared by the callbacks of a sweep
_PICTURES_KEPT = 64


class TrackerCallback:
    """What the three callbacks share: who a trial is, which of a result's epochs are new, and the line
    saying where the tracker writes (printed once per experiment, when Tune sets the callback up)."""

    tracker = ""  # the registry name

    def _tracker_init(self, root: str, sweep: str, phase: str, base: Mapping[str, Any], axes: Sequence[str]) -> None:
        self.root, self.sweep, self.phase = root, sweep, phase
        self.base, self.axes = dict(base), list(axes)
        self._infos: dict[str, RunInfo] = {}
        self._sent: dict[str, int] = {}

    def _announce(self) -> None:
        for line in places.where((self.tracker,), self.root, sweep=True):
            print(line, flush=True)

    def setup(self, *args: Any, **kwargs: Any) -> None:
        self._announce()
        super().setup(*args, **kwargs)

    def _info(self, trial: Any, result: Mapping[str, Any] | None = None) -> RunInfo:
        info = self._infos.get(trial.trial_id)
        if info is None:
            from diffnas.sweeps.trainable import tune_trial_config

            config = tune_trial_config(self.base, trial)
            info = RunInfo(self.sweep, self.phase, trial.trial_id, config.config_id(), int(config["seed"]),
                           hyperparameters(config.resolved_flat(), self.axes), axes=self.axes)
            self._infos[trial.trial_id] = info
        record = (result or {}).get("trial_record") or {}
        if info.ops is None and record.get("ops") is not None:
            info.ops, info.edges = list(record["ops"]), list(record.get("edges") or [])
        return info

    def _new_records(self, trial: Any, result: Mapping[str, Any]) -> list[dict[str, Any]]:
        names = result.get("record_keys") or [k for k in result if k != "history"]
        records = [*(result.get("history") or []), {k: result.get(k) for k in names}]
        out, last = [], self._sent.get(trial.trial_id, 0)
        for record in records:
            epoch = epoch_of(record)
            if epoch is not None and epoch > last:
                out.append(record)
                last = epoch
        self._sent[trial.trial_id] = last
        return out

    def _pictures(self, info: RunInfo, record: Mapping[str, Any]) -> dict[str, Any]:
        key = (info.trial_id, epoch_of(record) or 0)
        pictures = _PICTURES.get(key)
        if pictures is None:
            pictures = epoch_pictures(record, info.ops, info.edges, label=info.trial_id)
            _PICTURES[key] = pictures
            while len(_PICTURES) > _PICTURES_KEPT:
                _PICTURES.popitem(last=False)
        return pictures

    @staticmethod
    def _outcome(trial: Any) -> dict[str, Any]:
        return final_tags((trial.last_result or {}).get("trial_record") or {})


class TensorBoardCallback(TrackerCallback, TBXLoggerCallback):
    """TensorBoard: scalars, ``alpha`` / ``cell`` images, the final genotype as text and the HParams view.
    Local results: ``RESULTS/tensorboard/<experiment>/<trial_id>`` (written as it happens); results on a
    bucket: Ray's trial folder, which Tune syncs to ``s3://.../ray/<experiment>/<trial_id>``."""

    tracker = "tensorboard"

    def __init__(self, root: str, sweep: str, phase: str, base: Mapping[str, Any], axes: Sequence[str]) -> None:
        super().__init__()
        self._tracker_init(root, sweep, phase, base, axes)

    def log_trial_start(self, trial: Any) -> None:
        if trial in self._trial_writer:
            self._trial_writer[trial].close()
        trial.init_local_path()
        self._trial_writer[trial] = self._summary_writer_cls(self._logdir(trial), flush_secs=30)
        self._trial_result[trial] = {}

    def _logdir(self, trial: Any) -> str:
        if storage.is_remote(self.root):
            return trial.local_path
        return places.tensorboard_dir(self.root, trial.experiment_dir_name, trial.trial_id)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._trial_writer:
            self.log_trial_start(trial)
        info = self._info(trial, result)
        resumed = trial.trial_id not in self._sent and bool(result.get("history"))
        records = self._new_records(trial, result)
        if resumed and records:
            # a trial resumed by a new driver: its folder may hold the killed driver's events, so they are
            # written again from the history, and TensorBoard hides the old ones from that step on (purge_step)
            self._trial_writer[trial].close()
            self._trial_writer[trial] = self._summary_writer_cls(self._logdir(trial), flush_secs=30,
                                                                 purge_step=epoch_of(records[0]))
        for record in records:
            tb_epoch(self._trial_writer[trial], record, self._pictures(info, record))
            self._trial_result[trial] = scalars(record)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        writer = self._trial_writer.pop(trial, None)
        if writer is None:
            return
        last = self._trial_result.pop(trial, {})
        tb_end(writer, self._info(trial).hparams, last, self._outcome(trial), self._sent.get(trial.trial_id))
        writer.close()


class MLflowCallback(TrackerCallback, MLflowLoggerCallback):
    """MLflow: one run per trial in experiment ``<sweep>`` (tags ``phase``, ``trial_id``, ``config_id``,
    ``seed``), the config as params, metrics per epoch, the pictures as images, the outcome as tags.
    Store: :func:`diffnas.tracking.places.mlflow_store` (``MLFLOW_TRACKING_URI``, else SQLite in the results)."""

    tracker = "mlflow"

    def __init__(self, root: str, sweep: str, phase: str, base: Mapping[str, Any], axes: Sequence[str]) -> None:
        super().__init__(experiment_name=sweep)
        self._tracker_init(root, sweep, phase, base, axes)

    def setup(self, *args: Any, **kwargs: Any) -> None:
        uri, artifacts = places.mlflow_store(self.root)
        self.tracking_uri = uri
        self._client = mlflow_client(uri)
        mlflow_experiment(self._client, self.experiment_name, artifacts)  # with its artifact folder, before Ray looks
        super().setup(*args, **kwargs)

    def log_trial_start(self, trial: Any) -> None:
        if trial in self._trial_runs:
            return
        info = self._info(trial)
        found = self._client.search_runs(
            [self.mlflow_util.experiment_id], max_results=1,
            filter_string=f"tags.trial_id = '{trial.trial_id}' and tags.phase = '{self.phase}'")
        if found:  # resumed by a new driver: the trial's run goes on, from the epoch after its last one
            run_id = found[0].info.run_id
            self._client.update_run(run_id, status="RUNNING")
            steps = [m.step for m in self._client.get_metric_history(run_id, "wall_s")]
            self._sent[trial.trial_id] = max([self._sent.get(trial.trial_id, 0), *steps])
        else:
            run_id = self.mlflow_util.start_run(tags=info.tags(), run_name=trial.trial_id).info.run_id
            mlflow_params(self._client, run_id, info.hparams)
        self._trial_runs[trial] = run_id

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._trial_runs:
            self.log_trial_start(trial)
        info = self._info(trial, result)
        for record in self._new_records(trial, result):
            mlflow_epoch(self._client, self._trial_runs[trial], record, self._pictures(info, record))

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        run_id = self._trial_runs.pop(trial, None)
        if run_id is None:
            return
        mlflow_end(self._client, run_id, self._outcome(trial))
        self.mlflow_util.end_run(run_id=run_id, status="FAILED" if failed else "FINISHED")


class _WandbActor(_WandbLoggingActor):
    """Ray's W&B logging actor, which also writes the outcome so far to the run's summary."""

    def _handle_result(self, result: dict) -> tuple[dict, dict]:
        summary = result.pop(_SUMMARY, None)
        if summary:
            self._wandb.run.summary.update(summary)
        return super()._handle_result(result)


class WandbCallback(TrackerCallback, WandbLoggerCallback):
    """W&B: one run per trial (project ``$WANDB_PROJECT`` or ``diffnas``, group ``<sweep>``, job type =
    phase), the config as its config, metrics and pictures per epoch (step = epoch), the outcome in its
    summary. Offline (run files in ``RESULTS/wandb``) unless logged in (:func:`diffnas.tracking.places.wandb_mode`)."""

    _logger_actor_cls = _WandbActor
    tracker = "wandb"

    def __init__(self, root: str, sweep: str, phase: str, base: Mapping[str, Any], axes: Sequence[str]) -> None:
        super().__init__(project=places.wandb_project())
        self._tracker_init(root, sweep, phase, base, axes)

    def setup(self, *args: Any, **kwargs: Any) -> None:
        if places.wandb_mode() in ("offline", "disabled"):
            self._announce()
            return  # no API key needed (Ray's setup asks for one)
        super().setup(*args, **kwargs)

    def log_trial_start(self, trial: Any) -> None:
        trial.init_local_path()  # the logging actor starts in the trial's folder
        kwargs = wandb_init_kwargs(self._info(trial), self.root)
        self._start_logging_actor(trial, [*self._exclude_results, *self.excludes, "config"], **kwargs)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        info = self._info(trial, result)
        for record in self._new_records(trial, result):
            payload = {"training_iteration": epoch_of(record), **scalars(record), **self._pictures(info, record),
                       _SUMMARY: final_tags(result.get("trial_record") or {})}
            super().log_trial_result(iteration, trial, payload)


CALLBACKS = {"tensorboard": TensorBoardCallback, "mlflow": MLflowCallback, "wandb": WandbCallback}
