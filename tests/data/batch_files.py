"""Writers of small dataset folders in the exact published formats (CIFAR-10/100 python version,
NB201's ImageNet16) and of AutoDL's split files, for the tests.

Three pickle styles:

- ``py2``: the bytes Python 2's ``cPickle.dump(entry, f, 2)`` writes: ``str`` keys and strings as
  BINSTRING, numpy arrays through ``numpy.core.multiarray._reconstruct`` with their raw bytes as a
  Python 2 string (written by hand here: Python 3 cannot emit these opcodes);
- ``bytes``: Python 3's ``pickle.dump(entry, f, protocol=2)`` of a dict with ``bytes`` keys (what
  torchvision-style fixtures write; bytes go through ``_codecs.encode``);
- ``str``: Python 3's ``pickle.dump`` (protocol 4) of a dict with ``str`` keys.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import numpy as np

STYLES = ("py2", "bytes", "str")


# --------------------------------------------------------------------------------------------------
# a hand-written Python 2 protocol-2 pickler for dicts of str -> uint8 2-D array | list[int] | str


def _py2_str(b: bytes) -> bytes:
    return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)) + b)


def _py2_int(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _py2_array(a: np.ndarray) -> bytes:
    assert a.dtype == np.uint8
    shape = b"".join(_py2_int(d) for d in a.shape)
    shape += {1: b"\x85", 2: b"\x86", 3: b"\x87"}[a.ndim]
    dtype = (b"cnumpy\ndtype\n" + _py2_str(b"u1") + _py2_int(0) + _py2_int(1) + b"\x87R"
             + b"(" + _py2_int(3) + _py2_str(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + _py2_int(0) + b"tb")
    return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + _py2_int(0) + b"\x85"
            + _py2_str(b"b") + b"\x87R"
            + b"(" + _py2_int(1) + shape + dtype + b"\x89" + _py2_str(np.ascontiguousarray(a).tobytes()) + b"tb")


def _py2_value(v) -> bytes:
    if isinstance(v, np.ndarray):
        return _py2_array(v)
    if isinstance(v, str):
        return _py2_str(v.encode("latin1"))
    if isinstance(v, int):
        return _py2_int(v)
    if isinstance(v, list):
        return b"](" + b"".join(_py2_value(x) for x in v) + b"e"
    raise TypeError(type(v))


def py2_pickle(entry: dict[str, object]) -> bytes:
    """``entry`` as Python 2's cPickle (protocol 2) writes it."""
    body = b"".join(_py2_str(k.encode("latin1")) + _py2_value(v) for k, v in entry.items())
    return b"\x80\x02}(" + body + b"u."


def dump(entry: dict[str, object], style: str) -> bytes:
    if style == "py2":
        return py2_pickle(entry)
    if style == "bytes":
        def b(v):
            if isinstance(v, str):
                return v.encode("latin1")
            if isinstance(v, list):
                return [b(x) for x in v]
            return v
        return pickle.dumps({k.encode("latin1"): b(v) for k, v in entry.items()}, protocol=2)
    if style == "str":
        return pickle.dumps(entry, protocol=4)
    raise ValueError(style)


# --------------------------------------------------------------------------------------------------
# images and folders


def images(n: int, side: int, start: int, seed: int) -> np.ndarray:
    """n distinct uint8 rows of 3·side·side pixels; the first two pixels hold ``start + i``."""
    rows = np.random.default_rng(seed).integers(0, 256, size=(n, 3 * side * side), dtype=np.uint8)
    idx = np.arange(start, start + n)
    rows[:, 0], rows[:, 1] = idx // 256, idx % 256
    return rows


def write_batch(path: Path, data: np.ndarray, labels: list[int], label_key: str, style: str, **extra) -> None:
    entry = {"batch_label": f"batch {path.name}", label_key: labels, "data": data,
             "filenames": [f"img_{i}.png" for i in range(len(labels))], **extra}
    path.write_bytes(dump(entry, style))


def write_cifar10(root: Path, style: str = "bytes", per_batch: int = 40, n_test: int = 60) -> dict:
    """``root/cifar-10-batches-py`` with 5 × per_batch training and n_test test images (labels cycle 0..9)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for b in range(5):
        x = images(per_batch, 32, b * per_batch, seed=b)
        y = [(b * per_batch + i) % 10 for i in range(per_batch)]
        write_batch(folder / f"data_batch_{b + 1}", x, y, "labels", style)
        xs.append(x)
        ys += y
    xt = images(n_test, 32, 10_000, seed=99)
    yt = [(3 * i) % 10 for i in range(n_test)]
    write_batch(folder / "test_batch", xt, yt, "labels", style)
    meta = {"num_cases_per_batch": per_batch, "label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}
    (folder / "batches.meta").write_bytes(dump(meta, style))
    return {"folder": folder, "x_train": np.concatenate(xs), "y_train": np.array(ys), "x_test": xt,
            "y_test": np.array(yt)}


def write_cifar100(root: Path, style: str = "bytes", n_train: int = 300, n_test: int = 200) -> dict:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    x = images(n_train, 32, 0, seed=1)
    y = [i % 100 for i in range(n_train)]
    coarse = [v // 5 for v in y]
    write_batch(folder / "train", x, y, "fine_labels", style, coarse_labels=coarse)
    xt = images(n_test, 32, 20_000, seed=2)
    yt = [(7 * i) % 100 for i in range(n_test)]
    write_batch(folder / "test", xt, yt, "fine_labels", style, coarse_labels=[v // 5 for v in yt])
    meta = {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": [f"k{i}" for i in range(20)]}
    (folder / "meta").write_bytes(dump(meta, style))
    return {"folder": folder, "x_train": x, "y_train": np.array(y), "x_test": xt, "y_test": np.array(yt)}


def write_imagenet16(root: Path, style: str = "bytes", per_batch: int = 30, n_val: int = 160) -> dict:
    """``root/ImageNet16``: labels 1..1000, about 6/7 of them in 1..120 (the kept classes)."""
    folder = root / "ImageNet16"
    folder.mkdir(parents=True, exist_ok=True)
    outside = [121, 500, 999, 1000]

    def label(i: int) -> int:
        return outside[i % 4] if i % 7 == 6 else 1 + (i % 120)

    xs, ys = [], []
    for b in range(10):
        x = images(per_batch, 16, b * per_batch, seed=10 + b)
        y = [label(b * per_batch + i) for i in range(per_batch)]
        # the real training batches also hold the mean image
        write_batch(folder / f"train_data_batch_{b + 1}", x, y, "labels", style)
        xs.append(x)
        ys += y
    xv = images(n_val, 16, 30_000, seed=3)
    yv = [label(5 * i + 1) for i in range(n_val)]
    write_batch(folder / "val_data", xv, yv, "labels", style)
    return {"folder": folder, "x_train": np.concatenate(xs), "y_train": np.array(ys), "x_test": xv,
            "y_test": np.array(yv)}


def write_split_file(path: Path, halves: dict[str, list[int]], as_strings: bool = True) -> Path:
    """An AutoDL split file: ``{"key": ["int", ["0", "5", ...]], ...}`` in its column layout."""
    lines = []
    for key, values in halves.items():
        vals = [str(v) for v in values] if as_strings else list(values)
        lines.append(f"  {json.dumps(key):20s} : [{json.dumps('int'):8s}, {json.dumps(vals)}]")
    path.write_text("{\n" + ",\n".join(lines) + "\n}")
    return path
