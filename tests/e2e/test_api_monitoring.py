"""The monitor's figures through the API: GET /v1/models/{name}/{version}/performance serves what
`stockpred monitor` stored, and /metrics exposes the champion's realised accuracy and drift."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from stockpred.api.app import build_services, create_app
from stockpred.api.services import ApiServices
from stockpred.cli.app import main
from stockpred.compose import open_registry
from stockpred.settings import load_settings
from stockpred.store.duckdb import DuckDBStore
from stockpred.store.schema import MODEL_PERFORMANCE
from support.api import bearer, token_for

SESSION = pd.Timestamp("2013-02-22 21:00", tz="UTC")


@pytest.fixture
def monitored(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, ApiServices, str]]:
    """The served home after `stockpred monitor`, with one scored session of the h5 champion
    (its forecasts in the served home are in sample, so the session is written here)."""
    monkeypatch.setenv("STOCKPRED_ALERT_RETRAIN_TUNE", "false")
    assert main(["monitor", "--json"]) == 0
    settings = load_settings()
    champion = open_registry(settings).champion("stockpred-h5")
    assert champion is not None
    rows = [
        ("ridge", "champion", 0.021, 0.53, 0.031, 0.82),
        ("ar1", "baseline", 0.035, 0.52, 0.030, math.nan),
        ("random_walk", "baseline", math.nan, math.nan, 0.029, math.nan),
    ]
    performance = pd.DataFrame(
        [
            {
                "horizon": 5,
                "model_version": str(champion.version),
                "session": SESSION,
                "model": model,
                "role": role,
                "window_sessions": 63,
                "n_dates": 63,
                "n_rows": 6300,
                "rank_ic": ic,
                "hit_rate": hit,
                "mae": mae,
                "coverage": coverage,
                "computed_at": pd.Timestamp("2013-03-04", tz="UTC"),
            }
            for model, role, ic, hit, mae, coverage in rows
        ]
    )
    with DuckDBStore(home_copy / "stockpred.duckdb") as store:
        store.write_monitoring(MODEL_PERFORMANCE.name, performance)
    services = build_services(settings)
    with TestClient(create_app(services, background=False)) as client:
        yield client, services, str(champion.version)


def test_the_performance_route_serves_what_the_monitor_stored(
    monitored: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, version = monitored
    token = token_for(client, services, "predictions:read")
    answer = client.get(f"/v1/models/stockpred-h5/{version}/performance", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["champion"] is True
    assert body["horizon"] == 5
    (session,) = body["sessions"]
    assert session["session"] == SESSION.isoformat()
    assert session["champion"]["rank_ic"] == pytest.approx(0.021)
    assert session["best_baseline"]["model"] == "ar1"
    assert body["sessions_below_baseline"] == 1
    assert len(body["drift"]) > 50
    assert {d["subject"] for d in body["drift"]} >= {"rsi_14", "prediction"}


def test_the_performance_of_an_unknown_version_is_a_404_that_names_the_versions(
    monitored: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, _ = monitored
    token = token_for(client, services, "predictions:read")
    answer = client.get("/v1/models/stockpred-h5/999/performance", headers=bearer(token))
    assert answer.status_code == 404
    assert "999" in answer.json()["message"]
    bad = client.get("/v1/models/other/1/performance", headers=bearer(token))
    assert bad.status_code == 422
    assert client.get("/v1/models/stockpred-h5/1/performance").status_code == 401


def test_metrics_expose_the_champions_realised_accuracy_and_drift(
    monitored: tuple[TestClient, ApiServices, str],
) -> None:
    client, _, version = monitored
    text = client.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    champion = (
        ("horizon", "5"),
        ("model", "ridge"),
        ("model_version", version),
        ("role", "champion"),
    )
    assert samples[("stockpred_realised_rank_ic", champion)] == pytest.approx(0.021)
    keys = (("horizon", "5"), ("model_version", version))
    assert samples[("stockpred_realised_rank_ic_margin", keys)] == pytest.approx(-0.014)
    assert samples[("stockpred_realised_sessions_below_baseline", keys)] == 1
    # No forecast of the last sessions is stored in this home: the forecasts' PSI is left out,
    # their threshold (from the walk-forward forecasts) is there.
    assert ("stockpred_prediction_drift_psi", keys) not in samples
    assert samples[("stockpred_prediction_drift_psi_threshold", keys)] >= 0.25
    rsi = (("feature", "rsi_14"), *keys)
    assert samples[("stockpred_feature_drift_psi_threshold", rsi)] >= 0.25
    # Both champions (horizons 1 and 5) have drift series; the monitor is up to date.
    assert {
        dict(k[1])["horizon"] for k in samples if k[0] == "stockpred_drift_features_over_threshold"
    } == {"1", "5"}
    assert samples[("stockpred_monitor_sessions_behind", keys)] >= 0


def _payload(version: str, *, horizon: str = "5", status: str = "firing") -> dict[str, object]:
    """Alertmanager's webhook payload (version 4) for a FeatureDrift alert."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="FeatureDrift"}',
        "status": status,
        "receiver": "retrain",
        "groupLabels": {"alertname": "FeatureDrift"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "FeatureDrift",
                    "kind": "drift",
                    "severity": "warning",
                    "horizon": horizon,
                    "model_version": version,
                    "feature": "rsi_14",
                },
                "annotations": {"summary": "Feature rsi_14 drifted"},
                "startsAt": "2013-03-04T21:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": "0123456789abcdef",
            }
        ],
    }


def test_a_drift_alert_retrains_its_champion_and_the_record_says_why(
    monitored: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, version = monitored
    reader = token_for(client, services, "predictions:read")
    denied = client.post("/v1/monitoring/alerts", json=_payload(version), headers=bearer(reader))
    assert denied.status_code == 403
    token = token_for(client, services, "models:write")

    answer = client.post("/v1/monitoring/alerts", json=_payload(version), headers=bearer(token))

    assert answer.status_code == 202, answer.text
    body = answer.json()
    (job,) = body["retrains"]
    assert job["parameters"]["horizon"] == 5
    assert "FeatureDrift" in job["parameters"]["trigger"]
    deadline = time.monotonic() + 120
    while (state := client.get(f"/v1/jobs/{job['id']}", headers=bearer(token)).json())["state"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["state"] == "succeeded", state
    result = state["result"]
    assert "FeatureDrift" in result["trigger"]
    # The champion was trained on the whole sample: nothing new to judge a challenger on.
    assert "champion kept" in result["reason"]
    metrics = client.get("/metrics").text
    assert 'stockpred_retrain_runs_total{horizon="5",outcome="kept",trigger="alert"} 1.0' in metrics
    assert 'stockpred_api_alerts_received_total{kind="drift",status="firing"} 1.0' in metrics

    # The same alert about an older version, or resolved, starts nothing and says why.
    stale = client.post("/v1/monitoring/alerts", json=_payload("999"), headers=bearer(token))
    assert stale.json()["retrains"] == []
    assert "version 999" in stale.json()["ignored"][0]
    resolved = client.post(
        "/v1/monitoring/alerts", json=_payload(version, status="resolved"), headers=bearer(token)
    )
    assert resolved.json()["retrains"] == []


def test_a_malformed_alert_payload_is_refused_with_what_is_wrong(
    monitored: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, version = monitored
    token = token_for(client, services, "models:write")
    payload = _payload(version)
    del payload["alerts"][0]["labels"]  # type: ignore[index]
    answer = client.post("/v1/monitoring/alerts", json=payload, headers=bearer(token))
    assert answer.status_code == 422
    assert "labels" in answer.text
    notify = client.post(
        "/v1/monitoring/notifications", json=_payload(version), headers=bearer(token)
    )
    assert notify.status_code == 202
    assert notify.json() == {"received": 1}
