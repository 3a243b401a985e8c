"""Compiled CPU kernels for the fused NB201 cell: :mod:`diffnas.model.native.build` builds and loads them,
:mod:`diffnas.model.native.mix` (BatchNorm and the mixing) and :mod:`diffnas.model.native.pool` (ReLU and the
average pool) are the autograd functions that use them."""
