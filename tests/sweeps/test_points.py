"""diffnas.sweeps.points: an explored config rebuilt from its trial row's config columns."""

from __future__ import annotations


def test_config_from_row_round_trips_list_and_null_keys():
    from diffnas.config import SearchConfig
    from diffnas.results.records import config_columns
    from diffnas.sweeps.points import config_from_row

    cfg = SearchConfig.from_dict({"ops": ["none", "skip_connect", "nor_conv_3x3"], "data": {"subset": 300},
                                  "temperature": {"t0": 2.5, "t_min": 0.5}, "seed": 4})
    row = config_columns(cfg)
    row["config/data.dir"] = float("nan")  # how a null can come back from a dataframe
    back = config_from_row(row)
    assert back.config_id() == cfg.config_id() and back["ops"] == ["none", "skip_connect", "nor_conv_3x3"]
