"""analysis: results folders (Parquet) → per-run summaries, per-config aggregates with bootstrap CIs,
comparisons against a baseline, plots and exported tables (``diffnas report``).

Imports pandas, pyarrow, scipy and matplotlib — never torch or Ray. From the rest of ``diffnas`` it imports
only torch-free modules: :mod:`diffnas.results` (the schema, output safety), :mod:`diffnas.config` (config
keys, to group runs), :mod:`diffnas.model.genotypes` (the NB201 string parser), :mod:`diffnas.selection.truth`
(the NB201 truth table and anchors), :mod:`diffnas.storage`, :mod:`diffnas.inputs` and :mod:`diffnas.errors`
— so it runs where only the base install is present (a test checks that no torch or Ray module is loaded).
"""
