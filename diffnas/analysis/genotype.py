"""Recorded genotypes as cell graphs: the parser lives in :mod:`diffnas.model.genotypes` (torch-free), shared
with the trackers' pictures; re-exported here for the analysis side."""

from diffnas.model.genotypes import Cell, darts_cells, nb201_cells, parse_genotype

__all__ = ["Cell", "darts_cells", "nb201_cells", "parse_genotype"]
