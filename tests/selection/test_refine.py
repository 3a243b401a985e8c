import pytest
import torch

from diffnas.data.splits import load_dataset
from diffnas.model.spaces import build_space, choice_from_genotype
from diffnas.selection.refine import neighbourhood, refine_cell, successive_halving, validation_splits

SPACE = build_space("nb201")
CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_successive_halving_keeps_the_best_third_each_rung_and_returns_the_last_rungs_best():
    calls = []

    def score(c, epochs):
        calls.append((c, epochs))
        return c * epochs if c != 7 else 100 - epochs * 45  # 7 leads at 1 epoch, falls behind later

    best, rungs = successive_halving(list(range(9)), score, rungs=[1, 2, 4], eta=3)
    assert [r.epochs for r in rungs] == [1, 2, 4]
    assert [c for c, _ in rungs[0].scores][:3] == [7, 8, 6]  # 7: 55, 8: 8, 6: 6
    assert [c for c, _ in rungs[1].scores] == [8, 6, 7]      # 16, 12, 10: 7 drops to last
    assert [c for c, _ in rungs[2].scores] == [8]
    assert best == 8
    assert len(calls) == 9 + 3 + 1


def test_successive_halving_prefers_the_earlier_candidate_on_ties_and_drops_nan_last():
    best, rungs = successive_halving(["a", "b", "c"], lambda c, e: float("nan") if c == "a" else 1.0, [1])
    assert best == "b"
    assert [c for c, _ in rungs[0].scores] == ["b", "c", "a"]


@pytest.mark.parametrize("kwargs, match", [({"candidates": []}, "at least one"), ({"rungs": []}, "rungs"),
                                           ({"rungs": [0]}, "rungs"), ({"eta": 1}, "eta")])
def test_successive_halving_refuses_bad_arguments(kwargs, match):
    args = {"candidates": [1], "score": lambda c, e: 0.0, "rungs": [1], "eta": 3} | kwargs
    with pytest.raises(ValueError, match=match):
        successive_halving(**args)


def test_the_neighbourhood_is_the_cell_and_every_one_edge_change():
    cells = neighbourhood(SPACE, CONV)
    assert cells[0] == CONV and len(cells) == 1 + 6 * 4 == len(set(cells))
    centre = choice_from_genotype(SPACE, CONV)
    for cell in cells[1:]:
        assert int((choice_from_genotype(SPACE, cell) != centre).sum()) == 1


def test_validation_splits_train_on_the_weight_half_and_score_on_the_alpha_half():
    data = load_dataset("digits", subset=200, seed=0)
    val = validation_splits(data)
    assert len(val.y_alpha) == 0 and torch.equal(val.x_weights, data.x_weights)
    assert torch.equal(val.x_test, data.x_alpha) and torch.equal(val.y_test, data.y_alpha)


def test_refine_cell_runs_the_rungs_on_real_data_and_returns_a_neighbour():
    data = load_dataset("digits", subset=300, seed=0)
    best, rungs = refine_cell(SPACE, CONV, data, rungs=(1, 1), eta=13, channels=4, stages=2, batch_size=64)
    assert [len(r.scores) for r in rungs] == [25, 2]
    assert best == rungs[-1].scores[0][0] and best in neighbourhood(SPACE, CONV)
    assert all(0.0 <= s <= 1.0 for _, s in rungs[0].scores)
    # the same seed gives the same scores (each retrain is seeded)
    again, rungs2 = refine_cell(SPACE, CONV, data, rungs=(1,), eta=13, channels=4, stages=2, batch_size=64)
    assert dict(rungs2[0].scores) == dict(rungs[0].scores)
    with pytest.raises(ValueError, match="nb201 only"):
        refine_cell(build_space("darts"), CONV, data)
