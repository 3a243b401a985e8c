import statistics

import pytest
import torch

from diffnas.search.clipping import AdaptiveClip, build_clipper, total_norm


def _param_with_grad(values):
    p = torch.zeros(len(values), requires_grad=True)
    p.grad = torch.tensor(values, dtype=torch.float32)
    return p


def test_fixed_clipping_bounds_norm():
    clipper = build_clipper("fixed", value=1.0)
    p = _param_with_grad([3.0, 4.0])
    q = _param_with_grad([12.0])
    result = clipper.clip_([p, q])
    assert result.norm == pytest.approx(13.0)
    assert result.clipped
    assert total_norm([p.grad, q.grad]) <= 1.0 + 1e-6
    small = _param_with_grad([0.3, 0.4])
    assert not clipper.clip_([small]).clipped
    assert torch.allclose(small.grad, torch.tensor([0.3, 0.4]))


def test_none_never_clips():
    p = _param_with_grad([300.0])
    assert not build_clipper("none").clip_([p]).clipped
    assert p.grad.item() == 300.0


def test_adaptive_follows_documented_formula():
    k, window = 2.0, 3
    clipper = AdaptiveClip(value=k, window=window)
    norms = [1.0, 2.0, 3.0, 100.0, 2.5, 0.5, 50.0]
    history: list[float] = []
    for n in norms:
        p = _param_with_grad([n])
        result = clipper.clip_([p])
        expected_tau = k * statistics.median(history[-window:]) if history else None
        assert result.threshold == (pytest.approx(expected_tau) if expected_tau is not None else None)
        expected_clipped = expected_tau is not None and n > expected_tau
        assert result.clipped == expected_clipped
        assert p.grad.item() == pytest.approx(min(n, expected_tau) if expected_clipped else n)
        history.append(n)
    # state round-trip
    clone = AdaptiveClip(value=k, window=window)
    clone.load_state_dict(clipper.state_dict())
    assert clone.threshold() == clipper.threshold()


def test_bad_clip_parameters():
    with pytest.raises(ValueError, match="clip.mode.*unknown 'soft'"):
        build_clipper("soft")
    with pytest.raises(ValueError, match="clip.value"):
        build_clipper("fixed", value=0.0)
