"""One epoch's record: the schema's epoch columns, measured on a search run after its training steps.

From α alone (temperature-free, pruned ops at −∞): ``entropy`` / ``entropy_norm`` of softmax(α), the
effective ``entropy_eff`` of the sampler's distribution at T, ``stability`` (edges whose argmax kept its op),
``skip_fraction`` / ``none_fraction``, the handed-back ``genotype`` (α's cell, with at most
``discretize.max_skip`` skips), ``op_probs``, ``params`` and the ``expected_cost``. From the supernet on the α
split: ``val_acc`` with the sampler's eval weights, ``discrete_val_acc`` with the discretised cell and the
same weights, ``gap`` = their difference; every ``metrics.hessian_every`` epochs the dominant Hessian
eigenvalue; ``truth_acc`` from the NB201 table; ``proxy_score``. A diverged epoch keeps NaN for what the
supernet would have measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from diffnas.model.spaces import cap_skips
from diffnas.search.metrics import mean_entropy, normalised_entropy, op_probs, op_share, stability
from diffnas.search.regularizers import expected_cost

if TYPE_CHECKING:
    from diffnas.search.run import SearchRun


def measure_epoch(run: SearchRun, temperature: float, train_loss: float, train_acc: float,
                  a_norms: list[float], w_norms: list[float], clipped: int, diverged: bool) -> dict[str, Any]:
    """The epoch record of ``run`` after its training steps (the schema's epoch columns; see the module
    docstring); remembers this epoch's cell and argmax on the run for the next epoch's stability."""
    c = run.config
    nan = float("nan")
    masked = run.arch.masked(run.alpha.detach())
    alpha = masked.cpu()  # decisions (genotype, argmax, op shares): pruned ops at −∞, never chosen
    probs = op_probs(alpha)
    choice = run.space.discrete_choice(alpha)  # α's own cell: the collapse guards' skip count
    cap = c["discretize.max_skip"]  # the cell handed back: α's, with at most `cap` skips
    cell = choice if cap is None else cap_skips(run.space, alpha, choice, cap)
    argmax = alpha.argmax(dim=-1)  # stability and op shares: argmax of α per edge
    eff = run.arch.effective_probs(temperature)
    record: dict[str, Any] = {
        "epoch": run.epoch,
        "temperature": float(temperature),
        "train_loss": train_loss,
        "train_acc": train_acc,
        "alpha_grad_norm": float(np.mean(a_norms)) if a_norms else nan,
        "weight_grad_norm": float(np.mean(w_norms)) if w_norms else nan,
        "clip_fraction": clipped / len(a_norms) if a_norms else nan,
        "entropy": mean_entropy(probs),
        "entropy_norm": normalised_entropy(probs),
        "entropy_eff": mean_entropy(eff),
        "stability": stability(run.prev_argmax, argmax),
        "skip_fraction": op_share(argmax, run.space.ops, "skip_connect"),
        "none_fraction": op_share(argmax, run.space.ops, "none"),
        "genotype": run.space.genotype_of(cell),
        "op_probs": probs.flatten().tolist(),
        "params": run.model.genotype_params(cell, run.param_costs),
        "expected_cost": float(expected_cost(masked, run.costs)),
        "weight_lr": float(run.w_opt.param_groups[0]["lr"]),
        "hessian_eig": nan,
        "truth_acc": nan,
        "proxy_score": nan,
    }
    if diverged or not bool(torch.isfinite(run.alpha).all()):
        record.update(val_loss=nan, val_acc=nan, discrete_val_acc=nan, gap=nan)
        run.prev_choice, run.prev_argmax = choice, argmax
        return record
    run.profile.lap("metrics")
    run.model.eval()
    eval_w = run.arch.eval_weights(temperature)
    val_loss, val_acc = run.accuracy(eval_w.weights, eval_w.chosen)
    _, disc_acc = run.accuracy(run.space.one_hot(cell, run.alpha.dtype).to(run.device), cell)
    run.profile.lap("evaluation")
    every = c["metrics.hessian_every"]
    if every and run.epoch % every == 0:
        record["hessian_eig"] = run._hessian(temperature)
    if run.truth is not None and run.space.name == "nb201":
        record["truth_acc"] = run.truth.lookup(record["genotype"])
    record["proxy_score"] = run.proxy_score(record["genotype"])
    run.model.train()
    record.update(val_loss=val_loss, val_acc=val_acc, discrete_val_acc=disc_acc, gap=val_acc - disc_acc)
    run.prev_choice, run.prev_argmax = choice, argmax
    return record
