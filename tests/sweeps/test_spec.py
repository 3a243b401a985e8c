"""diffnas.sweeps.spec: validation of sweep specs (no Ray)."""

from __future__ import annotations

import copy
import glob
import os

import pytest

from diffnas.errors import InputError
from diffnas.sweeps.spec import parse_spec
from diffnas.sweeps.spec_file import load_spec

SWEEPS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "sweeps")
STUDY_SPECS = os.path.join(os.path.dirname(__file__), "..", "..", "studies", "nb201", "specs")

GOOD = {
    "name": "ok",
    "base": {"dataset": "digits", "epochs": 4, "data": {"subset": 200}, "temperature": {"schedule": "exponential", "t_min": 0.1}},
    "grid": {"sampler": ["softmax", "gumbel"]},
    "sample": {
        "temperature.t0": {"loguniform": [0.5, 5.0]},
        "entropy_weight": {"uniform": [-0.01, 0.01]},
        "clip.window": {"randint": [5, 40]},
        "clip.mode": {"choice": ["none", "fixed"]},
    },
    "seeds": 3,
    "num_samples": 2,
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
    "baseline": {"sampler": "softmax", "temperature": {"t0": 1.0}},
}


def spec(**changes):
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_good_spec_normalised():
    s = parse_spec(spec())
    assert s.name == "ok" and s.epochs == 4
    assert s.seeds == [0, 1, 2]
    assert s.scheduler == {"type": "asha", "grace_period": 1, "reduction_factor": 2.0, "max_t": 4}
    assert s.n_trials() == 2 * 2 * 3
    assert s.axes == ["sampler", "temperature.t0", "entropy_weight", "clip.window", "clip.mode"]
    assert s.baseline == {"sampler": "softmax", "temperature.t0": 1.0}
    assert s.baseline_config()["temperature.t0"] == 1.0
    assert s.sample["clip.window"].args == (5, 40)
    # the normalised mapping parses back to the same spec (sweep.json -> resume)
    again = parse_spec(s.to_dict())
    assert again.n_trials() == s.n_trials() and again.base == s.base and again.grid == s.grid


def test_defaults_and_shorthands():
    s = parse_spec({"base": {"epochs": 2}, "scheduler": "fifo", "search": "random"}, default_name="stem")
    assert s.name == "stem" and s.scheduler == {"type": "fifo"} and s.seeds == [0]
    assert s.metric == "proxy_score" and s.mode == "max" and s.n_trials() == 1
    assert s.baseline_config() == s.base


def test_confirm_per_names_an_axis():
    s = parse_spec(spec(confirm={"per": "sampler", "top_k": 1}))
    assert s.confirm == {"top_k": 1, "seeds": 3, "per": "sampler"}
    assert parse_spec(s.to_dict()).confirm == s.confirm  # survives sweep.json
    assert parse_spec(spec(confirm={"per": "clip.mode"})).confirm["per"] == "clip.mode"  # a sampled axis too
    assert parse_spec(spec()).confirm["per"] is None


def test_optuna_runs_first_seed():
    s = parse_spec(spec(grid=None, search="optuna", num_samples=5))
    assert s.n_trials() == 5 and s.explore_seeds() == [0]


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(SWEEPS_DIR, "*.yaml")))
                         + sorted(glob.glob(os.path.join(STUDY_SPECS, "*.yaml"))))
def test_shipped_and_study_specs_validate(path):
    s = load_spec(path)
    assert s.n_trials() >= 1
    assert s.name == os.path.splitext(os.path.basename(path))[0]


def test_quick_spec_is_a_demo():
    s = load_spec(os.path.join(SWEEPS_DIR, "quick.yaml"))
    assert s.n_trials() >= 8 and s.scheduler["type"] == "asha" and s.base["dataset"] == "digits"


@pytest.mark.parametrize("changes, field", [
    ({"bogus": 1}, "bogus"),
    ({"base": {"epochz": 3}}, "base.epochz"),
    ({"grid": {"sampler": ["softmax", "nope"]}}, "grid.sampler"),
    ({"sample": {"temperature.t0": {"normal": [0, 1]}}}, "sample.temperature.t0"),
    ({"sample": {"temperature.t0": {"uniform": [2.0, 1.0]}}}, "sample.temperature.t0.uniform"),
    ({"sample": {"temperature.t0": {"loguniform": [0.0, 1.0]}}}, "sample.temperature.t0.loguniform"),
    ({"sample": {"sampler": {"uniform": [0, 1]}}}, "sample.sampler"),
    ({"scheduler": {"type": "asha", "max_t": 9}}, "scheduler.max_t"),
    ({"scheduler": {"type": "fifo", "grace_period": 2}}, "scheduler.grace_period"),
    ({"search": "optuna"}, "grid"),
    ({"seeds": [1, 1]}, "seeds"),
    ({"grid": {"seed": [1, 2]}}, "grid.seed"),
    ({"grid": {"epochs": [1, 2]}}, "grid.epochs"),
    ({"metric": "accuracy"}, "metric"),
    ({"resources": {"gpu": -1}}, "resources.gpu"),
    ({"baseline": {"sampler": "nope"}}, "baseline.sampler"),
    ({"grid": {"temperature.t_min": [2.0]}}, "grid.temperature.t_min"),
    ({"confirm": {"per": "samplers"}}, "confirm.per"),
    ({"confirm": {"per": "seed"}}, "confirm.per"),
])
def test_bad_specs_name_the_key(changes, field):
    with pytest.raises(InputError) as info:
        parse_spec(spec(**changes))
    assert info.value.field == field, str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key, value", [("mode", None), ("mode", "best"), ("num_samples", 2.5), ("num_samples", 0),
                                        ("scheduler.reduction_factor", float("inf")), ("search", 3)])
def test_fixed_fields_use_the_configs_coercion(key, value):
    """A spec's fixed fields are checked by the same code as config keys (diffnas.config.Field.coerce)."""
    from diffnas.sweeps.spec import SPEC_FIELDS

    section, _, leaf = key.partition(".")
    data = copy.deepcopy(GOOD)
    if leaf:
        data[section][leaf] = value
    else:
        data[key] = value
    with pytest.raises(InputError) as spec_err:
        parse_spec(data)
    with pytest.raises(InputError) as field_err:
        SPEC_FIELDS[key].coerce(key, value)
    assert str(spec_err.value) == str(field_err.value)


def _spec_file(folder, name, text):
    path = folder / name
    path.write_text(text)
    return str(path)


def test_extends_merges_base_and_baseline_key_by_key_and_replaces_the_rest(tmp_path):
    _spec_file(tmp_path, "parent.yaml", """
name: parent
description: the parent
base: {dataset: digits, epochs: 4, data: {subset: 300, batch_size: 32}, temperature.t0: 2.0}
grid: {sampler: [softmax, gumbel], entropy_weight: [0.0, 0.1]}
seeds: [1, 2]
scheduler: {type: fifo}
baseline: {sampler: softmax, temperature.t0: 2.0}
""")
    os.mkdir(tmp_path / "sub")
    child = _spec_file(tmp_path / "sub", "child.yaml", """
extends: ../parent.yaml
base: {data.subset: 500, temperature: {t0: 3.0}}
grid: {sampler: [dirichlet]}
baseline: {sampler: dirichlet}
""")
    s = load_spec(child)
    assert s.name == "child" and s.description is None  # neither is inherited
    assert (s.base["data.subset"], s.base["data.batch_size"], s.base["epochs"]) == (500, 32, 4)
    assert s.base["temperature.t0"] == 3.0
    assert s.grid == {"sampler": ["dirichlet"]}  # replaced whole, not merged
    assert s.seeds == [1, 2] and s.scheduler["type"] == "fifo"
    assert s.baseline == {"sampler": "dirichlet", "temperature.t0": 2.0}
    grandchild = _spec_file(tmp_path, "grandchild.yaml", "extends: sub/child.yaml\nbase:\nbaseline:\nseeds: [7]\n")
    g = load_spec(grandchild)
    assert (g.base["data.subset"], g.grid, g.seeds) == (500, {"sampler": ["dirichlet"]}, [7])  # empty base: no change
    assert g.baseline == s.baseline


def test_extends_refusals_name_extends(tmp_path):
    cases = {
        "missing.yaml": "extends: nowhere.yaml\n",
        "number.yaml": "extends: 3\n",
        "loop_a.yaml": "extends: loop_b.yaml\n",
        "self.yaml": "extends: self.yaml\n",
        "list.yaml": "extends: parent_list.yaml\n",
    }
    _spec_file(tmp_path, "loop_b.yaml", "extends: loop_a.yaml\n")
    _spec_file(tmp_path, "parent_list.yaml", "[1, 2]\n")
    for name, text in cases.items():
        with pytest.raises(InputError) as err:
            load_spec(_spec_file(tmp_path, name, text))
        assert err.value.field == "extends" and "\n" not in str(err.value), name
    with pytest.raises(InputError, match="cycle: loop_a.yaml -> loop_b.yaml -> loop_a.yaml"):
        load_spec(str(tmp_path / "loop_a.yaml"))


def test_specs_that_extend_the_beta_protocol_share_its_base():
    """The beta-DARTS follow-ups extend studies/nb201/specs/nb201_study_beta.yaml: each one's base is the protocol's
    but for the keys it names."""
    root = os.path.join(os.path.dirname(__file__), "..", "..", "studies", "nb201", "specs")
    parent = load_spec(os.path.join(root, "nb201_study_beta.yaml")).base.to_flat()
    cells5 = load_spec(os.path.join(root, "nb201_study_beta_cells5_confirm.yaml"))
    assert {k: v for k, v in cells5.base.to_flat().items() if parent[k] != v} == {"model.cells_per_stage": 5}
    assert cells5.seeds == list(range(26, 36)) and cells5.grid == {"sampler": ["softmax"], "beta_weight": [10.0]}


def test_an_error_in_an_inherited_field_names_the_file_that_sets_it(tmp_path):
    os.mkdir(tmp_path / "sub")
    _spec_file(tmp_path / "sub", "parent.yaml", """
name: parent
base: {dataset: digits, epochs: 0}
grid: {sampler: [softmax, nope]}
seeds: [1]
""")
    _spec_file(tmp_path / "sub", "middle.yaml", "extends: parent.yaml\nbase: {data.subset: 300}\n")
    cases = {  # child text -> (field, the file named, or None where the child itself sets the field)
        "extends: sub/middle.yaml\n": ("base.epochs", os.path.join("sub", "parent.yaml")),
        "extends: sub/middle.yaml\nbase: {epochs: -1}\n": ("base.epochs", None),
        "extends: sub/middle.yaml\nbase: {epochs: 2}\n": ("grid.sampler", os.path.join("sub", "parent.yaml")),
        "extends: sub/middle.yaml\nbase: {epochs: 2}\ngrid: {sampler: [also_nope]}\n": ("grid.sampler", None),
        "extends: sub/middle.yaml\nbase: {epochs: 2, data: {subset: 1}}\ngrid: {sampler: [softmax]}\n":
            ("base.data.subset", None),
    }
    for i, (text, (field, named)) in enumerate(cases.items()):
        with pytest.raises(InputError) as err:
            load_spec(_spec_file(tmp_path, f"child{i}.yaml", text))
        line = str(err.value)
        assert err.value.field.startswith(field) and "\n" not in line, (text, line)
        if named is None:
            assert "set in" not in line, line
        else:
            assert line.endswith(f"({err.value.field} is set in {named}, which this spec extends)"), line
    with pytest.raises(InputError) as err:
        _spec_file(tmp_path / "sub", "middle.yaml", "extends: parent.yaml\nbase: {data.subset: 1, epochs: 2}\n"
                   "grid: {sampler: [softmax]}\n")
        load_spec(_spec_file(tmp_path, "child_mid.yaml", "extends: sub/middle.yaml\n"))
    assert str(err.value).endswith(f"(base.data.subset is set in {os.path.join('sub', 'middle.yaml')}, "
                                   "which this spec extends)")


def test_set_overrides_the_base_and_names_itself_in_errors():
    quick = os.path.join(SWEEPS_DIR, "quick.yaml")
    plain = load_spec(quick)
    spec = load_spec(quick, overrides=["data.subset=300", "model.channels=6"])
    assert spec.base["data.subset"] == 300 and spec.base["model.channels"] == 6
    assert spec.to_dict()["base"]["data.subset"] == 300  # what sweep.json records, so resume and confirm see it
    assert {k: v for k, v in spec.base.to_flat().items() if plain.base[k] != v} == {"data.subset": 300,
                                                                                    "model.channels": 6}
    for overrides, field in ((["data.subset=5"], "--set data.subset"), (["colour=blue"], "--set colour"),
                             (["data.subset"], "--set")):
        with pytest.raises(InputError) as err:
            load_spec(quick, overrides=overrides)
        assert err.value.field == field


def test_nb201_protocol_specs_carry_the_published_settings():
    darts = load_spec(os.path.join(SWEEPS_DIR, "nb201_cifar10.yaml"))
    gdas = load_spec(os.path.join(SWEEPS_DIR, "nb201_cifar10_gdas.yaml"))
    published = {"dataset": "cifar10", "model.channels": 16, "model.cells_per_stage": 5, "data.batch_size": 64,
                 "optim.w_lr": 0.025, "optim.w_lr_min": 0.001, "optim.w_momentum": 0.9, "optim.w_nesterov": True,
                 "optim.w_weight_decay": 5e-4, "optim.a_lr": 3e-4, "optim.a_beta1": 0.5, "optim.a_beta2": 0.999,
                 "optim.a_weight_decay": 1e-3}
    for spec in (darts, gdas):
        assert {k: spec.base[k] for k in published} == published
    assert (darts.base["sampler"], darts.base["order"], darts.base["epochs"]) == ("softmax", "first", 50)
    assert (gdas.base["sampler"], gdas.base["epochs"]) == ("gumbel_hard", 240)
    assert (gdas.base["temperature.schedule"], gdas.base["temperature.t0"], gdas.base["temperature.t_min"]) == \
        ("linear", 10.0, 0.1)
    # GDAS is DARTS-V1's protocol but for sampler, temperature and budget (and the recipe's name)
    differ = {k for k, v in gdas.base.to_flat().items() if darts.base[k] != v}
    assert differ == {"recipe", "sampler", "temperature.schedule", "temperature.t0", "temperature.t_min", "epochs"}
    # the published recipes underneath: none of the sampler recipes' additions
    for spec in (darts, gdas):
        assert (spec.base["warmup_epochs"], spec.base["beta_weight"], spec.base["prune.epoch"]) == (0, 0.0, 0)
