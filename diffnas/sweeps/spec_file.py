"""Reading a sweep spec file: YAML read strictly, an ``extends:`` chain resolved, then validated.

``extends: OTHER.yaml`` (relative to the file) starts from another spec: ``base`` and ``baseline`` are merged
key by key (dotted and nested keys alike), every other top-level key of the extending spec replaces the
parent's whole, and the parent's ``name`` and ``description`` are not inherited (:func:`merge_specs`). An
error in a field that a parent file sets names that file. Chains are at most :data:`_MAX_EXTENDS` long and
never cycle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from diffnas.config import FIELDS, flatten, parse_override
from diffnas.errors import InputError
from diffnas.inputs import did_you_mean, load_yaml, shown
from diffnas.sweeps.spec import SweepSpec, parse_spec

_MAX_EXTENDS = 8
# Sections merged key by key when a spec extends another (dotted and nested keys alike); every other top-level
# key of the extending spec replaces the parent's whole, and the parent's name and description are not inherited.
MERGED_SECTIONS = ("base", "baseline")


def merge_specs(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``child`` over ``parent``: ``base`` and ``baseline`` merged key by key, any other key replaced whole."""
    merged = {k: v for k, v in parent.items() if k not in ("name", "description")}
    for key, value in child.items():
        if key in MERGED_SECTIONS and value is None:  # an empty `base:` changes nothing
            continue
        if key in MERGED_SECTIONS and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**flatten(merged[key]), **flatten(value)}
        else:
            merged[key] = value
    return merged


def _shadow(data: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``data`` with every field's value replaced by ``path`` (``base``/``baseline`` flattened first): merged by
    :func:`merge_specs` like the spec itself, it says which file sets each field of the merged spec."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in MERGED_SECTIONS and isinstance(value, Mapping):
            try:
                names: Mapping[str, Any] = flatten(value)
            except InputError:  # a malformed section: parse_spec refuses it with its own field
                names = value
            out[key] = dict.fromkeys(map(str, names), path)
        elif key != "extends":
            out[key] = None if key in MERGED_SECTIONS and value is None else path
    return out


def _origin(field: str, shadow: Mapping[str, Any]) -> str | None:
    """The file that set ``field`` (an error's field: a key, ``section.key``, or below one), if known."""
    origins = {f"{key}.{name}": p for key, v in shadow.items() if isinstance(v, Mapping) for name, p in v.items()}
    origins.update({str(key): v for key, v in shadow.items() if isinstance(v, str)})
    hits = [k for k in origins if field == k or field.startswith((f"{k}.", f"{k}["))]
    return origins[max(hits, key=len)] if hits else None


def _resolve_extends(data: Any, path: str, chain: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    """``data`` with its ``extends: PARENT`` (a spec file, relative to ``path``'s folder) merged in, recursively,
    and its :func:`_shadow` merged the same way."""
    if not isinstance(data, Mapping):
        return data, {}
    shadow = _shadow(data, path)
    if "extends" not in data:
        return data, shadow
    ref = data["extends"]
    if not isinstance(ref, str) or not ref.strip():
        raise InputError("extends", f"must be the path of another spec file, relative to this one; got {shown(ref)}")
    parent_path = os.path.abspath(os.path.join(os.path.dirname(path), ref))
    if parent_path in chain:
        loop = " -> ".join(os.path.basename(p) for p in (*chain, parent_path))
        raise InputError("extends", f"forms a cycle: {loop}")
    if len(chain) > _MAX_EXTENDS:
        raise InputError("extends", f"chain longer than {_MAX_EXTENDS} files")
    parent = load_yaml(parent_path, "extends", "spec file")
    if not isinstance(parent, Mapping):
        raise InputError("extends", f"{ref} must hold a mapping of spec keys")
    parent, parent_shadow = _resolve_extends(parent, parent_path, (*chain, parent_path))
    return merge_specs(parent, {k: v for k, v in data.items() if k != "extends"}), merge_specs(parent_shadow, shadow)


def load_spec(path: str, name: str | None = None, overrides: Sequence[str] = ()) -> SweepSpec:
    """Read and validate a spec file; ``name`` (``--name``) overrides the spec's own name, and ``overrides``
    (``--set KEY=VALUE``, config keys) the values of its ``base`` — e.g. the data folder on this cluster — so a
    spec need not be edited per machine.

    The file is read by :func:`diffnas.inputs.load_yaml` (size cap, UTF-8, duplicate keys and alias
    bombs refused); problems name ``SPEC``, or ``--set KEY`` for an override. ``extends: OTHER.yaml``
    (relative to the file) starts from another spec: see :func:`merge_specs`."""
    data = load_yaml(path, "SPEC", "spec file")
    if data is None:
        raise InputError("SPEC", f"{path} is empty")
    data, shadow = _resolve_extends(data, path, (os.path.abspath(path),))
    if (name is not None or overrides) and not isinstance(data, Mapping):
        raise InputError("spec", f"must be a mapping of spec keys, got {type(data).__name__}")
    if name is not None:
        data = dict(data)
        data["name"] = name
    given = dict(parse_override(text) for text in overrides)
    if given:
        unknown = [key for key in given if key not in FIELDS]
        if unknown:
            raise InputError(f"--set {unknown[0]}", f"unknown search-config key{did_you_mean(unknown[0], FIELDS)}")
        base = data.get("base")
        data = {**data, "base": {**(flatten(base) if isinstance(base, Mapping) else {}), **given}}
    stem = os.path.splitext(os.path.basename(path))[0]
    try:
        return parse_spec(data, default_name=stem)
    except InputError as err:
        key = err.field[5:] if err.field.startswith("base.") else None
        if key in given:  # a value given with --set
            raise InputError(f"--set {key}", err.message) from None
        origin = _origin(err.field, shadow)  # a field inherited through `extends`: say which file sets it
        if origin is None or origin == path:
            raise
        where = os.path.relpath(origin, os.path.dirname(os.path.abspath(path)))
        raise InputError(err.field, f"{err.message} ({err.field} is set in {where}, which this spec extends)") \
            from None
