"""Checks of what a sweep's trials will read, made on the driver before Ray starts.

Every dataset folder and truth table any trial (explore, baseline) will read exists and has the right
header, and every tracker the spec names is installed: one :class:`~diffnas.errors.InputError` naming
where the value came from (``base.data.dir``, ``grid.data.dir`` ...). Cheap: headers only, never the
data. A trial checks its own data folder again where it loads it.
"""

from __future__ import annotations

import itertools
from typing import Any

from diffnas.errors import InputError
from diffnas.names import truth_column_of
from diffnas.sweeps.spec import LOGGERS_KEY, SweepSpec
from diffnas.tracking.registry import check_installed

# Config keys naming files or folders a trial will read: checked before Ray starts.
PATH_KEYS = ("dataset", "data.dir", "truth.table", "truth.column")
_MAX_PATH_COMBOS = 256


def check_inputs(spec: SweepSpec) -> None:
    """See the module docstring; :class:`InputError` naming where the bad value came from."""
    from diffnas.data import check_dataset
    from diffnas.selection.truth import check_table

    check_installed(spec.loggers, LOGGERS_KEY)  # a tracker's package missing: the extra to install
    sources: dict[str, list[tuple[str, Any]]] = {}
    for key in PATH_KEYS:
        options = [(f"base.{key}", spec.base[key])]
        if key in spec.grid:
            options = [(f"grid.{key}", v) for v in spec.grid[key]]
        elif key in spec.sample:
            options = [(f"sample.{key}", v) for v in spec.sample[key].args]
        if key in spec.baseline:
            options.append((f"baseline.{key}", spec.baseline[key]))
        sources[key] = options
    combos = itertools.islice(itertools.product(*(sources[k] for k in PATH_KEYS)), _MAX_PATH_COMBOS)
    for combo in combos:
        where = dict(zip(PATH_KEYS, combo))
        try:
            check_dataset(where["dataset"][1], where["data.dir"][1])
            if where["truth.table"][1]:
                check_table(where["truth.table"][1], where["truth.column"][1] or truth_column_of(where["dataset"][1]))
        except InputError as err:
            label = where.get(err.field, (err.field, None))[0]
            raise InputError(label, err.message) from None
