"""Compiled CPU kernels for the fused NB201 cell: :mod:`diffnas.native.build` builds and loads them,
:mod:`diffnas.native.mix` is the autograd function that uses them."""
