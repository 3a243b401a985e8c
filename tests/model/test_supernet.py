import pytest
import torch

from diffnas.model.spaces import build_space
from diffnas.model.supernet import Supernet
from diffnas.search.samplers import build_sampler


def _count_calls(net):
    calls = {}
    for row, mixed in net.mixed_ops():
        for i, op in enumerate(mixed.ops):
            def hook(module, inp, out, key=(row, mixed.names[i])):
                calls[key] = calls.get(key, 0) + 1
            op.register_forward_hook(hook)
    return calls


def test_gumbel_hard_runs_only_the_chosen_op_and_never_none():
    torch.manual_seed(0)
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, stages=1)
    calls = _count_calls(net)
    alpha = torch.zeros(6, 5, requires_grad=True)
    sample = build_sampler("gumbel_hard").sample(alpha, 1.0, torch.Generator().manual_seed(1))
    net(torch.randn(4, 1, 8, 8), sample.weights, sample.chosen).sum().backward()
    expected = {(r, space.ops[int(c)]) for r, c in enumerate(sample.chosen) if space.ops[int(c)] != "none"}
    assert set(calls) == expected
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


def test_soft_forward_skips_none():
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, stages=1)
    calls = _count_calls(net)
    net(torch.randn(2, 1, 8, 8), torch.softmax(torch.zeros(6, 5), -1))
    assert not any(name == "none" for _, name in calls)
    convs = {key for key in calls if key[1].startswith("nor_conv")}
    assert convs == {(r, n) for r in range(6) for n in ("nor_conv_1x1", "nor_conv_3x3")}


def test_one_hot_supernet_equals_discrete_forward():
    torch.manual_seed(0)
    for name in ("nb201", "darts"):
        space = build_space(name)
        net = Supernet(space, 1, 10, channels=4, stages=2)
        alpha = torch.randn(space.n_edges, space.n_ops)
        chosen = space.discrete_choice(alpha)
        weights = space.one_hot(chosen)
        x = torch.randn(8, 1, 8, 8)
        assert torch.allclose(net(x, weights), net(x, weights, chosen), atol=1e-5)


def test_costs_and_params():
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, stages=1)
    params = net.param_costs()
    ops = space.ops
    assert params[0, ops.index("nor_conv_3x3")] == 4 * 4 * 9  # conv 3x3, BN without affine
    assert params[0, ops.index("skip_connect")] == 0
    flops = net.flop_costs((1, 8, 8))
    assert flops[0, ops.index("nor_conv_1x1")] == 4 * 8 * 8 * 4
    all_conv = torch.full((6,), ops.index("nor_conv_3x3"))
    assert net.genotype_params(all_conv) == net.fixed_params() + 6 * 144


def test_parameter_free_ops_are_computed_once_per_source_node():
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, stages=1)
    pool_calls = []
    for _, mixed in net.mixed_ops():
        mixed.ops[space.ops.index("avg_pool_3x3")].register_forward_hook(lambda m, i, o: pool_calls.append(1))
    x = torch.randn(2, 1, 8, 8)
    weights = torch.softmax(torch.randn(6, 5), -1)
    out = net(x, weights)
    assert len(pool_calls) == 3  # sources 0, 1, 2 — not once per edge (6)
    # and the result equals the uncached sum computed edge by edge
    ref_net = Supernet(space, 1, 10, channels=4, stages=1)
    ref_net.load_state_dict(net.state_dict())
    cell = ref_net.layers[0]
    h = ref_net.stem(x)
    nodes = [h]
    for node in range(1, 4):
        acc = 0
        for k, e in enumerate(space.edges):
            if e.dst == node:
                for i, op in enumerate(cell.edges[k].ops):
                    if space.ops[i] != "none":
                        acc = acc + weights[k, i] * op(nodes[e.src])
        nodes.append(acc)
    ref = ref_net.classifier(ref_net.head(nodes[-1]).mean(dim=(2, 3)))
    assert torch.allclose(out, ref, atol=1e-5)


def test_flop_costs_price_every_nb201_edge_and_op_by_hand():
    """Every (edge, op) entry equals the hand count summed over the cells sharing the row; pooling is
    not under-priced on edges whose source node's pooled output the forward pass shares."""
    space = build_space("nb201")
    net = Supernet(space, 1, 10, channels=4, cells_per_stage=2, stages=2)
    cells = [(4, 8)] * 2 + [(8, 4)] * 2  # (channels, side) of each cell: 8x8 input, one reduction
    per_op = {
        "none": 0, "skip_connect": 0,
        "nor_conv_1x1": sum(c * h * h * c for c, h in cells),
        "nor_conv_3x3": sum(c * h * h * c * 9 for c, h in cells),
        "avg_pool_3x3": sum(c * h * h * 9 for c, h in cells),
    }
    expected = torch.tensor([[per_op[o] for o in space.ops]] * space.n_edges, dtype=torch.float64)
    assert torch.equal(net.flop_costs((1, 8, 8)), expected)


def _darts_op_macs(name: str, c: int, side: int, stride: int) -> int:
    """Hand count of one DARTS op on a c×side×side input (BN and ReLU free): o = output side."""
    o = (side - 1) // stride + 1
    k = {"sep_conv_3x3": 3, "sep_conv_5x5": 5, "dil_conv_3x3": 3, "dil_conv_5x5": 5}.get(name)
    if name.startswith("sep_conv"):  # two (depthwise k×k + pointwise 1×1) blocks, the first strided
        return 2 * (c * o * o * k * k + c * c * o * o)
    if name.startswith("dil_conv"):  # depthwise k×k (dilated) + pointwise 1×1
        return c * o * o * k * k + c * c * o * o
    if name.endswith("pool_3x3"):
        return c * o * o * 9
    if name == "skip_connect":  # identity, or FactorizedReduce's two 1×1 stride-2 convs (c/2 + c/2 outputs)
        return 0 if stride == 1 else c * c * o * o
    return 0  # none


def test_flop_costs_price_every_darts_edge_and_op_by_hand():
    """DARTS (strided reduction edges, separable and dilated convs, pools with BN, FactorizedReduce):
    every (edge, op) entry equals the hand count for that edge's own input, summed over cells."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only contend on a busy machine
    try:
        _check_darts_flop_costs()
    finally:
        torch.set_num_threads(threads)


def _check_darts_flop_costs() -> None:
    torch.manual_seed(0)
    space = build_space("darts")
    net = Supernet(space, 1, 10, channels=4, cells_per_stage=1, stages=2)
    inputs = {}

    def record(module, args):
        inputs[id(module)] = args[0].shape

    handles = [m.register_forward_pre_hook(record) for _, m in net.mixed_ops()]
    with torch.no_grad():
        net(torch.zeros(2, 1, 8, 8), torch.ones(space.n_edges, space.n_ops))
    for h in handles:
        h.remove()
    expected = torch.zeros(space.n_edges, space.n_ops, dtype=torch.float64)
    for row, mixed in net.mixed_ops():
        _, c, side, _ = inputs[id(mixed)]
        for i, name in enumerate(space.ops):
            expected[row, i] += _darts_op_macs(name, c, side, mixed.stride)
    got = net.flop_costs((1, 8, 8))
    assert torch.equal(got, expected)
    assert (got[:, space.ops.index("avg_pool_3x3")] > 0).all()
    assert {s for _, m in net.mixed_ops() for s in [m.stride]} == {1, 2}  # reduction edges are covered


def _hard_edge_grads(hard_forward: str, alpha0: torch.Tensor, seed: int, temperature: float = 0.7):
    """One NB201 edge driven by gumbel_hard: (alpha grad, chosen k, y, op outputs, G, out)."""
    from diffnas.search.samplers import gumbel_noise

    torch.manual_seed(0)
    space = build_space("nb201")
    mixed = Supernet(space, 1, 10, channels=2, stages=1).layers[0].edges[0]
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    mixed.double()
    big_g = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    alpha = alpha0.clone().requires_grad_(True)
    sample = build_sampler("gumbel_hard", hard_forward=hard_forward).sample(
        alpha, temperature, torch.Generator().manual_seed(seed))
    k = int(sample.chosen[0])
    out = mixed(x, sample.weights[0], k, hard_forward=hard_forward)
    if out is None:  # "chosen" with k = none: the edge contributes nothing, α gets no gradient
        out = torch.zeros_like(x)
        alpha.grad = torch.zeros_like(alpha)
    else:
        (out * big_g).sum().backward()
    g = gumbel_noise(alpha0.shape, torch.Generator().manual_seed(seed), alpha0)  # the same draw, by hand
    y = torch.softmax((alpha0 + g) / temperature, dim=-1)[0]
    assert k == int((alpha0 + g).argmax())
    with torch.no_grad():
        outputs = [torch.zeros_like(x) if name == "none" else op(x) for name, op in zip(space.ops, mixed.ops)]
    return alpha.grad[0], k, y, outputs, big_g, out.detach()


@pytest.mark.parametrize("seed", range(8))
def test_gumbel_hard_variants_alpha_gradients_follow_their_formulas(seed):
    """G = ∂L/∂out, J = ∂y/∂α = (diag(y) − y yᵀ)/T. chosen: ∂L/∂α = Jᵀ(⟨G, op_k(x)⟩ e_k);
    all: ∂L/∂α = Jᵀ(⟨G, op_k(x)⟩ e_k + ΣG (1 − e_k)). Same forward value, different α gradient."""
    temperature = 0.7
    alpha0 = torch.tensor([[0.3, -0.2, 0.4, 0.5, 0.1]], dtype=torch.float64)
    grads = {}
    for variant in ("chosen", "all"):
        grad, k, y, outputs, big_g, out = _hard_edge_grads(variant, alpha0, seed, temperature)
        jac = (torch.diag(y) - torch.outer(y, y)) / temperature
        e_k = torch.nn.functional.one_hot(torch.tensor(k), 5).double()
        dl_dh = float((big_g * outputs[k]).sum()) * e_k
        if variant == "all":
            dl_dh = dl_dh + float(big_g.sum()) * (1 - e_k)
        assert torch.allclose(grad, jac.T @ dl_dh, atol=1e-12), (variant, k)
        assert torch.allclose(out, outputs[k] if k else torch.zeros_like(out), atol=1e-12)  # forward = op_k(x)
        grads[variant] = (grad, jac, k)
    (g_v1, jac, k), (g_all, _, _) = grads["chosen"], grads["all"]
    e_k = torch.nn.functional.one_hot(torch.tensor(k), 5).double()
    assert torch.allclose(g_all - g_v1, jac.T @ (float(big_g.sum()) * (1 - e_k)), atol=1e-12)
    assert not torch.allclose(g_all, g_v1)


def test_gumbel_hard_all_variant_still_runs_only_the_chosen_op():
    """Both variants run only the chosen op of each edge; the whole network's α gradients differ."""
    space = build_space("nb201")
    x, y = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3)), torch.arange(4)
    grads = {}
    for variant in ("chosen", "all"):
        torch.manual_seed(0)
        net = Supernet(space, 1, 10, channels=4, stages=2)
        calls = _count_calls(net)
        alpha = torch.zeros(6, 5, requires_grad=True)
        sample = build_sampler("gumbel_hard", hard_forward=variant).sample(alpha, 1.0,
                                                                           torch.Generator().manual_seed(1))
        assert sample.hard_forward == variant
        logits = net(x, sample.weights, sample.chosen, sample.hard_forward)
        torch.nn.functional.cross_entropy(logits, y).backward()
        picked = {(r, space.ops[int(c)]) for r, c in enumerate(sample.chosen) if space.ops[int(c)] != "none"}
        assert set(calls) == picked
        grads[variant] = (alpha.grad, logits.detach())
    assert torch.allclose(grads["chosen"][1], grads["all"][1])  # same forward values
    assert float((grads["all"][0] - grads["chosen"][0]).abs().max()) > 1e-5  # different α gradient


def test_hard_forward_is_a_validated_sampler_option():
    from diffnas.config import SearchConfig
    from diffnas.errors import InputError

    assert SearchConfig.validate({})["sampler_options.hard_forward"] == "chosen"
    with pytest.raises(InputError, match="allowed: chosen, all"):
        SearchConfig.validate({"sampler_options.hard_forward": "v2"})
    with pytest.raises(ValueError, match="hard_forward"):
        build_sampler("gumbel_hard", hard_forward="v2")
    # a default value keeps the config_id that configs had before the key existed
    base = SearchConfig.validate({"sampler": "gumbel_hard"})
    assert base.config_id() != base.replace(**{"sampler_options.hard_forward": "all"}).config_id()
