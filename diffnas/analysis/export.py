"""Writing a report bundle in several formats; registry :data:`EXPORTERS` (format name → writer).

- ``csv``: one ``<table>.csv`` per raw table (runs, aggregate, comparison, ranking); lists joined by ``;``.
- ``parquet``: one ``<table>.parquet`` per raw table (lists kept as lists).
- ``md``: ``report.md`` — presentation tables (GitHub pipe tables) and links to the PNG figures.
- ``tex``: ``tables.tex`` — presentation tables as LaTeX ``booktabs`` tabulars
  (``\\usepackage{booktabs}``), special characters escaped.
- ``html``: ``report.html`` — one self-contained page: methods, notes, tables and every figure
  embedded as a base64 ``data:image/png`` URI (no external file, script or font).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from diffnas.analysis.plots import FigureFile


@dataclass
class ReportBundle:
    """Everything a report contains: raw tables, captioned presentation views, figures, text."""

    title: str
    tables: dict[str, pd.DataFrame]
    views: dict[str, tuple[str, pd.DataFrame]]
    figures: list[FigureFile] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _flat_cell(value: object) -> object:
    if isinstance(value, (list, tuple, np.ndarray)):
        return ";".join(map(str, value))
    return value


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(_flat_cell)
    return out


def write_csv(bundle: ReportBundle, out_dir: str) -> list[str]:
    """One CSV per raw table."""
    paths = []
    for name, frame in bundle.tables.items():
        path = os.path.join(out_dir, f"{name}.csv")
        _flat(frame).to_csv(path, index=False)
        paths.append(path)
    return paths


def _arrow(frame: pd.DataFrame) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        fixed = frame.copy()
        for col in fixed.columns:
            if fixed[col].dtype == object:
                fixed[col] = fixed[col].map(lambda v: None if v is None else str(_flat_cell(v)))
        return pa.Table.from_pandas(fixed, preserve_index=False)


def write_parquet(bundle: ReportBundle, out_dir: str) -> list[str]:
    """One Parquet file per raw table."""
    paths = []
    for name, frame in bundle.tables.items():
        path = os.path.join(out_dir, f"{name}.parquet")
        pq.write_table(_arrow(frame), path)
        paths.append(path)
    return paths


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub pipe table (``|`` in cells escaped)."""
    if frame.empty:
        return "_(empty)_\n"

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def write_markdown(bundle: ReportBundle, out_dir: str) -> list[str]:
    """``report.md``: methods, notes, presentation tables, figure links."""
    parts = [f"# {bundle.title}\n"]
    if bundle.methods:
        parts.append("## Methods\n\n" + "\n".join(f"- {m}" for m in bundle.methods) + "\n")
    if bundle.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in bundle.notes) + "\n")
    for caption, frame in bundle.views.values():
        parts.append(f"## {caption}\n\n{markdown_table(frame)}")
    if bundle.figures:
        parts.append("## Figures\n\n" + "\n".join(
            f"![{f.caption}]({os.path.basename(f.files['png'])})  \n*{f.caption}* "
            f"([SVG]({os.path.basename(f.files['svg'])}))\n" for f in bundle.figures))
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return [path]


_TEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "–": "--",
}


def tex_escape(text: object) -> str:
    """Escape LaTeX special characters."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex_table(frame: pd.DataFrame, caption: str, label: str) -> str:
    """A ``table`` float holding a booktabs ``tabular`` (first column left, others right)."""
    spec = "l" * min(2, len(frame.columns)) + "r" * max(0, len(frame.columns) - 2)
    lines = [
        r"\begin{table}[htbp]", r"\centering", r"\small", f"\\caption{{{tex_escape(caption)}}}",
        f"\\label{{tab:{label}}}", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join(tex_escape(c) for c in frame.columns) + r" \\", r"\midrule",
    ]
    lines += [" & ".join(tex_escape(v) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def write_latex(bundle: ReportBundle, out_dir: str) -> list[str]:
    """``tables.tex`` with every non-empty presentation table."""
    parts = [f"% {bundle.title} -- generated by diffnas report; needs \\usepackage{{booktabs}}\n"]
    for name, (caption, frame) in bundle.views.items():
        if not frame.empty:
            parts.append(latex_table(frame, caption, name))
    path = os.path.join(out_dir, "tables.tex")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return [path]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#1d232a;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:right;white-space:nowrap}
td:nth-child(2){white-space:normal}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
thead th{border-bottom:2px solid #57606a}
figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:#57606a}
.notes li{color:#7a4e00}
"""


def html_table(frame: pd.DataFrame) -> str:
    """An escaped HTML table."""
    if frame.empty:
        return "<p><em>(empty)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _data_uri(path: str) -> str:
    with open(path, "rb") as fh:
        return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")


def write_html(bundle: ReportBundle, out_dir: str) -> list[str]:
    """``report.html``: self-contained (tables inline, figures as base64 PNG data URIs)."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(bundle.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(bundle.title)}</h1>",
    ]
    if bundle.methods:
        parts.append("<h2>Methods</h2><ul>" + "".join(f"<li>{esc(m)}</li>" for m in bundle.methods) + "</ul>")
    if bundle.notes:
        parts.append('<h2>Notes</h2><ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in bundle.notes)
                     + "</ul>")
    for name, (caption, frame) in bundle.views.items():
        parts.append(f'<h2 id="{esc(name)}">{esc(caption)}</h2>{html_table(frame)}')
    if bundle.figures:
        parts.append("<h2>Figures</h2>")
        for fig in bundle.figures:
            parts.append(f'<figure id="fig-{esc(fig.name)}"><img src="{_data_uri(fig.files["png"])}" '
                         f'alt="{esc(fig.caption)}"><figcaption>{esc(fig.caption)}</figcaption></figure>')
    parts.append("</body></html>")
    path = os.path.join(out_dir, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return [path]


EXPORTERS: dict[str, Callable[[ReportBundle, str], list[str]]] = {
    "csv": write_csv,
    "md": write_markdown,
    "tex": write_latex,
    "parquet": write_parquet,
    "html": write_html,
}
