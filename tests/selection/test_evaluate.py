"""diffnas.selection.evaluate: a cell retrained from scratch on the loaders and augmentation the search used."""

from __future__ import annotations

from diffnas.data import load_dataset
from diffnas.model.spaces import build_space, choice_from_genotype
from diffnas.selection import evaluate as evaluate_module
from diffnas.selection.evaluate import evaluate_genotype, retrain
from tests.data.batch_files import write_cifar10, write_cifar100

CELL = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|"


def test_retraining_uses_alpha_only_where_it_is_training_data_and_augments(tmp_path, monkeypatch):
    write_cifar10(tmp_path / "c10")
    write_cifar100(tmp_path / "c100")
    seen: list[tuple[int, int]] = []
    real = evaluate_module.augment

    def spy(x, padding, generator, **kw):
        seen.append((x.shape[0], padding))
        return real(x, padding, generator, **kw)

    monkeypatch.setattr(evaluate_module, "augment", spy)
    space = build_space("nb201")
    chosen = choice_from_genotype(space, CELL)
    for name, folder, from_test in (("cifar10", "c10", False), ("cifar100", "c100", True)):
        data = load_dataset(name, data_dir=str(tmp_path / folder), subset=80)
        assert data.alpha_from_test is from_test
        seen.clear()
        result = retrain(space, chosen, data, epochs=1, channels=4, stages=1, batch_size=1000)
        trained = len(data.y_weights) + (0 if from_test else len(data.y_alpha))
        assert seen == [(trained, 4)]  # one batch: the training images, cropped with NB201's padding of 4
        assert 0.0 <= result.test_acc <= 1.0
    digits = load_dataset("digits", subset=60)
    assert not digits.alpha_from_test and digits.augment_padding is None


def test_evaluate_genotype_reads_cifar_files(tmp_path):
    write_cifar10(tmp_path)
    result = evaluate_genotype("nb201", None, CELL, dataset="cifar10", data_dir=str(tmp_path), subset=60, epochs=1,
                               channels=4, stages=1)
    assert result.epochs == 1 and result.params > 0 and isinstance(result.test_acc, float)
