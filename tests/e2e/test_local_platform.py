"""`make up` and `make down` (scripts/local_platform.py) for real: the whole platform as
processes on this machine's PostgreSQL and Redis, with Tansu, NGINX, Prometheus and
Alertmanager; every URL it prints answers, and `down` leaves nothing of it running and touches
nothing else. Skips, saying which, without a service or binary it needs (`.ci/run` provides all).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.brokers import TANSU_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "local_platform.py"
sys.path.insert(0, str(SCRIPT.parent))
from local_platform import PORTS  # noqa: E402


def needed(variable: str) -> str:
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set; .ci/run sets it")
    return value


def free_offset() -> int:
    """An offset that puts every port of the platform on a free one."""
    for offset in range(21000, 40000, 211):
        free = True
        for port in PORTS.values():
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port + offset))
                except OSError:
                    free = False
                    break
        if free:
            return offset
    pytest.fail("no free set of ports for the platform")


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own on the test PostgreSQL server, dropped afterwards."""
    import psycopg
    from psycopg import sql

    server = needed("STOCKPRED_TEST_POSTGRES_URL")
    name = f"stockpred_platform_{uuid.uuid4().hex[:8]}"
    yield server.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_up_brings_every_part_up_and_down_stops_exactly_those(
    tmp_path: Path, database: str
) -> None:
    redis = needed("STOCKPRED_TEST_REDIS_URL")
    tansu = needed(TANSU_ENV)
    for binary in ("nginx", "prometheus", "prometheus-alertmanager"):
        if shutil.which(binary) is None:
            pytest.skip(f"{binary} is not installed; .ci/run installs it")
    offset = free_offset()
    state = tmp_path / "platform"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env |= {
        "STOCKPRED_POSTGRES_URL": database,
        "STOCKPRED_REDIS_URL": redis,
        "STOCKPRED_TEST_TANSU": tansu,
    }
    # Something of the user's, in a process group of its own: `down` must leave it alone.
    bystander = subprocess.Popen(["sleep", "600"], start_new_session=True)
    command = [sys.executable, str(SCRIPT), "--state-dir", str(state), "--port-offset", str(offset)]
    try:
        done = subprocess.run(
            [*command[:2], "up", *command[2:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        printed = done.stdout
        recorded = json.loads((state / "processes.json").read_text())
        names = {entry["name"] for entry in recorded}
        assert names == {
            "kafka", "api-1", "api-2", "nginx", "stream", "scheduler", "dashboard",
            "alertmanager", "prometheus",
        }  # fmt: skip
        # Every URL it printed answers.
        api = f"http://127.0.0.1:{PORTS['nginx-http'] + offset}"
        assert f"{api}/docs" in printed
        for url in re.findall(r"http://127\.0\.0\.1:\d+[^\s)]*", printed):
            assert httpx.get(url, timeout=10, follow_redirects=True).status_code == 200, url
        assert httpx.get(f"{api}/readyz", timeout=10).json()["ready"] is True
        dashboard = f"http://127.0.0.1:{PORTS['dashboard'] + offset}/_stcore/health"
        assert httpx.get(dashboard, timeout=10).text == "ok"
        # Prometheus scrapes both API processes, the stream and the scheduler.
        prometheus = f"http://127.0.0.1:{PORTS['prometheus'] + offset}"
        deadline = time.monotonic() + 60
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()
            health = {t["scrapeUrl"]: t["health"] for t in targets["data"]["activeTargets"]}
            if len(health) == 4 and set(health.values()) == {"up"}:
                break
            time.sleep(1)
        assert len(health) == 4, health
        assert set(health.values()) == {"up"}, health
        # The stream replays the stored bars through the broker and makes forecasts.
        stream = f"http://127.0.0.1:{PORTS['stream-metrics'] + offset}/metrics"
        deadline = time.monotonic() + 90
        forecasts = 0.0
        while time.monotonic() < deadline and forecasts == 0:
            forecasts = sum(
                float(line.rsplit(" ", 1)[1])
                for line in httpx.get(stream, timeout=10).text.splitlines()
                if line.startswith("stockpred_stream_forecasts_total")
            )
            time.sleep(1)
        assert forecasts > 0
    finally:
        stopped = subprocess.run(
            [*command[:2], "down", *command[2:]],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert stopped.returncode == 0, stopped.stderr
    for entry in recorded:
        with pytest.raises(ProcessLookupError):
            os.killpg(entry["pid"], 0)
    assert not (state / "processes.json").exists()
    for name, port in PORTS.items():
        with socket.socket() as probe:
            probe.settimeout(1)
            listening = probe.connect_ex(("127.0.0.1", port + offset)) == 0
        assert not listening, f"{name} still listens on {port + offset}"
    assert bystander.poll() is None, "down stopped a process it had not started"
    bystander.send_signal(signal.SIGTERM)
    bystander.wait(timeout=10)
