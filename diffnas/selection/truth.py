"""Ground-truth lookup: the true accuracy of a discretised NAS-Bench-201 cell from a table.

The table is a CSV (optionally gzipped) with an ``arch_str`` column and accuracy columns. The
package ships one (:func:`bundled_table_path`): the final test accuracy (%, 200-epoch schedule,
mean over seeds) of all 15,625 cells of the NAS-Bench-201 / NATS-Bench topology space, columns
``index``, ``arch_str``, ``cifar10_test``, ``cifar100_test``, ``imagenet16_120_test``, as
published by NATS-Bench (MIT licence) — exported from the public table in the GitHub repository
v-tao/nats-bench-landscape (file ``nats_bench.csv``, commit b307ae5), which was generated with the
official NATS-Bench API (provenance in ``diffnas/data_files/README.md``). A search on space
``nb201`` looks its cells up there unless ``truth.table`` names a user's own table.

:data:`ANCHORS` are published CIFAR-10 reference points of the same space (test accuracy, %), for
reports to put truth next to: DARTS-V1's collapse to the all-skip cell, GDAS, SNAS, PC-DARTS,
DrNAS, the best cell and the mean over all cells (a uniformly random cell).

Pure Python (csv, gzip): no torch, so ``analysis`` may use it.
"""

from __future__ import annotations

import csv
import functools
import gzip
import os
from importlib import resources

from diffnas.errors import InputError

BUNDLED_COLUMNS = ("cifar10_test", "cifar100_test", "imagenet16_120_test")
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
BEST_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"  # CIFAR-10 optimum (index 6111)

# Published NAS-Bench-201 CIFAR-10 test accuracies (%) — name -> value.
ANCHORS: dict[str, float] = {
    "DARTS-V1 (all-skip collapse)": 54.30,
    "random cell (mean of all 15,625)": 87.06,
    "SNAS": 92.77,
    "PC-DARTS": 93.41,
    "GDAS": 93.61,
    "DrNAS": 94.36,
    "optimum": 94.37,
}


def bundled_table_path() -> str:
    """Path of the NATS-Bench table shipped with the package."""
    return str(resources.files("diffnas").joinpath("data_files", "nb201_accuracy.csv.gz"))


def _open(path: str):
    return gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def _bad(path: str, err: BaseException) -> InputError:
    what = "not UTF-8 text" if isinstance(err, UnicodeDecodeError) else "not a readable (gzipped) CSV file"
    return InputError("truth.table", f"{path} is {what}; expected a CSV(.gz) with arch_str and accuracy columns")


def check_table(path: str, column: str) -> None:
    """Cheap check before any work: ``path`` is a readable UTF-8 CSV(.gz) whose header has
    ``arch_str`` and ``column``; :class:`InputError` naming ``truth.table`` / ``truth.column``."""
    if os.path.isdir(path):
        raise InputError("truth.table", f"{path} is a folder, not a CSV file")
    if not os.path.isfile(path):
        raise InputError("truth.table", f"file not found: {path}")
    try:
        with _open(path) as fh:
            fields = next(csv.reader([fh.readline(1 << 16)]), [])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as err:
        raise _bad(path, err) from None
    if "arch_str" not in fields or column not in fields:
        raise InputError("truth.column", f"{path} needs columns arch_str and {column!r}; has "
                                         f"{', '.join(fields)[:60] or 'none'}")


@functools.lru_cache(maxsize=8)
def _read(path: str, column: str, mtime: float) -> dict[str, float]:
    table: dict[str, float] = {}
    try:
        with _open(path) as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if "arch_str" not in fields or column not in fields:
                raise InputError("truth.column", f"{path} needs columns arch_str and {column!r}; has "
                                                 f"{', '.join(fields)[:60] or 'none'}")
            for line, row in enumerate(reader, start=2):
                try:
                    table[row["arch_str"]] = float(row[column])
                except (TypeError, ValueError):
                    raise InputError("truth.table", f"{path} line {line}: {column} is not a number") from None
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as err:
        raise _bad(path, err) from None
    return table


class TruthTable:
    """arch_str -> accuracy for one column; ``path=None`` uses the bundled NATS-Bench table."""

    def __init__(self, path: str | None = None, column: str = "cifar10_test") -> None:
        path = path or bundled_table_path()
        check_table(path, column)
        self.table = _read(path, column, os.path.getmtime(path))
        self.path = path
        self.column = column

    def lookup(self, arch_str: str) -> float:
        """Accuracy of ``arch_str``, NaN when the cell is not in the table."""
        return self.table.get(arch_str, float("nan"))


def nb201_truth(arch_str: str, column: str = "cifar10_test") -> float:
    """True accuracy (%) of one NB201 cell from the bundled table; NaN when unknown."""
    return TruthTable(None, column).lookup(arch_str)
