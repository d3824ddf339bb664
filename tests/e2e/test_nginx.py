"""NGINX in front of two real `stockpred serve` processes, on loopback, with Debian's ``nginx``.

The configuration is deploy/nginx/nginx.conf.template as scripts/nginx_site.py renders it: least
connections, TLS with a test certificate, rate limiting, websocket upgrade. The failover test
kills one API process during a bounded load run: no request may fail (GETs go to the other
process), and websocket clients on the killed one reconnect through NGINX and get their
snapshot again. The nginx binary comes from STOCKPRED_TEST_NGINX or PATH; the tests skip, saying
so, without it (`.ci/run` installs it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from support.brokers import free_port
from support.scripts import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
TICKERS = ("AAPL", "FB", "GOOG", "IBM", "MSFT")


def nginx_site() -> ModuleType:
    """scripts/nginx_site.py, imported from its file (scripts/ is no package)."""
    return load_file(REPO_ROOT / "scripts" / "nginx_site.py")


def nginx_binary() -> str:
    found = os.environ.get("STOCKPRED_TEST_NGINX") or shutil.which("nginx")
    if found is None:
        pytest.skip("nginx is not installed (Debian's nginx); .ci/run installs it")
    return found


def wait_until(check: object, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds:g} s")


@dataclass
class Platform:
    """Two API processes, NGINX in front, a client's credentials."""

    apis: dict[int, subprocess.Popen[str]]
    http_url: str
    https_url: str
    certificate: Path
    token: str
    run_dir: Path
    nginx: subprocess.Popen[str]
    client_id: str = ""
    secret: str = field(default="", repr=False)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def start_api(home: Path, port: int) -> subprocess.Popen[str]:
    # The API's own per-client limiter must not be what the load run measures.
    env = {**os.environ, "STOCKPRED_HOME": str(home), "STOCKPRED_API_RATE_LIMIT": "100000/minute"}
    return subprocess.Popen(
        [sys.executable, "-m", "stockpred", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def start_nginx(
    run_dir: Path, upstreams: tuple[str, ...], *, rate: int
) -> tuple[subprocess.Popen[str], int, int, Path]:
    script = nginx_site()
    certificate, key = script.write_test_certificate(run_dir)
    http_port, https_port = free_port(), free_port()
    config = script.write_nginx_config(
        script.NginxSite(
            upstreams=upstreams,
            run_dir=run_dir,
            http_port=http_port,
            https_port=https_port,
            certificate=certificate,
            key=key,
            rate_per_second=rate,
            burst=rate,
        )
    )
    binary = nginx_binary()
    command = [binary, "-e", str(run_dir / "error.log"), "-p", str(run_dir), "-c", str(config)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen([*command, "-g", "daemon off;"], text=True)
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=2).status_code == 200,
        seconds=20,
        what="NGINX did not answer",
    )
    return nginx, http_port, https_port, certificate


@pytest.fixture
def platform(home_copy: Path, tmp_path: Path) -> Iterator[Platform]:
    ports = (free_port(), free_port())
    apis = {port: start_api(home_copy, port) for port in ports}
    nginx: subprocess.Popen[str] | None = None
    try:
        for port in ports:
            wait_until(
                lambda port=port: (
                    httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
                ),
                seconds=90,
                what=f"the API on {port} was not ready",
            )
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "stockpred",
                "clients",
                "create",
                "--name",
                "nginx-test",
                "--scopes",
                "predictions:read,stream:read",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "STOCKPRED_HOME": str(home_copy)},
        )
        client = json.loads(created.stdout[: created.stdout.rindex("}") + 1])
        nginx, http_port, https_port, certificate = start_nginx(
            tmp_path / "nginx", tuple(f"127.0.0.1:{p}" for p in ports), rate=100_000
        )
        token = httpx.post(
            f"http://127.0.0.1:{http_port}/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
            },
        ).json()["access_token"]
        yield Platform(
            apis=apis,
            http_url=f"http://127.0.0.1:{http_port}",
            https_url=f"https://localhost:{https_port}",
            certificate=certificate,
            token=token,
            run_dir=tmp_path / "nginx",
            nginx=nginx,
            client_id=client["client_id"],
            secret=client["client_secret"],
        )
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
        for api in apis.values():
            if api.poll() is None:
                api.terminate()
                api.wait(timeout=30)


def requests_served(port: int) -> float:
    """The process's stockpred_api_requests_total, over every route and status."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("stockpred_api_requests_total{")
    )


def test_requests_spread_over_both_processes_and_tls_verifies(platform: Platform) -> None:
    before = {port: requests_served(port) for port in platform.apis}
    with httpx.Client(verify=ssl.create_default_context(cafile=str(platform.certificate))) as tls:
        answers = [
            tls.get(
                f"{platform.https_url}/v1/predictions/{TICKERS[i % 5]}", headers=platform.auth()
            )
            for i in range(40)
        ]
    assert [a.status_code for a in answers] == [200] * 40
    assert {a.json()["ticker"] for a in answers} == set(TICKERS)
    served = {port: requests_served(port) - before[port] for port in platform.apis}
    # least_conn with sequential requests alternates; each process took a real share.
    assert all(count >= 10 for count in served.values()), served
    # Without the test certificate as a trust anchor, TLS is refused.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{platform.https_url}/healthz")


def test_nginx_refuses_oversized_bodies_as_the_api_would(platform: Platform) -> None:
    answer = httpx.post(
        f"{platform.http_url}/v1/predictions:batch",
        headers={**platform.auth(), "Content-Type": "application/json"},
        content=b"[" + b" " * (2 * 1024 * 1024) + b"]",
    )
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"


def test_rate_limit_answers_429_with_the_api_error_shape(home_copy: Path, tmp_path: Path) -> None:
    port = free_port()
    api = start_api(home_copy, port)
    nginx = None
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200,
            seconds=90,
            what="the API was not up",
        )
        nginx, http_port, _, _ = start_nginx(tmp_path / "nginx", (f"127.0.0.1:{port}",), rate=5)
        with httpx.Client() as client:
            answers = [client.get(f"http://127.0.0.1:{http_port}/healthz") for _ in range(40)]
        codes = [a.status_code for a in answers]
        assert 200 in codes
        limited = [a for a in answers if a.status_code == 429]
        assert len(limited) >= 20, codes
        assert limited[0].json()["code"] == "rate_limited"
        assert limited[0].headers["Retry-After"] == "1"
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(timeout=10)
        api.terminate()
        api.wait(timeout=30)


@dataclass
class StreamClient:
    """A websocket client through NGINX that reconnects whenever its connection ends, and counts
    its connections and the snapshots it got."""

    url: str
    token: str
    connections: int = 0
    snapshots: int = 0
    drops: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    async def run(self) -> None:
        import websockets

        while not self.stop.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    subprotocols=["bearer", self.token],
                    open_timeout=5,  # type: ignore[list-item]
                ) as socket:
                    self.connections += 1
                    while not self.stop.is_set():
                        try:
                            message = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                        except TimeoutError:
                            continue
                        if message.get("type") == "snapshot":
                            self.snapshots += 1
            except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus, TimeoutError):
                self.drops += 1
                await asyncio.sleep(0.2)


def test_killing_one_api_process_under_load_fails_no_request_and_streams_reconnect(
    platform: Platform,
) -> None:
    stream_url = (
        platform.http_url.replace("http://", "ws://")
        + "/v1/stream?horizon=5&tickers="
        + ",".join(TICKERS)
    )
    clients = [StreamClient(stream_url, platform.token) for _ in range(4)]

    async def run_all() -> None:
        await asyncio.gather(*(c.run() for c in clients))

    streams = threading.Thread(target=lambda: asyncio.run(run_all()), daemon=True)
    streams.start()
    wait_until(
        lambda: all(c.snapshots >= 1 for c in clients), seconds=30, what="streams got no snapshot"
    )

    results: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(
            base_url=platform.http_url, headers=platform.auth(), timeout=10
        ) as client:
            i = 0
            while not stop.is_set():
                try:
                    results.append(client.get(f"/v1/predictions/{TICKERS[i % 5]}").status_code)
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                i += 1

    workers = [threading.Thread(target=load) for _ in range(6)]
    for worker in workers:
        worker.start()
    time.sleep(2)
    victim_port, victim = next(iter(platform.apis.items()))
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    served_at_kill = len(results)
    time.sleep(4)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)

    failed = [code for code in results if code != 200]
    assert not errors, errors[:5]
    assert not failed, f"{len(failed)} of {len(results)} failed: {sorted(set(failed))}"
    assert len(results) - served_at_kill >= 50, "the load run went on after the kill"
    # NGINX saw the dead process and sent its requests to the other.
    log = (platform.run_dir / "error.log").read_text(encoding="utf-8")
    assert re.search(rf"127\.0\.0\.1:{victim_port}", log), log[-2000:]

    # The stream clients of the killed process reconnect through NGINX and get a new snapshot.
    dropped = [c for c in clients if c.connections >= 2 or c.drops >= 1]
    assert dropped, "no stream client was on the killed process"
    wait_until(
        lambda: all(c.connections >= 2 and c.snapshots >= 2 for c in dropped),
        seconds=30,
        what="the dropped stream clients did not reconnect",
    )
    for client in clients:
        client.stop.set()
    streams.join(timeout=10)
