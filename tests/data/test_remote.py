"""diffnas.data.remote: a data folder on a bucket, fetched once per machine, atomically; and an
``s3://`` data.dir end to end against the session's real S3 server (SeaweedFS)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from diffnas.data import remote
from diffnas.errors import InputError
from tests.data.batch_files import write_cifar10, write_cifar100


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(remote.CACHE_VAR, str(root))
    monkeypatch.setattr(remote, "_fetched", {})
    return root


def sources(tmp_path, n=3):
    src = tmp_path / "src"
    src.mkdir()
    files = {}
    for i in range(n):
        (src / f"f{i}").write_bytes(bytes([i]) * (1000 + i))
        files[f"f{i}"] = str(src / f"f{i}")
    return files


def test_fetch_copies_once_and_reuses(tmp_path, cache, monkeypatch):
    files = sources(tmp_path)
    folder = remote.fetch(files, "label")
    assert os.path.dirname(folder) == str(cache) and os.path.basename(folder).startswith("label-")
    assert sorted(os.listdir(folder)) == ["f0", "f1", "f2"]
    assert open(os.path.join(folder, "f2"), "rb").read() == bytes([2]) * 1002
    copies = []
    monkeypatch.setattr(remote, "_copy", lambda *a: copies.append(a))
    assert remote.fetch(files, "label") == folder  # same process: memo
    monkeypatch.setattr(remote, "_fetched", {})
    assert remote.fetch(files, "label") == folder  # "a later process": the folder on disk
    assert copies == []
    assert [n for n in os.listdir(cache) if n.startswith(".")] == []


def test_a_changed_source_is_fetched_into_a_new_folder(tmp_path, cache):
    files = sources(tmp_path)
    first = remote.fetch(files, "label")
    with open(files["f1"], "ab") as fh:
        fh.write(b"more")
    remote._fetched.clear()
    second = remote.fetch(files, "label")
    assert second != first and os.path.getsize(os.path.join(second, "f1")) == 1005


def test_a_failed_fetch_leaves_no_folder_that_looks_complete(tmp_path, cache, monkeypatch):
    files = sources(tmp_path)
    real_copy = remote._copy
    calls = []

    def dies_on_the_second(location, size, dest):
        calls.append(location)
        if len(calls) == 2:
            raise OSError("connection reset")
        real_copy(location, size, dest)

    monkeypatch.setattr(remote, "_copy", dies_on_the_second)
    with pytest.raises(InputError) as err:
        remote.fetch(files, "label")
    assert err.value.field == "data.dir" and "fetch failed (connection reset)" in str(err.value)
    assert os.listdir(cache) == []  # neither a final folder nor the temporary one
    monkeypatch.setattr(remote, "_copy", real_copy)
    folder = remote.fetch(files, "label")
    assert sorted(os.listdir(folder)) == ["f0", "f1", "f2"]


def test_a_killed_fetch_leaves_a_hidden_folder_that_the_next_fetch_removes(tmp_path, cache):
    files = sources(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # what a fetch killed halfway leaves: a hidden temporary folder of the final name
    name = f"label-{'0' * 16}"
    os.makedirs(cache)
    stale = cache / f".{name}.{socket.gethostname()}.{dead.pid}.abc.tmp"
    alive = cache / f".{name}.{socket.gethostname()}.{os.getpid()}.def.tmp"
    stale.mkdir()
    alive.mkdir()
    (stale / "f0").write_bytes(b"half")
    remote._remove_stale(str(cache), name)
    assert not stale.exists() and alive.exists()  # a running fetch's folder stays
    folder = remote.fetch(files, "label")
    assert not os.path.basename(folder).startswith(".")


def test_a_missing_source_is_a_data_dir_error(tmp_path, cache):
    with pytest.raises(InputError, match="nope: file not found") as err:
        remote.fetch({"x": str(tmp_path / "nope")}, "label")
    assert err.value.field == "data.dir"


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(remote.CACHE_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert remote.cache_root() == os.path.join(str(tmp_path), "diffnas", "datasets")
    monkeypatch.setenv(remote.CACHE_VAR, str(tmp_path / "mine"))
    assert remote.cache_root() == str(tmp_path / "mine")


# --------------------------------------------------------------------------------------------------
# s3:// end to end


def upload(server, local_root, bucket_prefix: str) -> None:
    filesystem = server.filesystem()
    for dirpath, _dirs, names in os.walk(local_root):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), local_root)
            with filesystem.open_output_stream(f"{bucket_prefix}/{rel}") as out:
                out.write(open(os.path.join(dirpath, name), "rb").read())


def test_s3_data_dir_is_checked_remotely_fetched_once_and_read_locally(s3_server, tmp_path, cache, monkeypatch):
    torch = pytest.importorskip("torch")
    from diffnas.data import cache as data_cache
    from diffnas.data import check_dataset, load_dataset

    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    s3_server.filesystem().create_dir("datasets")
    local = tmp_path / "local"
    write_cifar10(local)
    write_cifar100(local)
    (local / "cifar-split.txt").write_text(
        '{"train": ["int", [' + ", ".join(f'"{i}"' for i in range(0, 200, 2)) + ']], '
        '"valid": ["int", [' + ", ".join(f'"{i}"' for i in range(1, 200, 2)) + ']]}')
    upload(s3_server, local, "datasets/nb201")
    uri = "s3://datasets/nb201"

    real_abspath = os.path.abspath

    def guarded_abspath(p):
        assert "s3:" not in str(p), f"os.path.abspath got {p}"
        return real_abspath(p)

    data_cache.clear()
    try:
        with monkeypatch.context() as m:
            m.setattr(os.path, "abspath", guarded_abspath)  # a URI must never reach os.path
            check_dataset("cifar10", uri)
            check_dataset("cifar100", uri + "/cifar-100-python/")
            d = data_cache.load_dataset_cached("cifar10", data_dir=uri, subset=40)
        ref = load_dataset("cifar10", data_dir=str(local), subset=40)
        assert torch.equal(d.x_weights, ref.x_weights) and torch.equal(d.x_test, ref.x_test)
        assert d.split_file == f"{uri}/cifar-split.txt" and ref.split_file == str(local / "cifar-split.txt")
        fetched = [n for n in os.listdir(cache) if not n.startswith(".")]
        assert len(fetched) == 1 and fetched[0].startswith("cifar-10-batches-py-")
        assert sorted(os.listdir(cache / fetched[0])) == sorted(
            [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta", "cifar-split.txt"])

        with monkeypatch.context() as m:  # a later process on the machine: no download, the cached folder
            m.setattr(remote, "_fetched", {})
            m.setattr(remote, "_copy", lambda *a: pytest.fail("fetched again"))
            again = load_dataset("cifar10", data_dir=uri + "/", subset=40)
        assert torch.equal(again.x_alpha, d.x_alpha)

        # data.dir naming the dataset folder itself
        c = load_dataset("cifar100", data_dir=uri + "/cifar-100-python", subset=40)
        assert (len(c.y_weights), len(c.y_alpha), len(c.y_test)) == (20, 20, 100)
    finally:
        data_cache.clear()

    with pytest.raises(InputError) as err:
        check_dataset("cifar10", "s3://datasets/nothing-here")
    assert err.value.field == "data.dir" and "does not exist" in str(err.value)
    assert "s3://datasets/nothing-here" in str(err.value)
    assert sorted(n.split("-")[0] for n in os.listdir(cache)) == ["cifar", "cifar"]  # two complete folders
