"""Alerts that act, end to end with the real parts: a champion trained on the sample up to
mid-2011, a year more of history in which one feature's scale changes, `stockpred monitor`
measuring it; then `stockpred serve`, a real Prometheus scraping it and evaluating the repo's
rules, and a real Alertmanager routing the repo's way. The FeatureDrift alert fires, reaches the
API's webhook as an OAuth2 client, a retrain runs, and the challenger's record says what
triggered it and why it was promoted or the champion kept.

The rules and the Alertmanager configuration are the repo's, changed only where a test must:
``for`` durations and grouping waits are zeroed (their semantics are promtool's tests' to
check, tests/integration/test_monitoring_config.py) and the addresses point at this test's
processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from stockpred import __version__
from stockpred.compose import monitor_with, open_registry
from stockpred.features.sets import get_feature_set
from stockpred.models.catalog import MODELS, PARAM_GRIDS
from stockpred.pipeline.evaluate import EvaluationConfig
from stockpred.pipeline.features import build_features
from stockpred.pipeline.ingest import ingest_sample
from stockpred.pipeline.train import train_models
from stockpred.settings import load_settings
from stockpred.store.duckdb import DuckDBStore

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = os.environ.get("STOCKPRED_TEST_PROMETHEUS") or shutil.which("prometheus")
ALERTMANAGER = os.environ.get("STOCKPRED_TEST_ALERTMANAGER") or shutil.which(
    "prometheus-alertmanager"
)
CUT = pd.Timestamp("2011-06-30", tz="UTC")
LATER = datetime(2012, 7, 20, tzinfo=UTC)
SHIFTED = "rsi_14"
CONFIG = EvaluationConfig(
    horizon=5, models=("ridge",), tune=False, min_train=756, test_size=504, holdout=63
)

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None or ALERTMANAGER is None,
    reason="needs Prometheus and Alertmanager (Debian's prometheus, prometheus-alertmanager; "
    "CI sets STOCKPRED_TEST_PROMETHEUS and STOCKPRED_TEST_ALERTMANAGER)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _process(
    args: list[str], *, log: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, *, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer: {log.read_text()[-3000:]}")


def _home(home: Path, tmp: Path) -> str:
    """The champion trained by CUT, the history to LATER with SHIFTED tripled over its last 30
    sessions, the monitor's drift of it; returns the champion's version."""
    settings = load_settings()
    fs = get_feature_set("daily_v1")
    with DuckDBStore(tmp / "full.duckdb") as full:
        ingest_sample(full, calendar="XNYS", now=LATER)
        bars, macro = full.read_bars(), full.read_macro()
    registry = open_registry(settings)
    with DuckDBStore(home / "stockpred.duckdb") as store:
        store.write_bars(bars[bars["ts"] <= CUT])
        store.write_macro(macro)
        build_features(store, fs, now=CUT.to_pydatetime())
        trained = train_models(
            store,
            registry,
            fs,
            CONFIG,
            calendar="XNYS",
            now=CUT.to_pydatetime(),
            code_version=__version__,
            git_commit=None,
            catalog=MODELS,
            grids=PARAM_GRIDS,
            force="ridge",
        )
        assert trained.champion is not None
        store.write_bars(bars[(bars["ts"] > CUT) & (bars["ts"] <= pd.Timestamp(LATER))])
        build_features(store, fs, now=LATER)
        rows = store.read_features(feature_set=fs.key)
        dates = pd.DatetimeIndex(rows["ts"].unique()).sort_values()
        recent = rows[rows["ts"].isin(dates[-30:])].copy()
        recent[SHIFTED] = recent[SHIFTED] * 3.0
        store.write_features(fs.key, recent)
    (result,) = monitor_with(settings, now=LATER, horizons=[5])
    assert SHIFTED in result.drifted, result
    return str(trained.champion.version)


def _prometheus_files(folder: Path, *, api: int, alertmanager: int) -> Path:
    rules = (REPO / "deploy/prometheus/rules/stockpred.rules.yml").read_text()
    rules = re.sub(r"(?m)^(\s+)for: \S+$", r"\1for: 0s", rules)
    (folder / "stockpred.rules.yml").write_text(rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(folder / "stockpred.rules.yml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager}"]}]}]
        },
        "scrape_configs": [
            {"job_name": "stockpred-api", "static_configs": [{"targets": [f"127.0.0.1:{api}"]}]}
        ],
    }
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _alertmanager_file(folder: Path, *, api: int, client_id: str, secret: str) -> Path:
    config = yaml.safe_load((REPO / "deploy/alertmanager/alertmanager.yml").read_text())
    (folder / "client-secret").write_text(secret)
    for route in [config["route"], *config["route"].get("routes", [])]:
        route["group_wait"] = "0s"
        route["group_interval"] = "1s"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = re.sub(r"^http://[^/]+", f"http://127.0.0.1:{api}", hook["url"])
            oauth = hook["http_config"]["oauth2"]
            oauth["client_id"] = client_id
            oauth["client_secret_file"] = str(folder / "client-secret")
            oauth["token_url"] = f"http://127.0.0.1:{api}/v1/token"
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _retrains(text: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("stockpred_retrain_runs_total{") and 'trigger="alert"' in line:
            outcome = re.search(r'outcome="(\w+)"', line)
            assert outcome is not None
            counts[outcome.group(1)] = float(line.rsplit(" ", 1)[1])
    return counts


def test_an_injected_shift_fires_the_drift_alert_through_alertmanager_and_retrains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env |= {"STOCKPRED_HOME": str(home), "STOCKPRED_ALERT_RETRAIN_TUNE": "false"}
    for key, value in env.items():
        if key.startswith("STOCKPRED_"):
            monkeypatch.setenv(key, value)
    version = _home(home, tmp_path)
    created = subprocess.run(
        [
            *(sys.executable, "-m", "stockpred", "clients", "create"),
            *("--name", "alertmanager", "--scopes", "models:write", "--json"),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    client = json.loads(created.stdout)
    api, prometheus, alertmanager = _free_port(), _free_port(), _free_port()
    base = f"http://127.0.0.1:{api}"
    serve = [sys.executable, "-m", "stockpred", "serve", "--port", str(api), "--no-access-log"]
    with _process(serve, log=tmp_path / "api.log", env=env) as server:
        _wait(f"{base}/healthz", server, tmp_path / "api.log")
        # The API exposes the monitor's drift of the champion.
        assert 'feature="rsi_14"' in httpx.get(f"{base}/metrics", timeout=10).text
        am_config = _alertmanager_file(
            tmp_path, api=api, client_id=client["client_id"], secret=client["client_secret"]
        )
        am_args = [
            str(ALERTMANAGER),
            f"--config.file={am_config}",
            f"--storage.path={tmp_path / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{alertmanager}",
            "--cluster.listen-address=",
        ]
        with _process(am_args, log=tmp_path / "alertmanager.log", env=env) as am:
            _wait(f"http://127.0.0.1:{alertmanager}/-/ready", am, tmp_path / "alertmanager.log")
            prom_config = _prometheus_files(tmp_path, api=api, alertmanager=alertmanager)
            prom_args = [
                str(PROMETHEUS),
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prometheus}",
            ]
            with _process(prom_args, log=tmp_path / "prometheus.log", env=env) as prom:
                _wait(f"http://127.0.0.1:{prometheus}/-/ready", prom, tmp_path / "prometheus.log")
                deadline = time.monotonic() + 240
                counts: dict[str, float] = {}
                while time.monotonic() < deadline and not counts:
                    assert server.poll() is None, (tmp_path / "api.log").read_text()
                    counts = _retrains(httpx.get(f"{base}/metrics", timeout=10).text)
                    time.sleep(1)
                alerts = httpx.get(f"http://127.0.0.1:{prometheus}/api/v1/alerts").json()
    logs = "\n".join(
        f"--- {name}\n{(tmp_path / name).read_text()[-4000:]}"
        for name in ("api.log", "alertmanager.log", "prometheus.log")
    )
    firing = {a["labels"]["alertname"] for a in alerts["data"]["alerts"]}
    assert "FeatureDrift" in firing, alerts
    assert sum(counts.values()) == 1, logs
    drifted = [a for a in alerts["data"]["alerts"] if a["labels"]["alertname"] == "FeatureDrift"]
    assert {a["labels"]["feature"] for a in drifted} >= {SHIFTED}
    assert all(a["labels"]["model_version"] == version for a in drifted)

    # The challenger's record says what asked for it and what was decided.
    registry = open_registry(load_settings())
    challengers = [v for v in registry.versions("stockpred-h5") if "retrain_trigger" in v.metadata]
    assert len(challengers) == 1, logs
    record = challengers[0].metadata
    assert "FeatureDrift" in record["retrain_trigger"]
    assert SHIFTED in record["retrain_trigger"]
    decision = record["retrain_decision"]
    assert ("challenger promoted" in decision) or ("champion kept" in decision)
    assert "out of sample for all" in decision
    promoted = "challenger promoted" in decision
    assert set(counts) == {"promoted" if promoted else "kept"}
    champion = registry.champion("stockpred-h5")
    assert champion is not None
    assert (champion.version == challengers[0].version) == promoted
