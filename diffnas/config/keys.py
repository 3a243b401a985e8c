"""The search config's keys: every leaf declared once, with its type, default, range and help.

:data:`SEARCH_KEYS` is the public table (``diffnas search --list-keys``, docs/search.md);
:data:`TEST_HOOKS` are the fault-injection hooks the test suite drives (accepted and recorded like any
key, never listed); :data:`FIELDS` is both. A key that names a registry entry (sampler, schedule, clip
mode, dataset, proxy) takes its allowed values from the name book :mod:`diffnas.names`, read when a
value is validated, so a name registered later is accepted and nothing here imports torch.

:data:`NON_IDENTITY_KEYS` do not change what is searched and stay out of ``config_id``;
:data:`LATER_KEYS` stay out of it while at their default, so ids written before they existed hold.
"""

from __future__ import annotations

from collections.abc import Callable

from diffnas.config.fields import Field
from diffnas.names import SPACE_OPS, names


def _registered(kind: str) -> Callable[[], tuple[str, ...]]:
    """The allowed values of a key that names a registry entry, read when validating (:mod:`diffnas.names`)."""
    return lambda: names(kind)


def _recipes() -> tuple[str, ...]:
    from diffnas.config.recipes import recipe_names  # torch-free

    return recipe_names()


def _rank_columns() -> list[str]:
    from diffnas.results.schema import EPOCH_COLUMNS  # pure: the float epoch columns a run can be ranked by

    return [k for k, kind in EPOCH_COLUMNS.items() if kind == "float" and k != "wall_s"]


SEARCH_KEYS: dict[str, Field] = {
    "space": Field("str", "nb201", "search space", choices=tuple(SPACE_OPS)),
    "ops": Field("list[str]", None, "restrict the space to these ops (null = all)", nullable=True),
    "dataset": Field("str", "digits", "real offline dataset", choices_from=_registered("dataset")),
    "data.dir": Field("str", None, "where the dataset's files are: a folder (fashion_mnist's IDX files; for cifar10, "
                      "cifar100, imagenet16_120 a root holding cifar-10-batches-py / cifar-100-python / ImageNet16, "
                      "or that folder itself) or an s3:// URI fetched once per worker", nullable=True),
    "data.subset": Field("int", None, "use this many training examples", minimum=20, nullable=True),
    "data.resolution": Field("int", None, "resize images to this side length", minimum=4, maximum=64, nullable=True),
    "data.test_fraction": Field("float", 0.2, "held-out test share where no official split exists",
                             minimum=0.05, maximum=0.5),
    "data.batch_size": Field("int", 64, "mini-batch size", minimum=2),
    "sampler": Field("str", "softmax", "maps alpha and T to op weights", choices_from=_registered("sampler")),
    "recipe": Field("str", "sampler", "defaults for the keys left unset (diffnas.config.recipes; a set key always "
                    "wins): sampler = the sampler's own best recipe (docs/search.md), plain = the global defaults, "
                    "or a published one (darts_v1, gdas, drnas, beta_darts)", choices_from=_recipes),
    "sampler_options.noise_std": Field("float", 0.1, "enhanced: std of Gaussian noise on alpha", minimum=0.0),
    "sampler_options.dropout": Field("float", 0.1, "enhanced: op dropout probability p in [0, 1)",
                                  minimum=0.0, maximum=1.0, exclusive_max=True),
    "sampler_options.hard_forward": Field("str", "chosen", "gumbel_hard: chosen = w_k*op_k only (AutoDL "
                                       "forward_gdas_v1); all = also + the unselected straight-through "
                                       "weights (forward_gdas, NASLib), which changes alpha's gradient",
                                       choices_from=_registered("sampler_options.hard_forward")),
    "temperature.schedule": Field("str", "constant", "temperature schedule",
                               choices_from=_registered("temperature.schedule")),
    "temperature.t0": Field("float", 1.0, "temperature at the start", minimum=0.0, exclusive_min=True),
    "temperature.t_min": Field("float", 1.0, "temperature at the last epoch/step", minimum=0.0, exclusive_min=True),
    "temperature.per": Field("str", "epoch", "update the temperature per epoch or per step", choices=("epoch", "step")),
    "temperature.n_steps": Field("int", 4, "step schedule: number of temperature levels", minimum=2),
    "entropy_weight": Field("float", 0.0, "weight of the op-distribution entropy in alpha's loss: > 0 sharpens "
                         "(penalises entropy), < 0 rewards exploration"),
    "l2_weight": Field("float", 0.0, "weight of ||alpha||^2 in alpha's loss", minimum=0.0),
    "beta_weight": Field("float", 0.0, "beta-DARTS: final weight w of mean_e logsumexp(alpha_e) in alpha's loss, "
                      "ramped linearly from 0 (weight w * epoch / epochs)", minimum=0.0),
    "aux_skip": Field("float", 0.0, "DARTS-: weight b0 of an auxiliary skip on every edge during the search, "
                   "decayed linearly to 0 (b0 * (1 - epoch / epochs)); needs the skip_connect op", minimum=0.0),
    "kl_weight": Field("float", 0.0, "DrNAS: weight of sum_e KL(Dir(elu(alpha_e)+1) || Dir(1)) in alpha's loss; "
                    "needs the dirichlet sampler", minimum=0.0),
    "prune.epoch": Field("int", 0, "DrNAS's progressive shrinking: after this many epochs each edge keeps only its "
                      "prune.keep strongest ops (0 = never)", minimum=0),
    "prune.keep": Field("int", 3, "ops kept per edge when prune.epoch is reached", minimum=1),
    "resource_weight": Field("float", 0.0, "weight of the expected (normalised) cost in alpha's loss", minimum=0.0),
    "resource": Field("str", "params", "cost used by the resource term", choices=("params", "flops")),
    "clip.mode": Field("str", "none", "clipping of alpha's gradient", choices_from=_registered("clip.mode")),
    "clip.value": Field("float", 5.0, "fixed: max norm c; adaptive: multiplier k", minimum=0.0, exclusive_min=True),
    "clip.window": Field("int", 20, "adaptive: number of recent gradient norms in the history", minimum=1),
    "order": Field("str", "first", "bilevel approximation order", choices=("first", "second")),
    "epochs": Field("int", 10, "search epochs", minimum=1, maximum=100000),
    "warmup_epochs": Field("int", 0, "epochs with alpha frozen at the start", minimum=0),
    "seed": Field("int", 0, "random seed", minimum=0),
    "device": Field("str", "auto", "auto picks cuda when available", choices=("auto", "cpu", "cuda")),
    "threads": Field("int", 1, "torch intra-op threads", minimum=1, maximum=256),
    "perf.fused": Field("bool", True, "NB201 cells: one conv for the same op on every edge leaving a node "
                     "(same sums; false = the op-by-op reference path)"),
    "perf.channels_last": Field("bool", True, "NHWC memory format for weights and activations"),
    "perf.compile": Field("str", "off", "torch.compile the supernet's loss (on = compile, falling back to eager "
                       "where compile is unavailable)", choices=("off", "on")),
    "perf.amp": Field("str", "off", "autocast the forward pass to bfloat16 or float16 (float16 scales both "
                      "losses with a torch.amp.GradScaler per optimiser; first order only)",
                      choices=("off", "bf16", "fp16")),
    "perf.native": Field("bool", True, "fused NB201 cells on CPU: BatchNorm and the mixing of a node's terms "
                      "in compiled C kernels (built with the system compiler on first use; the PyTorch path "
                      "where they cannot be built, and under perf.compile)"),
    "model.channels": Field("int", 8, "channels of the first stage", minimum=1),
    "model.cells_per_stage": Field("int", 1, "normal cells per stage", minimum=1),
    "model.stages": Field("int", 2, "stages (a reduction between consecutive stages)", minimum=1, maximum=5),
    "optim.w_lr": Field("float", 0.05, "weights: SGD learning rate (cosine annealed)", minimum=0.0, exclusive_min=True),
    "optim.w_lr_min": Field("float", 0.001, "weights: final learning rate", minimum=0.0),
    "optim.w_momentum": Field("float", 0.9, "weights: SGD momentum", minimum=0.0, maximum=1.0, exclusive_max=True),
    "optim.w_nesterov": Field("bool", False, "weights: Nesterov momentum (NB201's and DARTS's published setting)"),
    "optim.w_weight_decay": Field("float", 3e-4, "weights: weight decay", minimum=0.0),
    "optim.w_grad_clip": Field("float", 5.0, "weights: gradient norm clip (null = off)", minimum=0.0,
                            exclusive_min=True, nullable=True),
    "optim.a_lr": Field("float", 1e-2, "alpha: Adam learning rate", minimum=0.0, exclusive_min=True),
    "optim.a_beta1": Field("float", 0.5, "alpha: Adam beta1", minimum=0.0, maximum=1.0, exclusive_max=True),
    "optim.a_beta2": Field("float", 0.999, "alpha: Adam beta2", minimum=0.0, maximum=1.0, exclusive_max=True),
    "optim.a_weight_decay": Field("float", 0.0, "alpha: Adam weight decay", minimum=0.0),
    "optim.alpha_init_std": Field("float", 1e-3, "alpha: std of the initial values", minimum=0.0),
    "metrics.hessian_every": Field("int", 0, "dominant Hessian eigenvalue every k epochs (0 = off)", minimum=0),
    "metrics.hessian_iters": Field("int", 8, "power iterations for the eigenvalue", minimum=1),
    "metrics.proxy": Field("str", "naswot", "zero-cost proxy of the current argmax cell recorded as proxy_score "
                        "(the calibrated ranking metric, see docs/proxies.md; none = off)",
                        choices_from=lambda: (*names("metrics.proxy"), "none")),
    "metrics.proxy_batch": Field("int", 64, "examples (first ones of the weight split) the proxy is computed on",
                              minimum=2),
    "metrics.eval_batches": Field("int", 0, "limit evaluation to this many batches (0 = whole split)", minimum=0),
    "early_stop.patience": Field("int", 0, "stop after this many epochs without val_acc improvement (0 = off)",
                              minimum=0),
    "early_stop.stability_window": Field("int", 0, "stop when argmax unchanged for W epochs and entropy_norm "
                                      "under the threshold (0 = off)", minimum=0),
    "early_stop.entropy_threshold": Field("float", 0.3, "entropy_norm threshold for the stability stop",
                                       minimum=0.0, maximum=1.0),
    "early_stop.max_skip": Field("int", None, "collapse guard: stop when the genotype has more skip "
                              "connections than this", minimum=0, nullable=True),
    "early_stop.hessian_growth": Field("float", None, "collapse guard: stop when the Hessian eigenvalue grows "
                                    "by more than this ratio over the window", minimum=1.0, nullable=True),
    "early_stop.hessian_window": Field("int", 3, "window (in eigenvalue measurements) for the growth ratio",
                                    minimum=1),
    "early_stop.max_skip_share": Field("float", 0.5, "collapse guard (on in recipe plain, off in the samplers' "
                                       "recipes): stop when the share of edges whose argmax is skip_connect stays "
                                       "above this for guard_patience epochs (null = off)",
                                       minimum=0.0, maximum=1.0, nullable=True),
    "early_stop.max_none_share": Field("float", 0.5, "collapse guard (on in recipe plain, off in the samplers' "
                                       "recipes): stop when the share of edges whose argmax is none stays above "
                                       "this for guard_patience epochs (null = off)",
                                       minimum=0.0, maximum=1.0, nullable=True),
    "early_stop.gap_growth": Field("float", 0.3, "collapse guard (on in recipe plain, off in the samplers' recipes): "
                                   "stop when the gap val_acc - discrete_val_acc rose by more than this over "
                                   "gap_window epochs, for guard_patience epochs (null = off)",
                                   minimum=0.0, exclusive_min=True, nullable=True),
    "early_stop.gap_window": Field("int", 3, "epochs over which gap growth is measured", minimum=1),
    "early_stop.guard_patience": Field("int", 2, "consecutive epochs a share or gap guard's condition must hold "
                                    "before it stops the run", minimum=1),
    "discretize.max_skip": Field("int", None, "P-DARTS's skip cap: the handed-back cell (genotype, its truth, "
                              "discrete_val_acc) keeps at most this many skip_connect edges per cell, those with "
                              "the highest softmax(alpha) skip probability, the others their best other op "
                              "(an edge with no other op left after pruning keeps its skip; null = off; training "
                              "and the collapse guards are unchanged)", minimum=0,
                              nullable=True),
    "best_cell.metric": Field("str", "proxy_score", "epoch column whose best value picks the best cell a run saw "
                           "(trial columns best_genotype, best_truth_acc, best_epoch; default: the calibrated "
                           "ranking metric; discrete_val_acc when it has no value)", choices_from=_rank_columns),
    "best_cell.mode": Field("str", "max", "whether best_cell.metric is maximised or minimised", choices=("max", "min")),
    "best_cell.rule": Field("str", "late", "which epochs' cells compete for the handed-back cell: late = the best "
                            "of the run's last half unless the whole run's best beats it by more than "
                            "best_cell.tolerance; all = the whole run (diffnas.selection.best_cell)",
                            choices=("late", "all")),
    "best_cell.chooser": Field("str", "synflow", "late rule, when the run did not drift: the zero-cost proxy that "
                               "picks among the last half's cells (synflow ranks good cells better than naswot, "
                               "docs/proxies.md; none = best_cell.metric)",
                               choices_from=lambda: (*names("metrics.proxy"), "none")),
    "best_cell.tolerance": Field("float", 0.05, "late rule: how much better (share of its magnitude) the whole "
                                 "run's best must be to be handed back instead of the last half's best",
                                 minimum=0.0),
    "truth.table": Field("str", None, "CSV(.gz) with arch_str and accuracy columns (NAS-Bench-201 truth); "
                      "null = the NATS-Bench table shipped with the package", nullable=True),
    "truth.column": Field("str", None, "accuracy column of the truth table (bundled: cifar10_test, cifar100_test, "
                          "imagenet16_120_test); null = the searched dataset's: cifar100 -> cifar100_test, "
                          "imagenet16_120 -> imagenet16_120_test, every other dataset -> cifar10_test", nullable=True),
}

TEST_HOOKS: dict[str, Field] = {
    "fault.nan_at_epoch": Field("int", None, "test hook: inject a NaN loss at this epoch", minimum=1, nullable=True),
    "fault.oom_at_epoch": Field("int", None, "test hook: raise torch.OutOfMemoryError at this epoch", minimum=1,
                                nullable=True),
    "fault.raise_at_epoch": Field("int", None, "test hook: raise once at this epoch", minimum=1, nullable=True),
    "fault.marker": Field("str", None, "test hook: file that records that the fault already fired",
                       nullable=True),
}
"""Fault injection for the test suite: set in a test's config, recorded in ``config/fault.*`` columns,
never part of ``config_id`` and never listed by ``--list-keys``."""

FIELDS: dict[str, Field] = {**SEARCH_KEYS, **TEST_HOOKS}
"""Every key a config accepts: the public keys and the test hooks."""

# Keys that do not change what is searched: excluded from config_id.
NON_IDENTITY_KEYS = frozenset({"seed", "recipe", "device", "threads", "data.dir", "truth.table", "truth.column",
                               "metrics.proxy", "metrics.proxy_batch", "best_cell.rule", "best_cell.tolerance",
                               "best_cell.chooser"}
                              | set(TEST_HOOKS) | {k for k in FIELDS if k.startswith("perf.")})

# Semantic keys added after results existed: left out of config_id while at their default, so the
# config_id of every config written before the key existed stays what it was.
LATER_KEYS = frozenset({"sampler_options.hard_forward", "beta_weight", "aux_skip", "kl_weight", "prune.epoch",
                        "prune.keep", "discretize.max_skip", "optim.w_nesterov"})
