"""Many search runs on Ray Tune: sweep specs, the trainable, the Parquet sink, explore -> confirm.

Modules: :mod:`sweeps.spec` (YAML spec, validated before Ray starts), :mod:`sweeps.trainable`
(one search run per trial), :mod:`sweeps.sink` (driver-side callbacks: Parquet results, progress),
:mod:`sweeps.runner` (Tuner construction, resume, confirm, status), :mod:`sweeps.cli`
(``diffnas sweep ...``). Importing this package imports nothing heavy.
"""
