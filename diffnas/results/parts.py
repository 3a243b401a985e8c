"""Writing results folders: immutable Parquet part files, written atomically.

``write_part(rows, root, kind)`` turns a list of row dicts into one Parquet file
``root/<kind>/<name>.parquet`` carrying ``schema_version`` in its metadata, through
:func:`diffnas.storage.write_parquet` (local disk: temporary file then rename; a bucket URI such
as ``s3://``: one whole-object upload), so a reader never sees half a file.

Pure pyarrow: no torch, no Ray.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from diffnas import storage
from diffnas.results.schema import (
    CONFIG_PREFIX,
    EPOCH_COLUMNS,
    EPOCHS_DIR,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TRIAL_COLUMNS,
    TRIALS_DIR,
)

_ARROW_TYPES = {
    "float": pa.float64(),
    "int": pa.int64(),
    "str": pa.string(),
    "list<float>": pa.list_(pa.float64()),
    "list<str>": pa.list_(pa.string()),
}
_IDENTITY_TYPES = {
    "sweep": pa.string(),
    "trial_id": pa.string(),
    "config_id": pa.string(),
    "seed": pa.int64(),
    "phase": pa.string(),
}


def _infer_type(values: list[Any]) -> pa.DataType | None:
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return pa.bool_()
        if isinstance(v, int):
            return pa.int64()
        if isinstance(v, float):
            return pa.float64()
        if isinstance(v, str):
            return pa.string()
        if isinstance(v, (list, tuple)):
            inner = _infer_type([x for x in v])
            return pa.list_(inner or pa.float64())
        return None
    return None


def _config_type(key: str) -> pa.DataType | None:
    """The declared type of a config leaf (lists are written comma-joined), so that every part
    types a column alike even where one part holds only nulls (e.g. ``fault.raise_at_epoch``)."""
    from diffnas.config import FIELDS

    spec = FIELDS.get(key)
    if spec is None:
        return None
    if spec.kind.startswith("list"):
        return pa.string()
    return pa.bool_() if spec.kind == "bool" else _ARROW_TYPES.get(spec.kind)


def _column_type(name: str, values: list[Any]) -> pa.DataType | None:
    if name in _IDENTITY_TYPES:
        return _IDENTITY_TYPES[name]
    logical = EPOCH_COLUMNS.get(name) or TRIAL_COLUMNS.get(name)
    if logical is not None:
        return _ARROW_TYPES[logical]
    if name.startswith(CONFIG_PREFIX):
        declared = _config_type(name[len(CONFIG_PREFIX):])
        if declared is not None:
            return declared
        inferred = _infer_type(values)
        # mixed int/float in one config column: widen to float
        if inferred == pa.int64() and any(isinstance(v, float) for v in values):
            return pa.float64()
        return inferred
    return _infer_type(values)


def _clean(value: Any) -> Any:
    """NaN stays NaN for floats; numpy scalars become Python scalars."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


def rows_to_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Build an Arrow table from row dicts with the schema's types and ``schema_version``."""
    names: list[str] = []
    for row in rows:
        for k in row:
            if k not in names:
                names.append(k)
    arrays = []
    fields = []
    for name in names:
        values = [_clean(row.get(name)) for row in rows]
        typ = _column_type(name, values)
        if typ == pa.float64():
            values = [None if v is None else float(v) for v in values]
        arr = pa.array(values, type=typ)
        arrays.append(arr)
        fields.append(pa.field(name, arr.type))
    schema = pa.schema(fields, metadata={SCHEMA_VERSION_KEY: SCHEMA_VERSION})
    return pa.Table.from_arrays(arrays, schema=schema)


def write_table(table: pa.Table, root: str, kind: str, name: str | None = None) -> str:
    """Write ``table`` as one immutable part ``root/kind/name.parquet``; return its location."""
    if kind not in (EPOCHS_DIR, TRIALS_DIR):
        raise ValueError(f"kind must be '{EPOCHS_DIR}' or '{TRIALS_DIR}', got {kind!r}")
    meta = dict(table.schema.metadata or {})
    meta[SCHEMA_VERSION_KEY.encode()] = SCHEMA_VERSION.encode()
    table = table.replace_schema_metadata(meta)
    return storage.write_parquet(table, storage.join(root, kind, f"{name or uuid.uuid4().hex}.parquet"))


def write_part(rows: Iterable[Mapping[str, Any]], root: str, kind: str, name: str | None = None) -> str | None:
    """Write row dicts as one part file; returns its path, or None when there are no rows."""
    rows = list(rows)
    if not rows:
        return None
    return write_table(rows_to_table(rows), root, kind, name)


def read_keys(root: str, kind: str, columns: tuple[str, ...]) -> pa.Table | None:
    """Read ``columns`` of every part under ``root/kind`` (None when there is none).

    Used by writers to rebuild what they already wrote (idempotent resume)."""
    import pyarrow.dataset as ds

    files = storage.list_files(storage.join(root, kind), ".parquet")
    if not files:
        return None
    filesystem, _ = storage.resolve(root)
    dataset = ds.dataset([storage.resolve(f)[1] for f in files], format="parquet", filesystem=filesystem)
    present = [c for c in columns if c in dataset.schema.names]
    return dataset.to_table(columns=present)
