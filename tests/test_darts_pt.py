"""benchmarks/darts_pt.py's selection on a restored run: it starts from the run's own evaluation weights and keeps
to the ops the run's pruning left."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import torch

from diffnas.config import SearchConfig
from diffnas.model.spaces import choice_from_genotype
from diffnas.search.run import SearchRun
from tests.helpers import TINY

ROOT = Path(__file__).resolve().parents[1]


def _darts_pt():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return runpy.run_path(str(ROOT / "benchmarks" / "darts_pt.py"))
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_eval_weights_are_the_weights_the_run_reports_val_acc_with():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 3, "prune.epoch": 1, "prune.keep": 2}))
    for _ in range(2):
        record = run.step()
    run.model.eval()
    with torch.no_grad():
        loss, acc = run.accuracy(run.eval_weights(record["temperature"]).weights, None)
    assert (loss, acc) == (record["val_loss"], record["val_acc"])
    assert run.eval_weights(record["temperature"]).weights[~run.op_mask].eq(0).all()


def test_darts_pt_cell_chooses_among_the_kept_ops_only():
    darts_pt = _darts_pt()
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 3, "prune.epoch": 1, "prune.keep": 2}))
    while not run.done:
        run.step()
    cell = darts_pt["darts_pt_cell"](run)
    chosen = choice_from_genotype(run.space, cell)
    assert run.op_mask[torch.arange(run.space.n_edges), chosen].all()
    assert 0.0 <= darts_pt["split_accuracy"](run, run.space.one_hot(chosen)) <= 1.0


def test_split_accuracy_covers_the_whole_alpha_split_whatever_eval_batches_says():
    darts_pt = _darts_pt()
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 2, "metrics.eval_batches": 1}))
    run.step()
    run.model.eval()
    w = run.eval_weights(1.0).weights
    with torch.no_grad():
        logits = torch.cat([run.loss_fn(run.data.x_alpha[i:i + run.batch_size], run.data.y_alpha[i:i + run.batch_size],
                                        w, None)[1] for i in range(0, len(run.data.y_alpha), run.batch_size)])
    whole = int((logits.argmax(-1) == run.data.y_alpha).sum()) / len(run.data.y_alpha)
    assert len(run.data.y_alpha) > run.batch_size  # so one batch is not the whole split
    assert darts_pt["split_accuracy"](run, w) == whole
    first = run.data.y_alpha[:run.batch_size]
    assert run.accuracy(w, None)[1] == int((logits[:run.batch_size].argmax(-1) == first).sum()) / run.batch_size
