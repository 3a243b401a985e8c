"""Many search runs on Ray Tune: sweep specs, the trainable, the Parquet sink, explore -> confirm.

Modules: :mod:`sweeps.spec` (YAML spec, validated before Ray starts), :mod:`sweeps.trainable`
(one search run per trial), :mod:`sweeps.sink` (driver-side callbacks: Parquet results, progress),
:mod:`sweeps.tuners` (the explore and confirm Tuners), :mod:`sweeps.session` (connecting to Ray),
:mod:`sweeps.results_folder` (``sweep.json`` and the rows read back), :mod:`sweeps.ranking` and
:mod:`sweeps.points` (what confirm re-runs), :mod:`sweeps.commands` (run, resume, confirm, status),
:mod:`sweeps.cli` (``diffnas sweep ...``). Importing this package imports nothing heavy.
"""
