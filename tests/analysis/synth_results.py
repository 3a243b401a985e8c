"""Synthetic results folders with known curves, written through ``diffnas.results.parts.write_part``.

A uniquely named helper module (not ``conftest``) so that test modules can import it unambiguously."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from diffnas.results.parts import write_part

NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
NB201_EDGES = ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
G_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
G_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
G_MIX = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def config_id(config: dict[str, Any]) -> str:
    flat = {k: v for k, v in config.items() if k != "seed"}
    return hashlib.sha1(json.dumps(flat, sort_keys=True).encode()).hexdigest()[:12]


def make_run(
    trial_id: str,
    config: dict[str, Any],
    seed: int,
    *,
    entropy: Sequence[float],
    val_acc: Sequence[float] | None = None,
    genotypes: Sequence[str | None] | None = None,
    status: str | None = "completed",
    phase: str = "explore",
    sweep: str = "synth",
    skip: Sequence[float] | None = None,
    truth: Sequence[float | None] | None = None,
    entropy_eff: Sequence[float] | None = None,
    proxy: Sequence[float] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Epoch rows and the trials row (None when ``status`` is None) of one synthetic run."""
    n = len(entropy)
    val_acc = list(val_acc) if val_acc is not None else [0.5 + 0.04 * e for e in range(n)]
    genotypes = list(genotypes) if genotypes is not None else [G_CONV] * n
    skip = list(skip) if skip is not None else [1 / 6] * n
    ident = {
        "sweep": sweep, "trial_id": trial_id, "config_id": config_id(config), "seed": seed, "phase": phase,
        **{f"config/{k}": v for k, v in config.items()}, "config/seed": seed,
    }
    rows = []
    prev = None
    for e in range(n):
        h = float(entropy[e])
        # op probabilities: edge i puts (1 - h) extra mass on op (i + e // 3) % 5
        probs = []
        for i in range(len(NB201_EDGES)):
            base = [h / 5] * 5
            base[(i + e // 3) % 5] += 1 - h
            probs.extend(base)
        geno = genotypes[e]
        rows.append({
            **ident,
            "epoch": e + 1,
            "temperature": 1.0,
            "val_acc": float(val_acc[e]),
            "discrete_val_acc": float(val_acc[e]) - 0.05,
            "gap": 0.05,
            "entropy": h * 1.609,
            "entropy_norm": h,
            # the sampler's effective entropy (nats; normalised by log 5 = entropy / entropy_norm)
            "entropy_eff": (h if entropy_eff is None else float(entropy_eff[e])) * 1.609,
            "stability": float("nan") if e == 0 else (1.0 if geno == prev else 0.5),
            "skip_fraction": float(skip[e]),
            "none_fraction": 0.0,
            "genotype": geno,
            "op_probs": probs,
            "truth_acc": None if truth is None else truth[e],
            "proxy_score": None if proxy is None else float(proxy[e]),
            # α-gradient diagnostics: known per-epoch values (dilution rises, noise by seed)
            "grad_dilution": 0.2 + 0.01 * e + 0.001 * seed,
            "alpha_grad_noise": 2.0 + seed,
        })
        prev = geno
    trial = None
    if status is not None:
        trial = {
            **ident, "status": status, "epochs_run": n, "final_genotype": genotypes[-1],
            "final_val_acc": float(val_acc[-1]), "best_val_acc": float(max(val_acc)),
            "space": "nb201", "ops": NB201_OPS, "edges": NB201_EDGES,
        }
    return rows, trial


def write_results(root: Path, runs: Sequence[tuple[list[dict], dict | None]], *, parts: int = 2,
                  spec: dict | None = None) -> Path:
    """Write the runs' rows as ``parts`` epochs parts and one trials part (plus ``sweep.json``)."""
    root.mkdir(parents=True, exist_ok=True)
    epochs = [r for rows, _ in runs for r in rows]
    trials = [t for _, t in runs if t is not None]
    step = max(1, -(-len(epochs) // parts))
    for i in range(0, len(epochs), step):
        write_part(epochs[i:i + step], str(root), "epochs", name=f"part-{i:06d}")
    write_part(trials, str(root), "trials", name="trials-0")
    if spec is not None:
        (root / "sweep.json").write_text(json.dumps(spec))
    return root


BASE = {"sampler": "softmax", "entropy_weight": 0.0, "space": "nb201", "device": "cpu"}
ALT = {"sampler": "gumbel", "entropy_weight": 0.1, "space": "nb201", "device": "cpu"}


def standard_runs(phase: str = "explore") -> list[tuple[list[dict], dict | None]]:
    """Two configs × 4 seeds, 10 epochs, plus ASHA-stopped, diverged and errored (no epochs) runs of ALT.

    softmax (baseline): entropy falls 1.0 → 0.1 linearly (converges at epoch 9 under τ=0.3 for
    seeds 0,1; seeds 2,3 stay at ≥ 0.35: censored at epoch 10); final val acc 0.80 + 0.01·seed.
    gumbel: entropy 1 − 0.1·e (below 0.3 from epoch 8), final val acc 0.85 + 0.01·seed.
    """
    runs = []
    for seed in range(4):
        if seed < 2:
            ent = [1.0 - 0.1 * e for e in range(10)]  # 1.0 .. 0.1; < 0.3 first at epoch 9 (0.2)
        else:
            ent = [1.0 - 0.065 * e for e in range(10)]  # ends 0.415: never converges
        acc = [0.5 + (0.30 + 0.01 * seed) * e / 9 for e in range(10)]
        genos = [G_MIX] * 3 + [G_CONV] * 7
        runs.append(make_run(f"base-{seed}", BASE, seed, entropy=ent, val_acc=acc, genotypes=genos, phase=phase))
    for seed in range(4):
        ent = [1.0 - 0.1 * (e + 1) for e in range(10)]  # 0.9 .. 0.0; < 0.3 first at epoch 8 (0.2)
        acc = [0.5 + (0.35 + 0.01 * seed) * e / 9 for e in range(10)]
        genos = [G_MIX] * 2 + [G_CONV] * 8
        runs.append(make_run(f"alt-{seed}", ALT, seed, entropy=ent, val_acc=acc, genotypes=genos, phase=phase))
    runs.append(make_run("alt-asha", ALT, 4, entropy=[1.0, 0.95, 0.9], val_acc=[0.1, 0.1, 0.1],
                         status="asha_stopped", phase=phase))
    runs.append(make_run("alt-div", ALT, 5, entropy=[1.0, 0.9], val_acc=[0.1, float("nan")],
                         status="diverged", phase=phase))
    errored = make_run("alt-err", ALT, 6, entropy=[1.0], status="error", phase=phase)
    runs.append(([], errored[1]))  # failed before its first epoch: a trials row, no epoch rows
    return runs
