"""``stockpred dashboard``: the analysts' dashboard (Streamlit) on the REST API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

import typer

from stockpred.cli.runtime import runtime_of
from stockpred.domain.errors import ConfigurationError

__all__ = ["dashboard_command"]

# The page script `streamlit run` starts (the dashboard package's app.py); found without
# importing it, which would import Streamlit into this process.
_APP_MODULE = "stockpred.dashboard.app"


def _app_file() -> str:
    from importlib.util import find_spec

    spec = find_spec(_APP_MODULE)
    if spec is None or spec.origin is None:
        raise ConfigurationError(f"the dashboard's app ({_APP_MODULE}) is not installed")
    return spec.origin


def dashboard_command(
    ctx: typer.Context,
    api_url: str | None = typer.Option(
        None,
        "--api-url",
        help="The API to read (default: STOCKPRED_DASHBOARD_API_URL or http://127.0.0.1:8000).",
    ),
    client_id: str | None = typer.Option(
        None, "--client-id", help="API client id (default: STOCKPRED_DASHBOARD_CLIENT_ID)."
    ),
    client_secret: str | None = typer.Option(
        None,
        "--client-secret",
        help="Its secret (default: STOCKPRED_DASHBOARD_CLIENT_SECRET; the variable keeps it "
        "out of the process list).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: all)."),
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="TCP port."),
) -> None:
    """The analysts' dashboard in the browser: a ticker's forecasts and news, the universe
    ranked live, the models beside the baselines, the service's health. It reads only the API
    (REST and the /v1/stream websocket) as a client with predictions:read and stream:read;
    `stockpred serve --demo` prints one. Needs the dashboard extra.

    Examples:

      stockpred serve --demo --replay   # prints a demo client id and secret

      STOCKPRED_DASHBOARD_CLIENT_ID=cl_... STOCKPRED_DASHBOARD_CLIENT_SECRET=... \\
      stockpred dashboard --api-url http://127.0.0.1:8000 --port 8501
    """
    from stockpred.extras import import_optional

    import_optional("streamlit", extra="dashboard", purpose="the dashboard")
    runtime = runtime_of(ctx)
    settings = runtime.settings
    url = (api_url or settings.dashboard_api_url).rstrip("/")
    identity = client_id or settings.dashboard_client_id
    stored = settings.dashboard_client_secret
    secret = client_secret or (stored.get_secret_value() if stored is not None else None)
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"--api-url {url!r} is not an http:// or https:// URL")
    if not identity or not secret:
        raise ConfigurationError(
            "the dashboard needs an API client with predictions:read and stream:read: pass "
            "--client-id and --client-secret or set STOCKPRED_DASHBOARD_CLIENT_ID and "
            "STOCKPRED_DASHBOARD_CLIENT_SECRET; `stockpred serve --demo` prints one, "
            "`stockpred clients create --name dashboard --scopes predictions:read,stream:read` "
            "makes one"
        )
    environment = {
        **os.environ,
        "STOCKPRED_DASHBOARD_API_URL": url,
        "STOCKPRED_DASHBOARD_CLIENT_ID": identity,
        "STOCKPRED_DASHBOARD_CLIENT_SECRET": secret,
    }
    config = ctx.find_root().params.get("config")
    if config is not None:
        environment["STOCKPRED_CONFIG"] = str(config)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        _app_file(),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.primaryColor",
        "#2563eb",
    ]
    runtime.err.print(f"stockpred dashboard on http://{host}:{port}  (API: {url})")
    process = subprocess.Popen(command, env=environment)

    def forward(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signum)

    # A supervisor's SIGTERM stops the server too, not only this process.
    previous = signal.signal(signal.SIGTERM, forward)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal sent Ctrl-C to the server as well; let it finish.
        code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGTERM, -signal.SIGINT):
        raise typer.Exit(code if code > 0 else 1)
