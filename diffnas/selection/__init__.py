"""Choosing and scoring the cell a search hands back.

- :mod:`~diffnas.selection.best_cell` — the best cell a run saw, by a ranking metric;
- :mod:`~diffnas.selection.proxies` — zero-cost proxies of a discretised cell (the ranking metric);
- :mod:`~diffnas.selection.perturbation` — perturbation-based selection (DARTS-PT);
- :mod:`~diffnas.selection.refine` — local refinement of a cell by short retraining;
- :mod:`~diffnas.selection.evaluate` — retraining a genotype from scratch;
- :mod:`~diffnas.selection.truth` — NAS-Bench-201 ground truth of a cell (torch-free).

Importing the package imports nothing; each module imports what it needs.
"""
