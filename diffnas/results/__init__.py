"""Results folders: the schema that ties the three packages together, and writing it.

- :mod:`~diffnas.results.schema` — the results schema (columns, kinds, folder layout, version);
- :mod:`~diffnas.results.records` — identity and ``config/<dotted.key>`` columns of one run's rows;
- :mod:`~diffnas.results.parts` — immutable Parquet part files, written atomically;
- :mod:`~diffnas.results.outputs` — output safety: a command never removes what it did not create.

Torch-free and Ray-free: the analysis side imports this package.
"""
