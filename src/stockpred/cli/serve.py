"""``stockpred serve``: the prediction API on uvicorn."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time

import typer

from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.domain.errors import ConfigurationError

__all__ = ["serve_command"]

_FACTORY = "stockpred.api.app:create_app_from_settings"
_MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # api.metrics.MULTIPROCESS_DIR_ENV


def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: all)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes (each loads the champion)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="Log one line per request."
    ),
    replay: bool = typer.Option(
        False,
        "--replay",
        help="Also run the stream processor on a replay of the last stored year, pass after "
        "pass, so websocket clients see forecasts arrive (a demo; one worker).",
    ),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="Create a demo client (predictions:read, stream:read), print its credentials and a "
        "curl example, and call it once the server is up.",
    ),
) -> None:
    """Serve forecasts over REST and websockets (OpenAPI docs at /docs). Clients authenticate
    with OAuth2 client credentials: create one with `stockpred clients create`."""
    import uvicorn

    runtime = runtime_of(ctx)
    settings = runtime.settings
    unsigned = settings.api_secret_key is None and settings.api_jwks_url is None
    if settings.environment == "production" and unsigned:
        raise ConfigurationError(
            "production serving needs STOCKPRED_API_SECRET_KEY (32+ random characters) or "
            "STOCKPRED_API_JWKS_URL of an identity provider"
        )
    if workers > 1 and settings.redis_url is None:
        runtime.err.print(
            "[yellow]note:[/] with several workers and no STOCKPRED_REDIS_URL, each worker "
            "keeps its own rate-limit budget and its own websocket subscribers"
        )
    if replay:
        if workers > 1:
            raise ConfigurationError(
                "--replay runs the stream in the serving process: use it with one worker"
            )
        os.environ["STOCKPRED_API_STREAM_REPLAY"] = "true"
    # Workers are separate processes that build their own settings from the same sources.
    config = ctx.find_root().params.get("config")
    if config is not None:
        os.environ["STOCKPRED_CONFIG"] = str(config)
    base = f"http://{host}:{port}"
    runtime.err.print(f"stockpred API on {base}  (docs: {base}/docs)")
    if demo:
        _start_demo(runtime, base)
    metrics_dir = _multiprocess_metrics(workers)
    try:
        uvicorn.run(
            _FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=access_log,
            proxy_headers=True,
            server_header=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _multiprocess_metrics(workers: int) -> str | None:
    """With several workers, a fresh private directory for prometheus_client's multiprocess
    mode, named in the environment the spawned workers inherit (they import prometheus_client
    after it is set, which is when it reads it); with one, none, and none inherited: a single
    worker keeps its own registry (api/metrics.py)."""
    # Not imported from api/metrics.py: that imports prometheus_client, which must not see an
    # inherited directory before it is cleared.
    if workers == 1:
        os.environ.pop(_MULTIPROCESS_DIR_ENV, None)
        return None
    # A directory of an earlier run would add its counts to this one's: always a new one.
    directory = tempfile.mkdtemp(prefix="stockpred-metrics-")
    os.environ[_MULTIPROCESS_DIR_ENV] = directory
    return directory


def _start_demo(runtime: Runtime, base: str) -> None:
    """A demo client, its credentials and a curl example; a thread makes the example call
    once the server answers, so the user sees a real forecast come back."""
    from stockpred.api.clients import ClientStore

    clients = ClientStore(runtime.settings.api_database_url, clock=runtime.clock)
    try:
        created = clients.create(name="demo", scopes=["predictions:read", "stream:read"])
    finally:
        clients.close()
    client_id, secret = created.client.client_id, created.secret
    token_call = (
        f"curl -s {base}/v1/token -d grant_type=client_credentials "
        f"-d client_id={client_id} -d client_secret={secret}"
    )
    runtime.out.print(
        f"demo client: {client_id}\ndemo secret: {secret}  (shown once)\n\nexample:\n"
        f"  TOKEN=$({token_call} | python3 -c 'import json,sys; "
        'print(json.load(sys.stdin)["access_token"])\')\n'
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/v1/predictions/AAPL?horizon=5'\n"
        "\nwatch forecasts arrive on the websocket (with --replay, a replayed year):\n"
        f"  {_watch_command(base)}\n",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    threading.Thread(
        target=_demo_call, args=(runtime, base, client_id, secret), daemon=True
    ).start()


def _watch_command(base: str) -> str:
    """A one-line websocket client printing each message (the token from $TOKEN)."""
    url = base.replace("http://", "ws://", 1) + "/v1/stream?tickers=AAPL,MSFT,IBM,GOOG,FB"
    script = (
        "import asyncio,json,os,websockets\n"
        "async def watch():\n"
        f"    async with websockets.connect('{url}') as ws:\n"
        "        await ws.send(json.dumps({'type': 'auth', 'token': os.environ['TOKEN']}))\n"
        "        async for message in ws: print(message)\n"
        "asyncio.run(watch())"
    )
    return f'TOKEN=$TOKEN {sys.executable} -c "{script}"'


def _demo_call(runtime: Runtime, base: str, client_id: str, secret: str) -> None:
    import httpx

    for _ in range(600):
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code in (200, 503):
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        token = httpx.post(
            f"{base}/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": secret,
            },
            timeout=10,
        ).json()["access_token"]
        answer = httpx.get(
            f"{base}/v1/predictions/AAPL",
            params={"horizon": 5},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        runtime.err.print(f"the demo call failed: {exc}", markup=False)
        return
    runtime.out.print(
        f"GET /v1/predictions/AAPL?horizon=5 -> {answer.status_code}\n"
        f"{json.dumps(answer.json(), indent=2)}\n(Ctrl-C stops the server)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
