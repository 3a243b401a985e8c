import pytest

from diffnas.config import FIELDS, SearchConfig, load_config, parse_override
from diffnas.errors import InputError


def test_defaults_and_overrides():
    cfg = SearchConfig.from_dict({"temperature": {"schedule": "cosine", "t0": 5}},
                                 ["temperature.t_min=0.5", "entropy_weight=-0.1", "ops=[none, skip_connect, nor_conv_3x3]"])
    assert cfg["temperature.schedule"] == "cosine"
    assert cfg["temperature.t0"] == 5.0 and isinstance(cfg["temperature.t0"], float)
    assert cfg["entropy_weight"] == -0.1
    assert cfg.ops == ("none", "skip_connect", "nor_conv_3x3")
    assert set(cfg.to_flat()) == set(FIELDS)
    assert SearchConfig.from_dict(cfg.to_nested()) == cfg


def test_config_id_ignores_seed_but_not_sampler():
    a = SearchConfig.from_dict({"seed": 1})
    assert a.config_id() == SearchConfig.from_dict({"seed": 2}).config_id()
    assert a.config_id() != SearchConfig.from_dict({"seed": 1, "sampler": "gumbel"}).config_id()
    assert len(a.config_id()) == 12


@pytest.mark.parametrize("flat,key", [
    ({"temprature.t0": 1}, "temprature.t0"),
    ({"epochs": "ten"}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"sampler": "multinomial"}, "sampler"),
    ({"temperature.schedule": "cosine", "temperature.t0": 1, "temperature.t_min": 2}, "temperature.t_min"),
    ({"sampler_options.dropout": 1.0}, "sampler_options.dropout"),
    ({"sampler_options.noise_std": -1}, "sampler_options.noise_std"),
    ({"ops": ["conv_7x7"]}, "ops"),
    ({"temperature.t0": 0}, "temperature.t0"),
])
def test_bad_values_name_the_key(flat, key):
    with pytest.raises(InputError) as err:
        SearchConfig.validate(flat)
    assert err.value.field == key


def test_parse_override_and_missing_file(tmp_path):
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    with pytest.raises(InputError, match="key=value"):
        parse_override("novalue")
    with pytest.raises(InputError, match="file not found"):
        load_config(str(tmp_path / "nope.yaml"))


def test_constant_schedule_ignores_t_min():
    plain = ["recipe=plain"]  # the global defaults: constant T, t_min 1.0
    cfg = SearchConfig.from_dict({}, [*plain, "temperature.t0=0.5"])  # t_min 1.0 is irrelevant for constant
    assert cfg["temperature.t0"] == 0.5
    with pytest.raises(InputError, match="temperature.t_min"):
        SearchConfig.from_dict({}, [*plain, "temperature.t0=0.5", "temperature.schedule=linear"])
