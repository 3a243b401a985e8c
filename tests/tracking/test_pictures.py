"""diffnas.results.pictures: the α heat map and the cell graph as RGB arrays, for both spaces; torch-free."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from diffnas.results.pictures import alpha_figure, alpha_matrix, cell_figure, epoch_pictures, to_rgb

NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
ARCH = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
DARTS = json.dumps({"normal": [["sep_conv_3x3", 0], ["skip_connect", 1]] * 4,
                    "reduce": [["max_pool_3x3", 0], ["skip_connect", 2]] * 4})


def _probs(edges: int, ops: int, seed: int = 0) -> list[float]:
    return list(np.random.default_rng(seed).dirichlet(np.ones(ops), edges).ravel())


def test_epoch_pictures_are_rgb_images() -> None:
    pics = epoch_pictures({"epoch": 3, "op_probs": _probs(6, 5), "genotype": ARCH}, NB201_OPS, None, label="t0")
    assert set(pics) == {"alpha", "cell"}
    for image in pics.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert image.shape[0] > 100 and image.std() > 1  # drawn, not blank


def test_darts_space_draws_both_cells() -> None:
    darts_ops = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                 "dil_conv_3x3", "dil_conv_5x5"]
    alpha = to_rgb(alpha_figure(_probs(28, 8), darts_ops))
    nb201 = to_rgb(alpha_figure(_probs(6, 5), NB201_OPS))
    assert alpha.shape[0] > nb201.shape[0]  # one row per edge
    assert len(cell_figure(DARTS).axes) == 2  # normal and reduce


def test_missing_or_malformed_inputs_leave_a_picture_out() -> None:
    assert epoch_pictures({"epoch": 1}, NB201_OPS, None) == {}
    assert set(epoch_pictures({"epoch": 1, "op_probs": [0.5] * 7, "genotype": ARCH}, NB201_OPS, None)) == {"cell"}
    assert set(epoch_pictures({"epoch": 1, "op_probs": _probs(6, 5), "genotype": "bad"}, NB201_OPS, None)) == {"alpha"}
    assert set(epoch_pictures({"epoch": 1, "op_probs": _probs(6, 5)}, None, None)) == set()
    with pytest.raises(ValueError):
        alpha_matrix([0.1] * 7, 5)


def test_pictures_and_trackers_import_neither_torch_nor_ray() -> None:
    code = ("import sys, diffnas.results.pictures, diffnas.analysis.plots, diffnas.tracking, "
            "diffnas.tracking.backends, diffnas.tracking.places, diffnas.tracking.content; "
            "print(sorted(m for m in ('torch', 'ray', 'mlflow', 'wandb', 'tensorboardX') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
