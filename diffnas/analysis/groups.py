"""Grouping runs into configs, choosing the comparison phase, and finding the baseline group.

- Group keys: by default every ``config/*`` column whose value varies across the runs, except the
  seed and keys that do not change what is searched (device, threads, data/truth paths, test
  hooks). A group is (phase, key values): seeds of one config pool into one group, phases never
  mix. When no config column varies, the group key is ``config_id``.
- Comparison phase: ``confirm`` when any confirm run is present, else ``explore``, else ``single``
  (or the phase asked for).
- Baseline: ``key=value[,key=value...]`` (config keys without the ``config/`` prefix; values parsed
  as YAML scalars and compared numerically for numeric columns) or a ``config_id`` (or a unique
  prefix of one). The matching runs of the comparison phase must fall into exactly one group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from diffnas.config import NON_IDENTITY_KEYS
from diffnas.errors import InputError
from diffnas.results.schema import CONFIG_PREFIX, PHASES

PHASE_PREFERENCE = ("confirm", "explore", "single")
# keys that do not change what is searched: the same set that config_id ignores
_NEVER_GROUP = NON_IDENTITY_KEYS
_NEVER_GROUP_PREFIXES = ("fault.",)


def _never_group(key: str) -> bool:
    return key in _NEVER_GROUP or key.startswith(_NEVER_GROUP_PREFIXES)


def short(column: str) -> str:
    """``config/sampler`` -> ``sampler``."""
    return column[len(CONFIG_PREFIX):] if column.startswith(CONFIG_PREFIX) else column


def config_columns(runs: pd.DataFrame) -> list[str]:
    """The ``config/*`` columns of ``runs``."""
    return [c for c in runs.columns if c.startswith(CONFIG_PREFIX)]


def as_text(series: pd.Series) -> np.ndarray:
    """Values rendered by :func:`_text`, computed once per distinct value (no per-row Python call)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([_text(u) for u in uniques] + ["null"], dtype=object)
    return texts[codes]


def _varies(series: pd.Series) -> bool:
    return len(set(as_text(series.drop_duplicates()).tolist())) > 1


def default_group_keys(runs: pd.DataFrame) -> list[str]:
    """Config columns that vary across ``runs`` (seed and non-semantic keys excluded)."""
    keys = [c for c in config_columns(runs) if not _never_group(short(c)) and _varies(runs[c])]
    return keys or ["config_id"]


def resolve_group_keys(runs: pd.DataFrame, text: str | None) -> list[str]:
    """``--group-by a,b`` -> ``["config/a", "config/b"]`` (``config_id`` and ``sweep`` allowed too)."""
    if not text:
        return default_group_keys(runs)
    keys: list[str] = []
    for raw in (k.strip() for k in text.split(",")):
        if not raw:
            continue
        for candidate in (raw, CONFIG_PREFIX + raw):
            if candidate in runs.columns and (candidate.startswith(CONFIG_PREFIX) or candidate in ("config_id", "sweep")):
                keys.append(candidate)
                break
        else:
            known = ", ".join(sorted(short(c) for c in config_columns(runs)))
            raise InputError("--group-by", f"unknown config key {raw!r} (known: {known})")
    return keys


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return format(float(value), "g")
    return str(value)


def assign_groups(runs: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Add ``group_id`` (over phase and ``keys``) and a readable ``group`` label to ``runs``."""
    out = runs.copy()
    label = None
    for k in keys:
        part = short(k) + "=" + pd.Series(as_text(out[k]), index=out.index, dtype=object)
        label = part if label is None else label + ", " + part
    out["group"] = label.astype(str) if label is not None else ""
    out["group_id"] = out.groupby(["phase", "group"], sort=True, dropna=False).ngroup().astype(np.int64)
    return out


def comparison_phase(runs: pd.DataFrame, requested: str | None = None) -> str:
    """The phase comparisons use: ``requested``, else confirm > explore > single."""
    present = set(runs["phase"].astype(str))
    if requested:
        if requested not in PHASES:
            raise InputError("--phase", f"must be one of {', '.join(PHASES)}, got {requested!r}")
        if requested not in present:
            raise InputError("--phase", f"no runs with phase {requested!r} (present: {', '.join(sorted(present))})")
        return requested
    for phase in PHASE_PREFERENCE:
        if phase in present:
            return phase
    return sorted(present)[0]


def parse_baseline(text: str) -> dict[str, Any] | str:
    """``"sampler=softmax,entropy_weight=0"`` -> mapping (YAML scalars); text without ``=`` -> config_id."""
    import yaml

    text = text.strip()
    if not text:
        raise InputError("--baseline", "empty expression")
    if "=" not in text:
        return text
    out: dict[str, Any] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError("--baseline", f"expected key=value, got {part.strip()!r}")
        key, raw = part.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw.strip()
        out[key.strip()] = value
    return out


def _matches(series: pd.Series, value: Any) -> np.ndarray:
    if value is None:
        return series.isna().to_numpy()
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    if pd.api.types.is_bool_dtype(series):
        text = str(value).strip().lower()
        return (series == (text in ("true", "1", "yes"))).to_numpy()
    if pd.api.types.is_numeric_dtype(series) and not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return np.zeros(len(series), dtype=bool)
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.isclose(values, number, rtol=1e-9, atol=0.0)
    return as_text(series) == _text(value)


def baseline_mask(runs: pd.DataFrame, baseline: Mapping[str, Any] | str, field: str) -> np.ndarray:
    """Rows of ``runs`` that the baseline expression (mapping or config_id) selects."""
    if isinstance(baseline, str):
        ids = runs["config_id"].astype(str)
        exact = (ids == baseline).to_numpy()
        if exact.any():
            return exact
        prefixed = ids.str.startswith(baseline).to_numpy()
        if len(baseline) >= 4 and ids[prefixed].nunique() == 1:
            return prefixed
        raise InputError(field, f"no config_id {baseline!r} (use key=value pairs or a full config_id)")
    mask = np.ones(len(runs), dtype=bool)
    for key, value in baseline.items():
        column = key if key.startswith(CONFIG_PREFIX) else CONFIG_PREFIX + key
        if column not in runs.columns:
            known = ", ".join(sorted(short(c) for c in config_columns(runs)))
            raise InputError(field, f"unknown config key {short(column)!r} (known: {known})")
        mask &= _matches(runs[column], value)
    return mask


def baseline_group(runs: pd.DataFrame, baseline: Mapping[str, Any] | str, field: str) -> int:
    """The one ``group_id`` holding the baseline's runs (within the already phase-filtered ``runs``)."""
    mask = baseline_mask(runs, baseline, field)
    groups = runs.loc[mask, "group"].unique()
    if len(groups) == 0:
        raise InputError(field, f"no runs match the baseline {describe(baseline)}")
    if len(groups) > 1:
        shown = "; ".join(sorted(map(str, groups))[:4])
        raise InputError(field, f"the baseline {describe(baseline)} matches {len(groups)} groups ({shown}); "
                         "add keys to make it unique")
    return int(runs.loc[mask, "group_id"].iloc[0])


def describe(baseline: Mapping[str, Any] | str) -> str:
    """A one-line rendering of a baseline expression."""
    if isinstance(baseline, str):
        return f"config_id={baseline}"
    return ",".join(f"{short(k)}={_text(v)}" for k, v in baseline.items())
