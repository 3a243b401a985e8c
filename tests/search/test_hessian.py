import torch

from diffnas.search.hessian import dominant_eigenvalue


def test_power_iteration_finds_dominant_eigenvalue():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    eig = torch.tensor([5.0, 2.0, 1.0, 0.5, -0.3, 0.1], dtype=torch.float64)
    h = q @ torch.diag(eig) @ q.T

    def loss(a):
        v = a.flatten()
        return 0.5 * v @ h @ v + torch.sin(v).sum() * 0

    value = dominant_eigenvalue(loss, torch.zeros(2, 3, dtype=torch.float64), iters=60)
    assert abs(value - 5.0) < 1e-3
