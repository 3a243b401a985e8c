"""NAS-Bench-201's training augmentation, batched on the tensor's device: random crop + horizontal flip.

AutoDL's ``get_datasets`` trains CIFAR-10/100 with ``RandomHorizontalFlip()`` and
``RandomCrop(32, padding=4)`` (ImageNet16: ``RandomCrop(16, padding=2)``), one PIL image at a time.
:func:`augment` draws the same distribution for a whole batch at once: no per-image Python loop,
three small draws from a :class:`torch.Generator`, one gather. Importing this module imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["augment"]


def augment(x: torch.Tensor, padding: int, generator: torch.Generator, *, flip: bool = True,
            fill: float | Sequence[float] | torch.Tensor = 0.0) -> torch.Tensor:
    """Random crop with constant padding and random horizontal flip of every image in ``x``.

    ``x`` is (N, C, H, W) on any device, any dtype. With P the image padded by ``padding`` pixels
    of value ``fill`` on every side (``fill`` one value, or one per channel), each image n gets
    offsets ``dy_n, dx_n`` uniform in ``0 .. 2·padding`` and, when ``flip``, a flip bit ``f_n``
    with probability 1/2::

        out[n, c, i, j] = P[n, c, i + dy_n, j' + dx_n],   j' = W − 1 − j if f_n else j

    i.e. the crop ``P[n, :, dy_n : dy_n + H, dx_n : dx_n + W]``, mirrored left-right when ``f_n``.
    ``padding = 0`` and ``flip = False`` return ``x`` unchanged (a copy). Draws, in this order:
    ``dy`` (N), ``dx`` (N), then ``f`` (N) if ``flip``, each with ``torch.randint(...,
    generator=generator)`` on the generator's device, so the same generator state gives the same
    result. NB201 pads with black (pixel value 0) before normalising; on a normalised tensor pass
    ``fill = −mean / std`` per channel (:attr:`diffnas.data.DataSplits.augment_fill`).
    """
    if x.dim() != 4:
        raise ValueError(f"augment expects (N, C, H, W), got shape {tuple(x.shape)}")
    padding = int(padding)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    n, c, h, w = x.shape
    if padding == 0 and not flip:
        return x.clone()
    gen_device = generator.device
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=gen_device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=gen_device).to(x.device)
    cols = torch.arange(w, device=x.device).expand(n, w)
    if flip:
        f = torch.randint(0, 2, (n,), generator=generator, device=gen_device).to(x.device).bool()
        cols = torch.where(f[:, None], (w - 1) - cols, cols)
    cols = cols + dx[:, None]  # (N, W) columns in the padded image
    rows = torch.arange(h, device=x.device)[None, :] + dy[:, None]  # (N, H)

    if padding:
        padded = F.pad(x, (padding, padding, padding, padding), value=0.0)
        if not (isinstance(fill, int | float) and fill == 0):
            fill_t = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
            if fill_t.shape[1] not in (1, c):
                raise ValueError(f"fill has {fill_t.shape[1]} values for {c} channels")
            border = torch.ones((1, 1, h + 2 * padding, w + 2 * padding), dtype=torch.bool, device=x.device)
            border[..., padding:padding + h, padding:padding + w] = False
            padded = torch.where(border, fill_t, padded)
    else:
        padded = x
    # (N, C, H+2p, W+2p) -> gather rows then columns per image
    idx_rows = rows[:, None, :, None].expand(n, c, h, padded.shape[-1])
    out = torch.gather(padded, 2, idx_rows)  # (N, C, H, W+2p)
    idx_cols = cols[:, None, None, :].expand(n, c, h, w)
    return torch.gather(out, 3, idx_cols)
