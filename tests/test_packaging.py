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


def test_the_wheel_installs_only_the_diffnas_namespace(tmp_path):
    """``pip install .`` puts one top-level package into site-packages: ``diffnas`` (its sweeps and analysis
    are ``diffnas.sweeps`` and ``diffnas.analysis``), so ``import sweeps`` / ``import analysis`` cannot
    resolve to diffnas code, and nothing shadows another project's package of that name."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("diffnas-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"diffnas"}
    for package in ("diffnas/sweeps/__init__.py", "diffnas/analysis/__init__.py", "diffnas/search/run.py",
                    "diffnas/model/native/mix_kernels.c", "diffnas/data_files/nb201_accuracy.csv.gz"):
        assert package in names
    assert not [n for n in names if n.endswith(".yaml")]  # specs live in the repository's sweeps/, not the package
