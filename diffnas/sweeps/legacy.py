"""Sweeps started before diffnas had one import namespace, resumed as they are.

Until the sweep code moved into :mod:`diffnas.sweeps`, it was installed as a top-level package ``sweeps``.
Tune pickles a sweep's callbacks (:class:`~diffnas.sweeps.sink.ParquetSink`, the progress line) and its
trial-folder function into the experiment's ``tuner.pkl`` by module path, so a sweep started then names
``sweeps.sink`` and ``sweeps.tuners``; so does the search algorithm's saved state, which Tune reads inside
``fit``. While ``diffnas sweep resume`` restores and runs such an experiment, :func:`old_module_names` lets
those names resolve — to the very modules that hold the code now, never a second copy — and removes them
afterwards, so ``import sweeps`` fails everywhere else. Tune writes the state anew under the new names as
the resumed sweep runs. (Without the aliases the restore fails, or — worse — the search algorithm's state is
dropped and the trials not yet started are silently never run.)
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager

OLD_PACKAGE, PACKAGE = "sweeps", "diffnas.sweeps"


@contextmanager
def old_module_names() -> Iterator[None]:
    """Within the block, ``sweeps`` and ``sweeps.<module>`` are aliases of ``diffnas.sweeps[.<module>]`` in
    ``sys.modules``; afterwards every entry is as it was (another package named ``sweeps`` included)."""
    package = importlib.import_module(PACKAGE)
    aliases = {OLD_PACKAGE: package}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "legacy":
            aliases[f"{OLD_PACKAGE}.{info.name}"] = importlib.import_module(f"{PACKAGE}.{info.name}")
    saved = {name: sys.modules[name] for name in aliases if name in sys.modules}
    sys.modules.update(aliases)
    try:
        yield
    finally:
        for name in aliases:
            if name in saved:
                sys.modules[name] = saved[name]
            else:
                sys.modules.pop(name, None)
