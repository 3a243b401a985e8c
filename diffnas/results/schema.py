"""The results schema: the contract between ``diffnas``, ``sweeps`` and ``analysis``.

A results folder holds ``epochs/*.parquet`` (one row per run per epoch) and
``trials/*.parquet`` (one row per run). Every file carries ``schema_version`` in its
Parquet key-value metadata. Config leaves are columns named ``config/<dotted.key>``.
Missing values are null/NaN, never sentinel numbers. Columns may be added, never renamed.

This module is pure Python (no torch, no Ray, no pyarrow) so every package may import it.
"""

from __future__ import annotations

SCHEMA_VERSION = "1"
SCHEMA_VERSION_KEY = "schema_version"
CONFIG_PREFIX = "config/"

EPOCHS_DIR = "epochs"
TRIALS_DIR = "trials"

PHASES = ("single", "explore", "confirm")
STATUSES = ("completed", "early_stopped", "asha_stopped", "diverged", "error")

IDENTITY_COLUMNS = ("sweep", "trial_id", "config_id", "seed", "phase")

# name -> logical type; "float", "int", "str", "list<float>", "list<str>"
EPOCH_COLUMNS: dict[str, str] = {
    "epoch": "int",
    "temperature": "float",
    "train_loss": "float",
    "train_acc": "float",
    "val_loss": "float",
    "val_acc": "float",
    "discrete_val_acc": "float",
    "gap": "float",
    "entropy": "float",
    "entropy_norm": "float",
    "entropy_eff": "float",
    "alpha_grad_norm": "float",
    "weight_grad_norm": "float",
    "clip_fraction": "float",
    "stability": "float",
    "skip_fraction": "float",
    "none_fraction": "float",
    "genotype": "str",
    "op_probs": "list<float>",
    "hessian_eig": "float",
    "truth_acc": "float",
    "params": "int",
    "wall_s": "float",
    # additions (allowed by the contract): context that analysis and plots use
    "expected_cost": "float",
    "weight_lr": "float",
    # zero-cost proxy (config metrics.proxy, default naswot) of the current argmax cell: the ranking
    # metric calibrated against NAS-Bench-201 truth (docs/proxies.md); higher is better
    "proxy_score": "float",
    # where the epoch ran (sweeps on Ray): the Ray node id and the host's name
    "node_id": "str",
    "hostname": "str",
    # the source material's two gradient diagnostics (formulas: diffnas.search.grad_diagnostics)
    "grad_dilution": "float",
    "alpha_grad_noise": "float",
}

TRIAL_COLUMNS: dict[str, str] = {
    "status": "str",
    "stop_reason": "str",
    "epochs_run": "int",
    "final_genotype": "str",
    "final_val_acc": "float",
    "best_val_acc": "float",
    "final_discrete_val_acc": "float",
    "final_truth_acc": "float",
    "final_entropy_norm": "float",
    "params": "int",
    "wall_s": "float",
    # additions: labels for op_probs (row-major edges x ops)
    "space": "str",
    "ops": "list<str>",
    "edges": "list<str>",
    "final_proxy_score": "float",
    # sweeps on Ray: the node and host of the trial's last epoch, and the checkpoint epoch its last
    # process started from (0: it ran from scratch; > 0: restored after a pause, retry or resume)
    "node_id": "str",
    "hostname": "str",
    "restored_from_epoch": "int",
    # the best cell the run saw by the config's best_cell.metric (diffnas.selection.best_cell), beside the final one
    "best_genotype": "str",
    "best_truth_acc": "float",
    "best_epoch": "int",
    "best_by": "str",
    # provenance, for papers (diffnas.search.provenance): versions, the device, the precision
    "diffnas_version": "str",
    "diffnas_commit": "str",
    "torch_version": "str",
    "cuda_version": "str",
    "cudnn_version": "str",
    "device_name": "str",
    "amp": "str",
}


# where a sweep trial ran: written by sweeps on Ray; absent (null) for a single ``diffnas search``
PLACEMENT_COLUMNS = ("node_id", "hostname")
# columns only a sweep trial writes (a single search leaves them out)
SWEEP_ONLY_COLUMNS = (*PLACEMENT_COLUMNS, "restored_from_epoch")


def config_column(dotted_key: str) -> str:
    """``temperature.schedule`` -> ``config/temperature.schedule``."""
    return CONFIG_PREFIX + dotted_key
