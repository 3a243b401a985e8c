import math

import pytest
import torch

from diffnas.search.metrics import mean_entropy, normalised_entropy, op_probs, op_share, stability
from diffnas.search.samplers import build_sampler

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_uniform_and_one_hot_entropy():
    uniform = op_probs(torch.zeros(6, 5))
    assert mean_entropy(uniform) == pytest.approx(math.log(5))
    assert normalised_entropy(uniform) == pytest.approx(1.0)
    sharp = torch.full((6, 5), -100.0)
    sharp[:, 2] = 100.0
    assert normalised_entropy(op_probs(sharp)) == pytest.approx(0.0, abs=1e-12)


def test_entropy_is_temperature_free_but_effective_entropy_is_not():
    a = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    s = build_sampler("softmax")
    base = normalised_entropy(op_probs(a))
    hot = normalised_entropy(s.effective_probs(a, 10.0))
    cold = normalised_entropy(s.effective_probs(a, 0.1))
    assert cold < base < hot


def test_stability_and_shares():
    prev = torch.tensor([0, 1, 2, 3, 4, 1])
    cur = torch.tensor([0, 1, 2, 1, 1, 1])
    assert stability(prev, cur) == pytest.approx(4 / 6)
    assert math.isnan(stability(None, cur))
    assert op_share(cur, OPS, "skip_connect") == pytest.approx(4 / 6)
    assert op_share(cur, OPS, "none") == pytest.approx(1 / 6)
    assert op_share(cur, OPS[1:], "none") == 0.0
