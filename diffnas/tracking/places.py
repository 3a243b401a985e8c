"""Where each tracker writes: inside the results folder, offline, unless the user says otherwise.

With a local results folder ``RESULTS``:

- TensorBoard: ``RESULTS/tensorboard/<experiment>/<trial_id>/events.out.tfevents.*``
  (``tensorboard --logdir RESULTS/tensorboard``);
- MLflow: the SQLite store ``RESULTS/mlflow/mlflow.db`` (recent MLflow refuses plain file stores),
  its artifacts (the pictures) in ``RESULTS/mlflow/artifacts``; ``MLFLOW_TRACKING_URI``, when set,
  is used instead (a tracking server, a database);
- W&B: offline runs in ``RESULTS/wandb/offline-run-*`` (``wandb sync`` uploads them later), unless
  the user has logged in (``WANDB_API_KEY`` or a netrc entry for the W&B host) or set ``WANDB_MODE``.

With results on a bucket (``s3://...``), a sweep's TensorBoard files go where Ray Tune syncs each
trial's folder, ``s3://.../ray/<experiment>/<trial_id>/`` (``tensorboard --logdir`` reads s3:// with
its S3 support installed); MLflow's SQLite file and W&B's offline runs cannot live on a bucket, so
they go to the same names under the current directory (``./mlflow/mlflow.db``, ``./wandb``), and a line
says so. ``diffnas search --out s3://...`` writes its TensorBoard files to ``./tensorboard`` likewise.
Stdlib only.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from diffnas import storage

TENSORBOARD_DIR = "tensorboard"
MLFLOW_DIR = "mlflow"
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "artifacts"
WANDB_PROJECT = "diffnas"


def local_base(root: str) -> str:
    """The local folder trackers write into: the results folder, or the current directory when the
    results are on a bucket."""
    if storage.is_remote(root):
        return os.path.abspath(".")
    return os.path.abspath(storage.local_path(root))


def tensorboard_dir(root: str, experiment: str, trial_id: str) -> str:
    return os.path.join(local_base(root), TENSORBOARD_DIR, experiment, trial_id)


def mlflow_store(root: str, environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """(tracking URI, artifact location for a new experiment): ``MLFLOW_TRACKING_URI`` when set
    (the server decides where artifacts go), else the SQLite file and artifact folder of
    :func:`local_base`."""
    env = os.environ if environ is None else environ
    uri = env.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return uri, None
    folder = Path(local_base(root), MLFLOW_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / MLFLOW_DB}", (folder / MLFLOW_ARTIFACTS).as_uri()


def wandb_logged_in(environ: Mapping[str, str] | None = None) -> bool:
    """Whether W&B has credentials here: ``WANDB_API_KEY``, or a netrc entry for its host
    (``WANDB_BASE_URL``, default api.wandb.ai), which ``wandb login`` writes."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_API_KEY", "").strip():
        return True
    host = urlparse(env.get("WANDB_BASE_URL", "") or "https://api.wandb.ai").hostname or "api.wandb.ai"
    path = env.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_mode(environ: Mapping[str, str] | None = None) -> str:
    """``WANDB_MODE`` when the user set it, else ``online`` if logged in, else ``offline``."""
    env = os.environ if environ is None else environ
    mode = env.get("WANDB_MODE", "").strip()
    if mode:
        return mode
    return "online" if wandb_logged_in(env) else "offline"


def wandb_dir(root: str) -> str:
    """The folder given to ``wandb.init(dir=...)``: W&B writes ``<it>/wandb/offline-run-*``."""
    folder = local_base(root)
    os.makedirs(folder, exist_ok=True)
    return folder


def wandb_project(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("WANDB_PROJECT", "").strip() or WANDB_PROJECT


def where(names: tuple[str, ...] | list[str], root: str, sweep: bool = False) -> list[str]:
    """One line per tracker saying where it writes (printed when a run starts)."""
    remote, base, lines = storage.is_remote(root), local_base(root), []
    elsewhere = " (the results are on a bucket: this store is local)" if remote else ""
    for name in names:
        if name == "tensorboard":
            if remote and sweep:
                lines.append(f"tensorboard: {storage.join(root, 'ray', '<experiment>', '<trial_id>')} (synced by Ray Tune)")
            else:
                lines.append(f"tensorboard: {os.path.join(base, TENSORBOARD_DIR)}{elsewhere}")
        elif name == "mlflow":
            uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
            lines.append(f"mlflow: {uri} (MLFLOW_TRACKING_URI)" if uri else
                         f"mlflow: sqlite:///{os.path.join(base, MLFLOW_DIR, MLFLOW_DB)}{elsewhere}")
        elif name == "wandb":
            lines.append(f"wandb: {wandb_mode()}, run files in {os.path.join(base, 'wandb')}{elsewhere}")
    return lines
