"""Ground-truth lookup: the true accuracy of a discretised NAS-Bench-201 cell from a table.

The table is a CSV (optionally gzipped) with an ``arch_str`` column and accuracy columns
(e.g. ``cifar10_test``), such as the NATS-Bench export. Users point ``truth.table`` at their copy.
"""

from __future__ import annotations

import csv
import gzip
import os

from diffnas.errors import InputError


class TruthTable:
    """arch_str -> accuracy for one column."""

    def __init__(self, path: str, column: str = "cifar10_test") -> None:
        if not os.path.isfile(path):
            raise InputError("truth.table", f"file not found: {path}")
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if "arch_str" not in fields or column not in fields:
                raise InputError("truth.column", f"{path} needs columns arch_str and {column!r}; has {', '.join(fields)}")
            self.table = {row["arch_str"]: float(row[column]) for row in reader}
        self.column = column

    def lookup(self, arch_str: str) -> float:
        """Accuracy of ``arch_str``, NaN when the cell is not in the table."""
        return self.table.get(arch_str, float("nan"))
