"""Exports: every registered format is written; Markdown/LaTeX escaping; the HTML is self-contained."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from diffnas.analysis.export import EXPORTERS, ReportBundle, latex_table, markdown_table
from diffnas.analysis.plots import FigureFile


def _bundle(tmp_path: Path) -> ReportBundle:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    png, svg = tmp_path / "f.png", tmp_path / "f.svg"
    fig.savefig(png)
    fig.savefig(svg)
    raw = pd.DataFrame({"group": ["a|b", "c_d"], "x": [0.5, 1.25], "ops": [["none", "skip"], ["conv"]]})
    view = pd.DataFrame({"config": ["a|b", "50% & $x_1$"], "value": ["0.500 [0.4, 0.6]", "–"]})
    return ReportBundle(title="T", tables={"runs": raw}, views={"v": ("Caption_1", view)},
                        figures=[FigureFile("f", "a figure", {"png": str(png), "svg": str(svg)})],
                        methods=["m"], notes=["n"])


def test_every_format_written(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    written = {fmt: write(bundle, str(out)) for fmt, write in EXPORTERS.items()}
    assert set(written) == {"csv", "md", "tex", "parquet", "html"}
    for paths in written.values():
        assert paths and all(Path(p).stat().st_size > 0 for p in paths)
    csv = pd.read_csv(out / "runs.csv")
    assert csv["ops"].tolist() == ["none;skip", "conv"]
    assert pq.read_table(out / "runs.parquet").column("ops").to_pylist() == [["none", "skip"], ["conv"]]
    html = (out / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing external
    assert "a|b" in html and "<script" not in html


def test_markdown_and_latex_escaping() -> None:
    frame = pd.DataFrame({"config": ["a|b", "50% & $x_1$ {y} ~^\\"], "n": ["1", "2"]})
    md = markdown_table(frame)
    assert "a\\|b" in md and md.splitlines()[1] == "|---|---|"
    tex = latex_table(frame, "Cap_tion", "lbl")
    assert r"50\% \& \$x\_1\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}" in tex
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex and r"\caption{Cap\_tion}" in tex
