"""diffnas.sweeps.tuners: the explore and confirm param spaces queue the seeds of a config side by side."""

from __future__ import annotations


def test_explore_queues_the_seeds_of_a_config_side_by_side(tiny_spec):
    """The explore grid lists every (grid point, seed) once, seeds varying fastest, in Tune's order."""
    from ray.tune.search.variant_generator import generate_variants

    from diffnas.sweeps.spec_file import load_spec
    from diffnas.sweeps.trainable import POINT_KEY
    from diffnas.sweeps.tuners import explore_param_space

    spec = load_spec(tiny_spec(grid={"sampler": ["softmax", "gumbel_hard"], "entropy_weight": [0.0, 0.1]},
                               sample={}, num_samples=1, seeds=[3, 4]))
    queued = []
    for _, config in generate_variants(explore_param_space(spec), constant_grid_search=True):  # Tune's order
        point = config[POINT_KEY]
        queued.append((point["sampler"], point["entropy_weight"], point["seed"]))
    assert len(queued) == len(set(queued)) == 8
    assert [s for *_, s in queued] == [3, 4] * 4  # every config's seeds one after the other
    assert queued[0][:2] == queued[1][:2] and queued[2][:2] == queued[3][:2]


def test_confirm_queues_the_seeds_of_a_config_side_by_side():
    from ray.tune.search.variant_generator import generate_variants

    from diffnas.sweeps.trainable import POINT_KEY
    from diffnas.sweeps.tuners import confirm_param_space

    points = [{"sampler": "softmax"}, {"sampler": "gumbel_hard"}]
    queued = [(c[POINT_KEY]["sampler"], c[POINT_KEY]["seed"])
              for _, c in generate_variants(confirm_param_space(points, [5, 6, 7]))]
    assert queued == [("softmax", 5), ("softmax", 6), ("softmax", 7),
                      ("gumbel_hard", 5), ("gumbel_hard", 6), ("gumbel_hard", 7)]
