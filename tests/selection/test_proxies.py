import math

import pytest
import torch

from diffnas.config import SearchConfig
from diffnas.model.spaces import build_space, choice_from_genotype
from diffnas.search.run import SearchRun
from diffnas.selection.proxies import PROXIES, _binary_kernel, cell_network, cell_score, score
from tests.helpers import PROXY_SIZES, TINY, proxy_batch

SPACE = build_space("nb201")
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # the input never reaches the output
CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_binary_kernel_is_units_minus_hamming_distance():
    codes = torch.rand(5, 7, generator=torch.Generator().manual_seed(1)) > 0.5
    k = _binary_kernel(codes)
    for i in range(5):
        for j in range(5):
            hamming = int((codes[i] != codes[j]).sum())
            assert k[i, j] == 7 - hamming


def test_naswot_is_logdet_of_the_summed_relu_kernel_plus_identity():
    x, y = proxy_batch()
    chosen = choice_from_genotype(SPACE, CONV)
    net = cell_network(SPACE, 1, 10, 4, 1, 2, seed=0)
    codes = []
    handles = [m.register_forward_hook(lambda m, i, o: codes.append(i[0].reshape(len(x), -1) > 0))
               for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(x, SPACE.one_hot(chosen), chosen)
    for h in handles:
        h.remove()
    c = torch.cat(codes, dim=1).double()
    hamming = (c.unsqueeze(1) != c.unsqueeze(0)).sum(-1).double()
    expected = torch.logdet(c.shape[1] - hamming + torch.eye(len(x), dtype=torch.float64))
    assert score("naswot", net, SPACE.one_hot(chosen), chosen, x, y) == pytest.approx(float(expected))


def test_disconnected_cell_scores_below_a_conv_cell_and_scores_are_finite():
    x, y = proxy_batch()
    for name in PROXIES:
        bad, good = (cell_score(name, SPACE, g, x, y, **PROXY_SIZES) for g in (NONE, CONV))
        assert math.isfinite(bad) and math.isfinite(good), name
        assert good > bad, name
    # no path from input to output: only the classifier's bias carries synflow (R = Σ|b| + 0)
    bias = cell_network(SPACE, 1, 10, 4, 1, 2, seed=0).classifier.bias.detach().double().abs().sum()
    assert cell_score("synflow", SPACE, NONE, x, y, **PROXY_SIZES) == pytest.approx(math.log1p(float(bias)))


def test_scores_are_deterministic_and_leave_the_network_and_global_rng_untouched():
    x, y = proxy_batch()
    chosen = choice_from_genotype(SPACE, CONV)
    net = cell_network(SPACE, 1, 10, 4, 1, 2, seed=3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    for name in PROXIES:
        first = score(name, net, SPACE.one_hot(chosen), chosen, x, y)
        assert score(name, net, SPACE.one_hot(chosen), chosen, x, y) == first, name
    assert torch.equal(torch.get_rng_state(), rng)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == before[k].dtype for k in before)
    assert score("params", net, SPACE.one_hot(chosen), chosen, x, y) == net.genotype_params(chosen)


def test_search_records_the_proxy_of_its_current_cell():
    run = SearchRun(SearchConfig.validate({**TINY, "epochs": 1}))
    record = run.step()
    c = run.config
    n = c["metrics.proxy_batch"]
    expected = cell_score(c["metrics.proxy"], run.space, record["genotype"], run.data.x_weights[:n],
                          run.data.y_weights[:n], num_classes=run.data.num_classes, channels=c["model.channels"],
                          cells_per_stage=c["model.cells_per_stage"], stages=c["model.stages"], seed=0)
    assert record["proxy_score"] == expected
    assert run.trial_record()["final_proxy_score"] == expected
    off = SearchRun(SearchConfig.validate({**TINY, "epochs": 1, "metrics.proxy": "none"})).step()
    assert math.isnan(off["proxy_score"])
    # another seed splits the data differently, yet scores the same cell the same (seed-0 batch)
    other = SearchRun(SearchConfig.validate({**TINY, "epochs": 1, "seed": 3}))
    assert not torch.equal(other.data.x_weights[:n], run.data.x_weights[:n])
    assert other.proxy_score(record["genotype"]) == expected
