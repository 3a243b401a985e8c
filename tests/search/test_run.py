"""SearchRun: determinism, bit-for-bit resume in a fresh process, gap at one-hot α, resource term, divergence."""

import math
import subprocess
import sys
import textwrap

import pytest
import torch

from diffnas.config import SearchConfig
from diffnas.errors import InputError
from diffnas.model.spaces import choice_from_genotype
from diffnas.results.schema import EPOCH_COLUMNS, PLACEMENT_COLUMNS
from diffnas.search.run import SearchRun
from diffnas.selection.truth import nb201_truth
from tests.helpers import TINY


def _config(**extra):
    return SearchConfig.validate({**TINY, **extra})


def _run_all(cfg):
    run = SearchRun(cfg)
    rows = []
    while not run.done:
        rows.append(run.step())
    return run, rows


def _same(a, b):
    for row_a, row_b in zip(a, b, strict=True):
        for key in row_a:
            if key == "wall_s":
                continue
            va, vb = row_a[key], row_b[key]
            if isinstance(va, float) and math.isnan(va):
                assert isinstance(vb, float) and math.isnan(vb), key
            else:
                assert va == vb, (key, va, vb)


@pytest.mark.parametrize("space,cells", [("nb201", 6 * 5), ("darts", 28 * 8)])
def test_record_has_every_epoch_column(space, cells):
    run = SearchRun(_config(epochs=1, space=space))
    record = run.step()
    assert set(EPOCH_COLUMNS) - set(PLACEMENT_COLUMNS) <= set(record)  # placement: added by sweeps
    assert len(record["op_probs"]) == cells
    assert run.done and run.status == "completed"


def test_same_seed_identical_rows():
    cfg = _config(sampler="enhanced", **{"clip.mode": "adaptive", "clip.value": 1.5})
    _, a = _run_all(cfg)
    _, b = _run_all(cfg)
    _same(a, b)
    _, c = _run_all(cfg.replace(seed=1))
    assert [r["op_probs"] for r in a] != [r["op_probs"] for r in c]


RESUME_SCRIPT = textwrap.dedent("""
    import sys, torch
    from diffnas.config import SearchConfig
    from diffnas.search.run import SearchRun
    flat = torch.load(sys.argv[1], weights_only=False)
    run = SearchRun.load(SearchConfig.validate(flat), sys.argv[2])
    rows = []
    while not run.done:
        rows.append(run.step())
    torch.save(rows, sys.argv[3])
""")


@pytest.mark.parametrize("extra", [
    {"sampler": "gumbel", "clip.mode": "adaptive", "temperature.schedule": "exponential",
     "temperature.t0": 3.0, "temperature.t_min": 0.3, "temperature.per": "step"},
    {"sampler": "gumbel_hard", "order": "second", "data.subset": 100},
    # DrNAS: pruned before the checkpoint (the mask travels in it) and after it (the resumed run prunes)
    {"sampler": "dirichlet", "kl_weight": 0.01, "prune.epoch": 2, "prune.keep": 2, "optim.a_lr": 0.05},
    {"beta_weight": 5.0, "prune.epoch": 4, "prune.keep": 2, "optim.a_lr": 0.05},
    # fp16: both loss scalers' state travels in the checkpoint; NB201's Nesterov momentum
    {"perf.amp": "fp16", "optim.w_nesterov": True},
])
def test_resume_in_fresh_process_is_bit_for_bit(tmp_path, extra):
    cfg = _config(epochs=5, **extra)
    _, full = _run_all(cfg)
    run = SearchRun(cfg)
    head = [run.step() for _ in range(3)]
    run.save(str(tmp_path / "ckpt.pt"))
    torch.save(cfg.to_flat(), tmp_path / "cfg.pt")
    subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "cfg.pt"), str(tmp_path / "ckpt.pt"),
                    str(tmp_path / "tail.pt")], check=True)
    tail = torch.load(tmp_path / "tail.pt", weights_only=False)
    assert len(tail) == 2
    _same(full, head + tail)


def test_gap_is_zero_at_one_hot_alpha():
    cfg = _config(epochs=1, **{"optim.a_lr": 1e-8})
    run = SearchRun(cfg)
    with torch.no_grad():
        run.alpha.zero_()
        run.alpha[torch.arange(6), torch.tensor([3, 2, 3, 1, 4, 3])] = 40.0
    record = run.step()
    assert abs(record["gap"]) < 1e-9
    assert record["entropy_norm"] < 1e-6


def test_resource_weight_lowers_expected_cost():
    base = _config(epochs=3, **{"optim.a_lr": 0.05})
    _, plain = _run_all(base)
    _, frugal = _run_all(base.replace(resource_weight=2.0))
    assert frugal[-1]["expected_cost"] < plain[-1]["expected_cost"] - 0.01


def test_beta_weight_keeps_alpha_small_and_keeps_config_ids():
    """β-DARTS's term shrinks α's magnitude against the same run without it; at its default (0)
    the config_id is the one configs had before the key existed."""
    base = _config(epochs=3, **{"optim.a_lr": 0.05})
    plain, _ = _run_all(base)
    decayed, _ = _run_all(base.replace(beta_weight=50.0))
    assert torch.logsumexp(decayed.alpha.detach(), -1).mean() < torch.logsumexp(plain.alpha.detach(), -1).mean()
    assert base.config_id() == "f36327aeb4e5"  # this config's id before beta_weight existed
    assert base.config_id() != base.replace(beta_weight=1.0).config_id()


def test_injected_nan_diverges_and_keeps_rows():
    run, rows = _run_all(_config(epochs=4, **{"fault.nan_at_epoch": 2}))
    assert run.status == "diverged" and run.stop_reason == "non_finite_loss"
    assert [r["epoch"] for r in rows] == [1, 2]
    assert math.isfinite(rows[0]["val_acc"]) and math.isnan(rows[1]["train_loss"])
    assert run.trial_record()["epochs_run"] == 2


def test_hessian_eigenvalue_recorded_every_k_epochs():
    _, rows = _run_all(_config(epochs=2, **{"metrics.hessian_every": 2, "metrics.hessian_iters": 3}))
    assert math.isnan(rows[0]["hessian_eig"]) and math.isfinite(rows[1]["hessian_eig"])


def test_warmup_freezes_alpha():
    run = SearchRun(_config(epochs=2, warmup_epochs=1))
    before = run.alpha.detach().clone()
    run.step()
    assert torch.equal(before, run.alpha.detach())
    run.step()
    assert not torch.equal(before, run.alpha.detach())


def test_softmax_constant_temperature_converges_on_digits():
    cfg = SearchConfig.validate({"sampler": "softmax", "temperature.schedule": "constant", "epochs": 10})
    _, rows = _run_all(cfg)
    assert rows[-1]["entropy_norm"] < rows[0]["entropy_norm"]
    assert rows[-1]["val_acc"] >= 0.85


def test_darts_shares_and_stability_use_the_argmax_of_alpha():
    run = SearchRun(_config(epochs=2, space="darts", **{"optim.a_lr": 1e-9}))
    with torch.no_grad():
        run.alpha.zero_()
        run.alpha[:, run.space.ops.index("none")] = 30.0  # none is the argmax on every edge
    first = run.step()
    second = run.step()
    assert first["none_fraction"] == 1.0 and first["skip_fraction"] == 0.0
    assert second["stability"] == 1.0
    assert "none" not in first["genotype"]  # the genotype still excludes none


def test_load_maps_checkpoint_to_cpu(tmp_path, monkeypatch):
    cfg = _config(epochs=2)
    run = SearchRun(cfg)
    run.step()
    run.save(str(tmp_path / "c.pt"))
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen["map_location"] = kwargs.get("map_location")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    SearchRun.load(cfg, str(tmp_path / "c.pt"))
    assert seen["map_location"] == "cpu"  # RNG states must not be moved to an accelerator


HANDED_BACK = {"genotype", "params", "discrete_val_acc", "gap", "truth_acc", "proxy_score", "wall_s"}


def _skip_heavy(cfg):
    """A run whose α starts with skip_connect ahead on every edge and stays frozen (warm-up) for 2 epochs."""
    run = SearchRun(cfg)
    with torch.no_grad():
        run.alpha[:, run.space.ops.index("skip_connect")] += 5.0
    return run


def test_skip_cap_changes_the_handed_back_cell_only():
    """discretize.max_skip (P-DARTS's cap) leaves training, α and the guards' view of α as they are; the
    genotype (and its params, truth, discrete accuracy) is α's cell with at most M skips."""
    base = _config(epochs=3, warmup_epochs=2, **{"early_stop.max_skip_share": None})
    plain_run, capped_run = _skip_heavy(base), _skip_heavy(base.replace(**{"discretize.max_skip": 1}))
    plain, capped = [plain_run.step() for _ in range(3)], []
    space = capped_run.space
    for _ in range(3):
        capped.append(capped_run.step())
        cell = choice_from_genotype(space, capped[-1]["genotype"])
        capped_run.model.eval()  # as at the end of the epoch (the weights have not moved since)
        with torch.no_grad():
            _, acc = capped_run.accuracy(space.one_hot(cell, capped_run.alpha.dtype), cell)
        capped_run.model.train()
        assert capped[-1]["discrete_val_acc"] == acc  # the capped cell is the one evaluated
        assert capped[-1]["truth_acc"] == nb201_truth(capped[-1]["genotype"])
    assert torch.equal(plain_run.alpha.detach(), capped_run.alpha.detach())
    _same([{k: v for k, v in a.items() if k not in HANDED_BACK} for a in plain],
          [{k: v for k, v in b.items() if k not in HANDED_BACK} for b in capped])
    for b in capped:
        space = capped_run.space
        logits = torch.tensor(b["op_probs"], dtype=torch.float64).reshape(space.n_edges, space.n_ops).log()
        assert b["genotype"] == space.genotype_of(space.discrete_choice(logits, max_skip=1))
        assert b["genotype"].count("skip_connect") <= 1
    assert plain[0]["genotype"].count("skip_connect") == 6 and plain[0]["skip_fraction"] == 1.0
    assert capped[0]["params"] > plain[0]["params"]  # convolutions took the place of five skips
    assert base.config_id() == base.replace(**{"discretize.max_skip": None}).config_id()
    assert base.config_id() != base.replace(**{"discretize.max_skip": 1}).config_id()


def test_skip_cap_does_not_blind_the_skip_collapse_guard():
    cfg = _config(epochs=3, warmup_epochs=2, **{"discretize.max_skip": 1, "early_stop.max_skip": 2})
    run = _skip_heavy(cfg)
    while not run.done:
        run.step()
    assert run.stop_reason == "skip_collapse" and run.epoch < 3


@pytest.mark.parametrize("extra, needle", [
    ({"discretize.max_skip": -1}, ">= 0"),
    ({"discretize.max_skip": 1, "ops": ["nor_conv_3x3", "avg_pool_3x3"]}, "skip_connect"),
    ({"discretize.max_skip": "one"}, "integer"),
])
def test_skip_cap_refusals_name_the_key(extra, needle):
    with pytest.raises(InputError) as err:
        _config(**extra)
    text = str(err.value)
    assert text.startswith("discretize.max_skip") and needle in text and "\n" not in text, text


def test_fp16_steps_both_optimisers_through_a_loss_scaler():
    run = SearchRun(_config(**{"perf.amp": "fp16"}))
    run.step()
    for scaler in (run.w_scaler, run.a_scaler):  # CPU GradScalers: every step went through one, none skipped
        assert scaler.enabled and scaler.scaler._get_growth_tracker() == run.steps_per_epoch
    assert not SearchRun(_config(**{"perf.amp": "bf16"})).w_scaler.enabled  # bfloat16 needs no scaling


def test_fp16_overflow_skips_the_weight_update_and_halves_the_scale():
    run = SearchRun(_config(**{"perf.amp": "fp16", "warmup_epochs": 1}))  # alpha frozen: weight steps only
    run.w_scaler.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 100)  # scaled fp16 gradients overflow
    before = [p.detach().clone() for p in run.model.parameters()]
    record = run.step()
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, run.model.parameters(), strict=True))
    assert run.w_scaler.scaler.get_scale() == 2.0 ** (100 - run.steps_per_epoch)
    assert math.isfinite(record["train_loss"]) and not run.done


def test_bf16_autocast_runs_a_search_step_on_cpu():
    run = SearchRun(_config(**{"perf.amp": "bf16"}))
    seen = []
    conv = next(m for m in run.model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    record = run.step()
    assert seen and set(seen) == {torch.bfloat16}
    assert math.isfinite(record["train_loss"]) and math.isfinite(record["val_acc"])


def test_fp16_with_the_second_order_step_is_refused():
    with pytest.raises(InputError, match="perf.amp"):
        _config(**{"perf.amp": "fp16", "order": "second"})


def test_out_of_memory_ends_the_run_with_that_reason_and_keeps_its_rows():
    run, rows = _run_all(_config(epochs=4, **{"fault.oom_at_epoch": 2}))
    assert run.status == "error" and run.stop_reason.startswith("out_of_memory: CUDA out of memory")
    assert [r["epoch"] for r in rows] == [1, 2] and math.isnan(rows[1]["val_acc"]) and rows[1]["genotype"]
    trial = run.trial_record()
    assert trial["status"] == "error" and trial["epochs_run"] == 2 and trial["final_genotype"] == rows[1]["genotype"]


def test_augmented_cifar_run_resumes_bit_for_bit(tmp_path):
    """NB201's crops and flips draw from their own generator, saved in the checkpoint with the others."""
    from tests.data.batch_files import write_cifar10

    write_cifar10(tmp_path / "data")
    cfg = _config(dataset="cifar10", **{"data.dir": str(tmp_path / "data"), "data.subset": 100, "epochs": 3})
    run, full = _run_all(cfg)
    assert run.data.augment_padding == 4 and run.data.augment_alpha
    first = SearchRun(cfg)
    head = [first.step()]
    first.save(str(tmp_path / "ckpt.pt"))
    resumed = SearchRun.load(cfg, str(tmp_path / "ckpt.pt"))
    tail = [resumed.step(), resumed.step()]
    _same(full, head + tail)
    unaugmented = SearchRun(cfg)
    unaugmented.data.augment_padding = None  # the crops change what is learned: rows differ without them
    try:
        assert unaugmented.step()["train_loss"] != full[0]["train_loss"]
    finally:
        unaugmented.data.augment_padding = 4  # the process's data cache holds this object
