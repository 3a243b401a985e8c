"""diffnas.data.augment: NB201's random crop + horizontal flip, batched, pure, deterministic."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from diffnas.data.augment import augment  # noqa: E402


def batch(n: int = 64, c: int = 3, side: int = 8) -> torch.Tensor:
    return torch.randn(n, c, side, side, generator=torch.Generator().manual_seed(0))


def gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shape_dtype_and_device_are_kept():
    x = batch()
    out = augment(x, 2, gen())
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.data_ptr() != x.data_ptr()
    u8 = (torch.arange(2 * 3 * 4 * 4) % 256).to(torch.uint8).view(2, 3, 4, 4)
    assert augment(u8, 1, gen()).dtype == torch.uint8


def test_no_padding_no_flip_is_the_identity():
    x = batch()
    out = augment(x, 0, gen(), flip=False)
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_flips_are_exact_mirrors():
    x = batch()
    out = augment(x, 0, gen())
    flipped = torch.flip(x, dims=[3])
    is_same = (out == x).flatten(1).all(1)
    is_mirror = (out == flipped).flatten(1).all(1)
    assert bool((is_same | is_mirror).all())
    assert 0 < int(is_mirror.sum()) < len(x)  # both happen in a batch of 64


def _crops(x_i: torch.Tensor, padding: int, fill: float = 0.0) -> list[torch.Tensor]:
    """Every crop of the padded image and of its mirror (what a per-image RandomCrop+Flip can give)."""
    side = x_i.shape[-1]
    out = []
    for img in (x_i, torch.flip(x_i, dims=[2])):
        p = F.pad(img, (padding,) * 4, value=fill)
        out += [p[:, dy:dy + side, dx:dx + side] for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)]
    return out


@pytest.mark.parametrize("padding", [1, 4])
def test_crops_are_shifts_of_the_zero_padded_image(padding):
    x = batch(n=32)
    out = augment(x, padding, gen(), flip=False)
    for i in range(len(x)):
        assert any(torch.equal(out[i], c) for c in _crops(x[i], padding)[: (2 * padding + 1) ** 2]), i
    both = augment(x, padding, gen(5))
    for i in range(len(x)):
        assert any(torch.equal(both[i], c) for c in _crops(x[i], padding)), i
    # offsets vary within the batch: not all images get the same crop
    assert len({tuple(o.flatten()[:8].tolist()) for o in (out - x)}) > 1


def test_the_formula_with_explicit_draws():
    """out[n, c, i, j] = P[n, c, i + dy_n, j' + dx_n], j' = W−1−j if flipped, draws dy, dx, f in order."""
    x = batch(n=16, side=6)
    padding = 2
    g = gen(11)
    dy = torch.randint(0, 2 * padding + 1, (16,), generator=g)
    dx = torch.randint(0, 2 * padding + 1, (16,), generator=g)
    f = torch.randint(0, 2, (16,), generator=g).bool()
    out = augment(x, padding, gen(11))
    p = F.pad(x, (padding,) * 4)
    for n in range(16):
        crop = p[n, :, dy[n]:dy[n] + 6, dx[n]:dx[n] + 6]
        assert torch.equal(out[n], torch.flip(crop, dims=[2]) if f[n] else crop), n


def test_deterministic_given_the_generator():
    x = batch()
    assert torch.equal(augment(x, 4, gen(3)), augment(x, 4, gen(3)))
    assert not torch.equal(augment(x, 4, gen(3)), augment(x, 4, gen(4)))
    g = gen(3)
    first, second = augment(x, 4, g), augment(x, 4, g)  # the generator advances
    assert not torch.equal(first, second)


def test_fill_pads_with_the_given_value_per_channel():
    x = torch.zeros(8, 3, 4, 4) + 5.0
    fill = (-1.0, -2.0, -3.0)
    out = augment(x, 2, gen(), flip=False, fill=fill)
    for i in range(8):
        assert any(torch.equal(out[i], c) for c in _crops_per_channel(x[i], 2, fill))
    assert set(out.unique().tolist()) <= {5.0, -1.0, -2.0, -3.0}
    single = augment(x, 2, gen(), flip=False, fill=-7.0)
    assert set(single.unique().tolist()) <= {5.0, -7.0}
    with pytest.raises(ValueError, match="fill has 2 values for 3 channels"):
        augment(x, 1, gen(), fill=(1.0, 2.0))


def _crops_per_channel(x_i, padding, fill):
    side = x_i.shape[-1]
    p = torch.stack([F.pad(x_i[c], (padding,) * 4, value=fill[c]) for c in range(len(fill))])
    return [p[:, dy:dy + side, dx:dx + side] for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)]


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment(torch.zeros(3, 4, 4), 1, gen())
    with pytest.raises(ValueError, match="padding must be >= 0"):
        augment(torch.zeros(1, 1, 4, 4), -1, gen())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_matches_cpu_for_the_same_draws():
    x = batch()
    out = augment(x.cuda(), 4, gen(9))  # CPU generator, CUDA tensor: draws on CPU, work on the GPU
    assert out.is_cuda and torch.equal(out.cpu(), augment(x, 4, gen(9)))
    g = torch.Generator(device="cuda").manual_seed(9)
    assert augment(x.cuda(), 4, g).is_cuda
