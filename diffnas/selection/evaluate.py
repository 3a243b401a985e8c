"""Retrain a discretised genotype from scratch and report its test accuracy.

The network is the supernet skeleton (every op of every edge is built) driven by one-hot weights and
the chosen op per edge: only the chosen op of each kept edge runs, so only its parameters (and the
fixed stem, reductions and classifier) receive gradients and change; the other ops' parameters
exist but stay at their initial values. The reported ``params`` is the genotype's count (fixed part
+ the chosen op of every kept edge, :meth:`~diffnas.model.supernet.Supernet.genotype_params`), not the
skeleton's. Training uses the whole training split — weight half ∪ α half, or the weight split alone where
the α split is a half of the official test set (CIFAR-100, ImageNet16-120 as NB201 splits them) — with the
dataset's training augmentation (NB201's random crop + flip, :mod:`diffnas.data.augment`), SGD + Nesterov
momentum, cosine learning rate, then accuracy on the held-out test split.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from diffnas.data import DataSplits, load_dataset
from diffnas.data.augment import augment
from diffnas.model.spaces import SearchSpace, build_space, choice_from_genotype
from diffnas.model.supernet import Supernet


@dataclass
class EvaluationResult:
    test_acc: float
    train_acc: float
    params: int
    epochs: int


def evaluate_genotype(space_name: str, ops: list[str] | None, genotype: str, *, dataset: str = "digits",
                      data_dir: str | None = None, subset: int | None = None, resolution: int | None = None,
                      test_fraction: float = 0.2, epochs: int = 20, channels: int = 8, cells_per_stage: int = 1, stages: int = 2,
                      lr: float = 0.05, batch_size: int = 64, seed: int = 0, threads: int = 1,
                      device: str = "cpu") -> EvaluationResult:
    """Train the discrete architecture for ``epochs`` and return test accuracy and parameter count."""
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    space = build_space(space_name, ops)
    chosen = choice_from_genotype(space, genotype)
    data = load_dataset(dataset, subset=subset, resolution=resolution, data_dir=data_dir, seed=seed,
                        test_fraction=test_fraction)
    return retrain(space, chosen, data, epochs=epochs, channels=channels, cells_per_stage=cells_per_stage,
                   stages=stages, lr=lr, batch_size=batch_size, seed=seed, device=device)


def retrain(space: SearchSpace, chosen: torch.Tensor, data: DataSplits, *, epochs: int = 20, channels: int = 8,
            cells_per_stage: int = 1, stages: int = 2, lr: float = 0.05, batch_size: int = 64, seed: int = 0,
            device: str = "cpu") -> EvaluationResult:
    """Train the discrete architecture ``chosen`` on ``data``'s training split (see the module docstring) from a
    fresh initialisation and return its test accuracy (``diffnas evaluate``'s network and schedule)."""
    torch.manual_seed(seed)
    parts = [(data.x_weights, data.y_weights)] + ([] if data.alpha_from_test else [(data.x_alpha, data.y_alpha)])
    x = torch.cat([xs for xs, _ in parts]).to(device)
    y = torch.cat([ys for _, ys in parts]).to(device)
    net = Supernet(space, data.in_channels, data.num_classes, channels, cells_per_stage, stages).to(device)
    weights = torch.zeros(space.n_edges, space.n_ops, device=device)
    keep = chosen >= 0
    weights[keep, chosen[keep]] = 1.0
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    aug_gen = torch.Generator(device=device).manual_seed(seed + 3)
    steps = math.ceil(len(y) / batch_size)
    correct = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        correct = 0.0
        for s in range(steps):
            idx = order[s * batch_size:(s + 1) * batch_size].to(device)
            opt.zero_grad(set_to_none=True)
            xb = x[idx]
            if data.augment_padding is not None:
                xb = augment(xb, data.augment_padding, aug_gen, fill=data.augment_fill)
            logits = net(xb, weights, chosen)
            F.cross_entropy(logits, y[idx]).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            correct += float((logits.argmax(-1) == y[idx]).sum())
        sched.step()
    net.eval()
    with torch.no_grad():
        xt, yt = data.x_test.to(device), data.y_test.to(device)
        hits = sum(float((net(xt[i:i + 256], weights, chosen).argmax(-1) == yt[i:i + 256]).sum())
                   for i in range(0, len(yt), 256))
    return EvaluationResult(test_acc=hits / len(yt), train_acc=correct / len(y),
                            params=net.genotype_params(chosen), epochs=epochs)
