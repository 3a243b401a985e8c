"""The pickled batch folders NAS researchers search on: CIFAR-10, CIFAR-100 and NAS-Bench-201's ImageNet16.

Each folder (:data:`FORMATS`) holds Python pickles of dicts: ``data`` is a uint8 array with one
image per row, 3·S·S values (the red plane, then green, then blue, each row-major S×S), and a
label list. They are read through :func:`diffnas.data.pickles.read_pickle` (no pickle may run
code) exactly as torchvision's ``CIFAR10``/``CIFAR100`` and AutoDL's ``ImageNet16`` read them:
batches concatenated in file order, rows reshaped to (N, 3, S, S).

- ``cifar10``: ``cifar-10-batches-py`` with ``data_batch_1`` .. ``data_batch_5`` (50,000 training
  images), ``test_batch`` (10,000) and ``batches.meta``; key ``labels``, 0..9; 32×32.
- ``cifar100``: ``cifar-100-python`` with ``train`` (50,000), ``test`` (10,000) and ``meta``; key
  ``fine_labels``, 0..99; 32×32.
- ``imagenet16_120``: ``ImageNet16`` with ``train_data_batch_1`` .. ``train_data_batch_10`` and
  ``val_data``; key ``labels``, 1..1000; 16×16. Like AutoDL's ``ImageNet16(..., 120)``, only the
  images with label 1..120 are kept (151,700 training, 6,000 validation images) and label L
  becomes class L − 1.

``data.dir`` names a root holding the folder (``<root>/cifar-10-batches-py``) or the folder
itself, locally or as an ``s3://`` URI (fetched once per machine by :mod:`diffnas.data.remote`).

Split files: AutoDL fixes NB201's search splits in ``configs/nas-benchmark/`` files
(``cifar-split.txt``: ``train``/``valid`` halves of the CIFAR-10 training set;
``cifar100-test-split.txt`` and ``imagenet-16-120-test-split.txt``: ``xvalid``/``xtest`` halves of
the test / validation set), JSON objects of ``"key": ["int", ["0", "5", ...]]``. One found in
``data.dir`` (or in the dataset folder) is read and checked (:func:`read_split_file`);
:mod:`diffnas.data.splits` falls back to a fixed-seed stratified halving without one.

Every problem is an :class:`~diffnas.errors.InputError` on ``data.dir`` naming the folder or file.
Imports only numpy (pyarrow when a location is resolved).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from diffnas.data.pickles import read_pickle, str_keys
from diffnas.errors import InputError

__all__ = ["FORMATS", "BatchData", "BatchFormat", "check_batches", "load_batches", "locate", "read_split_file"]

_PICKLE_STOP = b"."


@dataclass(frozen=True)
class BatchFormat:
    """One published folder format (module docstring)."""

    dataset: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_files: tuple[str, ...]
    label_key: str
    side: int
    labels: tuple[int, int]
    """Raw labels allowed in the files (inclusive)."""
    keep: tuple[int, int] | None
    """Raw labels kept (inclusive), shifted so the first is class 0; None keeps all."""
    num_classes: int
    split_file: str
    split_keys: tuple[str, str]
    split_of: str
    """Which set the split file's indices index: ``train`` or ``test`` (after ``keep``)."""
    source: str

    @property
    def files(self) -> tuple[str, ...]:
        return self.train_files + self.test_files + self.meta_files

    @property
    def files_text(self) -> str:
        """The expected files in a short phrase (``data_batch_1..5, test_batch, batches.meta``)."""
        train = (f"{self.train_files[0]}..{len(self.train_files)}" if len(self.train_files) > 2
                 else ", ".join(self.train_files))
        return ", ".join([train, *self.test_files, *self.meta_files])

    @property
    def needs(self) -> str:
        """What the folder must hold and where it comes from, short enough for the CLI's one line."""
        return f"{self.folder}/ ({self.files_text}) from {self.source}"


FORMATS: dict[str, BatchFormat] = {
    "cifar10": BatchFormat(
        dataset="cifar10", folder="cifar-10-batches-py",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)), test_files=("test_batch",),
        meta_files=("batches.meta",), label_key="labels", side=32, labels=(0, 9), keep=None, num_classes=10,
        split_file="cifar-split.txt", split_keys=("train", "valid"), split_of="train",
        source="cs.toronto.edu/~kriz/cifar.html (python version)"),
    "cifar100": BatchFormat(
        dataset="cifar100", folder="cifar-100-python", train_files=("train",), test_files=("test",),
        meta_files=("meta",), label_key="fine_labels", side=32, labels=(0, 99), keep=None, num_classes=100,
        split_file="cifar100-test-split.txt", split_keys=("xvalid", "xtest"), split_of="test",
        source="cs.toronto.edu/~kriz/cifar.html (python version)"),
    "imagenet16_120": BatchFormat(
        dataset="imagenet16_120", folder="ImageNet16",
        train_files=tuple(f"train_data_batch_{i}" for i in range(1, 11)), test_files=("val_data",),
        meta_files=(), label_key="labels", side=16, labels=(1, 1000), keep=(1, 120), num_classes=120,
        split_file="imagenet-16-120-test-split.txt", split_keys=("xvalid", "xtest"), split_of="test",
        source="the NAS-Bench-201 authors (D-X-Y/AutoDL-Projects)"),
}
"""Dataset name -> its folder format."""


@dataclass(frozen=True)
class BatchData:
    """What :func:`load_batches` reads: images (N, 3, S, S) uint8, labels int64 in 0..num_classes-1,
    and the two halves of the split file (None without one) with that file's location (as given:
    a remote split file is named by its URI)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    halves: tuple[np.ndarray, np.ndarray] | None
    split_file: str | None


# --------------------------------------------------------------------------------------------------
# Locating the folder (local or remote, through diffnas.storage: no URI reaches os.path)


def _location(data_dir: str | os.PathLike[str]) -> str:
    from diffnas import storage

    text = os.fspath(data_dir)
    return text.rstrip("/") if storage.is_remote(text) else os.path.abspath(os.path.expanduser(storage.local_path(text)))


def _kind(location: str) -> str:
    """``dir``, ``file``, ``missing`` or ``error: ...`` for a location."""
    from pyarrow import fs as pafs

    from diffnas import storage

    try:
        filesystem, path = storage.resolve(location)
        kind = filesystem.get_file_info(path).type
    except (OSError, ValueError) as exc:
        return f"error: {exc}"
    return {pafs.FileType.Directory: "dir", pafs.FileType.File: "file"}.get(kind, "missing")


def locate(fmt: BatchFormat, data_dir: str | os.PathLike[str] | None) -> tuple[str, str | None]:
    """(the dataset folder, the split file or None) for ``data_dir``, as locations.

    The folder is ``data_dir/<fmt.folder>`` when that is a folder, else ``data_dir`` itself when
    it holds the first training file. The split file is ``fmt.split_file`` in ``data_dir`` or in
    the dataset folder."""
    from diffnas import storage

    if data_dir is None:
        raise InputError("data.dir", f"not set; {fmt.dataset} needs {fmt.needs}")
    root = _location(data_dir)
    kind = _kind(root)
    if kind.startswith("error"):
        raise InputError("data.dir", f"{root!r}: cannot read ({kind[7:]})")
    if kind != "dir":
        what = "is a file, not a folder" if kind == "file" else "does not exist"
        raise InputError("data.dir", f"{root!r} {what}; need {fmt.needs}")
    nested = storage.join(root, fmt.folder)
    if _kind(nested) == "dir":
        folder = nested
    elif _kind(storage.join(root, fmt.train_files[0])) == "file":
        folder = root
    else:
        raise InputError("data.dir", f"{root!r} holds neither {fmt.folder}/ nor {fmt.files_text}; "
                                     f"get them from {fmt.source}")
    split = None
    for place in dict.fromkeys([root, folder]):
        candidate = storage.join(place, fmt.split_file)
        if _kind(candidate) == "file":
            split = candidate
            break
    return folder, split


# --------------------------------------------------------------------------------------------------
# Cheap checks: presence, sizes, the pickle's last byte; the split file's structure


def _check_file(location: str, minimum: int, what: str) -> None:
    from pyarrow import fs as pafs

    from diffnas import storage

    filesystem, path = storage.resolve(location)
    try:
        info = filesystem.get_file_info(path)
        if info.type != pafs.FileType.File:
            raise InputError("data.dir", f"{location}: missing")
        size = int(info.size)
        if size < minimum:
            raise InputError("data.dir", f"{location}: {size} bytes, too small to hold {what}")
        with filesystem.open_input_file(path) as fh:
            fh.seek(size - 1)
            last = fh.read(1)
    except OSError as exc:
        raise InputError("data.dir", f"{location}: cannot read ({exc})") from None
    if last != _PICKLE_STOP:
        raise InputError("data.dir", f"{location}: truncated or not a pickle (it does not end with the pickle "
                                     "STOP byte)")


def check_batches(fmt: BatchFormat, data_dir: str | os.PathLike[str] | None) -> None:
    """Cheap validation without loading arrays: the folder, every expected file (present, large
    enough for one image, ending with a pickle's STOP byte) and a split file's structure."""
    from diffnas import storage

    folder, split = locate(fmt, data_dir)
    missing = [name for name in fmt.files if _kind(storage.join(folder, name)) != "file"]
    if missing:
        raise InputError("data.dir", f"{folder!r} lacks {', '.join(missing)}; get {fmt.needs}")
    row = 3 * fmt.side * fmt.side
    for name in fmt.train_files + fmt.test_files:
        _check_file(storage.join(folder, name), row, f"one {fmt.side}x{fmt.side} image")
    for name in fmt.meta_files:
        _check_file(storage.join(folder, name), 1, "a pickle")
    if split is not None:
        blob = storage.read_bytes(split)
        _parse_split_file(blob or b"", split, fmt)


# --------------------------------------------------------------------------------------------------
# Split files (AutoDL's configs/nas-benchmark/*.txt)


def _parse_split_file(blob: bytes, where: str, fmt: BatchFormat) -> tuple[np.ndarray, np.ndarray | None]:
    """The two index lists of an AutoDL split file (the second may be absent for a test split)."""
    try:
        doc = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("data.dir", f"{where}: not an AutoDL split file (not JSON: {str(exc)[:120]})") from None
    if not isinstance(doc, dict):
        raise InputError("data.dir", f"{where}: not an AutoDL split file (expected a JSON object)")
    out: list[np.ndarray | None] = []
    for i, key in enumerate(fmt.split_keys):
        if key not in doc:
            if i == 1 and fmt.split_of == "test":
                out.append(None)  # xtest: the rest of the set
                continue
            raise InputError("data.dir", f"{where}: lacks the key {key!r} (AutoDL's {fmt.split_file} holds "
                                         f"{', '.join(repr(k) for k in fmt.split_keys)})")
        value = doc[key]
        if not (isinstance(value, list) and len(value) == 2 and value[0] == "int" and isinstance(value[1], list)):
            raise InputError("data.dir", f"{where}: {key!r} must be [\"int\", [indices...]] as in AutoDL's split files")
        try:
            indices = np.array([int(v) for v in value[1]], dtype=np.int64)
        except (TypeError, ValueError):
            raise InputError("data.dir", f"{where}: {key!r} holds a value that is not an integer index") from None
        if len(np.unique(indices)) != len(indices):
            raise InputError("data.dir", f"{where}: {key!r} lists an index twice")
        out.append(indices)
    first, second = out
    assert first is not None
    if second is not None and np.intersect1d(first, second).size:
        raise InputError("data.dir", f"{where}: {fmt.split_keys[0]!r} and {fmt.split_keys[1]!r} share indices")
    return first, second


def read_split_file(where: str, fmt: BatchFormat, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of split file ``where`` as sorted positions in a set of ``n`` images (the
    second half defaults to the positions not in the first); :class:`InputError` naming the file
    when an index is outside ``0 .. n-1`` or a half is empty."""
    from diffnas import storage

    blob = storage.read_bytes(where)
    if blob is None:
        raise InputError("data.dir", f"{where}: file not found")
    first, second = _parse_split_file(blob, where, fmt)
    if second is None:
        second = np.setdiff1d(np.arange(n, dtype=np.int64), first)
    for key, half in zip(fmt.split_keys, (first, second)):
        if half.size == 0:
            raise InputError("data.dir", f"{where}: {key!r} is empty")
        if half.min() < 0 or half.max() >= n:
            raise InputError("data.dir", f"{where}: {key!r} indexes {int(half.min())}..{int(half.max())} but the "
                                         f"{fmt.split_of} set of {fmt.dataset} has {n} images (0..{n - 1})")
    return np.sort(first), np.sort(second)


# --------------------------------------------------------------------------------------------------
# Reading


def _read_batch(path: str, fmt: BatchFormat) -> tuple[np.ndarray, np.ndarray]:
    entry = str_keys(read_pickle(path), path)
    for key in ("data", fmt.label_key):
        if key not in entry:
            raise InputError("data.dir", f"{path}: lacks the key {key!r} (has {', '.join(map(repr, entry))})")
    data, labels = entry["data"], entry[fmt.label_key]
    row = 3 * fmt.side * fmt.side
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != row:
        found = f"{data.shape} {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError("data.dir", f"{path}: 'data' must be uint8 rows of 3x{fmt.side}x{fmt.side} = {row} "
                                     f"pixels, found {found}")
    y = np.asarray(labels) if isinstance(labels, list | tuple | np.ndarray) else np.asarray([labels], dtype=object)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise InputError("data.dir", f"{path}: {fmt.label_key!r} must be a list of integer labels")
    if len(y) != len(data):
        raise InputError("data.dir", f"{path}: {len(data)} images but {len(y)} labels")
    if len(y) == 0:
        raise InputError("data.dir", f"{path}: holds no images")
    lo, hi = fmt.labels
    if int(y.min()) < lo or int(y.max()) > hi:
        raise InputError("data.dir", f"{path}: labels must be {lo}..{hi}, found {int(y.min())}..{int(y.max())}")
    x = data.reshape(-1, 3, fmt.side, fmt.side)
    y = y.astype(np.int64)
    if fmt.keep is not None:
        kept = (y >= fmt.keep[0]) & (y <= fmt.keep[1])
        x, y = x[kept], y[kept] - fmt.keep[0]
    return x, y


def _read_set(folder: str, names: tuple[str, ...], fmt: BatchFormat) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for name in names:
        x, y = _read_batch(os.path.join(folder, name), fmt)
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(y) == 0:
        kept = f" of labels {fmt.keep[0]}..{fmt.keep[1]}" if fmt.keep else ""
        raise InputError("data.dir", f"{folder}: {', '.join(names)} hold no images{kept}")
    return x, y


def load_batches(fmt: BatchFormat, data_dir: str | os.PathLike[str] | None) -> BatchData:
    """Read the folder of ``fmt`` at ``data_dir`` (fetching it first when remote): the training and
    test images, labels mapped to classes, and the split file's halves if one is there."""
    from diffnas import storage

    check_batches(fmt, data_dir)
    folder, split = locate(fmt, data_dir)
    origin = split
    if storage.is_remote(folder):
        from diffnas.data.remote import fetch

        files = {name: storage.join(folder, name) for name in fmt.files}
        if split is not None:
            files[fmt.split_file] = split
        folder = fetch(files, fmt.folder)
        split = os.path.join(folder, fmt.split_file) if split is not None else None
    x_train, y_train = _read_set(folder, fmt.train_files, fmt)
    x_test, y_test = _read_set(folder, fmt.test_files, fmt)
    halves = None
    if split is not None:
        n = len(y_train) if fmt.split_of == "train" else len(y_test)
        halves = read_split_file(split, fmt, n)
    return BatchData(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, num_classes=fmt.num_classes,
                     halves=halves, split_file=origin)
