"""The sweep spec: a YAML file validated completely before Ray starts.

A spec names a base search config, the axes to explore and how to explore them::

    name: quick                      # results go to ./results/<name> unless --storage says otherwise
    base: {dataset: digits, epochs: 3, ...}       # a search config (diffnas.config keys)
    grid:                            # dotted config key -> list of values (every combination runs)
      sampler: [softmax, gumbel]
    sample:                          # dotted config key -> one distribution (drawn num_samples times)
      temperature.t0: {loguniform: [0.5, 5.0]}
      entropy_weight: {uniform: [-0.01, 0.01]}
      clip.window: {randint: [5, 40]}           # high end exclusive (as in Tune)
      clip.mode: {choice: [none, fixed]}
    seeds: [0, 1, 2]                 # or an integer n meaning 0..n-1
    scheduler: {type: asha, grace_period: 1, reduction_factor: 3}   # max_t = base epochs (checked)
    search: random                   # or optuna (no grid axes; one seed per suggestion)
    num_samples: 4
    resources: {cpu: 1, gpu: 0}      # per trial; fractions allowed; memory_gb: 2 limits each trial
    max_concurrent: 0                # 0 = as many as the resources allow
    max_failures: 1                  # retries per trial, from its last checkpoint
    metric: proxy_score              # the calibrated ranking metric (docs/proxies.md)
    mode: max
    baseline: {sampler: softmax, temperature.t0: 1.0}   # overrides on base: the reference config
    extends: other.yaml              # start from another spec file (relative to this one): base and
                                     # baseline merged key by key, other keys replaced, name not inherited
    confirm: {top_k: 2, seeds: 3}    # defaults for `diffnas sweep confirm`
    # confirm: {per: sampler, top_k: 1, seeds: 3}   # the best config of every sampler (any axis)
    loggers: [tensorboard, mlflow]   # also send every trial to these trackers (diffnas.tracking: tensorboard,
                                     # mlflow, wandb), offline inside the results folder; not in any config id

A spec file is read, and its ``extends:`` chain resolved, by :func:`diffnas.sweeps.spec_file.load_spec`.
Every fixed field is declared once in :data:`SPEC_FIELDS` (type, default, allowed values, help);
``base``, ``grid``, ``sample`` and ``baseline`` are keyed by search-config keys and validated through
:class:`diffnas.config.SearchConfig`. Any problem raises :class:`~diffnas.errors.InputError` naming
the spec key (``grid.sampler``, ``scheduler.max_t`` ...) and what is allowed.

Pure Python + PyYAML: no Ray, no torch.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from diffnas.config import FIELDS, Field, SearchConfig, flatten
from diffnas.errors import InputError
from diffnas.inputs import did_you_mean, shown
from diffnas.results.schema import EPOCH_COLUMNS
from diffnas.tracking.registry import parse_loggers

DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
METRICS = tuple(k for k, t in EPOCH_COLUMNS.items() if t == "float" and k != "wall_s")
# Config keys that cannot be axes: the seed has its own field; the epoch budget is ASHA's max_t and
# confirm's "full epochs"; device and threads come from Ray's assignment.
NOT_AXES = ("seed", "epochs", "device", "threads")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MAX_COMBOS_CHECKED = 4096


# The fixed (non config-keyed) fields of a spec, as dotted keys.
SPEC_FIELDS: dict[str, Field] = {
    "name": Field("str", None, "sweep name (default: the spec file's stem)", nullable=True),
    "description": Field("str", None, "free text", nullable=True),
    "search": Field("str", "random", "search algorithm", choices=("random", "optuna")),
    "num_samples": Field("int", 1, "draws of the sampled axes (random) or suggestions (optuna)", minimum=1),
    "scheduler.type": Field("str", "fifo", "trial scheduler", choices=("asha", "fifo")),
    "scheduler.grace_period": Field("int", 1, "asha: epochs every trial runs before it can be stopped",
                                  minimum=1),
    "scheduler.reduction_factor": Field("float", 3.0, "asha: keep 1/reduction_factor at each rung",
                                      minimum=1.0, exclusive_min=True),
    "scheduler.max_t": Field("int", None, "asha: must equal base epochs (defaults to it)", minimum=1,
                           nullable=True),
    "resources.cpu": Field("float", 1.0, "CPUs per trial (fractions allowed)", minimum=0.0, exclusive_min=True),
    "resources.gpu": Field("float", 0.0, "GPUs per trial (fractions allowed)", minimum=0.0),
    "resources.memory_gb": Field("float", None, "memory per trial in GiB: reserved as Ray's memory resource and "
                                 "enforced as the trial's address-space growth (RLIMIT_AS); a trial past it ends "
                                 "with status error, stop_reason out_of_memory", minimum=0.0, exclusive_min=True,
                                 nullable=True),
    "max_concurrent": Field("int", 0, "trials running at once (0 = as many as resources allow)", minimum=0),
    "max_failures": Field("int", 1, "retries of a failing trial from its last checkpoint", minimum=0),
    "metric": Field("str", "proxy_score", "epoch column that ASHA, Optuna and confirm rank by (default: the "
                  "zero-cost proxy calibrated against NAS-Bench-201 truth, docs/proxies.md)", choices=METRICS),
    "mode": Field("str", "max", "whether the metric is maximised or minimised", choices=("max", "min")),
    "confirm.top_k": Field("int", 2, "default --top-k of `diffnas sweep confirm`", minimum=1),
    "confirm.seeds": Field("int", 3, "default --seeds of `diffnas sweep confirm`", minimum=1),
    "confirm.per": Field("str", None, "default --per of `diffnas sweep confirm`: keep the top_k best configs "
                       "of every value of this axis (e.g. sampler), so no value drops out of the comparison",
                       nullable=True),
}
# Sections keyed by search-config keys.
CONFIG_SECTIONS = ("base", "grid", "sample", "baseline", "seeds")
# A list of tracker names (diffnas.tracking.registry): how trials are watched, not what they run.
LOGGERS_KEY = "loggers"
TOP_LEVEL = tuple(sorted({k.split(".")[0] for k in SPEC_FIELDS} | set(CONFIG_SECTIONS) | {LOGGERS_KEY}))


def _config_key(section: str, key: Any) -> str:
    if not isinstance(key, str) or key not in FIELDS:
        raise InputError(f"{section}.{key}", f"unknown search-config key{did_you_mean(key, FIELDS)}")
    return key


def _with(base: SearchConfig, where: str, values: Mapping[str, Any]) -> SearchConfig:
    """``base`` with ``values`` applied, any config error re-labelled with the spec location."""
    try:
        return base.replace(**values)
    except InputError as err:
        if len(values) == 1:
            (key, value), = values.items()
            if err.field == key:
                raise InputError(where, err.message) from None
            raise InputError(where, f"{shown(value)} is invalid with this base: {err}") from None
        raise InputError(where, f"the combination {shown(dict(values))} is invalid: {err}") from None


@dataclass(frozen=True)
class Axis:
    """A sampled axis: ``dist`` in DISTRIBUTIONS and its arguments (bounds or choices)."""

    key: str
    dist: str
    args: tuple[Any, ...]

    def to_dict(self) -> dict[str, list[Any]]:
        return {self.dist: list(self.args)}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec. ``raw`` is the normalised mapping (written to ``sweep.json``)."""

    name: str
    base: SearchConfig
    grid: dict[str, list[Any]]
    sample: dict[str, Axis]
    seeds: list[int]
    search: str
    num_samples: int
    scheduler: dict[str, Any]
    resources: dict[str, float]
    max_concurrent: int
    max_failures: int
    metric: str
    mode: str
    baseline: dict[str, Any]
    confirm: dict[str, Any]
    description: str | None = None
    loggers: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def epochs(self) -> int:
        return int(self.base["epochs"])

    @property
    def axes(self) -> list[str]:
        """The config keys that vary across explore (grid then sampled axes)."""
        return list(self.grid) + [k for k in self.sample if k not in self.grid]

    def baseline_config(self) -> SearchConfig:
        return self.base.replace(**self.baseline) if self.baseline else self.base

    def explore_seeds(self) -> list[int]:
        """Seeds explore actually runs: all of them (random) or the first (optuna)."""
        return list(self.seeds) if self.search == "random" else [self.seeds[0]]

    def n_trials(self) -> int:
        if self.search == "optuna":
            return self.num_samples
        n = self.num_samples * len(self.seeds)
        for values in self.grid.values():
            n *= len(values)
        return n

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


def _seeds(value: Any) -> list[int]:
    if isinstance(value, bool) or value is None:
        raise InputError("seeds", f"must be a list of distinct integers >= 0 or a count >= 1, got {shown(value)}")
    if isinstance(value, int):
        if value < 1:
            raise InputError("seeds", f"a count must be >= 1, got {value}")
        return list(range(value))
    if not isinstance(value, list) or not value:
        raise InputError("seeds", f"must be a list of distinct integers >= 0 or a count >= 1, got {shown(value)}")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        raise InputError("seeds", f"must hold integers >= 0, got {shown(value)}")
    if len(set(value)) != len(value):
        raise InputError("seeds", f"must not repeat a seed, got {shown(value)}")
    return list(value)


def _sample_axis(base: SearchConfig, key: str, value: Any) -> Axis:
    where = f"sample.{key}"
    if not isinstance(value, Mapping) or len(value) != 1:
        raise InputError(where, f"must be one of {{{': [...]}, {'.join(DISTRIBUTIONS)}: [...]}}, got {shown(value)}")
    (dist, args), = value.items()
    if dist not in DISTRIBUTIONS:
        raise InputError(where, f"unknown distribution {shown(dist)}; allowed: {', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list) or not args:
        raise InputError(f"{where}.{dist}", f"must be a non-empty list, got {shown(args)}")
    kind = FIELDS[key].kind
    if dist == "choice":
        for v in args:
            _with(base, where, {key: v})
        return Axis(key, dist, tuple(args))
    numbers = all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
    if len(args) != 2 or not numbers:
        raise InputError(f"{where}.{dist}", f"must be [low, high] numbers, got {shown(args)}")
    lo, hi = args
    if not lo < hi:
        raise InputError(f"{where}.{dist}", f"low must be < high, got {shown(args)}")
    if dist == "randint":
        if kind not in ("int", "float") or not all(float(a).is_integer() for a in args):
            raise InputError(f"{where}.{dist}", f"needs integer bounds on a numeric key, got {shown(args)}")
        lo, hi = int(lo), int(hi)
        ends = (lo, hi - 1)
    else:
        if kind != "float":
            raise InputError(where, f"{dist} needs a float key; {key} is {kind} (use randint or choice)")
        if dist == "loguniform" and lo <= 0:
            raise InputError(f"{where}.{dist}", f"low must be > 0, got {lo}")
        lo, hi = float(lo), float(hi)
        ends = (lo, hi)
    for v in ends:
        _with(base, where, {key: v})
    return Axis(key, dist, (lo, hi))


def parse_spec(data: Any, default_name: str | None = None) -> SweepSpec:
    """Validate a spec mapping (as loaded from YAML); raise InputError naming the first problem."""
    if not isinstance(data, Mapping):
        raise InputError("spec", f"must be a mapping of spec keys, got {type(data).__name__}")
    for key in data:
        if key not in TOP_LEVEL:
            raise InputError(str(key), f"unknown spec key{did_you_mean(key, TOP_LEVEL)}; allowed: {', '.join(TOP_LEVEL)}")

    # fixed fields (scheduler / search may be given as a bare string)
    fixed_in: dict[str, Any] = {}
    for key, value in data.items():
        if key in CONFIG_SECTIONS or key == LOGGERS_KEY:
            continue
        if key == "scheduler" and isinstance(value, str):
            value = {"type": value}
        if isinstance(value, Mapping):
            if not any(k.startswith(f"{key}.") for k in SPEC_FIELDS):
                raise InputError(key, f"must be {SPEC_FIELDS[key].allowed()}, got a mapping")
            fixed_in.update(flatten(value, f"{key}."))
        else:
            if key not in SPEC_FIELDS:
                subkeys = ", ".join(k for k in SPEC_FIELDS if k.startswith(f"{key}."))
                raise InputError(key, f"must be a mapping with keys {subkeys}, got {shown(value)}")
            fixed_in[key] = value
    fixed: dict[str, Any] = {k: f.default for k, f in SPEC_FIELDS.items()}
    for key, value in fixed_in.items():
        spec_field = SPEC_FIELDS.get(key)
        if spec_field is None:
            section = key.split(".")[0]
            allowed = ", ".join(k for k in SPEC_FIELDS if k.startswith(f"{section}."))
            raise InputError(key, f"unknown spec key; allowed: {allowed}")
        fixed[key] = spec_field.coerce(key, value)

    name = fixed["name"] or default_name
    if not name:
        raise InputError("name", "is required (a short identifier)")
    if not _NAME.match(name):
        raise InputError("name", f"must be letters, digits, '_', '.', '-', got {shown(name)}")

    # base config
    base_in = data.get("base", {})
    if base_in is None:
        base_in = {}
    if not isinstance(base_in, Mapping):
        raise InputError("base", f"must be a mapping of search-config keys, got {shown(base_in)}")
    try:
        base = SearchConfig.from_dict(base_in)
    except InputError as err:
        raise InputError(f"base.{err.field}" if err.field else "base", err.message) from None

    def section(name: str) -> dict[str, Any]:
        value = data.get(name) or {}
        if not isinstance(value, Mapping):
            raise InputError(name, f"must be a mapping of dotted search-config keys, got {shown(value)}")
        flat = flatten(value) if name == "baseline" else dict(value)
        return {_config_key(name, k): v for k, v in flat.items()}

    grid_in, sample_in, baseline_in = section("grid"), section("sample"), section("baseline")
    for sec, keys in (("grid", grid_in), ("sample", sample_in)):
        for key in keys:
            if key in NOT_AXES:
                why = {"seed": "use the `seeds` field", "epochs": "the epoch budget is ASHA's max_t and "
                       "confirm's full run; set it in base"}.get(key, "it comes from Ray's assignment")
                raise InputError(f"{sec}.{key}", f"cannot be an axis: {why}")
    grid: dict[str, list[Any]] = {}
    for key, values in grid_in.items():
        if not isinstance(values, list) or not values:
            raise InputError(f"grid.{key}", f"must be a non-empty list of values, got {shown(values)}")
        grid[key] = [_with(base, f"grid.{key}", {key: v})[key] for v in values]
        if len({repr(v) for v in grid[key]}) != len(grid[key]):
            raise InputError(f"grid.{key}", f"must not repeat a value, got {shown(values)}")
    sample: dict[str, Axis] = {}
    for key, value in sample_in.items():
        if key in grid:
            raise InputError(f"sample.{key}", "is already a grid axis; an axis is either grid or sampled")
        sample[key] = _sample_axis(base, key, value)

    # combinations of discrete values must also pass the cross-field rules
    discrete = dict(grid)
    discrete.update({k: list(a.args) for k, a in sample.items() if a.dist == "choice"})
    if len(discrete) > 1:
        keys = list(discrete)
        combos = itertools.islice(itertools.product(*(discrete[k] for k in keys)), _MAX_COMBOS_CHECKED)
        for combo in combos:
            _with(base, "grid", dict(zip(keys, combo)))

    seeds = _seeds(data.get("seeds", [0]))
    baseline = dict(baseline_in)
    if baseline:
        for key, value in baseline.items():
            _with(base, f"baseline.{key}", {key: value})
        if len(baseline) > 1:
            _with(base, "baseline", baseline)
        baseline = {k: base.replace(**baseline)[k] for k in baseline}

    search = fixed["search"]
    if search == "optuna" and grid:
        raise InputError("grid", "optuna cannot take grid axes (it suggests every value itself); "
                         "make them `sample:` choice axes or use search: random")
    if search == "optuna" and not sample:
        raise InputError("sample", "optuna needs at least one sampled axis")
    if search == "random" and not sample and fixed["num_samples"] != 1:
        raise InputError("num_samples", "must be 1 when there are no sampled axes (the grid is exhaustive)")

    epochs = int(base["epochs"])
    sched = {"type": fixed["scheduler.type"]}
    if sched["type"] == "asha":
        max_t = fixed["scheduler.max_t"]
        if max_t is not None and max_t != epochs:
            raise InputError("scheduler.max_t", f"must equal base epochs ({epochs}), got {max_t}")
        grace = fixed["scheduler.grace_period"]
        if grace >= epochs:
            raise InputError("scheduler.grace_period", f"must be < base epochs ({epochs}) for ASHA to stop "
                             f"anything, got {grace}")
        sched.update(grace_period=grace, reduction_factor=fixed["scheduler.reduction_factor"], max_t=epochs)
    else:
        extra = [k for k in fixed_in if k.startswith("scheduler.") and k != "scheduler.type"]
        if extra:
            raise InputError(extra[0], "only applies to scheduler type asha")

    resources = {"cpu": fixed["resources.cpu"], "gpu": fixed["resources.gpu"]}
    if fixed["resources.memory_gb"] is not None:
        resources["memory_gb"] = fixed["resources.memory_gb"]
    confirm = {"top_k": fixed["confirm.top_k"], "seeds": fixed["confirm.seeds"], "per": fixed["confirm.per"]}
    axes = list(grid) + [k for k in sample if k not in grid]
    if confirm["per"] is not None and confirm["per"] not in axes:
        raise InputError("confirm.per", f"unknown axis {confirm['per']!r}; allowed: "
                         f"{', '.join(axes) or 'none (the spec has no grid or sample axes)'}")
    loggers = parse_loggers(data.get(LOGGERS_KEY), LOGGERS_KEY)
    raw = {
        "name": name,
        "description": fixed["description"],
        "base": {k: v for k, v in flatten(base_in).items()},
        "grid": grid,
        "sample": {k: a.to_dict() for k, a in sample.items()},
        "seeds": seeds,
        "search": search,
        "num_samples": fixed["num_samples"],
        "scheduler": sched,
        "resources": resources,
        "max_concurrent": fixed["max_concurrent"],
        "max_failures": fixed["max_failures"],
        "metric": fixed["metric"],
        "mode": fixed["mode"],
        "baseline": baseline,
        "confirm": confirm,
    }
    if loggers:
        raw[LOGGERS_KEY] = list(loggers)
    return SweepSpec(
        name=name, base=base, grid=grid, sample=sample, seeds=seeds, search=search,
        num_samples=fixed["num_samples"], scheduler=sched, resources=resources,
        max_concurrent=fixed["max_concurrent"], max_failures=fixed["max_failures"],
        metric=fixed["metric"], mode=fixed["mode"], baseline=baseline, confirm=confirm,
        description=fixed["description"], loggers=loggers, raw=raw,
    )
