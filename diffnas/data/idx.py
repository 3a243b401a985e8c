"""IDX files, the (Fashion-)MNIST container format (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE
FORMAT"): two zero bytes, a type byte, the number of dimensions d, d big-endian uint32 sizes, then
prod(sizes) items of that type, big-endian. Files may be gzipped (``.gz``).

Every problem is an :class:`~diffnas.errors.InputError` on ``data.dir`` that names the file.
Imports only numpy.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from diffnas.errors import InputError

__all__ = ["IDX_FILES", "find_idx_file", "read_idx", "read_idx_header"]

IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four standard (Fashion-)MNIST IDX file names; each may also end in ``.gz``."""

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}



def find_idx_file(folder: Path, stem: str) -> Path | None:
    """The file for IDX ``stem`` in ``folder``: ``stem``, ``stem.gz``, or the common variant with a
    dot before ``idxN`` (``train-images.idx3-ubyte``), raw or gzipped; None if none exists."""
    variants = [stem, stem.replace("-idx", ".idx")]
    for v in variants:
        for candidate in (folder / v, folder / f"{v}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _open_idx(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _parse_header(path: Path, head: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, dims, header length) from the first bytes of an IDX file, or InputError."""
    if len(head) < 4:
        raise InputError("data.dir", f"{path}: not an IDX file (only {len(head)} bytes)")
    if head[0] != 0 or head[1] != 0:
        raise InputError("data.dir", f"{path}: not an IDX file (magic number 0x{head[:4].hex()} "
                                     "should start with two zero bytes)")
    type_code, ndim = head[2], head[3]
    if type_code not in _IDX_DTYPES:
        allowed = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise InputError("data.dir", f"{path}: unknown IDX data type 0x{type_code:02X}; allowed: {allowed}")
    if ndim == 0:
        raise InputError("data.dir", f"{path}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise InputError("data.dir", f"{path}: truncated IDX header ({len(head)} of {header_len} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(head, dtype=">u4", count=ndim, offset=4))
    return _IDX_DTYPES[type_code], dims, header_len


def read_idx_header(path: str | os.PathLike[str]) -> tuple[np.dtype, tuple[int, ...]]:
    """Read only the header of an IDX file (raw or ``.gz``): its dtype and dimensions. Cheap."""
    path = Path(path)
    try:
        with _open_idx(path) as fh:
            head = fh.read(4 + 4 * 255)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError("data.dir", f"{path}: cannot read IDX file ({exc})") from exc
    dtype, dims, _ = _parse_header(path, head)
    return dtype, dims


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a numpy array of its declared dtype and shape.

    Checks the magic number (two zero bytes, a known type byte, the number of dimensions), that
    the data holds exactly ``prod(dims)`` items, and that a gzip stream is intact. Any problem is an
    :class:`InputError` on ``data.dir`` whose message names the file. The result is in native byte
    order.
    """
    path = Path(path)
    try:
        with _open_idx(path) as fh:
            blob = fh.read()
    except FileNotFoundError as exc:
        raise InputError("data.dir", f"{path}: file not found") from exc
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError("data.dir", f"{path}: corrupt or truncated gzip stream ({exc})") from exc
    dtype, dims, header_len = _parse_header(path, blob)
    count = math.prod(dims)
    expected = count * dtype.itemsize
    found = len(blob) - header_len
    if found < expected:
        raise InputError("data.dir", f"{path}: truncated IDX file: header declares shape {dims} "
                                     f"({expected} data bytes) but only {found} bytes follow")
    if found > expected:
        raise InputError("data.dir", f"{path}: corrupt IDX file: {found - expected} unexpected bytes "
                                     f"after the {expected} data bytes of shape {dims}")
    arr = np.frombuffer(blob, dtype=dtype, count=count, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)

