"""The search-run configuration: one validated, flat mapping of dotted keys to values.

A config comes from a YAML file (nested mappings) plus ``--set key=value`` overrides with dotted
keys (``--set temperature.schedule=cosine``). Every leaf is declared once in :data:`FIELDS` with
its type, default, allowed values or range and help text; validation walks that table, so an
unknown key or a bad value raises :class:`~diffnas.errors.InputError` naming the key and what is
allowed. Cross-field rules (``t_min <= t0``, an op subset of the space's ops, ...) follow.

``config_id`` is a stable hash of the config without its seed (sha1 of canonical JSON of the
flat mapping minus ``seed`` and the non-semantic keys in :data:`NON_IDENTITY_KEYS`), so the same
configuration run under different seeds groups together.

Pure Python + PyYAML: no torch, so sweeps can validate specs before Ray or torch start.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diffnas.errors import InputError
from diffnas.inputs import shown
from diffnas.names import ONE_OP_SAMPLERS, PRUNABLE_SAMPLERS, names
from diffnas.names import SPACE_OPS as SPACE_OPS  # re-exported: the spaces and their ops


def _registered(kind: str) -> Callable[[], tuple[str, ...]]:
    """The allowed values of a key that names a registry entry: read when validating, so a name
    registered after import (a new sampler) is accepted (:mod:`diffnas.names`)."""
    return lambda: names(kind)


def _dataset_names() -> list[str]:
    from diffnas.data import available_datasets  # the data registry (imports no torch)

    return available_datasets()


def _rank_columns() -> list[str]:
    from diffnas.results.schema import EPOCH_COLUMNS  # pure: the float epoch columns a run can be ranked by

    return [k for k, kind in EPOCH_COLUMNS.items() if kind == "float" and k != "wall_s"]


@dataclass(frozen=True)
class Field:
    """One config leaf: its type, default, constraint and help line."""

    kind: str  # "int", "float", "str", "bool", "list[str]", "list[float]"
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    nullable: bool = False
    choices_from: Callable[[], Iterable[str]] | None = field(default=None, compare=False)

    def options(self) -> tuple[Any, ...] | None:
        """The allowed values: fixed ``choices`` or those of a registry (``choices_from``)."""
        if self.choices_from is not None:
            return tuple(self.choices_from())
        return self.choices

    def allowed(self) -> str:
        """A short description of what is allowed, for error messages."""
        if self.options() is not None:
            text = "one of " + ", ".join(str(c) for c in self.options())
        elif self.kind in ("int", "float"):
            lo = "" if self.minimum is None else f"{'>' if self.exclusive_min else '>='} {self.minimum}"
            hi = "" if self.maximum is None else f"{'<' if self.exclusive_max else '<='} {self.maximum}"
            bounds = " and ".join(b for b in (lo, hi) if b)
            text = f"{'an integer' if self.kind == 'int' else 'a number'}{' ' + bounds if bounds else ''}"
        elif self.kind.startswith("list"):
            text = f"a list of {self.kind[5:-1]}"
        elif self.kind == "bool":
            text = "true or false"
        else:
            text = "a string"
        return text + (" or null" if self.nullable else "")


def _f(kind: str, default: Any, help: str, **kw: Any) -> Field:
    return Field(kind=kind, default=default, help=help, **kw)


FIELDS: dict[str, Field] = {
    "space": _f("str", "nb201", "search space", choices=tuple(SPACE_OPS)),
    "ops": _f("list[str]", None, "restrict the space to these ops (null = all)", nullable=True),
    "dataset": _f("str", "digits", "real offline dataset", choices_from=_dataset_names),
    "data.dir": _f("str", None, "folder with the dataset files (fashion_mnist)", nullable=True),
    "data.subset": _f("int", None, "use this many training examples", minimum=20, nullable=True),
    "data.resolution": _f("int", None, "resize images to this side length", minimum=4, maximum=64, nullable=True),
    "data.test_fraction": _f("float", 0.2, "held-out test share where no official split exists",
                             minimum=0.05, maximum=0.5),
    "data.batch_size": _f("int", 64, "mini-batch size", minimum=2),
    "sampler": _f("str", "softmax", "maps alpha and T to op weights", choices_from=_registered("sampler")),
    "sampler_options.noise_std": _f("float", 0.1, "enhanced: std of Gaussian noise on alpha", minimum=0.0),
    "sampler_options.dropout": _f("float", 0.1, "enhanced: op dropout probability p in [0, 1)",
                                  minimum=0.0, maximum=1.0, exclusive_max=True),
    "sampler_options.hard_forward": _f("str", "chosen", "gumbel_hard: chosen = w_k*op_k only (AutoDL "
                                       "forward_gdas_v1); all = also + the unselected straight-through "
                                       "weights (forward_gdas, NASLib), which changes alpha's gradient",
                                       choices_from=_registered("sampler_options.hard_forward")),
    "temperature.schedule": _f("str", "constant", "temperature schedule",
                               choices_from=_registered("temperature.schedule")),
    "temperature.t0": _f("float", 1.0, "temperature at the start", minimum=0.0, exclusive_min=True),
    "temperature.t_min": _f("float", 1.0, "temperature at the last epoch/step", minimum=0.0, exclusive_min=True),
    "temperature.per": _f("str", "epoch", "update the temperature per epoch or per step", choices=("epoch", "step")),
    "temperature.n_steps": _f("int", 4, "step schedule: number of temperature levels", minimum=2),
    "entropy_weight": _f("float", 0.0, "weight of the op-distribution entropy in alpha's loss: > 0 sharpens "
                         "(penalises entropy), < 0 rewards exploration"),
    "l2_weight": _f("float", 0.0, "weight of ||alpha||^2 in alpha's loss", minimum=0.0),
    "beta_weight": _f("float", 0.0, "beta-DARTS: final weight w of mean_e logsumexp(alpha_e) in alpha's loss, "
                      "ramped linearly from 0 (weight w * epoch / epochs)", minimum=0.0),
    "aux_skip": _f("float", 0.0, "DARTS-: weight b0 of an auxiliary skip on every edge during the search, "
                   "decayed linearly to 0 (b0 * (1 - epoch / epochs)); needs the skip_connect op", minimum=0.0),
    "kl_weight": _f("float", 0.0, "DrNAS: weight of sum_e KL(Dir(elu(alpha_e)+1) || Dir(1)) in alpha's loss; "
                    "needs the dirichlet sampler", minimum=0.0),
    "prune.epoch": _f("int", 0, "DrNAS's progressive shrinking: after this many epochs each edge keeps only its "
                      "prune.keep strongest ops (0 = never)", minimum=0),
    "prune.keep": _f("int", 3, "ops kept per edge when prune.epoch is reached", minimum=1),
    "resource_weight": _f("float", 0.0, "weight of the expected (normalised) cost in alpha's loss", minimum=0.0),
    "resource": _f("str", "params", "cost used by the resource term", choices=("params", "flops")),
    "clip.mode": _f("str", "none", "clipping of alpha's gradient", choices_from=_registered("clip.mode")),
    "clip.value": _f("float", 5.0, "fixed: max norm c; adaptive: multiplier k", minimum=0.0, exclusive_min=True),
    "clip.window": _f("int", 20, "adaptive: number of recent gradient norms in the history", minimum=1),
    "order": _f("str", "first", "bilevel approximation order", choices=("first", "second")),
    "epochs": _f("int", 10, "search epochs", minimum=1, maximum=100000),
    "warmup_epochs": _f("int", 0, "epochs with alpha frozen at the start", minimum=0),
    "seed": _f("int", 0, "random seed", minimum=0),
    "device": _f("str", "auto", "auto picks cuda when available", choices=("auto", "cpu", "cuda")),
    "threads": _f("int", 1, "torch intra-op threads", minimum=1, maximum=256),
    "perf.fused": _f("bool", True, "NB201 cells: one conv for the same op on every edge leaving a node "
                     "(same sums; false = the op-by-op reference path)"),
    "perf.channels_last": _f("bool", True, "NHWC memory format for weights and activations"),
    "perf.compile": _f("str", "off", "torch.compile the supernet's loss (on = compile, falling back to eager "
                       "where compile is unavailable)", choices=("off", "on")),
    "perf.amp": _f("str", "off", "autocast the forward pass to bfloat16 or float16 (float16 adds a "
                   "gradient scaler on CUDA)", choices=("off", "bf16", "fp16")),
    "perf.native": _f("bool", True, "fused NB201 cells on CPU: BatchNorm and the mixing of a node's terms "
                      "in compiled C kernels (built with the system compiler on first use; the PyTorch path "
                      "where they cannot be built, and under perf.compile)"),
    "model.channels": _f("int", 8, "channels of the first stage", minimum=1),
    "model.cells_per_stage": _f("int", 1, "normal cells per stage", minimum=1),
    "model.stages": _f("int", 2, "stages (a reduction between consecutive stages)", minimum=1, maximum=5),
    "optim.w_lr": _f("float", 0.05, "weights: SGD learning rate (cosine annealed)", minimum=0.0, exclusive_min=True),
    "optim.w_lr_min": _f("float", 0.001, "weights: final learning rate", minimum=0.0),
    "optim.w_momentum": _f("float", 0.9, "weights: SGD momentum", minimum=0.0, maximum=1.0, exclusive_max=True),
    "optim.w_weight_decay": _f("float", 3e-4, "weights: weight decay", minimum=0.0),
    "optim.w_grad_clip": _f("float", 5.0, "weights: gradient norm clip (null = off)", minimum=0.0,
                            exclusive_min=True, nullable=True),
    "optim.a_lr": _f("float", 1e-2, "alpha: Adam learning rate", minimum=0.0, exclusive_min=True),
    "optim.a_beta1": _f("float", 0.5, "alpha: Adam beta1", minimum=0.0, maximum=1.0, exclusive_max=True),
    "optim.a_beta2": _f("float", 0.999, "alpha: Adam beta2", minimum=0.0, maximum=1.0, exclusive_max=True),
    "optim.a_weight_decay": _f("float", 0.0, "alpha: Adam weight decay", minimum=0.0),
    "optim.alpha_init_std": _f("float", 1e-3, "alpha: std of the initial values", minimum=0.0),
    "metrics.hessian_every": _f("int", 0, "dominant Hessian eigenvalue every k epochs (0 = off)", minimum=0),
    "metrics.hessian_iters": _f("int", 8, "power iterations for the eigenvalue", minimum=1),
    "metrics.proxy": _f("str", "naswot", "zero-cost proxy of the current argmax cell recorded as proxy_score "
                        "(the calibrated ranking metric, see docs/proxies.md; none = off)",
                        choices_from=lambda: (*names("metrics.proxy"), "none")),
    "metrics.proxy_batch": _f("int", 64, "examples (first ones of the weight split) the proxy is computed on",
                              minimum=2),
    "metrics.eval_batches": _f("int", 0, "limit evaluation to this many batches (0 = whole split)", minimum=0),
    "early_stop.patience": _f("int", 0, "stop after this many epochs without val_acc improvement (0 = off)",
                              minimum=0),
    "early_stop.stability_window": _f("int", 0, "stop when argmax unchanged for W epochs and entropy_norm "
                                      "under the threshold (0 = off)", minimum=0),
    "early_stop.entropy_threshold": _f("float", 0.3, "entropy_norm threshold for the stability stop",
                                       minimum=0.0, maximum=1.0),
    "early_stop.max_skip": _f("int", None, "collapse guard: stop when the genotype has more skip "
                              "connections than this", minimum=0, nullable=True),
    "early_stop.hessian_growth": _f("float", None, "collapse guard: stop when the Hessian eigenvalue grows "
                                    "by more than this ratio over the window", minimum=1.0, nullable=True),
    "early_stop.hessian_window": _f("int", 3, "window (in eigenvalue measurements) for the growth ratio",
                                    minimum=1),
    "early_stop.max_skip_share": _f("float", 0.5, "collapse guard (on by default): stop when the share of edges "
                                    "whose argmax is skip_connect stays above this for guard_patience epochs "
                                    "(null = off)", minimum=0.0, maximum=1.0, nullable=True),
    "early_stop.max_none_share": _f("float", 0.5, "collapse guard (on by default): stop when the share of edges "
                                    "whose argmax is none stays above this for guard_patience epochs (null = off)",
                                    minimum=0.0, maximum=1.0, nullable=True),
    "early_stop.gap_growth": _f("float", 0.3, "collapse guard (on by default): stop when the gap val_acc - "
                                "discrete_val_acc rose by more than this over gap_window epochs, for "
                                "guard_patience epochs (null = off)", minimum=0.0, exclusive_min=True,
                                nullable=True),
    "early_stop.gap_window": _f("int", 3, "epochs over which gap growth is measured", minimum=1),
    "early_stop.guard_patience": _f("int", 2, "consecutive epochs a share or gap guard's condition must hold "
                                    "before it stops the run", minimum=1),
    "discretize.max_skip": _f("int", None, "P-DARTS's skip cap: the handed-back cell (genotype, its truth, "
                              "discrete_val_acc) keeps at most this many skip_connect edges per cell, those with "
                              "the highest softmax(alpha) skip probability, the others their best other op "
                              "(an edge with no other op left after pruning keeps its skip; null = off; training "
                              "and the collapse guards are unchanged)", minimum=0,
                              nullable=True),
    "best_cell.metric": _f("str", "proxy_score", "epoch column whose best value picks the best cell a run saw "
                           "(trial columns best_genotype, best_truth_acc, best_epoch; default: the calibrated "
                           "ranking metric; discrete_val_acc when it has no value)", choices_from=_rank_columns),
    "best_cell.mode": _f("str", "max", "whether best_cell.metric is maximised or minimised", choices=("max", "min")),
    "truth.table": _f("str", None, "CSV(.gz) with arch_str and accuracy columns (NAS-Bench-201 truth); "
                      "null = the NATS-Bench table shipped with the package", nullable=True),
    "truth.column": _f("str", "cifar10_test", "accuracy column of the truth table (bundled: cifar10_test, "
                       "cifar100_test, imagenet16_120_test)"),
    "fault.nan_at_epoch": _f("int", None, "test hook: inject a NaN loss at this epoch", minimum=1, nullable=True),
    "fault.raise_at_epoch": _f("int", None, "test hook: raise once at this epoch", minimum=1, nullable=True),
    "fault.marker": _f("str", None, "test hook: file that records that the fault already fired",
                       nullable=True),
}

# Keys that do not change what is searched: excluded from config_id.
NON_IDENTITY_KEYS = frozenset({"seed", "device", "threads", "data.dir", "truth.table", "truth.column",
                               "metrics.proxy", "metrics.proxy_batch"}
                              | {k for k in FIELDS if k.startswith(("fault.", "perf."))})

# Semantic keys added after results existed: left out of config_id while at their default, so the
# config_id of every config written before the key existed stays what it was.
LATER_KEYS = frozenset({"sampler_options.hard_forward", "beta_weight", "aux_skip", "kl_weight", "prune.epoch",
                        "prune.keep", "discretize.max_skip"})


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are leaves.

    A key given twice — nested and dotted (``{"a": {"b": 1}, "a.b": 2}``) — with different values
    raises :class:`InputError` naming it; the same value twice is accepted."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        dotted = f"{prefix}{key}"
        items = flatten(value, dotted + ".").items() if isinstance(value, Mapping) else [(dotted, value)]
        for k, v in items:
            if k in flat and not _same(flat[k], v):
                raise InputError(k, f"given twice (nested and dotted) with different values: {shown(flat[k], 30)} "
                                    f"and {shown(v, 30)}")
            flat[k] = v
    return flat


def _same(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values are different
        return False


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = nested
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def parse_override(text: str) -> tuple[str, Any]:
    """``"temperature.t0=2"`` -> ``("temperature.t0", 2)``; the value is parsed as (strict) YAML,
    and text that is not YAML at all is taken as a string."""
    from diffnas.inputs import YAMLSyntaxError, parse_yaml

    if "=" not in text:
        raise InputError("--set", f"expected key=value, got {shown(text)}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise InputError("--set", f"no key before '=' in {shown(text)}; expected key=value with a config key "
                                  "(diffnas search --list-keys)")
    try:
        value = parse_yaml(raw, f"--set {key}") if raw.strip() else None
    except YAMLSyntaxError:
        value = raw
    return key, value


def _coerce(key: str, spec: Field, value: Any) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise InputError(key, f"must be {spec.allowed()}, got null")
    kind = spec.kind
    bad = InputError(key, f"must be {spec.allowed()}, got {shown(value)}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if isinstance(value, float):
            if not value.is_integer():
                raise bad
            value = int(value)
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        value = float(value)
        if not math.isfinite(value):
            raise bad
    elif kind == "str":
        if not isinstance(value, str):
            raise bad
    elif kind == "bool":
        if not isinstance(value, bool):
            raise bad
    elif kind.startswith("list"):
        if not isinstance(value, (list, tuple)) or not value:
            raise InputError(key, f"must be a non-empty {spec.allowed()}, got {shown(value)}")
        inner = kind[5:-1]
        if inner == "str" and not all(isinstance(v, str) for v in value):
            raise bad
        value = list(value)
    options = spec.options()
    if options is not None and value not in options:
        raise InputError(key, f"unknown {shown(value)}; allowed: {', '.join(map(str, options))}")
    if kind in ("int", "float"):
        lo, hi = spec.minimum, spec.maximum
        if lo is not None and (value < lo or (spec.exclusive_min and value == lo)):
            raise bad
        if hi is not None and (value > hi or (spec.exclusive_max and value == hi)):
            raise bad
    return value


def coerce_field(key: str, spec: Field, value: Any) -> Any:
    """``value`` checked against the declaration ``spec`` (type, range, choices) and normalised;
    :class:`InputError` naming ``key`` otherwise. The one coercion for config keys and for any other
    table of :class:`Field` declarations (the sweep spec's fixed fields)."""
    return _coerce(key, spec, value)


def check_value(key: str, value: Any) -> Any:
    """``value`` checked against ``FIELDS[key]`` (type, range, choices) and coerced (``8.0`` -> ``8``
    for an int); :class:`InputError` naming ``key`` otherwise. Code outside the config (data loading)
    uses this so that every limit has one source."""
    return _coerce(key, FIELDS[key], value)


def _suggest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(FIELDS), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class SearchConfig:
    """A validated search configuration (immutable flat mapping of dotted keys)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    @classmethod
    def from_dict(cls, nested_or_flat: Mapping[str, Any], overrides: Iterable[str] = ()) -> SearchConfig:
        """Validate a nested (YAML-shaped) or flat mapping plus ``key=value`` override strings."""
        if not isinstance(nested_or_flat, Mapping):
            raise InputError("config", "must be a mapping of keys to values")
        flat = flatten(nested_or_flat)
        for text in overrides:
            key, value = parse_override(text)
            flat[key] = value
        return cls.validate(flat)

    @classmethod
    def validate(cls, flat: Mapping[str, Any]) -> SearchConfig:
        """Check every key and value; fill defaults; apply cross-field rules."""
        values = {k: spec.default for k, spec in FIELDS.items()}
        for key, value in flat.items():
            spec = FIELDS.get(key)
            if spec is None:
                raise InputError(key, f"unknown key{_suggest(key)}")
            values[key] = _coerce(key, spec, value)
        cfg = cls(values)
        cfg._check_cross_fields()
        return cfg

    def _check_cross_fields(self) -> None:
        v = self._values
        if v["temperature.schedule"] != "constant" and v["temperature.t_min"] > v["temperature.t0"]:
            raise InputError("temperature.t_min", f"must be <= temperature.t0 ({v['temperature.t0']}), "
                             f"got {v['temperature.t_min']}")
        space_ops = SPACE_OPS[v["space"]]
        if v["ops"] is not None:
            unknown = [op for op in v["ops"] if op not in space_ops]
            if unknown:
                raise InputError("ops", f"unknown op {shown(unknown[0])} for space {v['space']}; "
                                 f"allowed: {', '.join(space_ops)}")
            if len(set(v["ops"])) != len(v["ops"]):
                raise InputError("ops", "must not repeat an op")
            if len([op for op in v["ops"] if op != "none"]) < 1:
                raise InputError("ops", "needs at least one op other than none")
        if v["aux_skip"] > 0 and "skip_connect" not in self.ops:
            raise InputError("aux_skip", f"needs the skip_connect op among the searched ops ({', '.join(self.ops)}); "
                             "allowed without it: 0")
        if v["aux_skip"] > 0 and v["sampler"] in ONE_OP_SAMPLERS:
            raise InputError("aux_skip", f"needs a sampler whose training step runs every op; {v['sampler']} runs "
                             f"only the chosen one (allowed with it: 0)")
        if v["discretize.max_skip"] is not None and "skip_connect" not in self.ops:
            raise InputError("discretize.max_skip", f"needs the skip_connect op among the searched ops "
                             f"({', '.join(self.ops)}); allowed without it: null")
        if v["kl_weight"] > 0 and v["sampler"] != "dirichlet":
            raise InputError("kl_weight", f"needs the dirichlet sampler (its concentration elu(alpha) + 1); "
                             f"allowed with {v['sampler']}: 0")
        if v["prune.epoch"] == 0 and v["prune.keep"] != FIELDS["prune.keep"].default:
            raise InputError("prune.keep", f"only with prune.epoch > 0 (it does nothing without it); got {v['prune.keep']}")
        if v["prune.epoch"] > 0:
            if v["prune.epoch"] >= v["epochs"]:
                raise InputError("prune.epoch", f"must be < epochs ({v['epochs']}) or 0 (never), got {v['prune.epoch']}")
            if v["prune.epoch"] <= v["warmup_epochs"]:
                raise InputError("prune.epoch", f"must be > warmup_epochs ({v['warmup_epochs']}): alpha is frozen until "
                                 f"then, so its initialisation would choose the kept ops; got {v['prune.epoch']}")
            if v["prune.keep"] >= len(self.ops):
                raise InputError("prune.keep", f"must be < the {len(self.ops)} searched ops to prune anything, "
                                 f"got {v['prune.keep']}")
            if v["space"] == "darts" and "none" in self.ops and v["prune.keep"] < 2:
                raise InputError("prune.keep", "must be >= 2 in the darts space while none is searched (each edge "
                                 f"must keep an op other than none), got {v['prune.keep']}")
            if v["sampler"] not in PRUNABLE_SAMPLERS:
                raise InputError("prune.epoch", f"needs a sampler whose weights restrict exactly to the kept ops "
                                 f"({', '.join(sorted(PRUNABLE_SAMPLERS))}); with {v['sampler']} allowed: 0")
        if v["warmup_epochs"] >= v["epochs"]:
            raise InputError("warmup_epochs", f"must be < epochs ({v['epochs']}), got {v['warmup_epochs']}")
        if v["optim.w_lr_min"] > v["optim.w_lr"]:
            raise InputError("optim.w_lr_min", f"must be <= optim.w_lr ({v['optim.w_lr']})")

    # -- access -----------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def to_flat(self) -> dict[str, Any]:
        return dict(self._values)

    def to_nested(self) -> dict[str, Any]:
        return unflatten(self._values)

    @property
    def ops(self) -> tuple[str, ...]:
        """The op set actually searched (the space's ops, or the configured subset in space order)."""
        space_ops = SPACE_OPS[self["space"]]
        chosen = self["ops"]
        return space_ops if chosen is None else tuple(op for op in space_ops if op in chosen)

    def replace(self, **dotted: Any) -> SearchConfig:
        """A new validated config with some keys changed (``replace(**{"seed": 3})``)."""
        flat = self.to_flat()
        flat.update(dotted)
        return SearchConfig.validate(flat)

    def config_id(self) -> str:
        """Stable 12-hex-digit hash of the config without seed and non-semantic keys."""
        ident = {k: v for k, v in sorted(self._values.items()) if k not in NON_IDENTITY_KEYS
                 and not (k in LATER_KEYS and v == FIELDS[k].default)}
        blob = json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchConfig) and other._values == self._values

    def __repr__(self) -> str:
        return f"SearchConfig({self._values!r})"


def load_config(path: str | None, overrides: Iterable[str] = ()) -> SearchConfig:
    """Read a YAML config file (or none: all defaults) and apply ``key=value`` overrides.

    The file is read by :func:`diffnas.inputs.load_yaml` (size cap, UTF-8, duplicate keys and alias
    bombs refused); problems name ``--config``."""
    from diffnas.inputs import load_yaml

    data: Any = {}
    if path is not None:
        data = load_yaml(path, "--config", "config file")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InputError("--config", f"{path} must hold a mapping of config keys, got {type(data).__name__}")
    return SearchConfig.from_dict(data, overrides)
