"""A sweep's results folder: where it is, its ``sweep.json``, and reading its Parquet rows back.

Layout (``--storage DIR``, default ``./results/<name>``; a bucket URI works too)::

    DIR/sweep.json          name, metric, mode, baseline, the normalised spec, the defaults its trials resolve
                            (diffnas.sweeps.defaults), the experiments
    DIR/epochs/*.parquet    one row per trial per epoch (schema: diffnas.results.schema)
    DIR/trials/*.parquet    one row per trial
    DIR/ray/explore/        Tune's experiment state and trial checkpoints (explore)
    DIR/ray/confirm-1/      ... of each confirm round

``sweep.json`` lists the experiments (``explore``, then ``confirm-N``), each with its phase and
whether it finished; it is written whole and atomically (:func:`diffnas.storage.atomic_write`).
No Ray, no torch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from diffnas import storage
from diffnas.errors import InputError
from diffnas.sweeps.defaults import DEFAULTS_KEY, record_defaults
from diffnas.sweeps.spec import SweepSpec, parse_spec

SWEEP_FILE = "sweep.json"
RAY_DIR = "ray"
EXPLORE = "explore"
CONFIRM = "confirm"


def results_root(storage_location: str | None, name: str, field: str = "DIR") -> str:
    """``--storage`` (absolute when local) or ``./results/<name>``; a URI of an unsupported scheme is one
    InputError line (:func:`diffnas.storage.check_location`) before any path code sees it."""
    location = storage_location or os.path.join("results", name)
    return storage.normalize(storage.check_location(location, field))


def read_sweep(root: str) -> dict[str, Any] | None:
    """``DIR/sweep.json`` as a dict, or None when there is none."""
    data = storage.read_bytes(storage.join(root, SWEEP_FILE))
    return None if data is None else json.loads(data.decode("utf-8"))


def write_sweep(root: str, data: Mapping[str, Any]) -> None:
    """Write ``DIR/sweep.json`` atomically (:func:`diffnas.storage.atomic_write`)."""
    text = json.dumps(data, indent=2, sort_keys=False, default=str)
    storage.atomic_write(storage.join(root, SWEEP_FILE), text.encode("utf-8"))


def set_finished(root: str, name: str, finished: bool) -> None:
    """Mark the experiment ``name`` of ``DIR/sweep.json`` finished (or not); the rest of the file is kept,
    and it is written whole again (:func:`write_sweep`)."""
    data = read_sweep(root) or {}
    for exp in data.get("experiments", []):
        if exp["name"] == name:
            exp["finished"] = finished
    write_sweep(root, data)


def read_sweep_checked(root: str, field: str = "DIR") -> dict[str, Any] | None:
    """:func:`read_sweep`, with an unreadable or malformed ``sweep.json`` as one InputError line."""
    where = f"{field} {SWEEP_FILE}"
    try:
        data = read_sweep(root)
    except RecursionError:
        raise InputError(where, "nested too deeply") from None
    except (OSError, ValueError) as err:  # not JSON, not UTF-8, a folder, unreadable
        raise InputError(where, f"{storage.join(root, SWEEP_FILE)} is not a readable JSON file "
                                f"({' '.join(str(err).split())[:60]})") from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InputError(where, f"must be a JSON object, got {type(data).__name__}")
    if not isinstance(data.get("spec"), dict):
        raise InputError(where, "has no 'spec' object (the normalised sweep spec); not written by diffnas sweep?")
    experiments = data.get("experiments", [])
    if not isinstance(experiments, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in experiments):
        raise InputError(where, "'experiments' must be a list of objects with a 'name'")
    return data


def load_sweep(root: str) -> tuple[dict[str, Any], SweepSpec]:
    """The sweep file and its spec; InputError when ``root`` holds no (valid) sweep."""
    data = read_sweep_checked(root)
    if data is None:
        raise InputError("DIR", f"no {SWEEP_FILE} in {root}: not a sweep results folder")
    try:
        spec = parse_spec(data["spec"])
    except InputError as err:
        raise InputError(f"DIR {SWEEP_FILE} spec.{err.field}", err.message) from None
    return data, spec


def sweep_document(spec: SweepSpec) -> dict[str, Any]:
    """The initial ``sweep.json`` (the analysis side reads name, baseline, metric and mode)."""
    baseline = spec.baseline_config()
    keys = list(dict.fromkeys(spec.axes + list(spec.baseline)))
    return {
        "name": spec.name,
        "metric": spec.metric,
        "mode": spec.mode,
        "baseline": {k: baseline[k] for k in keys},
        "baseline_config_id": baseline.config_id(),
        "axes": spec.axes,
        "spec": spec.to_dict(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        DEFAULTS_KEY: record_defaults(spec),
        "experiments": [],
    }


def read_rows(root: str, kind: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """``columns`` of every row under ``DIR/<kind>`` (``epochs`` or ``trials``) as dicts; a column
    missing from the parts is left out, an unreadable part is one InputError line."""
    import pyarrow as pa

    from diffnas.results.parts import read_keys

    try:
        table = read_keys(root, kind, tuple(columns))
    except (pa.ArrowException, OSError, ValueError) as err:
        raise InputError(f"DIR {kind}", f"a Parquet part in {storage.join(root, kind)} is not readable "
                                        f"(truncated or corrupt?): {' '.join(str(err).split())[:60]}") from None
    return [] if table is None else table.to_pylist()
