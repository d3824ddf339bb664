"""A forecast reaches a websocket client soon after its features are written by another
process, in both deployments:

- the embedded default (DuckDB, in-process bus): `stockpred serve` watches the store file's
  stat (no open, no lock) and refreshes once the writer lets go of it;
- PostgreSQL with the Redis Streams bus: `features build` announces what it committed on the
  bus, and the server, following the ``features`` topic, recomputes those tickers at once.
  Runs on STOCKPRED_TEST_POSTGRES_URL and STOCKPRED_TEST_REDIS_URL (CI sets both).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from stockpred.cli.app import main
from stockpred.store.postgres import PostgresStore

POSTGRES_URL = os.environ.get("STOCKPRED_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("STOCKPRED_TEST_REDIS_URL")

# AAPL's last bar in the sample is 2013-03-01; this is the next session.
NEW_SESSION = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n2013-03-04,429.7,432.2,425.1,430.2,430.2,14700000\n"
)
LATENCY_TARGET_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env["STOCKPRED_HOME"] = str(home)
    return env


async def _first_prediction_after(
    url: str, token: str, *, as_of: str, write: object
) -> tuple[dict[str, object], float]:
    """Subscribe, run ``write()`` (which returns when the features are committed), and return
    the first pushed forecast of ``as_of`` and the seconds from the commit to its arrival."""
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": token}))
        snapshot = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
        assert snapshot["type"] == "snapshot", snapshot
        committed = await asyncio.to_thread(write)  # type: ignore[arg-type]
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
            if message["type"] == "prediction" and str(message["as_of"]).startswith(as_of):
                return message, time.monotonic() - committed


@pytest.fixture
def postgres_and_redis(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings for a fresh PostgreSQL database and a Redis database of this test's own."""
    if not POSTGRES_URL or not REDIS_URL:
        pytest.skip("STOCKPRED_TEST_POSTGRES_URL and STOCKPRED_TEST_REDIS_URL (CI sets both)")
    import psycopg
    import redis
    from psycopg import sql

    name = f"live_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    # A Redis database of its own (the other tests use 0), emptied before and after.
    bus = REDIS_URL.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(bus).flushdb()
    try:
        yield {
            "STOCKPRED_STORE": "postgres",
            "STOCKPRED_POSTGRES_URL": database,
            "STOCKPRED_BUS_URL": bus,
            # No periodic refresh within the test: the forecast can only come by the event.
            "STOCKPRED_API_MODEL_POLL_SECONDS": "3600",
        }
    finally:
        redis.Redis.from_url(bus).flushdb()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["duckdb-memory", "postgres-redis"])
def deployment(request: pytest.FixtureRequest) -> dict[str, str]:
    """Extra settings of the deployment under test (none: the embedded default)."""
    if request.param == "duckdb-memory":
        return {}
    extra: dict[str, str] = request.getfixturevalue("postgres_and_redis")
    return extra


def test_new_features_written_by_another_process_reach_the_websocket_within_a_second(
    served_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    deployment: dict[str, str],
) -> None:
    home = tmp_path / "home"
    shutil.copytree(served_home, home)
    # The copied registry database names the original's model files, which stay in place.
    artifacts = (served_home / "mlruns").resolve().as_uri()
    env = _env(home) | {"STOCKPRED_REGISTRY_ARTIFACTS": artifacts} | deployment
    if deployment:
        # The same sample and features as the served home, in the fresh PostgreSQL database.
        for args in (["ingest", "sample"], ["features", "build"]):
            subprocess.run(
                [sys.executable, "-m", "stockpred", *args, "--json"],
                env=env, capture_output=True, check=True, timeout=600,
            )  # fmt: skip
    created = subprocess.run(
        [sys.executable, "-m", "stockpred", "clients", "create", "--name", "live",
         "--scopes", "stream:read", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    client = json.loads(created.stdout)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "stockpred", "serve", "--port", str(port), "--log-level", "info"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        token = httpx.post(
            f"{base}/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
            },
        ).json()["access_token"]
        bars = tmp_path / "AAPL.csv"
        bars.write_text(NEW_SESSION)
        monkeypatch.setenv("STOCKPRED_HOME", str(home))
        monkeypatch.setenv("STOCKPRED_REGISTRY_ARTIFACTS", artifacts)
        for key, value in deployment.items():
            monkeypatch.setenv(key, value)
        commits: list[float] = []
        write_features = PostgresStore.write_features

        def timed(store: PostgresStore, *args: object, **kwargs: object) -> object:
            written = write_features(store, *args, **kwargs)  # type: ignore[arg-type]
            commits.append(time.monotonic())
            return written

        monkeypatch.setattr(PostgresStore, "write_features", timed)

        def write() -> float:
            # Another process's writes, as a user runs them beside the server.
            subprocess.run(
                [sys.executable, "-m", "stockpred", "ingest", "file", str(bars)],
                env=env, capture_output=True, check=True,
            )  # fmt: skip
            assert main(["features", "build", "--tickers", "AAPL", "--json"]) == 0
            # PostgreSQL: from the commit (the announcement follows it). DuckDB: from the
            # build's end, when it has committed and let go of the file.
            return commits[-1] if commits else time.monotonic()

        message, seconds = asyncio.run(
            _first_prediction_after(
                f"ws://127.0.0.1:{port}/v1/stream?tickers=AAPL&horizon=1",
                token,
                as_of="2013-03-04",
                write=write,
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    server_log = (tmp_path / "server.log").read_text()

    mode = deployment.get("STOCKPRED_STORE", "duckdb")
    print(f"\n{mode}: forecast on the websocket {seconds * 1000:.0f} ms after the commit")
    assert message["ticker"] == "AAPL"
    assert seconds < LATENCY_TARGET_SECONDS
    assert "lock" not in server_log.lower(), server_log
