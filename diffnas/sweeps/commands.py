"""The ``diffnas sweep`` commands: run (explore), resume, confirm, and the status summary.

Each command checks its inputs before Ray starts (one InputError line), connects
(:mod:`diffnas.sweeps.session`), records in ``sweep.json`` the experiment it starts
(:mod:`diffnas.sweeps.results_folder`), runs the Tuner (:mod:`diffnas.sweeps.tuners`) and marks the experiment
finished once every trial has ended; an interrupted one is continued by ``resume``.

Confirm: ranks the explore configs by the spec's metric at the highest epoch that *every* explored
config reached (the mean over that config's runs at that epoch; with ASHA usually the grace
period; runs that diverged or errored left out — :mod:`diffnas.sweeps.ranking`, the same rule ``status``
uses), then re-runs the top K and the baseline with N seeds never used before in this sweep,
FIFO, to the full epoch budget, as phase ``confirm`` into the same folder. With ``confirm.per``
(or ``--per``) set to an axis, the ranking runs within each value of that axis and the top K of
every value are kept (:func:`diffnas.sweeps.ranking.select_configs`).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from diffnas import storage
from diffnas.errors import InputError
from diffnas.results.schema import config_column
from diffnas.sweeps import checkpoints
from diffnas.sweeps.defaults import check_defaults
from diffnas.sweeps.legacy import old_module_names
from diffnas.sweeps.points import confirm_point, explored_points
from diffnas.sweeps.preflight import check_inputs
from diffnas.sweeps.ranking import confirm_plan, phase_rows, rank_phase, select_configs, sweep_rows
from diffnas.sweeps.results_folder import (
    CONFIRM,
    EXPLORE,
    RAY_DIR,
    load_sweep,
    read_sweep_checked,
    results_root,
    set_finished,
    sweep_document,
    write_sweep,
)
from diffnas.sweeps.session import check_resources, end_session, open_session, record_local_ray
from diffnas.sweeps.spec import SweepSpec
from diffnas.sweeps.tuners import (
    build_confirm_tuner,
    build_explore_tuner,
    can_restore,
    check_state,
    parquet_sink,
    restore_tuner,
)


def _storage_error(err: BaseException) -> storage.StorageError | None:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, storage.StorageError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return None


def _fit(tuner: Any) -> tuple[int, bool]:
    """Run the experiment: (exit code, whether every trial ended).

    A trial has ended when the sink wrote its trial row (completed, stopped or errored); after an
    interrupt (Ctrl-C) Tune marks live trials TERMINATED, so its own counts cannot tell. A fault of
    the results storage (a full disk, an object store that stays away: :class:`diffnas.storage.StorageError`
    from the sink) stops the experiment with one line on stderr; ``resume`` continues it."""
    sink = parquet_sink(tuner)
    try:
        grid = tuner.fit()
    except Exception as err:
        fault = _storage_error(err) or getattr(sink, "fault", None)
        if fault is None:
            raise
        print(f"diffnas sweep: error: {fault}; the rows written so far are kept, nothing half-written is "
              "left; the sweep stopped (fix the storage, then resume it)", file=sys.stderr, flush=True)
        return 1, False
    n, errors = len(grid), grid.num_errors
    unended = getattr(sink, "unended", None)
    ended = (grid.num_terminated + errors >= n) if unended is None else not unended
    if errors:
        print(f"{errors} of {n} trials ended in error (status 'error' in the results)")
    if not ended:
        print(f"interrupted: {len(unended or [])} of {n} trials unfinished")
    return (1 if n and errors == n else 0), ended


def _finish(root: str, name: str, fitted: tuple[int, bool]) -> int:
    code, ended = fitted
    if ended:
        set_finished(root, name, True)
        checkpoints.prune_finished(storage.join(root, RAY_DIR, name))
    try:
        print(status_text(root))
    except (OSError, InputError):
        if ended:
            raise  # an unfinished sweep's storage may be what failed: the resume line matters more
    if not ended:
        print(f"continue with: diffnas sweep resume {root}")
        return 1
    return code


def run_sweep(spec: SweepSpec, storage: str | None = None, address: str | None = None,
              num_cpus: int | None = None, verbose: bool = False, resource_check: bool = True) -> int:
    """``diffnas sweep run``: validate, connect, check resources, write sweep.json, explore."""
    root = results_root(storage, spec.name, "--storage")
    if read_sweep_checked(root, "--storage") is not None:
        raise InputError("--storage", f"{root} already holds a sweep; continue it with "
                         f"`diffnas sweep resume {root}` or choose another --storage")
    started, ray = open_session(address, num_cpus, verbose)
    try:
        if resource_check:
            check_resources(spec.resources)
        record_local_ray(root, started)
        doc = sweep_document(spec)
        doc["experiments"].append({"name": EXPLORE, "phase": EXPLORE, "finished": False,
                                   "seeds": spec.explore_seeds(), "trials": spec.n_trials()})
        write_sweep(root, doc)
        print(f"sweep {spec.name}: {spec.n_trials()} trials ({spec.search} search, {spec.scheduler['type']} "
              f"scheduler, {spec.epochs} epochs) -> {root}", flush=True)
        code = _finish(root, EXPLORE, _fit(build_explore_tuner(spec, root, verbose)))
        if code == 0:
            print(f"next: diffnas sweep confirm {root}")
        return code
    finally:
        end_session(root, started, ray)


def resume_sweep(root: str, address: str | None = None, num_cpus: int | None = None,
                 verbose: bool = False) -> int:
    """``diffnas sweep resume``: continue the sweep's unfinished experiment from Tune's state."""
    root = results_root(root, "")
    data, spec = load_sweep(root)
    pending = [e for e in data.get("experiments", []) if not e.get("finished")]
    if not pending:
        print(f"sweep {spec.name}: nothing to resume (every experiment finished)")
        print(status_text(root))
        return 0
    spec = check_defaults(data, spec, "resume")
    exp = pending[-1]
    check_inputs(spec)
    path = storage.join(root, RAY_DIR, exp["name"])
    if not can_restore(root, exp["name"]):  # files only: before Ray starts
        raise InputError("DIR", f"{path} holds no Tune experiment state to resume from")
    check_state(root, exp["name"])
    started, ray = open_session(address, num_cpus, verbose, root)
    try:
        record_local_ray(root, started)
        print(f"sweep {spec.name}: resuming {exp['name']} from {path}", flush=True)
        # Tune reads the pickled state in restore (callbacks) and in fit (the search algorithm's state): a sweep
        # started before the one namespace names them sweeps.* (diffnas.sweeps.legacy)
        with old_module_names():
            return _finish(root, exp["name"], _fit(restore_tuner(spec, root, exp["name"])))
    finally:
        end_session(root, started, ray)


def confirm_sweep(root: str, top_k: int | None = None, n_seeds: int | None = None, address: str | None = None,
                  num_cpus: int | None = None, verbose: bool = False, resource_check: bool = True,
                  per: str | None = None) -> int:
    """``diffnas sweep confirm``: top-K explore configs (of each value of the ``per`` axis, when
    given) + the baseline, N fresh seeds, FIFO, full epochs."""
    root = results_root(root, "")
    data, spec = load_sweep(root)
    spec = check_defaults(data, spec, "confirm")
    check_inputs(spec)
    top_k = spec.confirm["top_k"] if top_k is None else top_k
    n_seeds = spec.confirm["seeds"] if n_seeds is None else n_seeds
    per = spec.confirm.get("per") if per is None else (None if per == "none" else per)
    if top_k < 1:
        raise InputError("--top-k", f"must be >= 1, got {top_k}")
    if n_seeds < 1:
        raise InputError("--seeds", f"must be >= 1, got {n_seeds}")
    if per is not None and per not in spec.axes:
        raise InputError("--per", f"unknown axis {per!r}; allowed: {', '.join(spec.axes) or 'none'} (or none)")
    unfinished = [e["name"] for e in data.get("experiments", []) if not e.get("finished")]
    if unfinished:
        raise InputError("DIR", f"experiment {unfinished[-1]} is unfinished; run `diffnas sweep resume {root}` "
                         "first")
    extra = (config_column(per),) if per is not None else ()
    # read once: the rows rank the explore configs and tell the seeds this sweep has used
    epochs, trials = sweep_rows(root, spec.name, spec.metric, extra)
    picks = select_configs(phase_rows(epochs, trials, spec.name, EXPLORE), spec.metric, spec.mode, top_k, per)
    if not picks:
        raise InputError("DIR", f"no explore results in {root}; run the sweep first")
    chosen = [c.config_id for c in picks]
    rung = max(c.rung for c in picks)
    baseline = spec.baseline_config()
    points = explored_points(root, spec.name, chosen, spec.base)
    missing = [cid for cid in chosen if cid not in points]
    if missing:
        raise InputError("DIR", f"config {missing[0]} has epoch rows but no trial row; resume the sweep first")
    plan = confirm_plan(picks, baseline.config_id())
    points.setdefault(baseline.config_id(), confirm_point(baseline, spec.base))
    ordered = [points[cid] for cid in plan]
    used = {int(r["seed"]) for r in (*trials, *epochs)} | set(spec.seeds)
    first = max(used) + 1 if used else 0
    seeds = list(range(first, first + n_seeds))
    rounds = sum(1 for e in data.get("experiments", []) if e.get("phase") == CONFIRM)
    name = f"{CONFIRM}-{rounds + 1}"

    started, ray = open_session(address, num_cpus, verbose, root)
    try:
        if resource_check:
            check_resources(spec.resources)
        record_local_ray(root, started)
        data["experiments"].append({
            "name": name, "phase": CONFIRM, "finished": False, "seeds": seeds, "rung": rung,
            "top_k": chosen, "per": per, "baseline_config_id": baseline.config_id(),
            "trials": len(ordered) * len(seeds),
        })
        write_sweep(root, data)
        which = f"the {top_k} best config(s) of each {per}" if per else f"{len(chosen)} best configs"
        print(f"sweep {spec.name}: confirming {which} (by {spec.metric}, {spec.mode}) + baseline with seeds "
              f"{seeds}: {len(ordered) * len(seeds)} trials", flush=True)
        for c in picks:
            label = f"{per}={c.value}  " if per else ""
            print(f"  {label}{c.config_id}  {spec.metric}@{c.rung} = {c.score:.4f} (n={c.n})")
        return _finish(root, name, _fit(build_confirm_tuner(spec, root, name, ordered, seeds, verbose)))
    finally:
        end_session(root, started, ray)


def status_text(root: str) -> str:
    """Trials by status per phase, epochs consumed, unfinished trials, best config so far."""
    root = results_root(root, "")
    data, spec = load_sweep(root)
    metric = spec.metric
    epochs, trials = sweep_rows(root, spec.name, metric)
    lines = [f"sweep {spec.name} ({root})"]
    for exp in data.get("experiments", []):
        state = "finished" if exp.get("finished") else "unfinished"
        lines.append(f"  {exp['name']}: {state}, {exp.get('trials', '?')} trials planned")
    for phase in (EXPLORE, CONFIRM):
        t = [r for r in trials if r["phase"] == phase]
        e = [r for r in epochs if r["phase"] == phase]
        if not t and not e:
            continue
        by: dict[str, int] = {}
        for r in t:
            by[r["status"]] = by.get(r["status"], 0) + 1
        ended = {r["trial_id"] for r in t}
        running = {r["trial_id"] for r in e} - ended
        counts = ", ".join(f"{k} {v}" for k, v in sorted(by.items())) or "none ended"
        lines.append(f"  {phase}: {len(ended)} trials ended ({counts}); {len(running)} without an end; "
                     f"{len(e)} epochs consumed")
        rung, ranked = rank_phase(e, t, spec.name, phase, metric, spec.mode)
        if ranked and not math.isnan(ranked[0][1]):
            cid, score, n = ranked[0]
            lines.append(f"    best so far: config {cid} {metric} {score:.4f} at epoch {rung} "
                         f"(mean of {n} runs; {rung} = highest epoch every config reached)")
    return "\n".join(lines)
