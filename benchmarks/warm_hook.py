"""The ``worker_process_setup_hook`` of ``bench_sweep.py --ray-start warm-thread``: a worker process
starts importing what a trial needs while it boots.

``start()`` runs in every Ray worker of the job before it takes work; it imports :data:`MODULES` in
a daemon thread, so the imports overlap whatever the worker's main thread waits for (registering
with the raylet, receiving Tune's actor, the driver's first ``train`` call). A trial's own
``import torch`` then finds the module loaded (or waits for the thread's import to finish: Python's
per-module import lock). ``torch._dynamo`` is in the list because torch's optimisers import it when
they are constructed (``Optimizer.add_param_group`` is wrapped by ``torch._disable_dynamo``).

A benchmark variant, not what ``diffnas sweep`` does: it did not make the start-up cheaper (the
start-up is CPU work, not waiting; docs/performance.md, "Worker start-up").
"""

from __future__ import annotations

import importlib
import threading

MODULES = ("torch", "torch._dynamo", "diffnas.search.run")


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - best effort: the trial imports (and reports) it itself
            return


def start() -> None:
    """Import :data:`MODULES` in a background thread (returns at once)."""
    threading.Thread(target=_import_all, name="diffnas-warm-imports", daemon=True).start()
