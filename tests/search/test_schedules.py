import math

import pytest

from diffnas.search.schedules import SCHEDULES, TemperatureSchedule


@pytest.mark.parametrize("name", ["linear", "exponential", "cosine", "step"])
@pytest.mark.parametrize("total", [2, 7, 50])
def test_endpoints_exact(name, total):
    s = TemperatureSchedule(name, t0=5.0, t_min=0.1, total=total)
    assert s.value(0) == 5.0
    assert s.value(total - 1) == 0.1


def test_constant():
    s = TemperatureSchedule("constant", 2.0, 2.0, 10)
    assert [s.value(i) for i in range(10)] == [2.0] * 10


def test_linear_is_linear():
    s = TemperatureSchedule("linear", 5.0, 1.0, 5)
    assert [s.value(i) for i in range(5)] == pytest.approx([5.0, 4.0, 3.0, 2.0, 1.0])


def test_exponential_is_geometric():
    s = TemperatureSchedule("exponential", 8.0, 0.5, 5)
    values = [s.value(i) for i in range(5)]
    ratios = [values[i + 1] / values[i] for i in range(4)]
    assert ratios == pytest.approx([0.5] * 4)


def test_cosine_midpoint_formula():
    s = TemperatureSchedule("cosine", 5.0, 1.0, 11)
    assert s.value(5) == pytest.approx(1.0 + 4.0 * (1 + math.cos(math.pi * 0.5)) / 2)
    assert s.value(5) == pytest.approx(3.0)


def test_step_has_n_levels_and_is_monotone():
    s = TemperatureSchedule("step", 8.0, 1.0, 12, n_steps=4)
    values = [s.value(i) for i in range(12)]
    assert sorted(set(values), reverse=True) == pytest.approx([8.0, 4.0, 2.0, 1.0])
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_linear_does_not_reach_floor_early():
    # the compounding rule T <- T(1 - e/E) hits ~0 early; ours stays above t_min until the end
    s = TemperatureSchedule("linear", 5.0, 0.5, 10)
    assert all(s.value(i) > 0.5 for i in range(9))


def test_bad_parameters():
    with pytest.raises(ValueError, match="t_min.*<= t0"):
        TemperatureSchedule("linear", 1.0, 2.0, 5)
    with pytest.raises(ValueError, match="t0.*> 0"):
        TemperatureSchedule("linear", 0.0, 0.0, 5)
    with pytest.raises(ValueError, match="t_min.*> 0"):
        TemperatureSchedule("linear", 1.0, -1.0, 5)
    with pytest.raises(ValueError, match="schedule.*unknown 'warp'.*cosine"):
        TemperatureSchedule("warp", 1.0, 0.5, 5)
    assert {"constant", "linear", "exponential", "cosine", "step"} <= set(SCHEDULES.names())
