"""A dataset folder on a bucket (``data.dir: s3://...``), fetched once per machine into a local cache.

:func:`fetch` copies named files from remote locations (through :mod:`diffnas.storage`, i.e.
``pyarrow.fs``; endpoint and credentials from the standard AWS variables) into one local folder
and returns its path; the dataset readers then read that folder like any local one. No remote
location is ever handed to ``os.path`` or ``pathlib``.

- Where: ``$DIFFNAS_DATA_CACHE`` if set, else ``$XDG_CACHE_HOME/diffnas/datasets`` (default
  ``~/.cache/diffnas/datasets``), one folder per fetch named ``<label>-<hash>``; the hash covers
  every remote location with its size and modification time, so a changed object is fetched anew
  into a new folder.
- Once: a folder that exists is complete and is reused by later loads in this process (no
  remote call at all) and by later processes on the machine (one listing of the remote files).
- Atomic: files are downloaded into a hidden temporary folder beside it, size-checked and
  ``fsync``-ed, then the folder is renamed onto its final name in one ``rename`` (atomic on
  POSIX). A fetch killed halfway leaves only the hidden folder, never a final one that looks
  complete; a later fetch on the same host removes hidden folders whose process is gone. Two
  processes fetching at once both download; the first rename wins and the other keeps its copy
  out of the way (removes it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Mapping

from diffnas.errors import InputError

__all__ = ["CACHE_VAR", "cache_root", "fetch"]

CACHE_VAR = "DIFFNAS_DATA_CACHE"
_CHUNK = 8 << 20

_lock = threading.Lock()
_fetched: dict[str, str] = {}


def cache_root() -> str:
    """The local folder that holds fetched datasets (module docstring)."""
    if os.environ.get(CACHE_VAR):
        return os.path.abspath(os.path.expanduser(os.environ[CACHE_VAR]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "diffnas", "datasets")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(root: str, final_name: str) -> None:
    """Remove hidden temporary folders of ``final_name`` left by dead processes on this host."""
    prefix = f".{final_name}."
    host = socket.gethostname()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        parts = name[len(prefix):-len(".tmp")].rsplit(".", 2)  # host.pid.uuid (a host may hold dots)
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _alive(int(parts[1])):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def _copy(location: str, size: int, dest: str) -> None:
    from diffnas import storage

    filesystem, path = storage.resolve(location)
    written = 0
    with filesystem.open_input_stream(path) as src, open(dest, "wb") as out:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            written += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if written != size:
        raise OSError(f"{location}: fetched {written} of {size} bytes")


def fetch(files: Mapping[str, str], label: str) -> str:
    """A local folder holding ``files`` (local file name -> remote location), fetched once.

    ``label`` names the cache folder (``cifar-10-batches-py-<hash>``). A remote file that is
    missing, or a fetch that fails, is an :class:`InputError` on ``data.dir`` naming the location.
    """
    from pyarrow import fs as pafs

    from diffnas import storage

    if not files:
        raise ValueError("nothing to fetch")
    asked = repr(sorted(files.items()))
    with _lock:
        if asked in _fetched and os.path.isdir(_fetched[asked]):
            return _fetched[asked]
    infos = {}
    for name, location in sorted(files.items()):
        if os.sep in name or name.startswith("."):
            raise ValueError(f"bad local file name {name!r}")
        filesystem, path = storage.resolve(location)
        try:
            info = filesystem.get_file_info(path)
        except OSError as exc:
            raise InputError("data.dir", f"{location}: cannot read ({exc})") from None
        if info.type != pafs.FileType.File:
            raise InputError("data.dir", f"{location}: file not found")
        mtime = info.mtime_ns if info.mtime_ns is not None else -1
        infos[name] = (location, int(info.size), int(mtime))
    key = repr(sorted(infos.items()))
    root = cache_root()
    final_name = f"{label}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    final = os.path.join(root, final_name)
    if not os.path.isdir(final):
        os.makedirs(root, exist_ok=True)
        _remove_stale(root, final_name)
        tmp = os.path.join(root, f".{final_name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        os.mkdir(tmp)
        try:
            for name, (location, size, _mtime) in infos.items():
                try:
                    _copy(location, size, os.path.join(tmp, name))
                except OSError as exc:
                    raise InputError("data.dir", f"{location}: fetch failed ({exc})") from None
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):  # not a lost race: a real failure
                    raise
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
    with _lock:
        _fetched[asked] = final
    return final
