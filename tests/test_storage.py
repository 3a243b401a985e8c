"""diffnas.storage: one location layer for local folders and bucket URIs, one atomic write."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from diffnas import storage


def test_local_atomic_write_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a" / "b" / "x.bin"
    storage.atomic_write(str(target), b"first")
    storage.atomic_write(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["x.bin"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    storage.atomic_write(str(target), b"old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        storage.atomic_write(str(target), b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.json"]


def test_parquet_list_read_and_file_uri(tmp_path):
    table = pa.table({"x": [1, 2, 3]})
    storage.write_parquet(table, storage.join(str(tmp_path), "parts", "p1.parquet"))
    (tmp_path / "parts" / ".p0.parquet.tmp").write_bytes(b"half")
    uri = f"file://{tmp_path}"
    files = storage.list_files(storage.join(uri, "parts"), ".parquet")
    assert [os.path.basename(f) for f in files] == ["p1.parquet"]
    assert pq.read_table(storage.open_input_file(files[0])).column("x").to_pylist() == [1, 2, 3]
    assert storage.list_files(str(tmp_path / "missing")) == []
    assert storage.read_bytes(str(tmp_path / "missing.json")) is None
    assert storage.is_dir(uri) and not storage.is_file(uri) and storage.exists(files[0])


def test_join_and_normalize():
    assert storage.join("s3://b/p/", "ray", "explore") == "s3://b/p/ray/explore"
    assert storage.join("/x", "epochs") == os.path.join("/x", "epochs")
    assert storage.normalize("s3://b/p/") == "s3://b/p"
    assert storage.normalize("rel") == os.path.abspath("rel")
    assert storage.normalize("file:///abs/x") == "/abs/x"


def test_s3_options_from_the_standard_environment():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "DIFFNAS_S3_ALLOW_BUCKET_CREATION": "1"}
    assert storage.s3_options(env) == {"endpoint_override": "127.0.0.1:9000", "scheme": "http",
                                       "region": "us-east-1", "allow_bucket_creation": True}
    env = {"AWS_ENDPOINT_URL_S3": "https://s3.example.org", "AWS_ENDPOINT_URL": "http://other:1",
           "AWS_REGION": "eu-west-1"}
    assert storage.s3_options(env) == {"endpoint_override": "s3.example.org", "scheme": "https",
                                       "region": "eu-west-1"}
    assert storage.s3_options({}) == {}
    fs, path = storage.resolve("s3://bucket/some/prefix/")
    assert isinstance(fs, pa.fs.S3FileSystem) and path == "bucket/some/prefix"


def test_real_s3_round_trip_creates_the_bucket(s3_server, monkeypatch):
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    root = "s3://roundtrip/a/b"
    assert not storage.exists(root)
    storage.atomic_write(storage.join(root, "sweep.json"), b'{"x": 1}')
    storage.write_parquet(pa.table({"x": [1, 2]}), storage.join(root, "epochs", "p.parquet"))
    assert storage.read_bytes(storage.join(root, "sweep.json")) == b'{"x": 1}'
    assert storage.is_dir(root) and storage.is_file(storage.join(root, "sweep.json"))
    parts = storage.list_files(storage.join(root, "epochs"), ".parquet")
    assert parts == ["s3://roundtrip/a/b/epochs/p.parquet"]
    assert pq.read_table(storage.open_input_file(parts[0])).column("x").to_pylist() == [1, 2]


def test_a_store_that_does_not_answer_is_retried_with_back_off_then_one_line(monkeypatch):
    import time

    from tests.s3_server import free_ports

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    storage._s3.cache_clear()
    waits: list[float] = []
    start = time.monotonic()
    with pytest.raises(OSError) as err:
        storage.retrying(lambda: storage.atomic_write("s3://bucket/x.json", b"{}"), budget_s=6.0,
                         first_s=0.2, on_retry=lambda e, w: waits.append(w))
    assert storage.is_transient(err.value) and not storage.is_disk_full(err.value)
    assert len(waits) >= 2 and waits == [0.2 * 2 ** i for i in range(len(waits))], waits  # each wait doubles
    assert time.monotonic() - start < 30
    line = str(storage.write_error("s3://bucket", err.value))
    assert line.startswith("s3://bucket: the object store does not answer (") and "\n" not in line
    # a non-transient error is raised at once
    calls = []
    with pytest.raises(FileNotFoundError):
        storage.retrying(lambda: calls.append(1) or open("/nonexistent/x"), budget_s=5)
    assert calls == [1]


# messages pyarrow's S3 client raised against a SeaweedFS stopped and restarted (recorded here)
@pytest.mark.parametrize("message, transient", [
    ("When initiating multiple part upload for key 'ck_40/x.bin' in bucket 'bkt': AWS Error INTERNAL_FAILURE during "
     "CreateMultipartUpload operation: We encountered an internal error, please try again.", True),
    ("When listing objects under key '' in bucket 'bkt': AWS Error NETWORK_CONNECTION during ListObjectsV2 "
     "operation: curlCode: 7, Could not connect to server", True),
    ("AWS Error SERVICE_UNAVAILABLE during PutObject operation: Service Unavailable", True),
    ("AWS Error SLOW_DOWN during PutObject operation", True),
    ("When creating bucket 'b': AWS Error UNKNOWN (HTTP status 400) during CreateBucket operation: Unable to "
     "parse ExceptionName: InvalidBucketName Message: The specified bucket is not valid.", False),
    ("AWS Error ACCESS_DENIED during PutObject operation: Access Denied", False),
])
def test_which_object_store_errors_are_waited_for(message, transient):
    assert storage.is_transient(OSError(message)) is transient
