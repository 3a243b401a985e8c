"""diffnas.names: one torch-free source for every name a config chooses; registries feed it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from diffnas import names
from diffnas.config import FIELDS, SearchConfig
from diffnas.errors import InputError


def test_a_newly_registered_sampler_is_accepted_by_config_validation():
    torch = pytest.importorskip("torch")
    from diffnas.search.samplers import SAMPLERS, OpWeights, Sampler, build_sampler

    with pytest.raises(InputError, match="allowed: softmax, gumbel, gumbel_hard, enhanced"):
        SearchConfig.validate({"sampler": "uniform_test_only"})

    @SAMPLERS.register("uniform_test_only")
    class Uniform(Sampler):
        name = "uniform_test_only"

        def sample(self, alpha, temperature, generator=None):
            return OpWeights(torch.full_like(alpha, 1.0 / alpha.shape[-1]))

    try:
        cfg = SearchConfig.validate({"sampler": "uniform_test_only"})
        assert cfg["sampler"] == "uniform_test_only"
        assert "uniform_test_only" in FIELDS["sampler"].allowed()
        assert isinstance(build_sampler(cfg["sampler"]), Uniform)
    finally:
        SAMPLERS.unregister("uniform_test_only")
    with pytest.raises(InputError):
        SearchConfig.validate({"sampler": "uniform_test_only"})


def test_registries_implement_exactly_the_listed_builtins():
    pytest.importorskip("torch")
    from diffnas.model.ops import OPS
    from diffnas.model.spaces import DISCRETISERS, GENOTYPE_WRITERS
    from diffnas.search.clipping import CLIPPERS
    from diffnas.search.samplers import SAMPLERS
    from diffnas.search.schedules import SCHEDULES
    from diffnas.selection.proxies import PROXIES

    assert tuple(SAMPLERS.names()) == names.BUILTIN["sampler"] == FIELDS["sampler"].options()
    assert tuple(SCHEDULES.names()) == names.BUILTIN["temperature.schedule"]
    assert (*PROXIES.names(), "none") == FIELDS["metrics.proxy"].options()
    assert tuple(CLIPPERS.names()) == names.BUILTIN["clip.mode"] == FIELDS["clip.mode"].options()
    assert tuple(DISCRETISERS.names()) == tuple(GENOTYPE_WRITERS.names()) == tuple(names.SPACE_OPS)
    assert {op for ops in names.SPACE_OPS.values() for op in ops} <= set(OPS.names())


def test_check_implemented_names_what_is_missing():
    with pytest.raises(RuntimeError, match="'b' is listed"):
        names.check_implemented("sampler", ("a", "b"), {"a": 1})


def test_config_validation_needs_no_torch():
    code = ("import sys; from diffnas.config import SearchConfig; "
            "SearchConfig.validate({'sampler': 'gumbel_hard', 'clip.mode': 'adaptive', "
            "'temperature.schedule': 'cosine', 'space': 'darts'}); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
