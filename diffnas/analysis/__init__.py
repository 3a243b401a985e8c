"""analysis: results folders (Parquet) → per-run summaries, per-config aggregates with bootstrap CIs,
comparisons against a baseline, plots and exported tables (``diffnas report``).

Imports pandas, pyarrow, scipy and matplotlib — never torch or Ray, and from ``diffnas`` only the pure
modules ``schema``, ``errors`` and ``results`` — so it runs where only the base install is present.
"""
