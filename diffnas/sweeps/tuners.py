"""Building a sweep's Tune experiments: the explore and confirm Tuners, and restoring one.

Explore: grid axes become ``tune.grid_search``; sampled axes ``tune.choice`` / ``uniform`` /
``loguniform`` / ``randint``. With ``search: random`` the grid axes and the seed are one grid of
points (seeds of a config queued side by side: :func:`explore_param_space`) and
``BasicVariantGenerator(constant_grid_search=True)`` holds each draw of the sampled axes fixed
while the grid (seeds included) runs through it, so every sampled config runs every seed. With
``search: optuna`` each suggestion runs the first seed (Optuna cannot take grid axes); fresh seeds
come in at confirm. Scheduler: ASHA on ``epoch`` with ``max_t`` = base epochs, or FIFO.

Confirm: one grid of the chosen points × the fresh seeds (:func:`confirm_param_space`), FIFO, to the
full epoch budget. Every experiment keeps Tune's state and checkpoints under ``DIR/ray/<name>``
(:func:`tune_storage`: a local folder or a bucket) and carries the driver-side callbacks of
:mod:`diffnas.sweeps.sink` (Parquet results, progress) and the spec's trackers
(``loggers:``, :mod:`diffnas.tracking.tune`). Ray is imported inside the functions, never at import.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from diffnas import storage
from diffnas.sweeps import checkpoints
from diffnas.sweeps.results_folder import CONFIRM, EXPLORE, RAY_DIR
from diffnas.sweeps.spec import SweepSpec


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)


def _axis_domain(axis: Any) -> Any:
    from ray import tune

    lo_hi = axis.args
    if axis.dist == "choice":
        return tune.choice(list(lo_hi))
    if axis.dist == "uniform":
        return tune.uniform(*lo_hi)
    if axis.dist == "loguniform":
        return tune.loguniform(*lo_hi)
    return tune.randint(*lo_hi)


def explore_param_space(spec: SweepSpec) -> dict[str, Any]:
    """Tune's param space: sampled axes as Tune domains, and with ``search: random`` the grid axes and
    the seeds as one grid over points (``{axis: value, ..., "seed": s}``, :data:`POINT_KEY`) in
    which the seed varies fastest.

    Tune orders a grid by its keys' names and varies the first fastest, which queued
    ``sampler`` × ``seed`` as every sampler with seed 0, then every sampler with seed 1. Listing the
    points ourselves queues the seeds of one config side by side, so they run at the same time: seeds
    of a config cost about the same while configs do not (``gumbel_hard`` computes one op per edge),
    so the queue's last trials end together instead of one slot idling while another finishes a long
    config (benchmarks/bench_sweep.py's "idle tail")."""
    from ray import tune

    from diffnas.sweeps.trainable import POINT_KEY

    space: dict[str, Any] = {key: _axis_domain(axis) for key, axis in spec.sample.items()}
    if spec.search != "random":
        space.update({key: tune.grid_search(list(values)) for key, values in spec.grid.items()})
        space["seed"] = spec.seeds[0]
        return space
    keys = list(spec.grid)
    points = [dict(zip(keys, combo), seed=seed)
              for combo in itertools.product(*(spec.grid[k] for k in keys)) for seed in spec.seeds]
    space[POINT_KEY] = tune.grid_search(points)
    return space


def trial_resources(spec: SweepSpec) -> dict[str, float]:
    """Tune's per-trial resources: CPUs, GPUs and, with ``resources.memory_gb``, Ray's ``memory`` (bytes),
    which the trainable also enforces (:func:`diffnas.sweeps.trainable.address_space_limit`)."""
    out = {"cpu": spec.resources["cpu"], "gpu": spec.resources["gpu"]}
    if spec.resources.get("memory_gb"):
        out["memory"] = float(spec.resources["memory_gb"]) * (1 << 30)
    return out


def make_trainable(spec: SweepSpec, ended: Sequence[str] = ()) -> Any:
    """The trainable; ``ended``: trial ids that have their trial row already (returned at once on resume)."""
    from ray import tune

    from diffnas.sweeps.trainable import train_search

    base = spec.base.given()  # what the spec sets: each trial resolves its own sampler's recipe over it
    params = {"base": base, "ended": sorted(ended)} if ended else {"base": base}
    return tune.with_resources(tune.with_parameters(train_search, **params), trial_resources(spec))


def _callbacks(spec: SweepSpec, root: str, phase: str, total: int | None) -> list[Any]:
    from diffnas.sweeps.sink import ParquetSink, Progress
    from diffnas.tracking import tune_callbacks

    base = spec.base.given()
    return [ParquetSink(root, spec.name, phase, base),
            Progress(total, spec.metric, phase, axes=spec.axes, root=root),
            *tune_callbacks(spec.loggers, root, spec.name, phase, base, spec.axes)]


def tune_storage(root: str, *parts: str) -> tuple[str, Any]:
    """Tune's ``(storage_path, storage_filesystem)`` for ``root/ray/...``: a local path and None,
    or the path inside the bucket and the :mod:`diffnas.storage` filesystem (so Tune, its workers
    and the Parquet sink reach the same endpoint with the same settings)."""
    location = storage.join(root, RAY_DIR, *parts)
    if not storage.is_remote(location):
        return location, None
    filesystem, path = storage.resolve(location)
    return path, filesystem


def _run_config(spec: SweepSpec, root: str, name: str, phase: str, total: int | None, verbose: bool) -> Any:
    from ray import tune

    path, filesystem = tune_storage(root)
    return tune.RunConfig(
        name=name,
        storage_path=path,
        storage_filesystem=filesystem,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints.KEEP_WHILE_RUNNING),
        callbacks=_callbacks(spec, root, phase, total),
        verbose=1 if verbose else 0,
    )


def build_explore_tuner(spec: SweepSpec, root: str, verbose: bool = False) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    if spec.scheduler["type"] == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", max_t=spec.epochs,
                                  grace_period=spec.scheduler["grace_period"],
                                  reduction_factor=spec.scheduler["reduction_factor"])
    else:
        scheduler = FIFOScheduler()
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(seed=spec.seeds[0])
        limit = spec.max_concurrent or None  # Tune wraps a Searcher in a ConcurrencyLimiter
    else:
        # a SearchGenerator ignores TuneConfig.max_concurrent_trials: it takes its own limit
        search_alg = BasicVariantGenerator(constant_grid_search=True, random_state=spec.seeds[0],
                                           max_concurrent=spec.max_concurrent)
        limit = None
    tune_config = tune.TuneConfig(
        metric=spec.metric, mode=spec.mode, scheduler=scheduler, search_alg=search_alg,
        num_samples=spec.num_samples, max_concurrent_trials=limit,
        reuse_actors=True, trial_dirname_creator=_trial_dirname,
    )
    return tune.Tuner(make_trainable(spec), param_space=explore_param_space(spec), tune_config=tune_config,
                      run_config=_run_config(spec, root, EXPLORE, EXPLORE, spec.n_trials(), verbose))


def confirm_param_space(points: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> dict[str, Any]:
    """Confirm's param space: one grid of ``{**point, "seed": s}`` (:data:`POINT_KEY`), the seeds of a
    config side by side (as in :func:`explore_param_space`)."""
    from ray import tune

    from diffnas.sweeps.trainable import POINT_KEY

    return {POINT_KEY: tune.grid_search([dict(point, seed=seed) for point in points for seed in seeds])}


def build_confirm_tuner(spec: SweepSpec, root: str, name: str, points: list[dict[str, Any]],
                        seeds: list[int], verbose: bool = False) -> Any:
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import BasicVariantGenerator

    tune_config = tune.TuneConfig(
        metric=spec.metric, mode=spec.mode, scheduler=FIFOScheduler(), num_samples=1,
        search_alg=BasicVariantGenerator(max_concurrent=spec.max_concurrent), reuse_actors=True,
        trial_dirname_creator=_trial_dirname,
    )
    return tune.Tuner(make_trainable(spec), param_space=confirm_param_space(points, seeds),
                      tune_config=tune_config,
                      run_config=_run_config(spec, root, name, CONFIRM, len(points) * len(seeds), verbose))


def parquet_sink(tuner: Any) -> Any:
    """The ParquetSink among the tuner's callbacks (the restored copy after ``Tuner.restore``)."""
    from diffnas.sweeps.sink import ParquetSink

    internal = getattr(tuner, "_local_tuner", None)
    run_config = getattr(internal, "_run_config", None)
    for callback in getattr(run_config, "callbacks", None) or []:
        if isinstance(callback, ParquetSink):
            return callback
    return None


def can_restore(root: str, name: str) -> bool:
    """Whether ``DIR/ray/<name>`` holds Tune's experiment state (reads files only: Ray need not run)."""
    from ray import tune

    inner, filesystem = tune_storage(root, name)
    return tune.Tuner.can_restore(inner, storage_filesystem=filesystem)


STATE_PREFIX = "experiment_state-"  # Tune's snapshot of an experiment: one file per driver session


def check_state(root: str, name: str) -> None:
    """Tune restores from the newest ``experiment_state-*.json`` of ``DIR/ray/<name>``; one cut short
    (written while the disk filled, or by a node that died) is set aside as ``*.json.broken`` when an
    older session's snapshot is whole (the trials then resume from that older snapshot's checkpoints;
    rows already written are not written again), else one InputError line. Reads files only."""
    import json

    from diffnas.errors import InputError

    folder = storage.join(root, RAY_DIR, name)
    states = sorted(f for f in storage.list_files(folder, ".json")
                    if f.rstrip("/").rsplit("/", 1)[-1].startswith(STATE_PREFIX))
    while states:
        newest = states.pop()
        try:
            json.loads((storage.read_bytes(newest) or b"").decode("utf-8"))
            return
        except ValueError:
            if not states:
                raise InputError("DIR", f"Tune's experiment state is cut short and no older snapshot is whole, so "
                                        f"{name} cannot be resumed ({RAY_DIR}/{name}/{newest.rsplit('/', 1)[-1]})") from None
            print(f"Tune's experiment state {newest} is cut short; resuming from the previous snapshot "
                  f"{states[-1].rsplit('/', 1)[-1]}", flush=True)
            storage.move(newest, newest + ".broken")


def restore_tuner(spec: SweepSpec, root: str, name: str) -> Any:
    """The Tuner of experiment ``name`` restored from ``DIR/ray/<name>``: unfinished trials resume from
    their last checkpoints, and so do errored ones (``resume_errored``): a trial that failed on a
    storage fault (a full disk, an object store gone) has no trial row and continues; one that has
    its row (it errored for its own reasons) returns at once (the trainable's ``ended``). Its
    callbacks write into ``root``."""
    from ray import tune

    from diffnas.results.parts import read_keys
    from diffnas.results.schema import TRIALS_DIR

    table = read_keys(root, TRIALS_DIR, ("trial_id",))
    ended = set() if table is None else set(table.column("trial_id").to_pylist())
    inner, filesystem = tune_storage(root, name)
    tuner = tune.Tuner.restore(inner, trainable=make_trainable(spec, ended), resume_unfinished=True,
                               resume_errored=True, restart_errored=False,
                               storage_filesystem=filesystem)
    _retarget_callbacks(tuner, root)
    return tuner


def _retarget_callbacks(tuner: Any, root: str) -> None:
    """Point the restored sink, progress and trackers at this folder (the results folder may have been moved)."""
    from diffnas.sweeps.sink import Progress
    from diffnas.tracking import LOGGERS

    sink = parquet_sink(tuner)
    if sink is not None:
        sink.root = root
    run_config = getattr(getattr(tuner, "_local_tuner", None), "_run_config", None)
    for callback in getattr(run_config, "callbacks", None) or []:
        if isinstance(callback, Progress) or getattr(callback, "tracker", None) in LOGGERS:
            callback.root = root
