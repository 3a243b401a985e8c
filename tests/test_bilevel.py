"""The second-order hypergradient equals autograd through one explicit virtual step."""

import torch

from diffnas.bilevel import unrolled_alpha_grad, virtual_step


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
    w_prime = virtual_step(params, g, xi, mu, wd, buffers)
    explicit = torch.autograd.grad(loss(w_prime, alpha, xv, yv), alpha)[0]

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
    assert torch.equal(w1, params[0])
