"""One declared config value: its type, default, allowed values or range, and help line.

:class:`Field` is the declaration behind every table of user-settable values (the search config's
:data:`diffnas.config.keys.FIELDS`, the sweep spec's fixed fields); :meth:`Field.coerce` is the one
coercion that checks a value against it, and :meth:`Field.allowed` says what is allowed in the one
line an :class:`~diffnas.errors.InputError` shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from diffnas.errors import InputError
from diffnas.inputs import shown


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

    def coerce(self, key: str, value: Any) -> Any:
        """``value`` checked against this declaration (type, range, choices) and normalised (``8.0`` ->
        ``8`` for an int); :class:`InputError` naming ``key`` otherwise. The one coercion of every table of
        declarations: config keys, the sweep spec's fixed fields, and values code outside them checks
        (data loading) through ``FIELDS[key].coerce(key, value)``, so every limit has one source."""
        spec = self
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
