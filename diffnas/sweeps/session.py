"""Connecting a sweep command to Ray: join a cluster's address or start local Ray, check that a
trial fits, and the session a command holds from connecting to shutting down.

An address (``--address`` or ``RAY_ADDRESS``, ``[ray://]host[:port]``) is probed with one TCP
connection before ``ray.init``, so an address where nothing answers is one InputError line within
:data:`PROBE_TIMEOUT_S` seconds instead of minutes of retries. Without an address the command starts
Ray on this machine, records its processes and removes the record when it shuts Ray down
(:mod:`diffnas.sweeps.local_ray`: the record, and stopping what a killed driver left behind). Ray is
imported inside the functions, never at import.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from diffnas.errors import InputError

PROBE_TIMEOUT_S = 5.0  # an --address that accepts no TCP connection in this long is refused


def quiet_env(verbose: bool) -> None:
    """Environment that keeps Ray's own output out of the user's terminal (unless verbose)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # Parquet is the record
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not verbose:
        # a failed trial is one Progress line and its stop_reason, not Tune's traceback
        os.environ.setdefault("TUNE_PRINT_ALL_TRIAL_ERRORS", "0")
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
        os.environ.setdefault("RAY_DEDUP_LOGS", "1")
        os.environ.setdefault("PYTHONWARNINGS", "ignore")


def parse_address(address: str, field: str = "--address") -> tuple[str, int] | None:
    """``(host, port)`` of a Ray address ``[ray://]host[:port]`` (GCS default port 6379); None for
    ``auto`` / ``local`` (Ray finds or starts those itself)."""
    text = address.strip()
    if text in ("auto", "local"):
        return None
    default = 6379
    if text.startswith("ray://"):
        text, default = text[len("ray://"):], 10001
    if "://" in text:
        raise InputError(field, f"{address!r} is not a Ray address (host:port or ray://host:port)")
    host, sep, port = text.rpartition(":") if ":" in text else (text, "", "")
    host = host.strip("[]") if sep else text
    if not host:
        raise InputError(field, f"{address!r} has no host (expected host:port)")
    if not sep:
        return host, default
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(field, f"{address!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def probe_address(address: str, timeout_s: float = PROBE_TIMEOUT_S, field: str = "--address") -> None:
    """InputError within ``timeout_s`` unless something accepts a TCP connection at ``address``
    (``ray.init`` would otherwise retry for minutes against a port nothing answers)."""
    target = parse_address(address, field)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            return
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise InputError(field, f"no Ray cluster answers at {address} ({reason}); start one with "
                     f"`ray start --head` or check the host and port")


def connect(address: str | None, num_cpus: int | None, verbose: bool) -> bool:
    """Join ``address`` / ``RAY_ADDRESS`` or start local Ray; True when this call started it."""
    quiet_env(verbose)
    field = "--address" if address else "RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        probe_address(address, field=field)  # before Ray: a dead address is one line within seconds
    import ray

    from diffnas.sweeps.local_ray import install_filters

    install_filters()
    if ray.is_initialized():
        return False
    level = logging.INFO if verbose else logging.ERROR
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=verbose, logging_level=level)
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    if not verbose:
        for name in ("ray", "ray.tune", "ray.train", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
    return True


def check_resources(resources: Mapping[str, float]) -> None:
    """InputError unless some alive node of this Ray cluster can hold one trial."""
    import ray

    cpu, gpu = float(resources["cpu"]), float(resources["gpu"])
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(n.get("CPU", 0) >= cpu and n.get("GPU", 0) >= gpu for n in nodes):
        return
    most_cpu = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpu = max((n.get("GPU", 0) for n in nodes), default=0)
    if gpu > most_gpu:
        raise InputError("resources.gpu", f"{gpu:g} GPU per trial, but no node of this Ray cluster has more "
                         f"than {most_gpu:g} (use --no-resource-check while autoscaling GPU workers come up)")
    raise InputError("resources.cpu", f"{cpu:g} CPU per trial, but no node of this Ray cluster has more than "
                     f"{most_cpu:g} (with a GPU count of {gpu:g})")


def open_session(address: str | None, num_cpus: int | None, verbose: bool,
                 root: str | None = None) -> tuple[bool, Any]:
    """Connect (after stopping local Ray processes that a killed driver of ``root`` left behind)."""
    if root is not None and not (address or os.environ.get("RAY_ADDRESS")):
        from diffnas.sweeps.local_ray import stop_leftovers

        stop_leftovers(root)
    started = connect(address, num_cpus, verbose)
    import ray

    return started, ray


def record_local_ray(root: str, started: bool) -> None:
    """Record the local Ray this driver started (``DIR/ray/local-processes.json``)."""
    if started:
        from diffnas.sweeps.local_ray import write_record

        write_record(root)


def end_session(root: str, started: bool, ray: Any) -> None:
    """Shut down the Ray this driver started and remove its record (nothing when it joined one)."""
    if started:
        ray.shutdown()
        from diffnas.sweeps.local_ray import remove_record

        try:
            remove_record(root)
        except OSError:  # the storage failed (the command says so); a stale record names a dead driver
            pass
