"""Reading the files a user hands to a command: bounded, strict, one clear line on any problem.

Every config, spec, ``genotype.json`` and ``sweep.json`` goes through :func:`read_text` (a regular
file, at most :data:`MAX_BYTES`, UTF-8) and then :func:`parse_yaml` / :func:`parse_json`. YAML is
read by :class:`StrictLoader`, PyYAML's safe loader that also refuses

- a key given twice in one mapping (PyYAML keeps the last one silently);
- a document whose aliases expand it to more than :data:`MAX_NODES` nodes (an "alias bomb": a
  few hundred bytes whose expansion has billions of values) — the expanded size is counted on the
  composed node graph with memoisation, so it is never built;
- nesting deeper than the parser can follow.

:func:`shown` renders a value for an error message without ever expanding it (``reprlib`` with
small limits, cut to :data:`SHOWN_CHARS` characters). Any problem raises
:class:`~diffnas.errors.InputError` naming the file (or the flag that gave it).

Standard library + PyYAML only: no torch, so the analysis side and spec validation use it too.
"""

from __future__ import annotations

import json
import os
import re
import reprlib
from collections.abc import Iterable
from typing import Any

from diffnas.errors import InputError

MAX_BYTES = 1 << 20  # 1 MiB: far above any real config, spec or genotype file
MAX_NODES = 100_000  # YAML nodes after alias expansion
SHOWN_CHARS = 80

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 3, 4, 6, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = SHOWN_CHARS, SHOWN_CHARS, 40


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A short ``repr`` of ``value`` for messages: nested containers elided, at most ``limit`` chars."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a message must never fail
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name(path: str) -> str:
    return path if len(path) <= 60 else "..." + path[-57:]


def read_text(path: str, field: str, what: str = "file") -> str:
    """The UTF-8 text of ``path``; InputError (named ``field``) when missing, a folder, too big or binary."""
    if not isinstance(path, str) or not path:
        raise InputError(field, f"must name a {what}, got {shown(path)}")
    if os.path.isdir(path):
        raise InputError(field, f"{_name(path)} is a folder, not a {what}")
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise InputError(field, f"{_name(path)} is {size / 2**20:.1f} MiB; a {what} may be at most "
                                    f"{MAX_BYTES // 2**20} MiB")
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(field, f"file not found: {_name(path)}") from None
    except OSError as err:
        raise InputError(field, f"cannot read {_name(path)}: {err.strerror or err}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(field, f"{_name(path)} is not UTF-8 text (byte {err.start}); a {what} must be "
                                "UTF-8 text") from None


def _yaml():
    import yaml

    return yaml


def _make_loader() -> type:
    yaml = _yaml()

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys and alias bombs (see the module docstring)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the base class reports it
                    continue
                if duplicate:
                    raise _Refused(f"key {shown(key, 40)} given twice (line {key_node.start_mark.line + 1})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

        def get_single_node(self) -> Any:
            node = super().get_single_node()
            if node is not None:
                _check_expansion(node)
            return node

    # YAML 1.2's floats: PyYAML (YAML 1.1) reads 3e-4 and 1.0e6 as strings (its float needs a dot and a signed
    # exponent), so a learning rate written as anyone writes it would be refused as "not a number"
    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
    return StrictLoader


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class YAMLSyntaxError(InputError):
    """The text is not YAML at all (as opposed to YAML that is refused)."""


class _Refused(Exception):
    """A problem StrictLoader found; carries the message."""


def _check_expansion(root: Any) -> None:
    """Refuse a node graph whose alias expansion exceeds MAX_NODES (iterative, memoised by identity)."""
    size: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        if not done and id(node) in visiting:
            raise _Refused("an alias refers to the value that holds it (a recursive structure)")
        children: list[Any] = []
        if isinstance(node.value, list):
            for item in node.value:
                children.extend(item if isinstance(item, tuple) else (item,))
        if done:
            total = 1 + sum(size.get(id(c), 0) for c in children)
            size[id(node)] = total
            if total > MAX_NODES:
                raise _Refused(f"aliases expand it to more than {MAX_NODES:,} values (an alias bomb?)")
            continue
        visiting.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


_LOADER: type | None = None


def parse_yaml(text: str, field: str, where: str = "") -> Any:
    """Parse YAML ``text`` strictly; InputError naming ``field`` (and ``where``, e.g. the path)."""
    global _LOADER
    yaml = _yaml()
    if _LOADER is None:
        _LOADER = _make_loader()
    prefix = f"{_name(where)}: " if where else ""
    loader = _LOADER(text)
    try:
        return loader.get_single_data()
    except _Refused as err:
        raise InputError(field, f"{prefix}{err}") from None
    except RecursionError:
        raise InputError(field, f"{prefix}nested too deeply") from None
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise YAMLSyntaxError(field, f"{prefix}not valid YAML: {' '.join(str(problem).split())[:60]}{at}") from None
    finally:
        loader.dispose()


def load_yaml(path: str, field: str, what: str = "YAML file") -> Any:
    """Read and strictly parse the YAML file ``path`` (see :func:`read_text`, :func:`parse_yaml`)."""
    return parse_yaml(read_text(path, field, what), field, path)


def load_json(path: str, field: str, what: str = "JSON file") -> Any:
    """Read and parse the JSON file ``path``; InputError naming ``field`` on any problem."""
    text = read_text(path, field, what)
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(field, f"{_name(path)}: nested too deeply") from None
    except ValueError as err:
        raise InputError(field, f"{_name(path)} is not valid JSON ({shown(str(err), 60)})") from None


def expect(value: Any, kinds: type | tuple[type, ...], field: str, allowed: str) -> Any:
    """``value`` when it is an instance of ``kinds`` (bool is never a number); else InputError."""
    numeric = kinds in (int, float) or (isinstance(kinds, tuple) and (int in kinds or float in kinds))
    if not isinstance(value, kinds) or (numeric and isinstance(value, bool)):
        raise InputError(field, f"must be {allowed}, got {shown(value)}")
    return value


def number_arg(kind: type, minimum: float | None = None, maximum: float | None = None,
               exclusive_min: bool = False) -> Any:
    """An argparse ``type=`` that accepts a ``kind`` (int or float) within the bounds, else says what is allowed."""
    import argparse
    import math

    lo = "" if minimum is None else f"{'>' if exclusive_min else '>='} {minimum:g}"
    hi = "" if maximum is None else f"<= {maximum:g}"
    allowed = f"{'an integer' if kind is int else 'a number'} {' and '.join(b for b in (lo, hi) if b)}".strip()

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {shown(text)}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {shown(text)}")
        if minimum is not None and (value < minimum or (exclusive_min and value == minimum)):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {shown(text)}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {shown(text)}")
        return value

    parse.__name__ = kind.__name__
    return parse


def seed_range(text: str) -> tuple[int, int]:
    """An argparse ``type=`` for a range of seeds: ``"26-30"`` -> (26, 30), both ends included; anything else
    is refused naming the form (argparse prints it, exit 2)."""
    import argparse

    lo, sep, hi = text.partition("-")
    if not (sep and lo.isdigit() and hi.isdigit() and int(lo) <= int(hi)):
        raise argparse.ArgumentTypeError(f"must be LO-HI with integers LO <= HI, got {text!r}")
    return int(lo), int(hi)


def nonempty_arg(text: str) -> str:
    """An argparse ``type=`` for a path or name that must not be empty."""
    import argparse

    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the candidate closest to ``word`` (difflib), or ``""`` when none is close."""
    import difflib

    close = difflib.get_close_matches(str(word), list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
