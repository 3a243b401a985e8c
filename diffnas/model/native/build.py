"""Build and load ``mix_kernels.c`` with the system C compiler, once per machine, cached on disk.

The shared library lands in ``$DIFFNAS_NATIVE_CACHE`` (default ``$XDG_CACHE_HOME/diffnas/native`` or
``~/.cache/diffnas/native``) under a name that hashes the source, the flags and the CPU's
instruction-set flags (``-march=native``), so an edited source or another CPU gets its own build. It
is compiled to a temporary file and renamed into place, so processes building at the same time
(Ray workers) never load a half-written library. Where no compiler is found or the build fails,
:func:`kernels` returns None and :func:`unavailable_reason` says why; callers fall back to PyTorch.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch  # loaded before any kernel library: the kernels then share torch's libgomp (one OpenMP runtime)

SOURCE = Path(__file__).with_name("mix_kernels.c")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")
CACHE_VAR = "DIFFNAS_NATIVE_CACHE"

_p = ctypes.POINTER
_F = _p(ctypes.c_float)
_FF = _p(_F)
_D = _p(ctypes.c_double)
_L, _I = ctypes.c_long, ctypes.c_int
SIGNATURES = {
    "bn_stats": (_F, _L, _L, ctypes.c_float, _I, _F, _F),
    "mix_forward": (_L, _L, _L, _L, _L, _I, ctypes.c_float, _FF, _FF, _F, _FF, _F, _FF, _F, _F),
    "avg_pool3x3": (_L, _L, _L, _L, _I, _I, _F, _F),
    "source_forward": (_L, _L, _L, _L, _I, _F, _F, _F),
    "source_backward": (_L, _L, _L, _L, _I, _F, _I, _FF, _F, _F, _F),
    "mix_backward": (_L, _L, _L, _L, _L, _I, _FF, _FF, _FF, _F, _F, _F, _F, _FF, _FF, _D, _D),
}


NHWC = torch.channels_last


def ptr(t: torch.Tensor | None) -> _F:
    """The float32 data pointer of ``t`` for a kernel argument (NULL for None)."""
    return ctypes.cast(t.data_ptr(), _F) if t is not None else _F()


def ptrs(tensors: list[torch.Tensor | None]) -> ctypes.Array:
    """An array of :func:`ptr` (at least one slot, so an empty list is still a valid pointer)."""
    return (_F * max(1, len(tensors)))(*[ptr(t) for t in tensors])


def dptr(t: torch.Tensor) -> _D:
    """The float64 data pointer of ``t``."""
    return ctypes.cast(t.data_ptr(), _D)


def nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=NHWC)


def check(rc: int, name: str) -> None:
    """Raise when kernel ``name`` returned non-zero (it could not allocate its scratch memory)."""
    if rc != 0:
        raise MemoryError(f"native kernel {name} could not allocate its scratch memory")


def cache_dir() -> Path:
    root = os.environ.get(CACHE_VAR)
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "diffnas" / "native"


def _cpu_flags() -> str:
    """The instruction-set line of /proc/cpuinfo (``flags`` on x86, ``Features`` on ARM)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next((line for line in fh if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def _compiler_identity() -> str:
    """The compiler's path and first ``--version`` line ("" when there is none)."""
    cc = compiler()
    if cc is None:
        return ""
    try:
        done = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
        return f"{cc} {done.stdout.splitlines()[0] if done.stdout else ''}"
    except (OSError, subprocess.SubprocessError):
        return cc


def library_name(source: bytes, flags: tuple[str, ...] = FLAGS) -> str:
    """``mix_kernels-<hash>.so``: the hash covers the source, the flags, the compiler, the machine and
    its CPU's instruction sets (``-march=native`` builds differ by CPU)."""
    key = hashlib.sha256(source + " ".join(flags).encode() + _compiler_identity().encode()
                         + platform.machine().encode() + _cpu_flags().encode())
    return f"mix_kernels-{key.hexdigest()[:16]}.so"


def compiler() -> str | None:
    """``$CC``, else ``cc`` or ``gcc`` on the PATH."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def build(target: Path) -> None:
    """Compile ``SOURCE`` into ``target`` (atomic: a temporary file renamed into place)."""
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (set CC, or install gcc)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        done = subprocess.run([cc, *FLAGS, str(SOURCE), "-o", tmp, "-lm"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{cc} failed: {done.stderr.strip()[-500:]}")
        os.chmod(tmp, 0o755)  # loadable by others sharing the cache folder (mkstemp makes it 0600)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(path))
    for name, args in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = list(args), ctypes.c_int
    return lib


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else (always True where there are no user ids)."""
    if not hasattr(os, "getuid"):
        return True
    st = path.stat()
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _trusted(path: Path, shared: bool) -> bool:
    """True when ``path`` may be loaded: any file in the user's own cache folder; in the shared temporary
    folder only a private file in a private folder."""
    if not path.exists():
        return False
    return not shared or (_private(path) and _private(path.parent))


def _build_or_find(name: str) -> Path:
    """The library in the cache folder, built there if missing; in a private folder of the system's
    temporary folder when the cache folder cannot be written (a read-only home or file system)."""
    fallback = Path(tempfile.gettempdir()) / f"diffnas-native-{os.getuid() if hasattr(os, 'getuid') else 0}"
    for folder, shared in ((cache_dir(), False), (fallback, True)):
        target = folder / name
        if _trusted(target, shared):
            return target
        try:
            if shared:
                folder.mkdir(mode=0o700, exist_ok=True)
                if not _private(folder):
                    continue  # someone else's folder: never build or load there
            build(target)
            return target
        except OSError:  # read-only, not a folder, no permission: try the next place
            continue
    raise RuntimeError(f"neither {cache_dir()} nor {fallback} can be written")


@functools.lru_cache(maxsize=1)
def _kernels() -> tuple[ctypes.CDLL | None, str | None]:
    try:
        return _load(_build_or_find(library_name(SOURCE.read_bytes()))), None
    except Exception as err:  # no compiler, a failed build, an unloadable library: fall back
        return None, f"native kernels unavailable ({err})"


def kernels() -> ctypes.CDLL | None:
    """The loaded kernels, built on first use; None where they cannot be built or loaded."""
    return _kernels()[0]


def unavailable_reason() -> str | None:
    """Why :func:`kernels` is None (None when the kernels are there)."""
    return _kernels()[1]
