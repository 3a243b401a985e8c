"""Checkpoint retention for a sweep's Tune experiments (``DIR/ray/<experiment>/<trial>/checkpoint_*``).

While an experiment runs, every checkpoint is kept (:data:`KEEP_WHILE_RUNNING`, i.e.
``tune.CheckpointConfig(num_to_keep=None)``). Tune's experiment state is a snapshot synced every few
seconds; with ``num_to_keep = k`` Tune deletes a trial's checkpoint as soon as k newer ones exist, and
the snapshot that would name a newer one is synced only afterwards. A driver killed in between leaves
a state whose newest checkpoint for that trial is gone, and ``Tuner.restore`` then fails the trial
("Could not recover from checkpoint as it does not exist on storage anymore") on every retry. With
every checkpoint kept, the snapshot's checkpoint always exists: the trial resumes a few epochs back
and the sink drops the rows it already wrote.

Once every trial of an experiment has ended, nothing restores from an older checkpoint, so
:func:`prune_finished` keeps only each trial's newest one: during a run a trial holds one checkpoint
per epoch reached, after it one.
"""

from __future__ import annotations

from pyarrow import fs as pafs

from diffnas import storage

KEEP_WHILE_RUNNING: int | None = None
"""``tune.CheckpointConfig(num_to_keep=...)`` of every sweep experiment: keep all while it runs."""

PREFIX = "checkpoint_"


def _dirs(filesystem: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    infos = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    return [i for i in infos if i.type == pafs.FileType.Directory]


def prune_finished(experiment: str) -> int:
    """Delete every checkpoint but the newest of each trial under ``experiment`` (a local folder or
    ``s3://`` location of one finished Tune experiment); returns how many were deleted.

    Checkpoint folders are ``checkpoint_NNNNNN`` (zero-padded), so the newest sorts last."""
    filesystem, base = storage.resolve(experiment)
    removed = 0
    for trial in _dirs(filesystem, base):
        checkpoints = sorted(i.path for i in _dirs(filesystem, trial.path) if i.base_name.startswith(PREFIX))
        for path in checkpoints[:-1]:
            filesystem.delete_dir(path)
            removed += 1
    return removed
