"""diffnas.config.recipes: user > named recipe > the sampler's recipe > global default, and what each resolves to."""

from __future__ import annotations

import pytest

from diffnas.config import SearchConfig
from diffnas.config.keys import FIELDS
from diffnas.config.recipes import RECIPES, alpha_lr_for, recipe_names, warmup_for
from diffnas.errors import InputError
from diffnas.names import names

GUARDS = ("early_stop.max_skip_share", "early_stop.max_none_share", "early_stop.gap_growth")


def test_every_sampler_has_its_own_recipe_and_the_published_ones_are_named():
    assert set(names("sampler")) <= set(RECIPES)
    assert set(recipe_names()) == {"sampler", "plain", "darts_v1", "gdas", "drnas", "beta_darts"}
    with pytest.raises(InputError, match=r"^recipe: unknown 'dart_v1'; allowed: sampler, plain, darts_v1"):
        SearchConfig.from_dict({"recipe": "dart_v1"})


def test_precedence_user_over_named_recipe_over_sampler_recipe_over_global_default():
    cfg = SearchConfig.from_dict({"recipe": "darts_v1", "sampler": "gumbel", "epochs": 12})
    assert cfg["sampler"] == "gumbel" and cfg.source("sampler") == "user"            # the user's sampler
    assert cfg["optim.a_lr"] == 3e-4 and cfg.source("optim.a_lr") == "recipe:darts_v1"  # the recipe over gumbel's
    assert cfg["beta_weight"] == 0.0 and cfg.source("beta_weight") == "recipe:darts_v1"
    assert cfg["data.batch_size"] == FIELDS["data.batch_size"].default and cfg.source("data.batch_size") == "default"
    # a key only the sampler's recipe sets comes from it (darts_v1 does not name a temperature floor for gumbel)
    gumbel = SearchConfig.from_dict({"sampler": "gumbel", "epochs": 12})
    assert gumbel["beta_weight"] == 10.0 and gumbel.source("beta_weight") == "sampler:gumbel"
    # the user's value wins over every layer
    mine = SearchConfig.from_dict({"recipe": "darts_v1", "optim": {"a_lr": 0.02}, "beta_weight": 3.0})
    assert (mine["optim.a_lr"], mine["beta_weight"]) == (0.02, 3.0) and mine.source("optim.a_lr") == "user"
    # plain: the global defaults, untouched
    plain = SearchConfig.from_dict({"recipe": "plain", "sampler": "gumbel"})
    assert all(plain[k] == FIELDS[k].default for k in FIELDS if k not in ("recipe", "sampler"))


@pytest.mark.parametrize("sampler", ["softmax", "gumbel", "gumbel_hard", "enhanced", "dirichlet"])
@pytest.mark.parametrize("epochs", [1, 2, 3, 4, 12, 50])
def test_each_samplers_recipe_scales_with_the_budget_and_is_always_valid(sampler, epochs):
    cfg = SearchConfig.from_dict({"sampler": sampler, "epochs": epochs})
    assert cfg["warmup_epochs"] == warmup_for(epochs) < epochs
    assert cfg["optim.a_lr"] == alpha_lr_for(epochs) == min(0.05, 0.6 / epochs)
    assert all(cfg[g] is None for g in GUARDS)  # they cut improving runs; the late hand-back rule guards instead
    assert cfg["discretize.max_skip"] is None and cfg["early_stop.max_skip"] is None  # no benchmark prior
    pruned = sampler != "gumbel_hard" and epochs >= 4  # shrinking did not help gumbel_hard's final cells
    assert (cfg["prune.epoch"] > cfg["warmup_epochs"]) if pruned else cfg["prune.epoch"] == 0
    assert cfg["beta_weight"] == {"dirichlet": 0.0, "gumbel_hard": 50.0}.get(sampler, 10.0)
    assert cfg["kl_weight"] == (0.001 if sampler == "dirichlet" else 0.0)
    assert cfg["temperature.schedule"] == ("constant" if sampler == "dirichlet" else "exponential")
    assert cfg["temperature.t0"] == (10.0 if sampler == "gumbel_hard" else 1.0)


def test_a_recipe_never_makes_a_valid_user_config_invalid():
    # a long warm-up set by the user moves the shrinking after it; three ops leave nothing to shrink
    late = SearchConfig.from_dict({"epochs": 20, "warmup_epochs": 15})
    assert late["warmup_epochs"] == 15 and late["prune.epoch"] == 16
    assert SearchConfig.from_dict({"ops": ["skip_connect", "nor_conv_3x3", "avg_pool_3x3"]})["prune.epoch"] == 0
    assert SearchConfig.from_dict({"epochs": 20, "warmup_epochs": 19})["prune.epoch"] == 0
    # a user t0 below the recipe's t_min is the user's own error, named as such
    with pytest.raises(InputError, match="temperature.t_min"):
        SearchConfig.from_dict({"temperature": {"t0": 0.05}})


def test_replace_resolves_again_so_a_new_sampler_brings_its_own_recipe():
    softmax = SearchConfig.from_dict({"epochs": 12})
    dirichlet = softmax.replace(sampler="dirichlet")
    assert (dirichlet["kl_weight"], dirichlet["beta_weight"], dirichlet["temperature.schedule"]) == \
        (0.001, 0.0, "constant")
    assert softmax.replace(epochs=50)["optim.a_lr"] == pytest.approx(0.012)
    assert softmax.replace(seed=3).to_flat() == {**softmax.to_flat(), "seed": 3}


def test_config_ids_hold_for_configs_written_before_and_differ_for_any_resolved_value():
    plain = SearchConfig.from_dict({"recipe": "plain", "sampler": "gumbel", "epochs": 5})
    assert plain.config_id() == "bead9758c035"  # what diffnas wrote for this config before recipes existed
    # a config read back from its config/* columns (every key given) keeps its id and its values
    stored = plain.to_flat()
    stored.pop("recipe")
    again = SearchConfig.validate(stored)
    assert again.config_id() == plain.config_id() and again.to_flat() == {**plain.to_flat(), "recipe": "sampler"}
    # the sampler's recipe resolves other values: another id; the recipe's name alone is not part of it
    resolved = SearchConfig.from_dict({"sampler": "gumbel", "epochs": 5})
    assert resolved.config_id() != plain.config_id()
    assert SearchConfig.validate({**resolved.to_flat(), "recipe": "plain"}).config_id() == resolved.config_id()


def test_published_recipes_carry_the_papers_settings():
    darts = SearchConfig.from_dict({"recipe": "darts_v1", "epochs": 50})
    assert {k: darts[k] for k in ("sampler", "order", "optim.w_lr", "optim.w_nesterov", "optim.w_weight_decay",
                                  "optim.a_lr", "optim.a_weight_decay", "optim.a_beta1", "warmup_epochs",
                                  "temperature.schedule")} == {
        "sampler": "softmax", "order": "first", "optim.w_lr": 0.025, "optim.w_nesterov": True,
        "optim.w_weight_decay": 5e-4, "optim.a_lr": 3e-4, "optim.a_weight_decay": 1e-3, "optim.a_beta1": 0.5,
        "warmup_epochs": 0, "temperature.schedule": "constant"}
    gdas = SearchConfig.from_dict({"recipe": "gdas", "epochs": 50})
    assert (gdas["sampler"], gdas["temperature.schedule"], gdas["temperature.t0"], gdas["temperature.t_min"]) == \
        ("gumbel_hard", "linear", 10.0, 0.1)
    drnas = SearchConfig.from_dict({"recipe": "drnas", "epochs": 50})
    assert (drnas["sampler"], drnas["kl_weight"], drnas["prune.epoch"], drnas["prune.keep"]) == ("dirichlet", 0.001, 25, 3)
    beta = SearchConfig.from_dict({"recipe": "beta_darts", "epochs": 50})
    assert beta["beta_weight"] > 0 and beta["optim.a_lr"] == 3e-4 and beta["prune.epoch"] == 0


def test_a_sweep_trial_resolves_its_own_samplers_recipe_over_the_specs_base():
    from diffnas.sweeps.trainable import trial_search_config

    base = SearchConfig.from_dict({"epochs": 12, "optim": {"w_lr": 0.1}})
    trial = trial_search_config(base.given(), {"sampler": "dirichlet"}, {"CPU": 1})
    assert (trial["kl_weight"], trial["beta_weight"], trial["optim.w_lr"]) == (0.001, 0.0, 0.1)
    assert trial_search_config(base.given(), {"sampler": "gumbel_hard"}, {"CPU": 1})["prune.epoch"] == 0


def test_named_recipes_respect_what_the_user_set_too():
    # drnas shrinks after the user's warm-up, and adds its KL term only to the Dirichlet it is defined for
    late = SearchConfig.from_dict({"recipe": "drnas", "epochs": 50, "warmup_epochs": 30})
    assert (late["sampler"], late["warmup_epochs"], late["prune.epoch"], late["kl_weight"]) == ("dirichlet", 30, 31, 0.001)
    other = SearchConfig.from_dict({"recipe": "drnas", "sampler": "softmax", "epochs": 50})
    assert (other["kl_weight"], other["prune.epoch"], other["optim.a_lr"]) == (0.0, 25, 6e-4)
    # the named recipe's sampler brings that sampler's recipe underneath (gdas: gumbel_hard's, then gdas's values)
    gdas = SearchConfig.from_dict({"recipe": "gdas", "epochs": 50})
    assert gdas.source("sampler") == "recipe:gdas" and gdas.source("temperature.t0") == "recipe:gdas"
    assert gdas["beta_weight"] == 0.0 and gdas.source("beta_weight") == "recipe:gdas"
