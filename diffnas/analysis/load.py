"""Loading results folders: ``RESULTS/epochs/*.parquet``, ``RESULTS/trials/*.parquet``, ``sweep.json``.

Every part file is opened on its own (its footer is read first), checked — a readable Parquet file,
``schema_version`` in its key-value metadata equal to :data:`diffnas.results.schema.SCHEMA_VERSION`, the
required columns present with the schema's types, known ``phase`` / ``status`` values — and only the
needed columns are decoded. Any failure raises :class:`diffnas.errors.InputError` whose field is
the file's path, so the CLI prints one line naming the file and the problem (exit 2).

Parts are concatenated with permissive type promotion (a column absent from one part is null
there; int and float widen to float). Rows are made unique on (``sweep``, ``trial_id``, ``epoch``)
(epochs) and (``sweep``, ``trial_id``) (trials), keeping the last copy in folder order; the
number of dropped duplicates is kept in :attr:`Results.notes`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import diffnas.storage as storage
from diffnas.errors import InputError
from diffnas.results.schema import (
    CONFIG_PREFIX,
    EPOCH_COLUMNS,
    EPOCHS_DIR,
    PHASES,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    STATUSES,
    TRIAL_COLUMNS,
    TRIALS_DIR,
)

SPEC_FILE = "sweep.json"
RUN_KEYS = ("sweep", "trial_id")
IDENTITY_TYPES = {"sweep": "str", "trial_id": "str", "config_id": "str", "seed": "int", "phase": "str"}
REQUIRED_EPOCH_COLUMNS = ("trial_id", "config_id", "seed", "phase", "epoch", "entropy_norm", "val_acc")
SUMMARY_EPOCH_COLUMNS = (
    "sweep", "trial_id", "config_id", "seed", "phase", "epoch", "entropy_norm", "val_acc", "val_loss",
    "discrete_val_acc", "gap", "stability", "skip_fraction", "genotype", "truth_acc", "proxy_score",
    "entropy", "entropy_eff", "grad_dilution", "alpha_grad_noise",
)
REQUIRED_TRIAL_COLUMNS = ("trial_id", "status")
_DICTIONARY_COLUMNS = ("sweep", "trial_id", "config_id", "phase", "genotype", "status")


@dataclass
class Results:
    """Loaded results: ``epochs`` (one row per run and epoch, sorted by run then epoch, with an
    integer ``run`` code), ``trials`` (one row per run that has a trials row), the ``specs`` found
    (``sweep.json`` contents, one per folder that has one) and ``notes`` for the report."""

    epochs: pd.DataFrame
    trials: pd.DataFrame
    specs: list[dict[str, Any]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _logical_ok(arrow_type: pa.DataType, logical: str) -> bool:
    if pa.types.is_null(arrow_type):
        return True
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if logical in ("float", "int"):
        return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_boolean(arrow_type)
    if logical == "str":
        return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if logical.startswith("list"):
        if not (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
                or pa.types.is_fixed_size_list(arrow_type)):
            return False
        return _logical_ok(arrow_type.value_type, logical[5:-1])
    return True


def _expected_types(kind: str) -> dict[str, str]:
    table = EPOCH_COLUMNS if kind == EPOCHS_DIR else TRIAL_COLUMNS
    return {**IDENTITY_TYPES, **table}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def part_files(folder: str, kind: str) -> list[str]:
    """The visible ``*.parquet`` parts under ``folder/kind`` (temporary ``.name.tmp`` files skipped);
    ``folder`` may be a local path or a bucket URI (``s3://...``, see :mod:`diffnas.storage`)."""
    return storage.list_files(storage.join(folder, kind), ".parquet")


def _parquet_file(path: str, **kwargs: Any) -> pq.ParquetFile:
    return pq.ParquetFile(storage.open_input_file(path) if storage.is_remote(path) else path, **kwargs)


def open_part(path: str, kind: str, required: Sequence[str]) -> pq.ParquetFile:
    """Open one part and validate readability, ``schema_version``, required columns and types."""
    try:
        pf = _parquet_file(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(path, f"not a readable Parquet file (truncated or corrupt?): {_first_line(exc)}") from None
    meta = schema.metadata or {}
    version = meta.get(SCHEMA_VERSION_KEY.encode())
    if version is None:
        raise InputError(path, f"no '{SCHEMA_VERSION_KEY}' in the Parquet metadata (not a diffnas results file?)")
    if version.decode() != SCHEMA_VERSION:
        raise InputError(
            path, f"{SCHEMA_VERSION_KEY} is {version.decode()!r}, this version of diffnas reads {SCHEMA_VERSION!r}"
        )
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise InputError(path, f"missing required column(s) {', '.join(repr(c) for c in missing)}")
    expected = _expected_types(kind)
    for name in schema.names:
        logical = expected.get(name)
        if logical is not None and not _logical_ok(schema.field(name).type, logical):
            raise InputError(path, f"column {name!r} has type {schema.field(name).type}, expected {logical}")
    return pf


def _check_values(path: str, table: pa.Table, column: str, allowed: Sequence[str]) -> None:
    if column not in table.column_names:
        return
    values = pc.unique(table[column].combine_chunks().cast(pa.string()) if not pa.types.is_dictionary(
        table[column].type) else table[column].combine_chunks().dictionary_decode())
    bad = [v for v in values.to_pylist() if v is not None and v not in allowed]
    if bad:
        raise InputError(path, f"column {column!r} has unknown value {bad[0]!r} (expected one of {', '.join(allowed)})")


def read_part(path: str, kind: str, columns: Sequence[str] | None, required: Sequence[str]) -> pa.Table:
    """Read the wanted ``columns`` (None = all) of one validated part as an Arrow table."""
    pf = open_part(path, kind, required)
    names = pf.schema_arrow.names
    wanted = [c for c in (columns if columns is not None else names) if c in names]
    dictionary = [
        c for c in wanted if c in _DICTIONARY_COLUMNS and pa.types.is_string(pf.schema_arrow.field(c).type)
    ]
    try:
        if dictionary:
            pf = _parquet_file(path, read_dictionary=dictionary)
        table = pf.read(columns=wanted)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(path, f"cannot decode Parquet data (corrupt?): {_first_line(exc)}") from None
    for key in ("trial_id", "epoch"):
        if key in table.column_names and table[key].null_count:
            raise InputError(path, f"column {key!r} has {table[key].null_count} missing value(s)")
    if "epoch" in table.column_names and pa.types.is_floating(table["epoch"].type):
        epoch = table["epoch"].combine_chunks()
        whole = pc.equal(pc.floor(epoch), epoch)  # false for NaN and fractions
        if not pc.all(whole).as_py():
            raise InputError(path, "column 'epoch' holds NaN or a fraction; expected whole epoch numbers")
    _check_values(path, table, "phase", PHASES)
    _check_values(path, table, "status", STATUSES)
    return table.replace_schema_metadata(None)


def _concat(tables: list[pa.Table], where: str) -> pa.Table:
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(where, f"part files disagree on a column's type: {_first_line(exc)}") from None
    return table.unify_dictionaries()


def read_spec(folder: str) -> dict[str, Any] | None:
    """``folder/sweep.json`` as a mapping, or None when absent."""
    path = storage.join(folder, SPEC_FILE)
    try:
        data = storage.read_bytes(path)
        if data is None:
            return None
        spec = json.loads(data.decode("utf-8"))
    except RecursionError:
        raise InputError(path, "JSON nested too deeply") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable JSON file: {_first_line(exc)}") from None
    if not isinstance(spec, dict):
        raise InputError(path, "expected a JSON object")
    for key in ("name", "metric", "mode"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise InputError(path, f"{key!r} must be a string, got {type(spec[key]).__name__}")
    baseline = spec.get("baseline")
    if baseline is not None and not isinstance(baseline, dict):
        raise InputError(path, "'baseline' must be a mapping of dotted config keys to values")
    return spec


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _run_codes(frame: pd.DataFrame) -> np.ndarray:
    sweep = frame["sweep"] if "sweep" in frame else pd.Series("", index=frame.index)
    s_codes = pd.factorize(sweep, use_na_sentinel=False)[0].astype(np.int64)
    t_codes = pd.factorize(frame["trial_id"], use_na_sentinel=False)[0].astype(np.int64)
    return s_codes * (int(t_codes.max(initial=0)) + 1) + t_codes


def load_results(
    folders: Sequence[str],
    epoch_columns: Sequence[str] = SUMMARY_EPOCH_COLUMNS,
    trial_columns: Sequence[str] | None = None,
) -> Results:
    """Load and validate one or several results folders (only ``epoch_columns`` of the epochs)."""
    if not folders:
        raise InputError("RESULTS", "no results folder given")
    epoch_tables: list[pa.Table] = []
    trial_tables: list[pa.Table] = []
    specs: list[dict[str, Any]] = []
    for folder in folders:
        try:
            found = storage.is_dir(folder)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise InputError(folder, f"cannot read this results folder: {_first_line(exc)}") from None
        if not found:
            raise InputError(folder, "no such results folder")
        files = part_files(folder, EPOCHS_DIR)
        if not files:
            raise InputError(folder, f"no results: no {EPOCHS_DIR}/*.parquet files in this folder")
        for path in files:
            epoch_tables.append(read_part(path, EPOCHS_DIR, epoch_columns, REQUIRED_EPOCH_COLUMNS))
        for path in part_files(folder, TRIALS_DIR):
            trial_tables.append(read_part(path, TRIALS_DIR, trial_columns, REQUIRED_TRIAL_COLUMNS))
        spec = read_spec(folder)
        if spec is not None:
            specs.append(spec)
    notes: list[str] = []
    where = folders[0] if len(folders) == 1 else ", ".join(folders)
    epochs = _to_pandas(_concat(epoch_tables, where))
    del epoch_tables
    if len(epochs) == 0:
        raise InputError(folders[0] if len(folders) == 1 else "RESULTS", f"no results: the {EPOCHS_DIR} parts hold no rows")
    for name in epoch_columns:
        if name not in epochs.columns:
            epochs[name] = np.nan if EPOCH_COLUMNS.get(name) in ("float", "int") else None
    if "sweep" not in epochs or epochs["sweep"].isna().all():
        epochs["sweep"] = ""
    epochs["epoch"] = epochs["epoch"].astype(np.int64)
    run_key = _run_codes(epochs)
    epoch = epochs["epoch"].to_numpy()
    order = np.lexsort((np.arange(len(epochs)), epoch, run_key))
    key_sorted, epoch_sorted = run_key[order], epoch[order]
    # keep the last copy of a duplicated (run, epoch): the last element of each equal block
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (key_sorted[1:] != key_sorted[:-1]) | (epoch_sorted[1:] != epoch_sorted[:-1])
    n_dup = int((~last).sum())
    if n_dup:
        notes.append(f"{n_dup} duplicated (trial_id, epoch) rows dropped (the same run loaded twice?)")
    order = order[last]
    epochs = epochs.take(order).reset_index(drop=True)
    epochs["run"] = pd.factorize(run_key[order], sort=False)[0].astype(np.int64)

    if trial_tables:
        trials = _to_pandas(_concat(trial_tables, where))
        if "sweep" not in trials or trials["sweep"].isna().all():
            trials["sweep"] = ""
        before = len(trials)
        trials = trials.drop_duplicates(subset=list(RUN_KEYS), keep="last").reset_index(drop=True)
        if len(trials) < before:
            notes.append(f"{before - len(trials)} duplicated trials rows dropped")
    else:
        trials = pd.DataFrame({"sweep": pd.Series([], dtype=object), "trial_id": pd.Series([], dtype=object)})
    return Results(epochs=epochs, trials=trials, specs=specs, folders=list(folders), notes=notes)


def config_from_epochs(folders: Sequence[str], trial_ids: Sequence[str]) -> pd.DataFrame:
    """``config/*`` columns (first row per run) from the epochs parts, for runs with no trials row."""
    wanted = set(trial_ids)
    tables: list[pa.Table] = []
    for folder in folders:
        for path in part_files(folder, EPOCHS_DIR):
            pf = open_part(path, EPOCHS_DIR, REQUIRED_EPOCH_COLUMNS)
            names = pf.schema_arrow.names
            cols = [c for c in (*RUN_KEYS, "config_id", "seed", "phase") if c in names]
            cols += [c for c in names if c.startswith(CONFIG_PREFIX)]
            try:
                table = pf.read(columns=cols)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise InputError(path, f"cannot decode Parquet data (corrupt?): {_first_line(exc)}") from None
            mask = pc.is_in(table["trial_id"].cast(pa.string()), value_set=pa.array(sorted(wanted), pa.string()))
            tables.append(table.filter(mask).replace_schema_metadata(None))
    if not tables:
        return pd.DataFrame()
    frame = _to_pandas(pa.concat_tables(tables, promote_options="permissive"))
    if "sweep" not in frame or frame["sweep"].isna().all():
        frame["sweep"] = ""
    return frame.drop_duplicates(subset=list(RUN_KEYS), keep="first").reset_index(drop=True)


def load_run_epochs(folders: Sequence[str], sweep: str, trial_id: str,
                    columns: Sequence[str] = ("epoch", "op_probs")) -> pd.DataFrame:
    """The ``columns`` of one run's epoch rows (e.g. its ``op_probs``), sorted by epoch.

    Rows are selected with a predicate on ``trial_id`` pushed down to the Parquet reader."""
    import pyarrow.dataset as ds

    tables: list[pa.Table] = []
    for folder in folders:
        for path in part_files(folder, EPOCHS_DIR):
            pf = open_part(path, EPOCHS_DIR, REQUIRED_EPOCH_COLUMNS)
            names = pf.schema_arrow.names
            cols = [c for c in ("sweep", "trial_id", *columns) if c in names]
            try:
                filesystem, inner = storage.resolve(path)
                table = ds.dataset(inner, format="parquet", filesystem=filesystem).to_table(
                    columns=cols, filter=ds.field("trial_id") == trial_id)
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise InputError(path, f"cannot decode Parquet data (corrupt?): {_first_line(exc)}") from None
            if table.num_rows:
                tables.append(table.replace_schema_metadata(None))
    if not tables:
        return pd.DataFrame(columns=list(columns))
    frame = _to_pandas(pa.concat_tables(tables, promote_options="permissive"))
    if "sweep" in frame and sweep:
        frame = frame[frame["sweep"].astype(str) == sweep]
    for c in columns:
        if c not in frame:
            frame[c] = None
    return frame.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)
