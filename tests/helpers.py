"""Shared test helpers: tiny, fast search configs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# Mechanism tests run on the global defaults (``recipe: plain``): what they check (warm-up, guards, pruning,
# ...) is set explicitly, not by a sampler's recipe; tests/config/test_recipes.py checks the recipes.
TINY = {
    "recipe": "plain",
    "dataset": "digits",
    "data.subset": 200,
    "data.batch_size": 50,
    "model.channels": 4,
    "model.stages": 1,
    "epochs": 3,
}


# a tiny supernet for zero-cost proxies (1 input channel, 10 classes) and a fixed random batch for it
PROXY_SIZES = {"num_classes": 10, "channels": 4, "cells_per_stage": 1, "stages": 2}


def proxy_batch(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random 1×8×8 inputs and labels in 0..9 from generator seed 0 (the same batch every call)."""
    import torch  # here, not at the top: the analysis tests import this module without torch

    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def fused_pair(channels_last: bool):
    """(space, reference supernet, fused supernet with the same weights): NB201, 1 input channel, 10 classes,
    4 channels, 1 cell per stage, 2 stages, built from torch seed 0."""
    import torch  # here, not at the top: the analysis tests import this module without torch

    from diffnas.model.spaces import build_space
    from diffnas.model.supernet import Supernet

    torch.manual_seed(0)
    space = build_space("nb201")
    ref = Supernet(space, 1, 10, channels=4, cells_per_stage=1, stages=2)
    fast = Supernet(space, 1, 10, channels=4, cells_per_stage=1, stages=2)
    fast.load_state_dict(ref.state_dict())
    fast.configure(fused=True, channels_last=channels_last)
    return space, ref, fast


def tiny_overrides(**extra: object) -> list[str]:
    """``--set`` strings for a tiny digits search (about a second per epoch)."""
    values = {**TINY, **extra}
    return [f"--set={k}={v}" for k, v in values.items()]


# -- headless Chromium (Debian package ``chromium``) --------------------------------------------
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.length > 0 && imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-images-ok', ok ? 'yes' : 'no');
  document.body.setAttribute('data-images', String(imgs.length));
});
</script></body>"""


def _chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        return binary
    import pytest

    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail("chromium is not installed but CI is set: install the Debian package 'chromium'")
    pytest.skip("chromium not installed (Debian package 'chromium'); this test is required under CI")


def _run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90)



def assert_html_renders(html_file: Path, tmp_path: Path, n_figures: int) -> None:
    """Open an HTML report in headless Chromium: all ``n_figures`` images decode
    (``naturalWidth > 0`` via ``--dump-dom``) and a screenshot shows matplotlib's figures."""
    import numpy as np
    from matplotlib.image import imread

    binary = _chromium()
    html = html_file.read_text()
    assert html.count("<img ") == n_figures
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE))
    dom = _run(binary, tmp_path / "profile1", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stderr[-2000:]
    assert 'data-images-ok="yes"' in body.group(0) and f'data-images="{n_figures}"' in body.group(0)
    shot = tmp_path / "shot.png"
    res = _run(binary, tmp_path / "profile2", "--window-size=1280,5000", f"--screenshot={shot}", html_file.as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (5000, 1280)
    assert np.std(pixels) > 0.05  # not blank
    # matplotlib's C0 blue (#1f77b4) only appears inside the rendered figures
    blue = np.abs(pixels - np.array([0x1F, 0x77, 0xB4]) / 255.0).max(axis=-1) < 0.06
    assert blue.sum() > 500


def stop_started(proc: subprocess.Popen, started: set[int] | frozenset[int] = frozenset()) -> None:
    """Stop a test's own driver process and the processes it was seen to start, by PID (nothing else)."""
    import signal

    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
