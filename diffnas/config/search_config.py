"""A search configuration: the validated, flat mapping of dotted keys to values, and reading one.

A config comes from a YAML file (nested mappings) plus ``--set key=value`` overrides with dotted
keys (``--set temperature.schedule=cosine``). Every leaf is declared once in
:data:`diffnas.config.keys.FIELDS`; validation walks that table, so an unknown key or a bad value
raises :class:`~diffnas.errors.InputError` naming the key and what is allowed. Cross-field rules
(``t_min <= t0``, an op subset of the space's ops, ...) follow.

Where the user sets no value, a key takes its sampler's recipe or a named recipe's value before the
global default (:mod:`diffnas.config.recipes`: user > ``recipe`` > the sampler's recipe > global);
the config keeps what the user gave (:meth:`SearchConfig.given`) beside the resolved values, so
:meth:`SearchConfig.replace` resolves again (a new sampler brings its own recipe).

``config_id`` is a stable hash of the config without its seed (sha1 of canonical JSON of the
flat mapping minus ``seed`` and the non-semantic keys in :data:`~diffnas.config.keys.NON_IDENTITY_KEYS`),
so the same configuration run under different seeds groups together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from diffnas.config.keys import FIELDS, LATER_KEYS, NON_IDENTITY_KEYS
from diffnas.errors import InputError
from diffnas.inputs import did_you_mean, shown
from diffnas.names import ONE_OP_SAMPLERS, PRUNABLE_SAMPLERS, SPACE_OPS, truth_column_of


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


class SearchConfig:
    """A validated search configuration (immutable flat mapping of dotted keys)."""

    __slots__ = ("_given", "_source", "_values")

    def __init__(self, values: Mapping[str, Any], given: Mapping[str, Any] | None = None,
                 source: Mapping[str, str] | None = None) -> None:
        self._values = dict(values)
        self._given = dict(values if given is None else given)
        self._source = dict(source or {})

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
        """Check every key and value; fill the rest from the recipes and the defaults; apply cross-field rules."""
        from diffnas.config.recipes import resolve

        given: dict[str, Any] = {}
        for key, value in flat.items():
            spec = FIELDS.get(key)
            if spec is None:
                raise InputError(key, f"unknown key{did_you_mean(key, FIELDS)}")
            given[key] = spec.coerce(key, value)
        values, source = resolve(given, {k: spec.default for k, spec in FIELDS.items()})
        cfg = cls(values, given, source)
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
        if v["perf.amp"] == "fp16" and v["order"] == "second":
            raise InputError("perf.amp", "fp16 needs order first (the unrolled hypergradient is not loss-scaled); "
                             "allowed with order second: off, bf16")
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
        """Every key's resolved value."""
        return dict(self._values)

    def given(self) -> dict[str, Any]:
        """The keys the user set (file, ``--set``, spec), as coerced: what :meth:`replace` resolves from."""
        return dict(self._given)

    def source(self, key: str) -> str:
        """Where ``key``'s value came from: ``user``, ``recipe:<name>``, ``sampler:<name>`` or ``default``."""
        return self._source.get(key, "user" if key in self._given else "default")

    def to_nested(self) -> dict[str, Any]:
        return unflatten(self._values)

    @property
    def truth_column(self) -> str:
        """``truth.column``, or where it is null (follow the dataset) the searched dataset's column."""
        return self["truth.column"] or truth_column_of(self["dataset"])

    def resolved_flat(self) -> dict[str, Any]:
        """:meth:`to_flat` with every value a null stands for filled in (``truth.column``): what ran."""
        return {**self._values, "truth.column": self.truth_column}

    @property
    def ops(self) -> tuple[str, ...]:
        """The op set actually searched (the space's ops, or the configured subset in space order)."""
        space_ops = SPACE_OPS[self["space"]]
        chosen = self["ops"]
        return space_ops if chosen is None else tuple(op for op in space_ops if op in chosen)

    def replace(self, **dotted: Any) -> SearchConfig:
        """A new validated config with some keys set (``replace(**{"seed": 3})``), resolved again from the
        keys the user gave plus these (so ``replace(sampler="dirichlet")`` brings dirichlet's recipe)."""
        return SearchConfig.validate({**self._given, **dotted})

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
