"""Many search runs on Ray Tune: sweep specs, the trainable, the Parquet sink, explore -> confirm.

Modules: :mod:`diffnas.sweeps.spec` (YAML spec, validated before Ray starts), :mod:`diffnas.sweeps.trainable`
(one search run per trial), :mod:`diffnas.sweeps.sink` (driver-side callbacks: Parquet results, progress),
:mod:`diffnas.sweeps.tuners` (the explore and confirm Tuners), :mod:`diffnas.sweeps.session` (connecting to Ray),
:mod:`diffnas.sweeps.results_folder` (``sweep.json`` and the rows read back), :mod:`diffnas.sweeps.ranking` and
:mod:`diffnas.sweeps.points` (what confirm re-runs), :mod:`diffnas.sweeps.commands` (run, resume, confirm, status),
:mod:`diffnas.sweeps.cli` (``diffnas sweep ...``). Importing this package imports nothing heavy.
"""
