"""pyproject.toml: every package-data pattern names files that exist (a stale pattern ships nothing)."""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


def test_every_package_data_pattern_matches_a_file():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    assert package_data
    for package, patterns in package_data.items():
        for pattern in patterns:
            assert list((REPO / package).glob(pattern)), f"{package}: {pattern} matches no file"
