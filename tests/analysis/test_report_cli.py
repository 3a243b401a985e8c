"""``diffnas report`` end to end on synthetic folders: every format, atomic output, bad input -> exit 2,
and a run in a subprocess where importing torch or ray fails."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from diffnas.cli import main
from tests.analysis.synth_results import ALT, BASE, make_run, standard_runs, write_results

REPO = Path(__file__).resolve().parents[2]
FORMAT_FILES = {
    "csv": ["runs.csv", "aggregate.csv", "ranking.csv", "comparison.csv"],
    "parquet": ["runs.parquet", "aggregate.parquet", "ranking.parquet", "comparison.parquet"],
    "md": ["report.md"], "tex": ["tables.tex"], "html": ["report.html"],
}
FIGURES = [f"{name}.{ext}" for name in ("convergence", "op_probs", "cell", "outcome", "diagnostics") for ext in ("png", "svg")]


def test_every_format_and_figure_written(standard_results: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["report", str(standard_results), "--out", str(out), "--n-resamples", "500"]) == 0
    names = set(os.listdir(out))
    for files in FORMAT_FILES.values():
        assert set(files) <= names
    assert set(FIGURES) <= names
    cmp = pd.read_csv(out / "comparison.csv")
    assert set(cmp["group"]) == {"entropy_weight=0.1, sampler=gumbel"}  # baseline from sweep.json
    assert "wrote" in capsys.readouterr().out
    # a second report replaces the folder atomically, leaving no temporary or old folders behind
    assert main(["report", str(standard_results), "--out", str(out), "--format", "csv", "--plots", "none",
                 "--quiet"]) == 0
    assert set(os.listdir(out)) == set(FORMAT_FILES["csv"]) | {".diffnas-report.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "results"]


def test_explicit_baseline_group_by_and_confirm_phase(tmp_path: Path) -> None:
    runs = standard_runs("explore") + [
        make_run(f"c{s}", BASE, 10 + s, entropy=[0.9, 0.1], val_acc=[0.5, 0.7 + 0.01 * s], phase="confirm")
        for s in range(3)
    ] + [make_run(f"d{s}", ALT, 10 + s, entropy=[0.9, 0.1], phase="confirm") for s in range(3)]
    folder = write_results(tmp_path / "r", runs)
    out = tmp_path / "out"
    code = main(["report", str(folder), "--out", str(out), "--baseline", "sampler=gumbel",
                 "--group-by", "sampler", "--format", "csv,md", "--plots", "none", "--quiet"])
    assert code == 0
    cmp = pd.read_csv(out / "comparison.csv")
    acc = cmp[cmp["metric"] == "final_val_acc"].iloc[0]
    assert acc["group"] == "sampler=softmax" and acc["n"] == 3 and acc["n_baseline"] == 3  # confirm runs only
    assert "phase 'confirm'" in (out / "report.md").read_text()


@pytest.mark.parametrize("argv, flag", [
    (["--baseline", "sampler=enhanced"], "--baseline"),
    (["--baseline", "colour=red"], "--baseline"),
    (["--format", "csv,docx"], "--format"),
    (["--group-by", "nope"], "--group-by"),
    (["--threshold", "1.5"], "--threshold"),
    (["--metric", "bogus"], "--metric"),
])
def test_bad_input_exit_2_and_nothing_written(standard_results: Path, tmp_path: Path, capsys, argv, flag) -> None:
    out = tmp_path / "out"
    assert main(["report", str(standard_results), "--out", str(out), "--quiet", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["results"]


BLOCKER = textwrap.dedent('''
    import importlib.abc, sys

    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "ray"):
                raise ImportError(f"{name} is blocked for this test")
            return None

    sys.meta_path.insert(0, _Block())
''')


def test_report_runs_where_torch_and_ray_cannot_be_imported(standard_results: Path, tmp_path: Path) -> None:
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(block), str(REPO)])}
    script = textwrap.dedent(f'''
        import sys
        for mod in ("torch", "ray", "ray.tune"):
            try:
                __import__(mod)
            except ImportError:
                pass
            else:
                raise SystemExit(f"{{mod}} was importable: the blocker is not active")
        from diffnas.cli import main
        code = main(["report", {str(standard_results)!r}, "--out", {str(tmp_path / "out")!r}, "--quiet",
                     "--n-resamples", "300"])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "ray"))
        print("CODE", code, "LOADED", loaded)
        sys.exit(code)
    ''')
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CODE 0 LOADED []" in proc.stdout
    assert (tmp_path / "out" / "report.html").is_file()


def test_cli_module_imports_only_the_standard_library() -> None:
    code = ("import sys, diffnas.analysis.cli; heavy = [m for m in ('pandas', 'numpy', 'pyarrow', 'scipy', 'matplotlib')"
            " if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_defaults_match_the_library() -> None:
    import argparse

    from diffnas.analysis import cli
    from diffnas.analysis.export import EXPORTERS
    from diffnas.analysis.plots import PLOTS
    from diffnas.analysis.report import ReportOptions

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["R", "--out", "O"])
    defaults = ReportOptions(results=["R"], out="O")
    assert tuple(args.format) == tuple(EXPORTERS) == tuple(defaults.formats)
    assert tuple(args.plots) == tuple(PLOTS) == tuple(defaults.plots)
    for name in ("threshold", "convergence", "window", "collapse", "n_resamples", "confidence", "seed", "max_curves"):
        assert getattr(args, name) == getattr(defaults, name), name


def test_analysis_imports_neither_torch_nor_ray_nor_heavy_diffnas_modules() -> None:
    import ast

    allowed_diffnas = {"diffnas.results.schema", "diffnas.errors", "diffnas.results.parts", "diffnas.config", "diffnas.results.outputs",
                       "diffnas.storage", "diffnas.selection.truth", "diffnas.model.genotypes", "diffnas.inputs"}
    for path in sorted((REPO / "analysis").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("torch", "ray", "sweeps"), f"{path.name} imports {name}"
                if name.startswith("diffnas"):
                    assert name in allowed_diffnas, f"{path.name} imports {name}"


def test_captions_state_the_confidence_level_given(standard_results: Path, tmp_path: Path) -> None:
    """--confidence 0.9: every caption, the methods and the plot title say 90 %, none says 95 %."""
    out = tmp_path / "report"
    assert main(["report", str(standard_results), "--out", str(out), "--confidence", "0.9", "--n-resamples",
                 "200", "--format", "md,html", "--plots", "convergence", "--quiet"]) == 0
    md = (out / "report.md").read_text()
    assert "mean [90% CI]" in md and "90% bootstrap confidence bands" in md and "90% CIs" in md
    assert "95%" not in md and "95 %" not in md
    assert "95%" not in (out / "report.html").read_text()
    assert "90% bootstrap band" in (out / "convergence.svg").read_text()


def test_the_report_names_every_key_the_compared_configs_differ_in(tmp_path: Path) -> None:
    # a grid over sampler whose recipes also moved alpha's learning rate: visible, even when grouped by sampler
    soft = {"sampler": "softmax", "optim.a_lr": 0.05, "beta_weight": 10.0}
    diri = {"sampler": "dirichlet", "optim.a_lr": 0.05, "beta_weight": 0.0}
    runs = [make_run(f"s{s}", soft, s, entropy=[0.9, 0.2]) for s in range(2)] + \
           [make_run(f"d{s}", diri, s, entropy=[0.9, 0.3]) for s in range(2)]
    folder = write_results(tmp_path / "r", runs)
    out = tmp_path / "out"
    assert main(["report", str(folder), "--out", str(out), "--group-by", "sampler", "--format", "md",
                 "--plots", "none", "--quiet"]) == 0
    text = (out / "report.md").read_text()
    assert "The configs compared differ in 2 resolved keys" in text and ": beta_weight, sampler." in text
    assert "also differ in beta_weight (not grouped by" in text
    assert "optim.a_lr" not in text.split("differ in 2 resolved keys", 1)[1].split("\n", 1)[0]  # the same in both
