"""Output safety: a command never removes or replaces anything it did not create.

Every command that writes checks its output path here *before* any expensive step (data loading,
Ray start, training), and a bad path is an :class:`~diffnas.errors.InputError` (one line, exit 2).

Rules, for a path ``P`` a command is about to write:

- ``P`` is not empty, and no folder above it is a file (``FILE/sub`` cannot be created);
- ``P`` does not overlap an input the command reads: it is not an input, does not contain one, and
  does not lie inside one's data (``R/epochs``, ``R/trials``, ``R/ray``, ``R/sweep.json`` ...). A
  fresh sub-folder of a results folder (``R/report``) is allowed: nothing of ``R`` is touched;
- an existing non-empty folder is reused only when this tool made it: a report folder carries the
  marker :data:`REPORT_MARKER` (the list of files the report wrote); a search folder its checkpoint;
  a sweep folder its ``sweep.json``.

Replacing a previous report (:func:`replace_report`) is atomic: the new report is complete in a
temporary folder beside ``P``; files in the old folder that the old report did not write (foreign
files) are hard-linked (copied where links fail) into the new folder at the same place; then the
old folder is renamed away, the new one renamed to ``P``, and the old one removed. A foreign file
the new report would overwrite stops the swap with an InputError and leaves ``P`` untouched.

A ``P`` that is a URI (``s3://bucket/prefix``: :mod:`diffnas.storage`) never reaches path code: its
scheme and bucket are checked (:func:`diffnas.storage.check_location`) and its endpoint probed
(:func:`diffnas.storage.probe`) before any work, the same rules apply to the objects under it, and a
report is published there by :func:`publish_report_remote` (each object whole, the marker last).

Standard library and :mod:`diffnas.storage` (pyarrow) only: the analysis side (no torch) uses it as well.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence

from diffnas import storage as _storage
from diffnas.errors import InputError

REPORT_MARKER = ".diffnas-report.json"
# Entries of a results folder (diffnas search / diffnas sweep) that hold its data.
RESULTS_ENTRIES = ("epochs", "trials", "ray", "sweep.json", "checkpoint.pt", "genotype.json", "config.yaml")


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def is_within(path: str, folder: str) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (symbolic links resolved)."""
    p, f = _real(path), _real(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def file_above(path: str) -> str | None:
    """The nearest existing ancestor of ``path`` that is not a folder (so ``path`` cannot be made)."""
    head = os.path.dirname(os.path.abspath(path))
    while head and not os.path.exists(head):
        parent = os.path.dirname(head)
        if parent == head:
            return None
        head = parent
    return head if head and not os.path.isdir(head) else None


def check_new_path(path: str, flag: str) -> None:
    """``path`` is non-empty and could be created (no file among the folders above it)."""
    if not isinstance(path, str) or not path.strip():
        raise InputError(flag, "must be a non-empty path")
    if "\0" in path:
        raise InputError(flag, "must not contain a NUL character")
    blocker = file_above(path)
    if blocker is not None:
        raise InputError(flag, f"cannot create {short_path(path)}: {short_path(blocker)} is a file, not a folder")


def short_path(path: str, limit: int = 50) -> str:
    """``path`` cut to ``limit`` characters (the end kept: it names the file)."""
    return path if len(path) <= limit else "..." + path[-(limit - 3):]


def check_not_overlapping(out: str, inputs: Iterable[str], flag: str) -> None:
    """``out`` is not an input folder, does not contain one, and is not inside an input's data."""
    for folder in inputs:
        if not os.path.isdir(folder):
            continue
        if is_within(out, folder):
            rel = os.path.relpath(_real(out), _real(folder))
            if rel == ".":
                raise InputError(flag, f"{short_path(out)} is the results folder being read; choose another folder")
            first = rel.split(os.sep)[0]
            if first in RESULTS_ENTRIES or first.startswith("."):
                raise InputError(flag, f"{short_path(out)} lies inside the data ({first}) of the results "
                                       f"folder {short_path(folder)} being read")
        elif is_within(folder, out):
            raise InputError(flag, f"{short_path(out)} contains the results folder {short_path(folder)} "
                                   "being read; choose a folder outside it")


def read_marker(folder: str) -> list[str] | None:
    """The files a previous report wrote into ``folder`` (from its marker), or None if not a report."""
    path = os.path.join(folder, REPORT_MARKER)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("created_by") != "diffnas report":
        return None
    files = data.get("files")
    if not isinstance(files, list):
        return None
    if not all(isinstance(f, str) for f in files):
        return None
    return files


def check_report_out(out: str, results: Sequence[str], flag: str = "--out") -> None:
    """Refuse a report output that could destroy something (see the module docstring)."""
    _storage.check_location(out, flag)
    if _storage.is_remote(out):
        _check_remote_out(out, results, flag)
        previous = read_remote_marker(out)
        if previous is None and _storage.list_tree(out):
            raise InputError(flag, f"{short_path(out)} holds objects but no diffnas report ({REPORT_MARKER}); "
                                   "choose a new prefix")
        return
    out = _storage.local_path(out)
    check_new_path(out, flag)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise InputError(flag, f"{short_path(out)} exists and is not a folder")
    check_not_overlapping(out, results, flag)
    if os.path.isdir(out) and os.listdir(out) and read_marker(out) is None:
        raise InputError(flag, f"{short_path(out)} is a non-empty folder that is not a diffnas report "
                               f"(no {REPORT_MARKER}); choose a new or empty folder")


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _foreign_entries(old: str, owned: set[str]) -> list[str]:
    """Relative paths under ``old`` (files, links, empty folders) that the old report did not write."""
    found: list[str] = []
    for top, dirs, files in os.walk(old):
        rel_top = os.path.relpath(top, old)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            rel = os.path.normpath(os.path.join(rel_top, name))
            if rel not in owned:
                found.append(rel)
        if not dirs and not files and rel_top != ".":
            found.append(rel_top + os.sep)
    return found


def write_marker(folder: str, files: Iterable[str]) -> None:
    """Mark ``folder`` as a diffnas report that wrote ``files`` (paths relative to it)."""
    rels = sorted({os.path.normpath(f) for f in files})
    with open(os.path.join(folder, REPORT_MARKER), "w", encoding="utf-8") as fh:
        json.dump({"created_by": "diffnas report", "files": rels}, fh, indent=1)


def replace_report(tmp: str, out: str, flag: str = "--out") -> None:
    """Move the finished report in ``tmp`` to ``out``, keeping foreign files of a previous report.

    The marker lists every file in ``tmp`` (what this report wrote)."""
    write_marker(tmp, [os.path.relpath(os.path.join(top, f), tmp) for top, _, fs in os.walk(tmp) for f in fs])
    if not os.path.isdir(out):
        os.replace(tmp, out)
        return
    previous = read_marker(out)
    if previous is None and os.listdir(out):  # changed since it was checked
        raise InputError(flag, f"{short_path(out)} is a non-empty folder that is not a diffnas report")
    owned = {os.path.normpath(f) for f in previous or []} | {REPORT_MARKER}
    for rel in _foreign_entries(out, owned):
        src, dst = os.path.join(out, rel), os.path.join(tmp, rel)
        if os.path.lexists(dst.rstrip(os.sep)) and not rel.endswith(os.sep):
            raise InputError(flag, f"{short_path(src)} was not written by diffnas report and the new report "
                                   "would replace it; move it away first")
        if rel.endswith(os.sep):
            os.makedirs(dst, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        else:
            _link_or_copy(src, dst)
    old = f"{out.rstrip(os.sep)}.old-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def check_search_out(out: str, resumable: str, flag: str = "--out") -> None:
    """A ``diffnas search`` output: creatable, and new, empty or holding a resumable run (its
    ``resumable`` checkpoint); a search only adds files to it, so its inputs cannot be harmed.
    A URI: a supported scheme whose endpoint answers, and an empty prefix or one holding the run."""
    _storage.check_location(out, flag)
    if _storage.is_remote(out):
        _storage.probe(out, flag)
        if _storage.list_tree(out) and not _storage.is_file(_storage.join(out, resumable)):
            raise InputError(flag, f"{short_path(out)} is not empty and holds no resumable run; choose a new prefix")
        return
    out = _storage.local_path(out)
    check_new_path(out, flag)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise InputError(flag, f"{short_path(out)} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(os.path.join(out, resumable)):
        raise InputError(flag, f"{short_path(out)} is not empty and holds no resumable run; choose a new folder")


def check_storage(storage: str, flag: str = "--storage") -> None:
    """A sweep's results location: an ``s3://bucket/prefix`` URI (:func:`diffnas.storage.check_location`;
    any other scheme is refused by name; the endpoint is probed separately, :func:`diffnas.storage.probe`),
    or a local folder that can be made or reused.

    Local: not a file, no file above it, and no results data (``epochs``/``trials``/``ray``) without
    a ``sweep.json`` (that would mix a sweep into another run's results)."""
    _storage.check_location(storage, flag)
    if _storage.is_remote(storage):
        return
    local = _storage.local_path(storage)
    check_new_path(local, flag)
    if os.path.lexists(local) and not os.path.isdir(local):
        raise InputError(flag, f"{short_path(local)} exists and is not a folder")
    if os.path.isdir(local) and not os.path.exists(os.path.join(local, "sweep.json")):
        mixed = [e for e in ("epochs", "trials", "ray") if os.path.exists(os.path.join(local, e))]
        if mixed:
            raise InputError(flag, f"{short_path(local)} holds results ({mixed[0]}/) that are not a sweep's; "
                                   "choose a new folder")


# -- a report on a bucket -----------------------------------------------------------------------------
def _check_remote_out(out: str, results: Sequence[str], flag: str) -> None:
    """A report URI must not be, contain, or lie in the data of a results location being read."""
    _storage.probe(out, flag)
    target = _storage.normalize(out)
    for folder in results:
        if not _storage.is_remote(folder):
            continue
        source = _storage.normalize(folder)
        if target == source:
            raise InputError(flag, f"{short_path(out)} is the results folder being read; choose another prefix")
        if target.startswith(source + "/"):
            first = target[len(source) + 1:].split("/")[0]
            if first in RESULTS_ENTRIES or first.startswith("."):
                raise InputError(flag, f"{short_path(out)} lies inside the data ({first}) of the results "
                                       f"folder {short_path(folder)} being read")
        elif source.startswith(target + "/"):
            raise InputError(flag, f"{short_path(out)} contains the results folder {short_path(folder)} "
                                   "being read; choose a prefix outside it")


def read_remote_marker(out: str) -> list[str] | None:
    """The files a previous report wrote under the URI ``out`` (its marker object), or None."""
    data = _storage.read_bytes(_storage.join(out, REPORT_MARKER))
    if data is None:
        return None
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    files = doc.get("files") if isinstance(doc, dict) and doc.get("created_by") == "diffnas report" else None
    return files if isinstance(files, list) and all(isinstance(f, str) for f in files) else None


def publish_report_remote(tmp: str, out: str, flag: str = "--out") -> list[str]:
    """Upload the finished report in the local folder ``tmp`` to the URI ``out``; returns the relative
    paths written.

    Each object is uploaded whole; the marker last, so a prefix whose marker lists a file holds it.
    Objects the previous report wrote and this one does not are then deleted; objects it did not write
    (foreign) stay, and one the new report would overwrite stops the upload before anything is written.
    Unlike a local folder the swap is not atomic as a whole: a reader during the upload may see old and
    new objects side by side."""
    rels = sorted(os.path.relpath(os.path.join(top, f), tmp).replace(os.sep, "/")
                  for top, _, fs in os.walk(tmp) for f in fs if f != REPORT_MARKER)
    previous = read_remote_marker(out)
    if previous is None and _storage.list_tree(out):  # changed since it was checked
        raise InputError(flag, f"{short_path(out)} holds objects but no diffnas report; choose a new prefix")
    owned = set(previous or []) | {REPORT_MARKER}
    clash = [r for r in rels if r not in owned and r in set(_storage.list_tree(out))]
    if clash:
        raise InputError(flag, f"{short_path(_storage.join(out, clash[0]))} was not written by diffnas report "
                               "and the new report would replace it; move it away first")
    for rel in rels:
        with open(os.path.join(tmp, *rel.split("/")), "rb") as fh:
            data = fh.read()
        target = _storage.join(out, rel)
        _storage.retrying(lambda target=target, data=data: _storage.atomic_write(target, data))
    marker = json.dumps({"created_by": "diffnas report", "files": rels}, indent=1).encode("utf-8")
    _storage.retrying(lambda: _storage.atomic_write(_storage.join(out, REPORT_MARKER), marker))
    for rel in sorted(set(previous or []) - set(rels)):
        _storage.delete(_storage.join(out, rel))
    return rels
