"""One storage layer for results folders: local paths and ``s3://`` URIs alike, through ``pyarrow.fs``.

A *location* is a local path (``results/x``, ``/abs/x``, ``file:///abs/x``) or an ``s3://bucket/prefix``
URI. Those two are supported because the test suite runs them against a real file system and a real
S3 server (SeaweedFS); any other scheme (``gs://``, ``hdfs://``, ``abfs://``, ...) is refused by name
(:func:`check_location`), as is a path that looks like a URI with a slash missing (``s3:/bucket``),
so that no path code (``os.path``, ``pathlib``, ``os.makedirs``) ever sees a URI. :func:`resolve`
maps a location to ``(filesystem, path inside it)``; every other function here takes a location and
goes through that one mapping, so callers never branch on local versus remote. :func:`probe` finds
an unreachable endpoint (or a missing bucket) in seconds, before a command trains anything.

Atomic writes (:func:`atomic_write`), the one helper every writer uses:

- local disk: the bytes go to a temporary file ``.<name>.<random>.tmp`` in the destination
  folder, are flushed and ``fsync``-ed, then ``os.replace``-d onto the final name (atomic on
  POSIX), so a reader sees the old file or the new one, never half of one; a write that fails
  (a full disk) removes its temporary file and raises :class:`StorageError`, whose one line names
  the folder and its free space;
- an object store: the whole object is uploaded in one ``open_output_stream``; S3 and its kin
  make an object visible only when its upload completes.

Faults: :func:`is_disk_full` and :func:`is_transient` classify an ``OSError``; :func:`retrying`
repeats an idempotent write with exponential back-off while the error is transient (an object store
that does not answer), for at most :func:`retry_budget_s` seconds (``DIFFNAS_STORAGE_RETRY_S``,
default 120), and never on a full disk.

S3 endpoint and credentials come from the standard AWS environment variables:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` (or ``~/.aws``, or an
instance profile: the AWS SDK's own chain), ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, and
``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` for an S3-compatible server such as MinIO or
SeaweedFS (``http://host:port``; pyarrow itself ignores these two, so they are read here).
``DIFFNAS_S3_ALLOW_BUCKET_CREATION=1`` lets the first write create a missing bucket.

Torch-free and Ray-free: ``analysis`` reads ``s3://`` results through it too.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
from pyarrow import fs as pafs

from diffnas.errors import InputError

T = TypeVar("T")

ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
BUCKET_CREATION_VAR = "DIFFNAS_S3_ALLOW_BUCKET_CREATION"
_TRUE = ("1", "true", "yes", "on")
SCHEMES = ("s3",)
"""URI schemes a location may use besides local paths and ``file://`` (each run against a real server by
the tests); any other is refused by name."""
RETRY_VAR = "DIFFNAS_STORAGE_RETRY_S"
DEFAULT_RETRY_S = 120.0
PROBE_TIMEOUT_S = 5.0
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_NEAR_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/?(?!/)")  # s3:/bucket, s3:bucket (not C:, not s3://)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageError(OSError):
    """A write (or read) that failed for a reason outside the command's input: a full disk, an object
    store that does not answer. ``str(err)`` is the one line a command prints (exit code 1)."""

    def __str__(self) -> str:
        return str(self.strerror or super().__str__())


def is_remote(location: str) -> bool:
    """True for a URI with a scheme other than ``file://`` (``s3://...``)."""
    return "://" in location and not location.startswith("file://")


def scheme(location: str) -> str | None:
    """The URI scheme of ``location`` in lower case (``s3``, ``file``), or None for a plain path."""
    match = _URI.match(location)
    return match.group(1).lower() if match else None


def check_location(location: str, field: str = "location") -> str:
    """``location`` itself when it is a local path, a ``file://`` URI or an ``s3://bucket[/prefix]`` URI;
    otherwise :class:`~diffnas.errors.InputError` (one line): an unsupported scheme named, an ``s3://``
    without a valid bucket name, a path that looks like a URI with a slash missing (``s3:/b``)."""
    if not isinstance(location, str) or not location.strip():
        raise InputError(field, "must be a non-empty folder or URI")
    found = scheme(location)
    if found is None:
        near = _NEAR_URI.match(location)
        if near and near.group(1).lower() in (*SCHEMES, "file", "gs", "gcs", "hdfs", "abfs", "abfss", "http", "https"):
            raise InputError(field, f"{_cut(location)} looks like a URI with a '/' missing; write "
                                    f"{near.group(1)}://... (or ./{_cut(location, 40)} for a local folder)")
        return location
    if found == "file":
        if not location[len("file://"):].startswith("/"):
            raise InputError(field, f"{_cut(location)}: a file:// URI takes an absolute path (file:///abs/path)")
        return location
    if found not in SCHEMES:
        raise InputError(field, f"unsupported URI scheme {found[:20]}://; supported: a local folder, "
                                f"file:///abs/path or s3://bucket/prefix")
    parts = urlsplit(location)
    if not parts.netloc:
        raise InputError(field, f"{_cut(location)} names no bucket (expected s3://bucket/prefix)")
    if not _BUCKET.match(parts.netloc) or ".." in parts.netloc:
        raise InputError(field, f"{_cut(parts.netloc, 40)!r} is not an S3 bucket name (3-63 characters: "
                                "lower-case letters, digits, '.', '-')")
    if any(p in (".", "..") for p in parts.path.split("/")) or parts.query or parts.fragment:
        raise InputError(field, f"{_cut(location)}: the prefix may not hold '.', '..', '?' or '#'")
    return location


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    """``(filesystem, path inside it)`` for a local path or an ``s3://`` URI (any other scheme:
    :class:`~diffnas.errors.InputError`, see :func:`check_location`)."""
    check_location(location)
    if not is_remote(location):
        return pafs.LocalFileSystem(), os.path.abspath(local_path(location))
    parts = urlsplit(location)
    path = f"{parts.netloc}{parts.path}".rstrip("/")
    return _s3(tuple(sorted(s3_options().items()))), path


def probe(location: str, field: str = "--out", timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """For an ``s3://`` location: :class:`~diffnas.errors.InputError` within about ``timeout_s`` seconds
    unless its endpoint answers and its bucket exists (or may be created:
    ``DIFFNAS_S3_ALLOW_BUCKET_CREATION=1``). Local locations pass (their checks are the path rules
    of :mod:`diffnas.results.outputs`). One request, no retries: run it before any training."""
    check_location(location, field)
    if not is_remote(location):
        return
    options = s3_options()
    quick = dict(options, connect_timeout=timeout_s, request_timeout=timeout_s,
                 retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
    bucket = urlsplit(location).netloc
    where = f"endpoint {options.get('scheme', 'https')}://{options['endpoint_override']}" \
        if "endpoint_override" in options else "AWS (set AWS_ENDPOINT_URL for another server)"
    try:
        info = pafs.S3FileSystem(**quick).get_file_info(bucket)
    except OSError as err:
        raise InputError(field, f"cannot reach {_cut(location, 50)} at {where}: {_reason(err)}") from None
    if info.type == pafs.FileType.NotFound and not options.get("allow_bucket_creation"):
        raise InputError(field, f"bucket {bucket!r} does not exist at {where} (create it, or set "
                                f"{BUCKET_CREATION_VAR}=1)")


def _reason(err: BaseException, limit: int = 90) -> str:
    """The useful end of an error message (AWS's carry a long preamble)."""
    text = " ".join(str(err).split())
    for marker in ("Details: ", "curlCode: ", "AWS Error "):
        if marker in text:
            text = text[text.rindex(marker) + len(marker):]
            break
    return _cut(text, limit)


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


def list_tree(location: str) -> list[str]:
    """Every file under ``location`` at any depth, as sorted paths relative to it (``a/b.png``);
    none when it is missing or a file."""
    filesystem, path = resolve(location)
    try:
        infos = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=True))
    except (NotADirectoryError, FileNotFoundError):
        return []
    base = path.rstrip("/") + "/"
    return sorted(i.path[len(base):] for i in infos if i.type == pafs.FileType.File and i.path.startswith(base))


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


def move(location: str, target: str) -> None:
    """Rename one file within the same storage (on a bucket: copy, then delete)."""
    filesystem, path = resolve(location)
    _, dest = resolve(target)
    filesystem.move(path, dest)


def delete(location: str) -> None:
    """Remove one file; nothing when it is already gone."""
    filesystem, path = resolve(location)
    if filesystem.get_file_info(path).type == pafs.FileType.File:
        filesystem.delete_file(path)


def atomic_write(location: str, data: bytes) -> str:
    """Write ``data`` to ``location`` so that readers see the old content or the new, never part.

    Local: temporary file in the same folder, ``fsync``, ``os.replace``. Bucket: one whole-object
    upload. Missing parent folders are created. A full disk raises :class:`StorageError` (naming the
    folder and its free space) and leaves no temporary file. Returns ``location``."""
    if is_remote(location):
        filesystem, path = resolve(location)
        with filesystem.open_output_stream(path) as out:
            out.write(data)
        return location
    final = os.path.abspath(local_path(location))
    folder = os.path.dirname(final)
    tmp = os.path.join(folder, f".{os.path.basename(final)}.{uuid.uuid4().hex}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except OSError as err:
        if is_disk_full(err):
            raise disk_full_error(folder) from err
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return location


# -- faults ---------------------------------------------------------------------------------------
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = ("no space left on device", "disk quota exceeded", "errno 28", "errno 122")
# lower case, "_" read as " " (AWS's error codes: NETWORK_CONNECTION, INTERNAL_FAILURE, SERVICE_UNAVAILABLE,
# SLOW_DOWN, THROTTLING, REQUEST_TIMEOUT; a restarting SeaweedFS answers INTERNAL_FAILURE "please try again")
_TRANSIENT_TEXT = ("network connection", "curlcode", "could not connect", "connection refused",
                   "connection reset", "timed out", "timeout", "service unavailable", "slow down",
                   "slowdown", "internalerror", "internal error", "internal failure", "try again", "throttl",
                   "broken pipe", "temporarily unavailable", "failed to connect", "couldn't connect",
                   "unable to connect", "transfer closed", "empty reply", "http status 5")


def is_disk_full(err: BaseException) -> bool:
    """True for a write that failed because the disk (or the user's quota) is full."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
            return True
        if any(t in str(err).lower() for t in _FULL_TEXT):
            return True
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return False


def is_transient(err: BaseException) -> bool:
    """True for an error that waiting may cure: an object store or network that does not answer
    (never a full disk, a missing file or a refused permission)."""
    if is_disk_full(err) or isinstance(err, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    text = str(err).lower().replace("_", " ")
    return isinstance(err, OSError) and any(t in text for t in _TRANSIENT_TEXT)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def free_space(location: str) -> tuple[int, int] | None:
    """(free, total) bytes of the local disk that holds ``location`` (its nearest existing folder);
    None for a bucket or where it cannot be told."""
    if is_remote(location):
        return None
    head = os.path.abspath(local_path(location))
    while not os.path.isdir(head) and os.path.dirname(head) != head:
        head = os.path.dirname(head)
    try:
        usage = shutil.disk_usage(head)
    except OSError:
        return None
    return usage.free, usage.total


def disk_full_error(location: str) -> StorageError:
    """The one-line error of a write into ``location`` that found its disk full."""
    space = free_space(location)
    free = f" ({human_bytes(space[0])} free of {human_bytes(space[1])})" if space else ""
    return StorageError(errno.ENOSPC, f"{location}: no space left on device{free}")


def write_error(location: str, err: BaseException) -> StorageError:
    """:class:`StorageError` for a failed write into ``location``: a full disk with its free space,
    anything else with the end of its message."""
    if isinstance(err, StorageError):
        return err
    if is_disk_full(err):
        return disk_full_error(location)
    what = "the object store does not answer" if is_transient(err) else "cannot write"
    return StorageError(getattr(err, "errno", None) or errno.EIO, f"{location}: {what} ({_reason(err, 80)})")


def retry_budget_s() -> float:
    """Seconds :func:`retrying` keeps trying (``DIFFNAS_STORAGE_RETRY_S``, default 120; 0: no retry)."""
    try:
        return max(0.0, float(os.environ.get(RETRY_VAR, DEFAULT_RETRY_S)))
    except ValueError:
        return DEFAULT_RETRY_S


def retrying(fn: Callable[[], T], budget_s: float | None = None, first_s: float = 0.5, most_s: float = 8.0,
             on_retry: Callable[[BaseException, float], None] | None = None) -> T:
    """``fn()``, repeated with exponential back-off (``first_s``, doubling to ``most_s``) while it raises a
    transient error (:func:`is_transient`) and less than ``budget_s`` seconds (default
    :func:`retry_budget_s`) have passed; the last error is raised. ``fn`` must be idempotent (a
    whole-object write to a fixed name is)."""
    budget = retry_budget_s() if budget_s is None else budget_s
    start, wait = time.monotonic(), first_s
    while True:
        try:
            return fn()
        except Exception as err:
            waited = time.monotonic() - start
            if not is_transient(err) or waited + wait > budget:
                raise
            if on_retry is not None:
                on_retry(err, wait)
        time.sleep(wait)
        wait = min(most_s, wait * 2)


def write_parquet(table: pa.Table, location: str) -> str:
    """One Parquet file written atomically (serialised in memory, then :func:`atomic_write`)."""
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return atomic_write(location, sink.getvalue().to_pybytes())
