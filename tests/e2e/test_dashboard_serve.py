"""`stockpred dashboard` as a user runs it: a real Streamlit server beside a real `stockpred
serve --demo`, on loopback, reading the API with the demo client it printed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support.brokers import free_port

pytest.importorskip("streamlit", reason="the dashboard extra (streamlit) is not installed")

# .ci/run sets STOCKPRED_TEST_CHROMIUM (Debian's chromium, installed when missing).
CHROMIUM = (
    os.environ.get("STOCKPRED_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dashboard_screenshots.py"


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env["STOCKPRED_HOME"] = str(home)
    return env


@contextmanager
def _running(
    command: list[str], env: dict[str, str], **kwargs: object
) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, env=env, text=True, **kwargs)  # type: ignore[call-overload]
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _demo_client(server: subprocess.Popen[str]) -> tuple[str, str]:
    assert server.stdout is not None
    client_id = secret = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (client_id is None or secret is None):
        line = server.stdout.readline()
        if not line:
            break
        if line.startswith("demo client:"):
            client_id = line.split(": ", 1)[1].strip()
        elif line.startswith("demo secret:"):
            secret = line.split(": ", 1)[1].split()[0]
    assert client_id is not None, "serve --demo printed no client"
    assert secret is not None, "serve --demo printed no secret"
    return client_id, secret


def _wait_for(url: str, *, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return answer
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered 200 at {url} within {seconds:g} s")
        time.sleep(0.3)


def test_the_dashboard_command_serves_the_pages_on_a_real_api(
    served_home: Path, tmp_path: Path
) -> None:
    api_port, port = free_port(), free_port()
    env = _environment(served_home)
    serve = [sys.executable, "-m", "stockpred", "serve", "--demo", "--port", str(api_port)]
    with _running(serve, env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as server:
        client_id, secret = _demo_client(server)
        _wait_for(f"http://127.0.0.1:{api_port}/readyz", seconds=60)
        dashboard_env = {
            **env,
            "STOCKPRED_DASHBOARD_CLIENT_ID": client_id,
            "STOCKPRED_DASHBOARD_CLIENT_SECRET": secret,
        }
        command = [
            sys.executable,
            "-m",
            "stockpred",
            "dashboard",
            "--api-url",
            f"http://127.0.0.1:{api_port}",
            "--port",
            str(port),
        ]
        with _running(
            command, dashboard_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        ) as dashboard:
            health = _wait_for(f"http://127.0.0.1:{port}/_stcore/health", seconds=90)
            assert health.text.strip() == "ok"
            shell = httpx.get(f"http://127.0.0.1:{port}/universe", timeout=10)
            assert shell.status_code == 200
            assert "<title>Streamlit</title>" in shell.text or "streamlit" in shell.text.lower()
            assert dashboard.poll() is None
            if not Path(CHROMIUM).exists():
                pytest.skip(f"no Chromium at {CHROMIUM} to load the page (CI installs it)")
            shot = _screenshot(f"http://127.0.0.1:{port}", tmp_path / "shots")
    # The page ran on the server and the browser drew what the API answered.
    text = shot.with_suffix(".txt").read_text()
    assert shot.stat().st_size > 10_000
    assert "Universe" in text
    # The table is drawn on a canvas; the metrics above it are text.
    assert re.search(r"Tickers\s+5\s", text), text
    assert "stream connected" in text
    assert "Traceback" not in text
    assert "cannot reach the API" not in text


def _screenshot(url: str, out: Path) -> Path:
    """The universe page as headless Chromium draws it, through the screenshot script."""
    subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--url",
            url,
            "--out",
            str(out),
            "--pages",
            "universe",
            "--text",
            "--chromium",
            CHROMIUM,
        ],
        check=True,
        timeout=240,
    )
    return out / "universe.png"


def test_the_dashboard_command_without_a_client_says_how_to_get_one(
    tmp_path: Path,
) -> None:
    env = _environment(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-m", "stockpred", "dashboard"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "STOCKPRED_DASHBOARD_CLIENT_ID" in done.stderr
    assert "stockpred serve --demo" in done.stderr
