"""Splitting a dataset for a bilevel search: a weight half, an α half and a test split.

How a dataset is split and normalised is a property of its registry entry
(:class:`~diffnas.data.datasets.DatasetLoader`: ``split``, ``normalization``, ``augment_padding``).

Split rule ``halves`` (digits, fashion_mnist, mnist5k; all splits stratified by class, using
integer largest-remainder quotas, so every class is represented in proportion, ±1 image):

1. Test split: the official one where the dataset has one; otherwise ``round(test_fraction · N)``
   images held out with a *fixed* generator (:data:`TEST_SPLIT_SEED`), independent of ``seed`` and
   ``subset``, so that every run on a dataset is evaluated on the same held-out images, exactly as
   with an official split.
2. ``subset``: a stratified sample of that many training images, drawn from ``seed``.
3. Weight half / α half: the training images are split into ``ceil(n/2)`` for the supernet weights
   and ``floor(n/2)`` for the architecture parameters α, drawn from ``seed``.

Split rules with fixed halves (NAS-Bench-201's, as AutoDL's ``get_nas_search_loaders`` splits):

- ``train_halves`` (cifar10, NB201's "cifar10-valid"): the training set's two fixed halves train
  the weights and α; the official test set is the test split, untouched.
- ``test_halves`` (cifar100, imagenet16_120): the whole training set trains the weights; the official
  test (validation) set's fixed halves are the α split ("xvalid") and the test split ("xtest").

The fixed halves come from the dataset's split file when ``data.dir`` holds one
(:mod:`diffnas.data.batches`), else from a stratified halving drawn with the fixed seed
:data:`FIXED_HALVES_SEED` (never the run's seed: every run sees the same halves, as with the file).
``subset`` n draws ⌈n/2⌉ weight images and ⌊n/2⌋ α images, stratified, from ``seed``, each from
its own fixed source; the test split is never subsetted.

Preprocessing: pixels become float32 of shape (N, C, H, W); ``resolution`` resizes with bilinear
interpolation (antialiased when downsampling); then every split is normalised per channel,
``x ← (x − μ_c) / σ_c``: with the entry's constants (NB201's, in pixel units) where it has them,
else with μ_c and σ_c computed on the training split (weight half ∪ α half), so the training split
has mean 0 and standard deviation 1 and nothing is learned from the test split.

Augmentation is not applied here: :attr:`DataSplits.augment_padding` says what the training loop
should draw per batch with :func:`diffnas.data.augment.augment`.

The limits on ``subset``, ``resolution``, ``seed`` and ``test_fraction`` are the config's
(:data:`diffnas.config.FIELDS`), checked by the same code. Everything runs in the calling process
(no worker processes). torch is imported when a dataset is loaded, not at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from diffnas.config import FIELDS
from diffnas.data.datasets import DatasetLoader, RawDataset, check_dataset, dataset_entry
from diffnas.errors import InputError

if TYPE_CHECKING:
    import torch

__all__ = ["FIXED_HALVES_SEED", "TEST_SPLIT_SEED", "DataSplits", "load_dataset"]

TEST_SPLIT_SEED = 20_240_601
"""Fixed seed of the held-out test split of datasets without an official one (digits, mnist5k)."""

FIXED_HALVES_SEED = 20_240_602
"""Fixed seed of the stratified halving that stands in for a missing NB201 split file."""


@dataclass
class DataSplits:
    """One dataset, preprocessed and split for a bilevel search.

    ``x_*`` are float32 tensors of shape (N, C, H, W), standardised with the training split's
    per-channel mean and std (``mean``, ``std``; training split = weight half ∪ α half); ``y_*`` are
    int64 class indices in ``0 .. num_classes - 1``. The weight half trains the supernet weights,
    the α half trains the architecture parameters, the test split is for final evaluation only.
    ``resolution`` is H (= W) after any resizing. Pixel values before standardisation are the
    dataset's native ones (0..16 for digits, 0..255 otherwise): ``x * std + mean`` recovers them
    (up to float rounding and resizing). ``mean``/``std`` are the dataset's fixed constants where
    its registry entry has them (NB201's datasets), else the training split's statistics.

    ``augment_padding``: None = no augmentation; else the training loop should augment every weight
    batch with ``augment(x, augment_padding, generator, fill=augment_fill)``
    (:func:`diffnas.data.augment.augment`: random crop with that padding + horizontal flip; the
    padding is scaled with ``resolution``), and every α batch too when ``augment_alpha`` (NB201
    augments both). ``split_file``: the split file whose fixed halves were used, None when none was
    (split rule ``halves``, or the fixed-seed fallback). ``alpha_from_test``: the α split is a half of the
    official test set (rule ``test_halves``), so retraining a cell from scratch uses the weight split only.
    """

    name: str
    x_weights: torch.Tensor
    y_weights: torch.Tensor
    x_alpha: torch.Tensor
    y_alpha: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    in_channels: int
    resolution: int
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())
    augment_padding: int | None = None
    augment_alpha: bool = False
    split_file: str | None = None
    alpha_from_test: bool = False

    @property
    def augment_fill(self) -> tuple[float, ...]:
        """The normalised value of a black pixel per channel, ``−mean / std``: what NB201's crop pads with."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))

    def __repr__(self) -> str:
        return (
            f"DataSplits(name={self.name!r}, weights={len(self.y_weights)}, alpha={len(self.y_alpha)}, "
            f"test={len(self.y_test)}, num_classes={self.num_classes}, in_channels={self.in_channels}, "
            f"resolution={self.resolution})"
        )


def _stratified_split(y: np.ndarray, n_first: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(y)-1`` into ``n_first`` and the rest, stratified by ``y``.

    Each class c with n_c members gets ⌊n_c · n_first / N⌋ places in the first part, and the places
    left over go to the classes with the largest remainders (ties broken at random). Within a class
    the members are taken in a random order from ``rng``. Both parts are returned sorted.
    """
    n = len(y)
    if not 0 <= n_first <= n:
        raise ValueError(f"n_first={n_first} outside 0..{n}")
    classes, counts = np.unique(y, return_counts=True)
    share = counts.astype(np.int64) * n_first
    quota = share // n
    remainder = share % n
    short = int(n_first - quota.sum())
    if short:
        order = np.lexsort((rng.random(len(classes)), -remainder))
        quota[order[:short]] += 1
    perm = rng.permutation(n)
    y_perm = y[perm]
    first = [perm[y_perm == c][:q] for c, q in zip(classes, quota)]
    first_idx = np.sort(np.concatenate(first)) if first else np.empty(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[first_idx] = False
    return first_idx.astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream]))


def _to_float_tensor(x: np.ndarray, resolution: int | None) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if resolution is not None and resolution != t.shape[-1]:
        downsampling = resolution < t.shape[-1]
        t = F.interpolate(t, size=(resolution, resolution), mode="bilinear", align_corners=False,
                          antialias=downsampling)
    return t.contiguous()


def load_dataset(
    name: str,
    *,
    subset: int | None = None,
    resolution: int | None = None,
    data_dir: str | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    raw_loader: Callable[[str, str | None], RawDataset] | None = None,
) -> DataSplits:
    """Load dataset ``name`` offline and split it for a bilevel search (see the module docstring).

    Args:
        name: a registered dataset (:func:`available_datasets`).
        subset: number of training examples to use (stratified sample drawn from ``seed``); None
            uses all of them. At least ``FIELDS["data.subset"].minimum`` and at most the number of
            training examples. Under a fixed-halves rule: ⌈n/2⌉ weight and ⌊n/2⌋ α images.
        resolution: side length in pixels after bilinear resizing (antialiased when downsampling),
            within the limits of ``FIELDS["data.resolution"]``; None keeps the native size.
        data_dir: folder for datasets read from files (``fashion_mnist``, default
            :data:`DEFAULT_FASHION_MNIST_DIR`; ``cifar10``, ``cifar100``, ``imagenet16_120``: a root
            holding their folder, the folder itself, or an ``s3://`` URI); ignored by bundled datasets.
        seed: draws the subset and the weight/α split (same seed → same splits); never the fixed
            halves of NB201's datasets.
        test_fraction: share held out as the test split for datasets without an official one
            (digits, mnist5k), with a fixed seed; ignored where an official test split exists.

    Raises:
        InputError: unknown dataset (``dataset``), missing or corrupt files (``data.dir``), bad
            ``subset`` (``data.subset``), ``resolution`` (``data.resolution``), ``seed`` or
            ``test_fraction`` (``data.test_fraction``).

    ``raw_loader(name, data_dir)`` replaces the registry's loader call (the process cache of
    :mod:`diffnas.data.cache` passes its own); the result is the same.
    """
    entry = dataset_entry(name)
    subset = FIELDS["data.subset"].coerce("data.subset", subset)
    resolution = FIELDS["data.resolution"].coerce("data.resolution", resolution)
    seed = FIELDS["seed"].coerce("seed", seed)
    test_fraction = FIELDS["data.test_fraction"].coerce("data.test_fraction", test_fraction)
    check_dataset(name, data_dir)

    raw = entry(data_dir) if raw_loader is None else raw_loader(name, data_dir)
    x_all, y_all = raw.x_train, np.asarray(raw.y_train, dtype=np.int64)
    if x_all.ndim != 4 or x_all.shape[-1] != x_all.shape[-2] or len(x_all) != len(y_all):
        raise InputError("dataset", f"{name}: loader returned images {x_all.shape} and labels {y_all.shape}; "
                                    "expected (N, C, H, H) and (N,)")

    if entry.split == "halves":
        x_w_src, y_w_src, w_idx, x_a_src, y_a_src, a_idx, x_test_raw, y_test = _seeded_halves(
            name, raw, x_all, y_all, subset, seed, test_fraction)
    else:
        x_w_src, y_w_src, w_idx, x_a_src, y_a_src, a_idx, x_test_raw, y_test = _fixed_halves(
            name, entry, raw, x_all, y_all, subset, seed)

    import torch

    if x_w_src is x_a_src:  # one pool: index it once (the ``halves`` rule's historic arithmetic)
        x_train_raw = x_w_src[np.concatenate([w_idx, a_idx])]
    else:
        x_train_raw = np.concatenate([x_w_src[w_idx], x_a_src[a_idx]])
    x_train = _to_float_tensor(x_train_raw, resolution)
    x_test = _to_float_tensor(x_test_raw, resolution)
    if entry.normalization is None:
        count = x_train.shape[0] * x_train.shape[2] * x_train.shape[3]
        mean = x_train.sum(dim=(0, 2, 3), dtype=torch.float64) / count
        m32 = mean.float().view(1, -1, 1, 1)
        std = ((x_train - m32) ** 2).sum(dim=(0, 2, 3), dtype=torch.float64).div(count).sqrt()
        std = torch.where(std > 0, std, torch.ones_like(std))
        s32 = std.float().view(1, -1, 1, 1)
    else:
        mean = torch.tensor(entry.normalization[0], dtype=torch.float64)
        std = torch.tensor(entry.normalization[1], dtype=torch.float64)
        if len(mean) != x_train.shape[1]:
            raise InputError("dataset", f"{name}: {len(mean)} normalisation constants for {x_train.shape[1]} channels")
        m32, s32 = mean.float().view(1, -1, 1, 1), std.float().view(1, -1, 1, 1)
    x_train = (x_train - m32) / s32
    x_test = (x_test - m32) / s32

    padding = entry.augment_padding
    if padding is not None and x_train.shape[-1] != x_all.shape[-1]:  # NB201: 4 px at 32, 2 px at 16
        padding = max(1, round(padding * x_train.shape[-1] / x_all.shape[-1])) if padding else 0

    return DataSplits(
        name=name,
        x_weights=x_train[: len(w_idx)].contiguous(),
        y_weights=torch.from_numpy(y_w_src[w_idx].copy()),
        x_alpha=x_train[len(w_idx):].contiguous(),
        y_alpha=torch.from_numpy(y_a_src[a_idx].copy()),
        x_test=x_test.contiguous(),
        y_test=torch.from_numpy(np.ascontiguousarray(y_test, dtype=np.int64)),
        num_classes=raw.num_classes,
        in_channels=int(x_train.shape[1]),
        resolution=int(x_train.shape[-1]),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        augment_padding=padding,
        augment_alpha=entry.augment_alpha and padding is not None,
        split_file=raw.split_file if entry.split != "halves" and raw.halves is not None else None,
        alpha_from_test=entry.split == "test_halves",
    )


def _seeded_halves(name: str, raw: RawDataset, x_all: np.ndarray, y_all: np.ndarray, subset: int | None,
                   seed: int, test_fraction: float):
    """Split rule ``halves`` (module docstring): (x, y, positions) of the weights, of α, then the test split."""
    if raw.x_test is None or raw.y_test is None:
        n_test = int(round(float(test_fraction) * len(y_all)))
        if not 1 <= n_test <= len(y_all) - 2:
            raise InputError("data.test_fraction", f"{test_fraction!r} of {len(y_all)} examples leaves "
                                                   f"{n_test} for the test split and {len(y_all) - n_test} "
                                                   "for training; need ≥ 1 and ≥ 2")
        test_idx, train_idx = _stratified_split(y_all, n_test, np.random.default_rng(TEST_SPLIT_SEED))
        x_test_raw, y_test = x_all[test_idx], y_all[test_idx]
        x_pool, y_pool = x_all[train_idx], y_all[train_idx]
    else:
        x_test_raw, y_test = raw.x_test, np.asarray(raw.y_test, dtype=np.int64)
        x_pool, y_pool = x_all, y_all

    if subset is not None:
        if subset > len(y_pool):
            raise InputError("data.subset", f"{subset} exceeds the {len(y_pool)} training examples of {name}; "
                                            f"allowed: {FIELDS['data.subset'].minimum}.."
                                            f"{len(y_pool)} or null for all")
        chosen, _ = _stratified_split(y_pool, int(subset), _rng(seed, 1))
    else:
        chosen = np.arange(len(y_pool))
    if len(chosen) < 2:
        raise InputError("data.subset", f"{name} has {len(chosen)} training examples; need at least 2")

    n_weights = (len(chosen) + 1) // 2
    w_pos, a_pos = _stratified_split(y_pool[chosen], n_weights, _rng(seed, 2))
    return x_pool, y_pool, chosen[w_pos], x_pool, y_pool, chosen[a_pos], x_test_raw, y_test


def _fixed_halves(name: str, entry: DatasetLoader, raw: RawDataset, x_all: np.ndarray, y_all: np.ndarray,
                  subset: int | None, seed: int):
    """Split rules ``train_halves`` / ``test_halves`` (module docstring), same return as :func:`_seeded_halves`."""
    if raw.x_test is None or raw.y_test is None:
        raise InputError("dataset", f"{name}: split rule {entry.split} needs an official test set")
    x_test_all, y_test_all = raw.x_test, np.asarray(raw.y_test, dtype=np.int64)
    split_set = y_all if entry.split == "train_halves" else y_test_all
    if raw.halves is not None:
        first, second = (np.asarray(h, dtype=np.int64).reshape(-1) for h in raw.halves)
        both = np.concatenate([first, second])
        if (not len(first) or not len(second) or both.min() < 0 or both.max() >= len(split_set)
                or len(np.unique(both)) != len(both)):
            where = raw.split_file or f"{name}'s loader"
            raise InputError("data.dir", f"{where}: the two halves must be disjoint, non-empty positions in "
                                         f"0..{len(split_set) - 1}")
    else:
        n_first = (len(split_set) + 1) // 2 if entry.split == "train_halves" else len(split_set) // 2
        if not 1 <= n_first < len(split_set):
            raise InputError("dataset", f"{name}: {len(split_set)} images cannot be halved")
        first, second = _stratified_split(split_set, n_first, np.random.default_rng(FIXED_HALVES_SEED))
    if entry.split == "train_halves":  # (weights, α) in the training set; the test set untouched
        w_pool, a_pool = first, second
        x_a_src, y_a_src = x_all, y_all
        x_test_raw, y_test = x_test_all, y_test_all
    else:  # weights: the whole training set; (α, test) in the test set
        w_pool, a_pool = np.arange(len(y_all), dtype=np.int64), first
        x_a_src, y_a_src = x_test_all, y_test_all
        x_test_raw, y_test = x_test_all[second], y_test_all[second]

    if subset is not None:
        n_w, n_a = (subset + 1) // 2, subset // 2
        most = min(2 * len(w_pool), 2 * len(a_pool) + 1)
        if n_w > len(w_pool) or n_a > len(a_pool):
            raise InputError("data.subset", f"{subset} exceeds what {name}'s split allows ({len(w_pool)} weight and "
                                            f"{len(a_pool)} α images, drawn ⌈n/2⌉ and ⌊n/2⌋); allowed: "
                                            f"{FIELDS['data.subset'].minimum}..{most} or null for all")
        w_pos, _ = _stratified_split(y_all[w_pool], n_w, _rng(seed, 3))
        a_pos, _ = _stratified_split(y_a_src[a_pool], n_a, _rng(seed, 4))
        w_pool, a_pool = w_pool[w_pos], a_pool[a_pos]
    return x_all, y_all, w_pool, x_a_src, y_a_src, a_pool, x_test_raw, y_test
