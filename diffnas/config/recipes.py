"""Recipes: the values a config takes where the user sets none, per sampler and by name.

A config resolves in four layers, each filling only the keys the layers above it leave unset::

    the user's value  >  a named recipe (``recipe: darts_v1``)  >  the sampler's recipe  >  the global default

The global defaults are the ``default`` of each key in :data:`diffnas.config.keys.SEARCH_KEYS`. A
**sampler's recipe** (:data:`RECIPES` under the sampler's name, used with ``recipe: sampler``, the default)
is what the NB201 study (docs/results.md) found to work for it, with no benchmark prior (no skip cap, no
op chosen by looking at NB201's best cells). ``recipe: plain`` leaves the global defaults alone (the
project's behaviour before per-sampler recipes). A **named recipe** reproduces a paper's settings in one line.

A recipe is a function of the config as the user gave it over the global defaults (:class:`Given`): values
that depend on the run's budget are derived from it, so a recipe never makes a valid user config
invalid. With ``E`` = ``epochs``:

* ``warmup_epochs = max(1, round(E / 12))`` for ``E >= 2``: the weights train first, because
  parameter-free ops win an untrained supernet (the study's 1 warm-up epoch in 10-15);
* ``optim.a_lr = min(0.05, 0.6 / E)``: Adam moves each logit by about ``a_lr`` per step, so the
  rate is scaled to the budget (0.05 at 12 epochs, as in the study, where DARTS's 3e-4 for 50
  CIFAR epochs leaves alpha at its initial noise: entropy 1.606 -> 1.513 of 1.609 in 12 epochs);
* ``temperature``: exponential 1 -> 0.1 (softmax, gumbel, enhanced), 10 -> 0.1 (gumbel_hard: GDAS's tau_max),
  constant 1 (dirichlet);
* ``beta_weight = 10`` (beta-DARTS's decay of mean logsumexp(alpha), ramped from 0): alpha stays near
  uniform unless its loss keeps pushing one op (softmax, gumbel, enhanced; the study's best recipe
  without prior: 93.90 at 16 px, 93.99 with shrinking); 50 for gumbel_hard, the best of what was tried for its final
  cells (studies/nb201/specs/dev_gumbel_hard*.yaml), though its α then stays uniform (normalised entropy 1.000 at
  the last epoch) and its final cell is the argmax of small differences; with weaker decay α moves towards
  pooling and skips (docs/results.md, run 3): at these budgets one-op training does not search well;
* ``prune.epoch = max(E // 2, warmup + 1)``, ``prune.keep = 3`` (DrNAS's progressive shrinking) for every
  sampler but gumbel_hard (where it did not help: studies/nb201/specs/dev_shrink_one_hot.yaml, which lifted
  enhanced's final cells from 88.3 to 92.6), where ``E >= 4`` and more than 3 ops are searched;
* ``kl_weight = 0.001`` (DrNAS's KL to a flat Dirichlet) for dirichlet;
* the three collapse guards off (``early_stop.max_skip_share``, ``max_none_share``, ``gap_growth``):
  they stopped improving runs one epoch after their best cell (docs/results.md); the handed-back
  cell (``best_cell.metric``) guards against a drifting search instead.

Every resolved value is in the config (``config/*`` columns) and in ``config_id``; ``recipe`` itself is not
(it only says where the values came from), so a config written before recipes keeps its id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from diffnas.names import PRUNABLE_SAMPLERS, SPACE_OPS


@dataclass(frozen=True)
class Given:
    """What a recipe sees: ``values``, the user's keys over the global defaults (the sampler a named recipe
    chooses included), and ``user``, the keys the user set (a recipe derives its values from those)."""

    values: Mapping[str, Any]
    user: frozenset[str]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def warmup(self, default: int) -> int:
        """The user's ``warmup_epochs`` where set, else ``default``."""
        return int(self.values["warmup_epochs"]) if "warmup_epochs" in self.user else default


RecipeFn = Callable[[Given], dict[str, Any]]


@dataclass(frozen=True)
class Recipe:
    """A named set of defaults: ``values(given)`` -> dotted key -> value; ``why`` is its one-line source;
    ``sampler`` the sampler a published recipe runs (its recipe and ``given`` see it unless the user set one)."""

    name: str
    why: str
    values: RecipeFn
    sampler: str | None = None


RECIPES: dict[str, Recipe] = {}
"""Every recipe by name: one per sampler (the sampler's own) and the published ones."""

SAMPLER_RECIPE = "sampler"
PLAIN_RECIPE = "plain"


def register_recipe(name: str, why: str, sampler: str | None = None) -> Callable[[RecipeFn], RecipeFn]:
    def decorator(fn: RecipeFn) -> RecipeFn:
        if name in RECIPES or name in (SAMPLER_RECIPE, PLAIN_RECIPE):
            raise ValueError(f"recipe {name!r} is already registered")
        RECIPES[name] = Recipe(name, why, fn, sampler)
        return fn

    return decorator


def recipe_names() -> tuple[str, ...]:
    """The values ``recipe`` accepts: ``sampler`` (each sampler's own), ``plain`` (global defaults) and the
    published recipes (the samplers' own recipes are chosen through ``sampler``, not by name)."""
    from diffnas.names import names

    samplers = set(names("sampler"))
    return (SAMPLER_RECIPE, PLAIN_RECIPE, *(n for n in RECIPES if n not in samplers))


# -- the samplers' own recipes ----------------------------------------------------------------------
def warmup_for(epochs: int) -> int:
    """``max(1, round(E / 12))`` warm-up epochs for ``E >= 2`` (none for a 1-epoch run)."""
    return max(1, round(epochs / 12)) if epochs >= 2 else 0


def alpha_lr_for(epochs: int) -> float:
    """``min(0.05, 0.6 / E)``: alpha's Adam learning rate scaled to the epoch budget."""
    return min(0.05, 0.6 / epochs)


def _searched_ops(given: Given) -> int:
    ops = given.get("ops")
    return len(ops) if ops else len(SPACE_OPS.get(given.get("space", "nb201"), ()))


def _shrink(given: Given, warmup: int) -> dict[str, Any]:
    """DrNAS's shrinking at ``max(E // 2, warmup + 1)`` keeping 3 ops, where it fits the run (E >= 4, before the
    last epoch, more than 3 ops, a sampler that restricts exactly to the kept ops); else nothing."""
    epochs = int(given["epochs"])
    at = max(epochs // 2, warmup + 1)
    if given["sampler"] in PRUNABLE_SAMPLERS and epochs >= 4 and at < epochs and _searched_ops(given) > 3:
        return {"prune.epoch": at, "prune.keep": 3}
    return {}


def _study_recipe(given: Given, *, beta: bool, exponential: bool, shrink: bool = True) -> dict[str, Any]:
    epochs = int(given["epochs"])
    warmup = given.warmup(warmup_for(epochs))
    out: dict[str, Any] = {
        "warmup_epochs": warmup,
        "optim.a_lr": alpha_lr_for(epochs),
        "early_stop.max_skip_share": None,
        "early_stop.max_none_share": None,
        "early_stop.gap_growth": None,
    }
    if exponential:
        out.update({"temperature.schedule": "exponential", "temperature.t0": 1.0, "temperature.t_min": 0.1})
    if beta:
        out["beta_weight"] = 10.0
    return {**out, **(_shrink(given, warmup) if shrink else {})}


@register_recipe("softmax", "DARTS + beta-decay (beta-DARTS) + DrNAS's shrinking: the study's best without prior")
def _softmax(given: Given) -> dict[str, Any]:
    return _study_recipe(given, beta=True, exponential=True)


@register_recipe("gumbel", "Gumbel-softmax with the softmax recipe (beta-decay, shrinking, T 1 -> 0.1)")
def _gumbel(given: Given) -> dict[str, Any]:
    return _study_recipe(given, beta=True, exponential=True)


@register_recipe("enhanced", "noisy softmax with the softmax recipe (beta-decay, shrinking, T 1 -> 0.1)")
def _enhanced(given: Given) -> dict[str, Any]:
    # studies/nb201/specs/dev_shrink_one_hot.yaml (Fashion-MNIST, seeds 1-5): final cells 88.32 without shrinking,
    # 92.37 / 92.55 shrinking to 3 ops at epoch 4 / 6 of 12
    return _study_recipe(given, beta=True, exponential=True)


@register_recipe("gumbel_hard", "GDAS (one op per edge) with warm-up, budget-scaled alpha rate, T 10 -> 0.1 (GDAS's "
                                "tau_max), beta-decay 50; no shrinking (it did not help its final cells)")
def _gumbel_hard(given: Given) -> dict[str, Any]:
    # studies/nb201/specs/dev_gumbel_hard*.yaml (Fashion-MNIST, seeds 1-3): final cells 80.0 at T0 1 / beta 0,
    # 89.75 at T0 10 / beta 10, 92.53 at T0 10 / beta 50; dev_shrink_one_hot.yaml (seeds 1-5): 91.52 without
    # shrinking, 90.94 / 89.73 shrinking at epoch 4 / 6; dev_gumbel_hard_alr.yaml: alpha rate 0.005 / 0.015
    # 88.61-90.12, below the budget-scaled 0.05
    return {**_study_recipe(given, beta=True, exponential=True, shrink=False), "temperature.t0": 10.0,
            "beta_weight": 50.0}


@register_recipe("dirichlet", "DrNAS: Dirichlet at T 1, KL weight 1e-3, progressive shrinking (the study's 93.3)")
def _dirichlet(given: Given) -> dict[str, Any]:
    return {**_study_recipe(given, beta=False, exponential=False), "kl_weight": 0.001,
            "temperature.schedule": "constant", "temperature.t0": 1.0, "temperature.t_min": 1.0}


# -- published recipes --------------------------------------------------------------------------------
_NO_STUDY = {"warmup_epochs": 0, "beta_weight": 0.0, "prune.epoch": 0, "prune.keep": 3, "kl_weight": 0.0,
             "aux_skip": 0.0, "early_stop.max_skip_share": None, "early_stop.max_none_share": None,
             "early_stop.gap_growth": None, "order": "first"}
# NAS-Bench-201's search settings (AutoDL configs/nas-benchmark/algos/DARTS.config, scripts-search/NAS-Bench-201)
_NB201_WEIGHTS = {"optim.w_lr": 0.025, "optim.w_lr_min": 0.001, "optim.w_momentum": 0.9, "optim.w_nesterov": True,
                  "optim.w_weight_decay": 0.0005, "optim.w_grad_clip": 5.0, "optim.a_lr": 3e-4,
                  "optim.a_beta1": 0.5, "optim.a_beta2": 0.999, "optim.a_weight_decay": 1e-3,
                  "optim.alpha_init_std": 1e-3}


@register_recipe("darts_v1", "DARTS first order as NAS-Bench-201 ran it (lr 0.025 Nesterov, alpha Adam 3e-4 wd 1e-3)",
                 sampler="softmax")
def _darts_v1(given: Given) -> dict[str, Any]:
    return {**_NO_STUDY, **_NB201_WEIGHTS,
            "temperature.schedule": "constant", "temperature.t0": 1.0, "temperature.t_min": 1.0}


@register_recipe("gdas", "GDAS as NAS-Bench-201 ran it (one-hot straight-through, tau 10 -> 0.1 linear)",
                 sampler="gumbel_hard")
def _gdas(given: Given) -> dict[str, Any]:
    return {**_NO_STUDY, **_NB201_WEIGHTS, "sampler_options.hard_forward": "chosen",
            "temperature.schedule": "linear", "temperature.t0": 10.0, "temperature.t_min": 0.1}


@register_recipe("drnas", "DrNAS (Chen et al. 2021): Dirichlet, KL 1e-3, progressive shrinking at half the epochs",
                 sampler="dirichlet")
def _drnas(given: Given) -> dict[str, Any]:
    kl = {"kl_weight": 0.001} if given["sampler"] == "dirichlet" else {}  # a user's other sampler: no KL term
    return {**_NO_STUDY, **_NB201_WEIGHTS, **kl, **_shrink(given, given.warmup(0)),
            "optim.a_lr": 6e-4, "temperature.schedule": "constant", "temperature.t0": 1.0, "temperature.t_min": 1.0}


@register_recipe("beta_darts", "beta-DARTS (Ye et al. 2022) as its NB201 code runs: DARTS first order (SGD without "
                               "Nesterov, weight decay 3e-4) + beta-decay ramped 0 -> 50 over the run",
                 sampler="softmax")
def _beta_darts(given: Given) -> dict[str, Any]:
    # Sunshine-Ye/Beta-DARTS nasbench201: loss + (50 * epoch / 100) * mean_e logsumexp(alpha_e), 100 epochs
    return {**_darts_v1(given), "beta_weight": 50.0, "optim.w_nesterov": False, "optim.w_weight_decay": 3e-4}


def sampler_defaults(epochs: int) -> dict[str, dict[str, Any]]:
    """Sampler -> the values its recipe gives a config that sets only ``sampler`` and ``epochs``, where they differ
    from the global defaults (for ``--list-keys`` and docs/search.md)."""
    from diffnas.config.keys import FIELDS
    from diffnas.config.search_config import SearchConfig
    from diffnas.names import names

    out: dict[str, dict[str, Any]] = {}
    for sampler in names("sampler"):
        cfg = SearchConfig.from_dict({"sampler": sampler, "epochs": epochs})
        out[sampler] = {k: v for k, v in cfg.to_flat().items()
                        if cfg.source(k).startswith("sampler:") and v != FIELDS[k].default}
    return out


def resolve(user: Mapping[str, Any], defaults: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The four layers: ``(values, source)``, ``source[key]`` one of ``user``, ``recipe:<name>``,
    ``sampler:<name>``, ``default``. ``user`` holds the keys the user set (already coerced)."""
    values = {**defaults, **user}
    source = {k: "user" if k in user else "default" for k in values}
    name = values.get("recipe", SAMPLER_RECIPE)
    given = Given(dict(values), frozenset(user))

    def layer(found: Mapping[str, Any], tag: str) -> None:
        for key, value in found.items():
            if key not in user:
                values[key] = value
                source[key] = tag

    named: dict[str, Any] = {}
    if name not in (SAMPLER_RECIPE, PLAIN_RECIPE):
        recipe = RECIPES[name]
        if recipe.sampler is not None:
            named["sampler"] = recipe.sampler
            if "sampler" not in user:  # the recipe's sampler, for its own values and the sampler layer
                given = Given({**given.values, "sampler": recipe.sampler}, given.user)
        named.update(recipe.values(given))
    sampler = given["sampler"]
    if name != PLAIN_RECIPE and sampler in RECIPES:
        layer(RECIPES[sampler].values(given), f"sampler:{sampler}")
    layer(named, f"recipe:{name}")
    return values, source
