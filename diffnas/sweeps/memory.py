"""A sweep trial's memory limit: ``resources.memory_gb`` enforced as address space (``RLIMIT_AS``).

Ray's ``memory`` resource only reserves scheduling capacity, and its memory monitor acts at 95 % of the
machine; a trial that grows past its share would starve the others first. :class:`AddressSpaceLimit`
caps how much address space the trial's process may add while it builds and trains its run (not while
Tune reports and uploads); an allocation past it fails, and the run ends with an ``out_of_memory`` stop
reason naming the limit (:meth:`diffnas.search.run.SearchRun.step`) while the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Mapping

GIB = 1 << 30


class TrialOutOfMemory(MemoryError):
    """The trial passed its ``resources.memory_gb`` limit before its run was built."""


def memory_limit(resources: Mapping[str, float]) -> int | None:
    """The trial's memory limit in bytes: Ray's ``memory`` resource (``resources.memory_gb``), or None."""
    value = float(resources.get("memory", 0) or 0)
    return int(value) if value > 0 else None


PRELOAD = ("torch._dynamo", "torch.profiler", "diffnas.selection.truth", "importlib.resources.readers")
"""Modules a run imports lazily (torch's optimisers reach for ``torch._dynamo``, which brings sympy):
imported before a memory limit applies, since an import that runs out of memory half-way leaves a
broken module behind in a process that Ray reuses for the next trial."""


def preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - depends on the torch build
            pass


def _address_space() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class AddressSpaceLimit:
    """``with limiter:`` the process may map no more than it had when the limiter was made plus ``limit``
    bytes (``RLIMIT_AS``, soft limit only; the previous limit is back on the way out). Entered around
    the trial's own work (building the run, each epoch), not around Tune's (reporting, uploading a
    checkpoint: its threads map stacks too). A no-op without a limit or where ``/proc`` or
    ``resource`` is missing."""

    def __init__(self, limit: int | None) -> None:
        now = _address_space() if limit is not None else None
        self.target = None if now is None or limit is None else now + limit
        self._saved: tuple[int, int] | None = None

    def __enter__(self) -> AddressSpaceLimit:
        if self.target is None:
            return self
        try:
            import resource
        except ImportError:  # pragma: no cover - not POSIX
            return self
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        self._saved = (soft, hard)
        target = self.target if hard == resource.RLIM_INFINITY else min(self.target, hard)
        resource.setrlimit(resource.RLIMIT_AS, (target, hard))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, self._saved)
            self._saved = None


def limit_text(limit: int | None) -> str:
    """What an out-of-memory stop reason says of the trial's limit."""
    return (f"trial memory limit resources.memory_gb={limit / GIB:.3g} exceeded (RLIMIT_AS)" if limit
            else "out of memory")


