"""One search run: the bilevel loop and every piece it is built from.

- :mod:`~diffnas.search.run` — :class:`~diffnas.search.run.SearchRun`, one epoch per ``step()``;
- :mod:`~diffnas.search.samplers` — α and a temperature → op weights (softmax, gumbel, gumbel_hard, ...);
- :mod:`~diffnas.search.schedules` — temperature schedules;
- :mod:`~diffnas.search.regularizers` — entropy, L2, β-decay, Dirichlet KL and resource terms of α's loss;
- :mod:`~diffnas.search.clipping` — clipping of α's gradient;
- :mod:`~diffnas.search.bilevel` — first- and second-order α gradients;
- :mod:`~diffnas.search.aux_skip`, :mod:`~diffnas.search.pruning` — DARTS-'s auxiliary skip and DrNAS's
  progressive op shrinking;
- :mod:`~diffnas.search.metrics`, :mod:`~diffnas.search.grad_diagnostics`, :mod:`~diffnas.search.hessian`
  — per-epoch convergence measurements;
- :mod:`~diffnas.search.early_stopping` — early stopping and collapse guards;
- :mod:`~diffnas.search.epoch_profile` — where an epoch's time goes.

Importing the package imports nothing; each module imports what it needs.
"""
