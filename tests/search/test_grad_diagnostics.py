"""diffnas.search.grad_diagnostics: gradient dilution and α-gradient noise against hand-computed values."""

import math

import pytest
import torch

from diffnas.config import SearchConfig
from diffnas.search.grad_diagnostics import AlphaGradLog, gradient_dilution, gradient_noise, step_dilution
from diffnas.search.run import SearchRun
from tests.helpers import TINY


def test_step_dilution_by_hand():
    # edge 0: |g| = (1, 3) on ops (0, 1), argmax op 1 -> 3/4; edge 1: (2, 2), argmax 0 -> 1/2
    g = torch.tensor([[-1.0, 3.0], [2.0, -2.0]])
    assert step_dilution(g, torch.tensor([1, 0])) == pytest.approx((0.75 + 0.5) / 2)
    # an edge with no gradient at all is left out of the mean
    g0 = torch.tensor([[0.0, 0.0], [1.0, -3.0]])
    assert step_dilution(g0, torch.tensor([1, 1])) == pytest.approx(0.75)
    assert math.isnan(step_dilution(torch.zeros(2, 2), torch.tensor([0, 0])))


def test_gradient_dilution_is_the_mean_over_steps():
    grads = torch.tensor([[[-1.0, 3.0], [2.0, -2.0]], [[4.0, 0.0], [1.0, 1.0]]])
    argmaxes = torch.tensor([[1, 0], [1, 1]])
    # step 1: 0.625; step 2: edge 0 0/4, edge 1 1/2 -> 0.25
    assert gradient_dilution(grads, argmaxes) == pytest.approx((0.625 + 0.25) / 2)
    # evenly spread gradient: 1 / #ops
    assert gradient_dilution(torch.ones(3, 4, 5), torch.zeros(3, 4, dtype=torch.long)) == pytest.approx(0.2)


def test_gradient_noise_by_hand():
    # two entries over three batches: entry a = (1, 2, 3): mean 2, unbiased var 1;
    # entry b = (0, 0, 3): mean 1, var ((1 + 1 + 4) / 2) = 3  ->  (1 + 3) / (2² + 1²) = 0.8
    grads = torch.tensor([[[1.0, 0.0]], [[2.0, 0.0]], [[3.0, 3.0]]])
    assert gradient_noise(grads) == pytest.approx(0.8)
    assert gradient_noise(torch.ones(4, 2, 3)) == 0.0  # every batch agrees
    assert math.isnan(gradient_noise(grads[:1]))  # one batch: no variance
    assert math.isnan(gradient_noise(torch.tensor([[[1.0]], [[-1.0]]])))  # zero mean gradient


def test_log_summary_and_warmup():
    log = AlphaGradLog()
    assert all(math.isnan(v) for v in log.summary().values())
    alpha = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    log.add(torch.tensor([[-1.0, 3.0], [2.0, -2.0]]), alpha)
    log.add(torch.tensor([[1.0, 1.0], [2.0, -2.0]]), alpha)
    out = log.summary()
    assert out["grad_dilution"] == pytest.approx((0.625 + 0.5) / 2)
    # means (0, 2, 2, -2); variances (2, 2, 0, 0) -> 4 / 12
    assert out["alpha_grad_noise"] == pytest.approx(4 / 12)


def test_tiny_search_records_the_diagnostics_of_its_own_gradients(monkeypatch):
    """On a tiny supernet, the epoch's columns equal the formulas applied to the α gradients (before
    clipping) that the run's α steps produced, captured independently of the log."""
    cfg = SearchConfig.validate({**TINY, "epochs": 2, "warmup_epochs": 1, "clip.mode": "fixed",
                                 "clip.value": 1e-3})
    run = SearchRun(cfg)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    clip = run.clipper.clip_

    def spy(params):
        (alpha,) = params
        seen.append((alpha.grad.detach().clone(), alpha.detach().argmax(-1)))
        return clip(params)

    monkeypatch.setattr(run.clipper, "clip_", spy)
    warm = run.step()
    assert math.isnan(warm["grad_dilution"]) and math.isnan(warm["alpha_grad_noise"])  # α frozen
    record = run.step()
    assert len(seen) == run.steps_per_epoch >= 2
    ratios, flat = [], []
    for g, a in seen:
        per_edge = [abs(float(g[e, a[e]])) / float(g[e].abs().sum()) for e in range(g.shape[0])]
        ratios.append(sum(per_edge) / len(per_edge))
        flat.append([float(x) for x in g.flatten()])
    assert record["grad_dilution"] == pytest.approx(sum(ratios) / len(ratios))
    n = len(flat)
    means = [sum(col) / n for col in zip(*flat)]
    var = [sum((x - m) ** 2 for x in col) / (n - 1) for col, m in zip(zip(*flat), means)]
    assert record["alpha_grad_noise"] == pytest.approx(sum(var) / sum(m * m for m in means))
    assert record["clip_fraction"] == 1.0  # the diagnostics saw the unclipped gradients
    assert 0.0 < record["grad_dilution"] < 1.0 and record["alpha_grad_noise"] > 0.0
