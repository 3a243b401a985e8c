"""The two optimisers of the bilevel search, as DARTS pairs them.

- weights w: SGD with momentum (Nesterov's with ``optim.w_nesterov``, as NB201 and DARTS publish) and
  weight decay, the learning rate cosine-annealed per epoch,
  η_e = η_min + (η_0 − η_min)·(1 + cos(π·e / E)) / 2 (``optim.w_lr`` → ``optim.w_lr_min`` over ``epochs``);
- α: Adam with ``optim.a_lr``, betas (``optim.a_beta1``, ``optim.a_beta2``) and ``optim.a_weight_decay``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from diffnas.config import SearchConfig


def build_optimizers(config: SearchConfig, w_params: Sequence[torch.Tensor], alpha: torch.Tensor) -> tuple[
        torch.optim.SGD, torch.optim.lr_scheduler.CosineAnnealingLR, torch.optim.Adam]:
    """(the weights' SGD, its cosine learning-rate schedule, α's Adam) from ``config``."""
    w_opt = torch.optim.SGD(w_params, lr=config["optim.w_lr"], momentum=config["optim.w_momentum"],
                            weight_decay=config["optim.w_weight_decay"], nesterov=config["optim.w_nesterov"])
    w_sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=config["epochs"],
                                                         eta_min=config["optim.w_lr_min"])
    a_opt = torch.optim.Adam([alpha], lr=config["optim.a_lr"], betas=(config["optim.a_beta1"], config["optim.a_beta2"]),
                             weight_decay=config["optim.a_weight_decay"])
    return w_opt, w_sched, a_opt
