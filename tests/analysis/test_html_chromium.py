"""The HTML report opened in headless Chromium (Debian package ``chromium``): every image decodes
(``naturalWidth > 0``, checked through ``--dump-dom``) and a screenshot shows the figures.

Skips only when the binary is absent and ``CI`` is not set; under CI a missing chromium fails."""

from __future__ import annotations

from pathlib import Path

from diffnas.cli import main
from tests.helpers import assert_html_renders


def test_html_report_renders_its_images(standard_results: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["report", str(standard_results), "--out", str(out), "--format", "html", "--quiet",
                 "--n-resamples", "300"]) == 0
    assert_html_renders(out / "report.html", tmp_path, n_figures=5)
