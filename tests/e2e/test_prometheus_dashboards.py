"""Issue 15's "done when": a real Prometheus on loopback scrapes `stockpred serve`, `stockpred
stream` and `stockpred scheduler` (the job names of deploy/prometheus/prometheus.yml, the rules
of its rules file), and every panel query of the Grafana dashboards returns data.

The processes and their homes:

- the API's home has the sample, its features and a ridge champion of horizon 5 trained on the
  data up to CUT (a year before the sample's stocks end); every session after CUT is stored,
  the champion's forecasts of those sessions are in the ledger, and `stockpred monitor` has
  scored the matured ones and measured drift, so the API's /metrics carries the realised
  accuracy and drift series;
- an embedded DuckDB file is open read-write in one process at a time; the stream processor
  writes (features, bars, forecasts) as it replays, the scheduler opens the store at start and
  for each job, and the API opens it per request: so the stream and the scheduler get copies of
  the API's home (the copied registry names the API home's model files, which they
  only read). The stream replays the last stored sessions over the in-process bus and stays up
  (``--forever``); before the scheduler starts, one real price fetch from a provider that does
  not answer (a closed loopback port) leaves its failure in the provider status file, which
  the scheduler's /metrics counts.

Traffic before the queries: a token, forecasts, a 404, a websocket held open, and a retrain
asked through POST /v1/models/retrain (counted by the API when it ends).

CI sets STOCKPRED_TEST_PROMETHEUS (.ci/run); elsewhere `prometheus` on PATH, or the test skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
import websockets

from stockpred.cli.app import main
from stockpred.compose import open_registry, open_store
from stockpred.pipeline.ingest import ingest_sample
from stockpred.pipeline.predict import load_champion
from stockpred.settings import Settings, load_settings
from stockpred.store.duckdb import DuckDBStore
from support.brokers import free_port
from support.ledger import forecasts_after_training
from support.scripts import load_file

REPOSITORY = Path(__file__).resolve().parents[2]
RULES = REPOSITORY / "deploy" / "prometheus" / "rules" / "stockpred.rules.yml"
PROMETHEUS = os.environ.get("STOCKPRED_TEST_PROMETHEUS") or shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    not PROMETHEUS,
    reason="no Prometheus: set STOCKPRED_TEST_PROMETHEUS or put prometheus on PATH (CI does)",
)

CUT = pd.Timestamp("2012-03-01", tz="UTC")
HORIZON = 5
FAST = ["--models", "ridge", "--no-tune", "--test-size", "504", "--min-train", "756"]
TICKERS = ("AAPL", "MSFT")
SCRAPE_SECONDS = 1


def _generator_panel_queries() -> list[tuple[str, str, str]]:
    module = load_file(REPOSITORY / "scripts" / "grafana_dashboards.py")
    queries: list[tuple[str, str, str]] = module.panel_queries()
    return queries


@pytest.fixture(scope="module")
def homes(
    tmp_path_factory: pytest.TempPathFactory, isolate: Callable[..., None]
) -> dict[str, Path]:
    """The API's home (see the module docstring), and the stream's and the scheduler's
    copies of it; ``artifacts``: the model files every copy reads."""
    root = tmp_path_factory.mktemp("dashboards")
    api = root / "api"
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home=api, cwd=root)
        settings = load_settings()
        with DuckDBStore(root / "full.duckdb") as full:
            ingest_sample(full, calendar=settings.calendar, now=datetime.now(UTC))
            bars = full.read_bars()
            macro = full.read_macro()
        with open_store(settings) as store:
            store.write_bars(bars[bars["ts"] <= CUT])
            store.write_macro(macro)
        assert main(["features", "build", "--json"]) == 0
        assert main(["train", *FAST, "--force", "ridge", "--json"]) == 0
        with open_store(settings) as store:
            store.write_bars(bars[bars["ts"] > CUT])
        assert main(["features", "build", "--json"]) == 0
        _write_forecasts_after_the_training_data(settings)
        assert main(["monitor", "--json"]) == 0
    for name in ("stream", "scheduler"):
        shutil.copytree(api, root / name)
    return {
        "api": api,
        "stream": root / "stream",
        "scheduler": root / "scheduler",
        "artifacts": api / "mlruns",
    }


def _write_forecasts_after_the_training_data(settings: Settings) -> None:
    """The champion's forecast of every stored session after its training data: the ledger a
    year of serving would have left."""
    registry = open_registry(settings)
    version, model = load_champion(registry, horizon=HORIZON, cache=settings.home / "models")
    with open_store(settings) as store:
        store.write_predictions(
            forecasts_after_training(store, version, model, created_at=pd.Timestamp.now(tz="UTC"))
        )


def _env(home: Path, artifacts: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env |= {
        "STOCKPRED_HOME": str(home),
        "STOCKPRED_REGISTRY_ARTIFACTS": artifacts.resolve().as_uri(),
        "STOCKPRED_API_RATE_LIMIT": "1000/second",
        **extra,
    }
    return env


class _Processes:
    """Subprocesses of the test, each logging to a file; all stopped at the end."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self._logs / f"{name}.log").open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        self._running.append((name, process))

    def log(self, name: str) -> str:
        return (self._logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def check_alive(self) -> None:
        for name, process in self._running:
            assert process.poll() is None, f"{name} exited early: {self.log(name)}"

    def stop(self) -> None:
        for _, process in self._running:
            process.terminate()
        for _, process in self._running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for(what: str, ready: Callable[[], bool], processes: _Processes, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {within} s")


def _prometheus_config(directory: Path, targets: dict[str, int]) -> Path:
    jobs = "".join(
        f"  - job_name: {job}\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f'      - targets: ["127.0.0.1:{port}"]\n'
        for job, port in targets.items()
    )
    config = directory / "prometheus.yml"
    config.write_text(
        "global:\n"
        f"  scrape_interval: {SCRAPE_SECONDS}s\n"
        f"  scrape_timeout: {SCRAPE_SECONDS}s\n"
        f"  evaluation_interval: {SCRAPE_SECONDS}s\n"
        f"rule_files:\n  - {RULES}\n"
        f"scrape_configs:\n{jobs}",
        encoding="utf-8",
    )
    return config


def _hold_websocket_open(
    url: str, token: str, opened: threading.Event, stop: threading.Event
) -> None:
    async def hold() -> None:
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"type": "auth", "token": token}))
            snapshot = json.loads(await asyncio.wait_for(socket.recv(), timeout=30))
            assert snapshot["type"] == "snapshot", snapshot
            opened.set()
            while not stop.is_set():
                await asyncio.sleep(0.2)

    asyncio.run(hold())


@pytest.fixture
def running(homes: dict[str, Path], tmp_path: Path) -> Iterator[dict[str, object]]:
    """The three stockpred processes and Prometheus, started together and stopped after."""
    python = [sys.executable, "-m", "stockpred"]
    api_port, stream_port, scheduler_port, prometheus_port = (free_port() for _ in range(4))
    artifacts = homes["artifacts"]
    created = subprocess.run(
        [
            *(*python, "clients", "create", "--name", "dashboards", "--json"),
            *("--scopes", "predictions:read,stream:read,models:write"),
        ],
        env=_env(homes["api"], artifacts),
        capture_output=True,
        text=True,
        check=True,
    )
    client = json.loads(created.stdout)
    # A price fetch from a provider that does not answer: its failure goes to the status file.
    closed = free_port()
    subprocess.run(
        [*python, "ingest", "prices", "--source", "stooq", "--tickers", "AAPL", "--json"],
        env=_env(
            homes["scheduler"],
            artifacts,
            STOCKPRED_PROVIDER_URLS=json.dumps({"stooq": f"http://127.0.0.1:{closed}"}),
        ),
        capture_output=True,
        check=False,
    )
    status = json.loads((homes["scheduler"] / "state" / "sources.json").read_text())
    assert status["stooq"]["errors"], status

    processes = _Processes(tmp_path)
    try:
        processes.start(
            "api",
            [*python, "serve", "--port", str(api_port), "--no-access-log"],
            _env(homes["api"], artifacts),
        )
        processes.start(
            "stream",
            [
                *(*python, "stream", "--fast", "--forever", "--from", "2013-01-02"),
                *("--tickers", ",".join(TICKERS), "--metrics-port", str(stream_port)),
            ],
            _env(homes["stream"], artifacts),
        )
        processes.start(
            "scheduler",
            [*python, "scheduler", "--metrics-port", str(scheduler_port)],
            _env(homes["scheduler"], artifacts, STOCKPRED_UNIVERSE=json.dumps(list(TICKERS))),
        )
        config = _prometheus_config(
            tmp_path,
            {
                "stockpred-api": api_port,
                "stockpred-stream": stream_port,
                "stockpred-scheduler": scheduler_port,
            },
        )
        processes.start(
            "prometheus",
            [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            dict(os.environ),
        )
        yield {
            "api": f"http://127.0.0.1:{api_port}",
            "prometheus": f"http://127.0.0.1:{prometheus_port}",
            "client": client,
            "processes": processes,
        }
    finally:
        processes.stop()


def _query(prometheus: str, expr: str) -> list[object]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    result: list[object] = answer["data"]["result"]
    return result


def test_every_panel_of_the_dashboards_returns_data_from_a_real_prometheus(
    running: dict[str, object],
) -> None:
    api, prometheus = str(running["api"]), str(running["prometheus"])
    processes: _Processes = running["processes"]  # type: ignore[assignment]
    client: dict[str, str] = running["client"]  # type: ignore[assignment]

    def healthy() -> bool:
        return httpx.get(f"{api}/healthz", timeout=2).status_code == 200

    _wait_for("the API answering", healthy, processes, within=60)
    token = httpx.post(
        f"{api}/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    retrain = httpx.post(
        f"{api}/v1/models/retrain", json={"horizon": HORIZON, "tune": False}, headers=headers
    )
    assert retrain.status_code == 202, retrain.text

    opened, stop = threading.Event(), threading.Event()
    holder = threading.Thread(
        target=_hold_websocket_open,
        args=(
            f"{api.replace('http', 'ws')}/v1/stream?tickers={','.join(TICKERS)}",
            token,
            opened,
            stop,
        ),
        daemon=True,
    )
    holder.start()
    try:
        assert opened.wait(timeout=30), "the websocket was not accepted"

        def targets_up() -> bool:
            active = httpx.get(f"{prometheus}/api/v1/targets", timeout=2).json()["data"]
            health = {t["labels"]["job"]: t["health"] for t in active["activeTargets"]}
            return len(health) == 3 and set(health.values()) == {"up"}

        _wait_for("every target up", targets_up, processes, within=60)
        # Traffic between scrapes, so that the rates over it are not all zero.
        for _ in range(3):
            for ticker in TICKERS:
                answer = httpx.get(f"{api}/v1/predictions/{ticker}", headers=headers)
                assert answer.status_code == 200, answer.text
            assert httpx.get(f"{api}/v1/no-such-route").status_code == 404
            time.sleep(SCRAPE_SECONDS)

        def retrained() -> bool:
            job = httpx.get(
                f"{api}/v1/jobs/{retrain.json()['id']}", headers=headers, timeout=5
            ).json()
            return job["state"] in ("succeeded", "failed")

        _wait_for("the retrain ending", retrained, processes, within=60)

        def stream_lag_sampled() -> bool:
            return bool(_query(prometheus, "stockpred_bus_lag"))

        _wait_for("the bus lag scraped", stream_lag_sampled, processes, within=20)
        # Two more scrapes of everything: every rate() has two samples in its window.
        time.sleep(3 * SCRAPE_SECONDS)

        empty = [
            f"{dashboard} / {title}: {expr}"
            for dashboard, title, expr in _generator_panel_queries()
            if not _query(prometheus, expr)
        ]
    finally:
        stop.set()
        holder.join(timeout=10)

    assert not empty, "panels without data:\n" + "\n".join(empty)
