"""Alertmanager's alerts reach Slack: with a slack route configured (STOCKPRED_NOTIFY_ROUTES),
an alert posted to /v1/monitoring/notifications arrives at a loopback incoming webhook as a
valid Block Kit message, and a retrain asked by /v1/monitoring/alerts tells the route what it
decided when its job ends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.api.services import ApiServices
from stockpred.compose import open_registry
from stockpred.settings import load_settings
from support.api import bearer, token_for
from support.slack import SlackReceiver, slack_receiver


def _alertmanager(alertname: str, labels: Mapping[str, str], summary: str) -> dict[str, object]:
    """Alertmanager's webhook payload (version 4) with one firing alert."""
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "status": "firing",
        "receiver": "operators",
        "groupLabels": {"alertname": alertname},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": alertname, **labels},
                "annotations": {"summary": summary},
                "startsAt": "2013-03-04T21:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": "0123456789abcdef",
            }
        ],
    }


def _wait_for(receiver: SlackReceiver, count: int, *, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while len(receiver.messages) < count and not receiver.refused:
        assert time.monotonic() < deadline, f"{receiver.posts} POST(s), none valid in time"
        time.sleep(0.05)


def _fake_retrain(*, horizon: int, tune: bool, trigger: str | None = None) -> Mapping[str, object]:
    """Stands in for a real retrain (minutes of training): this is about the notice."""
    return {"promoted": False, "reason": "champion kept: no better challenger", "trigger": trigger}


@pytest.fixture
def notified(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, ApiServices, SlackReceiver]]:
    with slack_receiver() as receiver:
        routes = [
            {"channel": "slack", "target": receiver.url, "kinds": ["alert"],
             "alert_kinds": ["staleness"], "min_severity": "warning"},
            {"channel": "slack", "target": receiver.url, "kinds": ["retrain"]},
        ]  # fmt: skip
        monkeypatch.setenv("STOCKPRED_NOTIFY_ROUTES", json.dumps(routes))
        monkeypatch.setenv("STOCKPRED_NOTIFY_ATTEMPTS", "2")
        services = build_services(load_settings())
        services.retrain = _fake_retrain
        with TestClient(create_app(services, background=False)) as client:
            yield client, services, receiver


def test_an_alertmanager_alert_arrives_in_slack_as_block_kit(
    notified: tuple[TestClient, ApiServices, SlackReceiver],
) -> None:
    client, services, receiver = notified
    token = token_for(client, services, "models:write")
    stale = _alertmanager(
        "PredictionsStale",
        {"severity": "critical", "kind": "staleness", "ticker": "AAPL", "horizon": "5"},
        "No forecast for 2 sessions",
    )
    ignored = _alertmanager("FeatureDrift", {"severity": "warning", "kind": "drift"}, "drift")

    answer = client.post("/v1/monitoring/notifications", json=stale, headers=bearer(token))
    other = client.post("/v1/monitoring/notifications", json=ignored, headers=bearer(token))

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"received": 1}
    assert other.status_code == 202
    _wait_for(receiver, 1)
    time.sleep(0.3)  # the drift alert, routed nowhere, must not arrive late either
    assert receiver.refused == []
    (message,) = receiver.messages
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "PredictionsStale: No forecast for 2 sessions"  # type: ignore[index]
    fields = [f["text"] for b in blocks if "fields" in b for f in b["fields"]]  # type: ignore[attr-defined,union-attr]
    assert "*ticker*\nAAPL" in fields
    assert "critical" in blocks[-1]["elements"][0]["text"]  # type: ignore[index]


def test_a_retrain_asked_by_an_alert_notifies_its_decision(
    notified: tuple[TestClient, ApiServices, SlackReceiver],
) -> None:
    client, services, receiver = notified
    champion = open_registry(services.settings).champion("stockpred-h5")
    assert champion is not None
    token = token_for(client, services, "models:write")
    drift = _alertmanager(
        "FeatureDrift",
        {"severity": "warning", "kind": "drift", "horizon": "5",
         "model_version": str(champion.version)},
        "Feature rsi_14 drifted",
    )  # fmt: skip

    answer = client.post("/v1/monitoring/alerts", json=drift, headers=bearer(token))

    assert answer.status_code == 202, answer.text
    assert len(answer.json()["retrains"]) == 1
    _wait_for(receiver, 1)
    (message,) = receiver.messages
    assert message["blocks"][0]["text"]["text"] == "Retrain of horizon 5: champion kept"  # type: ignore[index]
    assert "no better challenger" in str(message["blocks"][1])  # type: ignore[index]
