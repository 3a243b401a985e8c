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

Standard library only: the analysis side (no torch) uses it as well.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence

from diffnas.errors import InputError

REPORT_MARKER = ".diffnas-report.json"
# Entries of a results folder (diffnas search / diffnas sweep) that hold its data.
RESULTS_ENTRIES = ("epochs", "trials", "ray", "sweep.json", "checkpoint.pt", "genotype.json", "config.yaml")
# URI schemes that pyarrow.fs understands (a storage URI with another scheme is refused).
URI_SCHEMES = ("file", "s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss")


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
    ``resumable`` checkpoint); a search only adds files to it, so its inputs cannot be harmed."""
    check_new_path(out, flag)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise InputError(flag, f"{short_path(out)} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(os.path.join(out, resumable)):
        raise InputError(flag, f"{short_path(out)} is not empty and holds no resumable run; choose a new folder")


def storage_scheme(uri: str) -> str | None:
    """The URI scheme of ``uri`` (``s3``), or None for a plain local path."""
    if "://" not in uri:
        return None
    return uri.split("://", 1)[0].lower()


def check_storage(storage: str, flag: str = "--storage") -> None:
    """A sweep's results location: a known URI scheme, or a local folder that can be made or reused.

    Local: not a file, no file above it, and no results data (``epochs``/``trials``/``ray``) without
    a ``sweep.json`` (that would mix a sweep into another run's results)."""
    if not isinstance(storage, str) or not storage.strip():
        raise InputError(flag, "must be a non-empty folder or URI")
    scheme = storage_scheme(storage)
    if scheme is not None and scheme != "file":
        if scheme not in URI_SCHEMES:
            raise InputError(flag, f"unknown URI scheme {scheme[:20]!r}; allowed: a local folder or "
                                   f"{', '.join(s + '://' for s in URI_SCHEMES)}")
        if not storage.split("://", 1)[1].strip("/"):
            raise InputError(flag, f"{short_path(storage)} names no bucket or path")
        return
    local = storage[len("file://"):] if scheme == "file" else storage
    check_new_path(local, flag)
    if os.path.lexists(local) and not os.path.isdir(local):
        raise InputError(flag, f"{short_path(local)} exists and is not a folder")
    if os.path.isdir(local) and not os.path.exists(os.path.join(local, "sweep.json")):
        mixed = [e for e in ("epochs", "trials", "ray") if os.path.exists(os.path.join(local, e))]
        if mixed:
            raise InputError(flag, f"{short_path(local)} holds results ({mixed[0]}/) that are not a sweep's; "
                                   "choose a new folder")
