"""One storage layer for results folders: local paths and bucket URIs alike, through ``pyarrow.fs``.

A *location* is a local path (``results/x``, ``/abs/x``, ``file:///abs/x``) or a URI with a scheme
pyarrow knows (``s3://bucket/prefix``, ``gs://...``, ``hdfs://...``). :func:`resolve` maps it to
``(filesystem, path inside it)``; every other function here takes a location and goes through that
one mapping, so callers never branch on local versus remote.

Atomic writes (:func:`atomic_write`), the one helper every writer uses:

- local disk: the bytes go to a temporary file ``.<name>.<random>.tmp`` in the destination
  folder, are flushed and ``fsync``-ed, then ``os.replace``-d onto the final name (atomic on
  POSIX), so a reader sees the old file or the new one, never half of one;
- an object store: the whole object is uploaded in one ``open_output_stream``; S3 and its kin
  make an object visible only when its upload completes.

S3 endpoint and credentials come from the standard AWS environment variables:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` (or ``~/.aws``, or an
instance profile: the AWS SDK's own chain), ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, and
``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` for an S3-compatible server such as MinIO or
SeaweedFS (``http://host:port``; pyarrow itself ignores these two, so they are read here).
``DIFFNAS_S3_ALLOW_BUCKET_CREATION=1`` lets the first write create a missing bucket.

Torch-free and Ray-free: ``analysis`` reads ``s3://`` results through it too.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

import pyarrow as pa
from pyarrow import fs as pafs

ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
BUCKET_CREATION_VAR = "DIFFNAS_S3_ALLOW_BUCKET_CREATION"
_TRUE = ("1", "true", "yes", "on")


def is_remote(location: str) -> bool:
    """True for a URI with a scheme other than ``file://`` (``s3://...``)."""
    return "://" in location and not location.startswith("file://")


def local_path(location: str) -> str:
    """The local path of a local location (``file://`` stripped)."""
    return location[len("file://"):] if location.startswith("file://") else location


def normalize(location: str) -> str:
    """A local location as an absolute path; a URI without its trailing slash."""
    if is_remote(location):
        return location.rstrip("/")
    return os.path.abspath(local_path(location))


def join(location: str, *parts: str) -> str:
    """``location/part/...`` with ``/`` for URIs and ``os.path.join`` for local paths."""
    if is_remote(location):
        return "/".join([location.rstrip("/"), *parts])
    return os.path.join(local_path(location), *parts)


def s3_options(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """``S3FileSystem`` keyword arguments from the standard AWS environment variables (pure)."""
    env = os.environ if environ is None else environ
    options: dict[str, object] = {}
    endpoint = next((env[v] for v in ENDPOINT_VARS if env.get(v)), None)
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
        options["scheme"] = parts.scheme or "https"
    region = next((env[v] for v in REGION_VARS if env.get(v)), None)
    if region:
        options["region"] = region
    elif endpoint:
        options["region"] = "us-east-1"  # S3-compatible servers ignore it; skips a region lookup
    if str(env.get(BUCKET_CREATION_VAR, "")).strip().lower() in _TRUE:
        options["allow_bucket_creation"] = True
    return options


@functools.lru_cache(maxsize=8)
def _s3(frozen: tuple[tuple[str, object], ...]) -> pafs.FileSystem:
    return pafs.S3FileSystem(**dict(frozen))


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """``(filesystem, path inside it)`` for a local path or a bucket URI."""
    if not is_remote(location):
        return pafs.LocalFileSystem(), os.path.abspath(local_path(location))
    parts = urlsplit(location)
    if parts.scheme == "s3":
        path = f"{parts.netloc}{parts.path}".rstrip("/")
        return _s3(tuple(sorted(s3_options().items()))), path
    filesystem, path = pafs.FileSystem.from_uri(location)
    return filesystem, path.rstrip("/")


def exists(location: str) -> bool:
    filesystem, path = resolve(location)
    return filesystem.get_file_info(path).type != pafs.FileType.NotFound


def is_file(location: str) -> bool:
    filesystem, path = resolve(location)
    return filesystem.get_file_info(path).type == pafs.FileType.File


def is_dir(location: str) -> bool:
    """A folder (on a bucket: a prefix under which some object lies)."""
    filesystem, path = resolve(location)
    return filesystem.get_file_info(path).type == pafs.FileType.Directory


def list_files(location: str, suffix: str = "") -> list[str]:
    """Visible files directly under ``location`` ending in ``suffix`` (sorted locations; none when
    the folder is missing). Names starting with ``.`` (temporary parts) are skipped."""
    filesystem, path = resolve(location)
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
    try:
        infos = filesystem.get_file_info(selector)
    except (NotADirectoryError, FileNotFoundError):
        return []
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File)
    return [join(location, n) for n in names if n.endswith(suffix) and not n.startswith(".")]


def read_bytes(location: str) -> bytes | None:
    """The whole file, or None when it does not exist."""
    filesystem, path = resolve(location)
    if filesystem.get_file_info(path).type != pafs.FileType.File:
        return None
    with filesystem.open_input_stream(path) as fh:
        return fh.read()


def open_input_file(location: str) -> pa.NativeFile:
    """A random-access file (for ``pyarrow.parquet.ParquetFile``)."""
    filesystem, path = resolve(location)
    return filesystem.open_input_file(path)


def delete(location: str) -> None:
    """Remove one file; nothing when it is already gone."""
    filesystem, path = resolve(location)
    if filesystem.get_file_info(path).type == pafs.FileType.File:
        filesystem.delete_file(path)


def atomic_write(location: str, data: bytes) -> str:
    """Write ``data`` to ``location`` so that readers see the old content or the new, never part.

    Local: temporary file in the same folder, ``fsync``, ``os.replace``. Bucket: one whole-object
    upload. Missing parent folders are created. Returns ``location``."""
    if is_remote(location):
        filesystem, path = resolve(location)
        with filesystem.open_output_stream(path) as out:
            out.write(data)
        return location
    final = os.path.abspath(local_path(location))
    folder = os.path.dirname(final)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(final)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return location


def write_parquet(table: pa.Table, location: str) -> str:
    """One Parquet file written atomically (serialised in memory, then :func:`atomic_write`)."""
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return atomic_write(location, sink.getvalue().to_pybytes())
