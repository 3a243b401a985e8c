"""The network a search trains: candidate ops, search spaces and genotypes, the supernet.

- :mod:`~diffnas.model.ops` — the candidate operations (NAS-Bench-201's and DARTS's);
- :mod:`~diffnas.model.spaces` — cell topologies, α (edges × ops) → genotype, the NB201 ``arch_str``;
- :mod:`~diffnas.model.genotypes` — reading genotype strings (torch-free: the analysis side uses it);
- :mod:`~diffnas.model.supernet` — stem, stacked cells, classifier; mixed ops weighted by the sampler;
- :mod:`~diffnas.model.fused`, :mod:`~diffnas.model.mix_grads`, :mod:`~diffnas.model.native` — the fast
  paths of the NB201 cell, checked against the supernet's reference sums;
- :mod:`~diffnas.model.perf` — the run's performance switches (fusion, memory format, compile, AMP).

Importing the package imports nothing; each module imports what it needs.
"""
