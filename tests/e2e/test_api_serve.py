"""`stockpred serve --demo` as a user runs it: a real uvicorn process on loopback that creates a
demo client, prints its credentials and a curl example, and answers the example call."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_demo_prints_credentials_and_answers_a_real_prediction(served_home: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env["STOCKPRED_HOME"] = str(served_home)
    server = subprocess.Popen(
        [sys.executable, "-m", "stockpred", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 90
        assert server.stdout is not None
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("(Ctrl-C stops the server)"):
                break
        out = "".join(lines)
        client_id = next(x.split(": ")[1].strip() for x in lines if x.startswith("demo client:"))
        secret = next(x.split(": ")[1].split()[0] for x in lines if x.startswith("demo secret:"))
        # The printed example is one line a user can paste.
        assert f"client_id={client_id} -d client_secret={secret}" in out
        assert "GET /v1/predictions/AAPL?horizon=5 -> 200" in out
        body = out.split("-> 200\n", 1)[1].rsplit("(Ctrl-C", 1)[0]
        forecast = json.loads(body)
        assert forecast["ticker"] == "AAPL"
        assert forecast["model"]["name"] == "stockpred-h5"
        # The credentials it printed work from outside too.
        token = httpx.post(
            f"http://127.0.0.1:{port}/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
        ).json()["access_token"]
        docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json")
        again = httpx.get(
            f"http://127.0.0.1:{port}/v1/predictions/MSFT",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert docs.status_code == 200
        assert again.status_code == 200
        assert again.json()["ticker"] == "MSFT"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_credentials_in_a_url_are_refused_and_no_query_value_reaches_the_access_log(
    served_home: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env["STOCKPRED_HOME"] = str(served_home)
    server = subprocess.Popen(
        [sys.executable, "-m", "stockpred", "serve", "--port", str(port), "--log-level", "info"],
        env=env,
        stdout=subprocess.PIPE,  # uvicorn's access log goes to stdout
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        in_query = httpx.post(
            f"{base}/v1/token?client_secret=hunter2-in-url",
            data={"grant_type": "client_credentials"},
        )
        token_in_query = httpx.get(f"{base}/v1/predictions/AAPL?access_token=tok-in-url")
        ordinary = httpx.get(f"{base}/v1/predictions/AAPL?horizon=5&note=plain-value")
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)

    assert in_query.status_code == 400
    assert in_query.json()["code"] == "credentials_in_query"
    assert in_query.json()["error"] == "invalid_request"  # RFC 6749 at the token endpoint
    assert "Authorization: Bearer" in in_query.json()["message"]
    assert token_in_query.status_code == 400
    assert ordinary.status_code == 401
    assert "/v1/predictions/AAPL?horizon=***&note=***" in log
    for value in ("hunter2-in-url", "tok-in-url", "plain-value"):
        assert value not in log
