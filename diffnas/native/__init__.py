"""Compiled CPU kernels for the fused NB201 cell: :mod:`diffnas.native.build` builds and loads them,
:mod:`diffnas.native.mix` (BatchNorm and the mixing) and :mod:`diffnas.native.pool` (ReLU and the
average pool) are the autograd functions that use them."""
