"""The second-order hypergradient equals autograd through one explicit virtual step."""

import torch

from diffnas.search.bilevel import unrolled_alpha_grad, virtual_step


def test_second_order_matches_explicit_unrolled_gradient():
    torch.manual_seed(0)
    dt = torch.float64
    w1 = torch.randn(5, 4, dtype=dt, requires_grad=True)
    w2 = torch.randn(3, 5, dtype=dt, requires_grad=True)
    params = [w1, w2]
    alpha = torch.randn(2, 3, dtype=dt, requires_grad=True)
    xt, xv = torch.randn(16, 4, dtype=dt), torch.randn(16, 4, dtype=dt)
    yt, yv = torch.randint(0, 3, (16,)), torch.randint(0, 3, (16,))
    buffers = [0.3 * torch.randn_like(w1), 0.3 * torch.randn_like(w2)]
    xi, mu, wd = 0.1, 0.9, 3e-3

    def model(ws, a, x):
        mix = torch.softmax(a, -1)  # 2 "edges", 3 smooth "ops"
        h = x @ ws[0].T
        h = mix[0, 0] * torch.tanh(h) + mix[0, 1] * torch.sin(h) + mix[0, 2] * h
        out = h @ ws[1].T
        return mix[1, 0] * out + mix[1, 1] * torch.tanh(out) + mix[1, 2] * out ** 2 / 4

    def loss(ws, a, x, y):
        return torch.nn.functional.cross_entropy(model(ws, a, x), y)

    # explicit: w'(α) = w − ξ(μ b + ∇w L_train(w, α) + λ w), differentiate L_val(w'(α), α) by autograd
    g = torch.autograd.grad(loss(params, alpha, xt, yt), params, create_graph=True)
    # written out here, independently of the implementation's virtual_step
    w_prime = [w - xi * (mu * b + gw + wd * w) for w, gw, b in zip(params, g, buffers)]
    explicit = torch.autograd.grad(loss(w_prime, alpha, xv, yv), alpha)[0]
    before = [w.detach().clone() for w in params]

    hyper, _ = unrolled_alpha_grad(
        params, alpha, train_loss=lambda: loss(params, alpha, xt, yt),
        val_loss=lambda: loss(params, alpha, xv, yv), xi=xi, momentum=mu, weight_decay=wd,
        momentum_buffers=buffers,
    )
    rel = (hyper - explicit).norm() / explicit.norm()
    assert rel < 1e-3, float(rel)
    first_order = torch.autograd.grad(loss(params, alpha, xv, yv), alpha)[0]
    assert (first_order - explicit).norm() / explicit.norm() > 1e-2  # the test can tell them apart
    # parameters are restored exactly
    assert all(torch.equal(w, b) for w, b in zip(params, before))


def test_virtual_step_equals_a_real_sgd_step_with_momentum_and_weight_decay():
    torch.manual_seed(1)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.2, momentum=0.9, weight_decay=0.01)
    for _ in range(2):  # the second step uses the momentum buffer
        opt.zero_grad()
        (w ** 3).sum().backward()
        grad = w.grad.detach().clone()
        buffer = opt.state.get(w, {}).get("momentum_buffer")
        expected = virtual_step([w.detach()], [grad], 0.2, 0.9, 0.01, [buffer])[0]
        opt.step()
        assert torch.allclose(w.detach(), expected, atol=1e-12)
