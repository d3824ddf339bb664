"""A stale ticker is brought up to date: a request finds AAPL's features sessions behind, the
service fetches the missing bars from the configured price source (stooq's real CSV format, on
loopback), rebuilds AAPL's features, and the next answer uses them."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.api.services import ApiServices
from stockpred.settings import load_settings
from support.api import bearer, token_for
from support.fake_provider import FakeProvider, Reply, serve

STOOQ = "/q/d/l/"
# The five sessions after the sample's last bar (2013-03-01).
AAPL_AFTER = """Date,Open,High,Low,Close,Volume
2013-03-04,427.80,428.20,419.00,420.05,17900000
2013-03-05,421.48,435.19,420.75,431.14,22800000
2013-03-06,434.51,435.25,424.43,425.66,16400000
2013-03-07,424.50,432.01,421.06,430.58,16500000
2013-03-08,428.43,434.50,428.23,431.72,13700000
"""


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as server:
        server.script(STOOQ, Reply(200, AAPL_AFTER, content_type="text/csv"))
        yield server


@pytest.fixture
def refreshing(
    served_home: Path,
    tmp_path: Path,
    provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> ApiServices:
    # A copy: this test adds bars, and the shared home must stay as the other tests expect.
    home = tmp_path / "home"
    shutil.copytree(served_home, home)
    monkeypatch.setenv("STOCKPRED_HOME", str(home))
    # The copied registry still names the shared home's model files (only read here).
    monkeypatch.setenv("STOCKPRED_REGISTRY_ARTIFACTS", (served_home / "mlruns").as_uri())
    monkeypatch.setenv("STOCKPRED_API_REFRESH_STALE", "true")
    monkeypatch.setenv("STOCKPRED_PRICE_SOURCE", "stooq")
    monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", json.dumps({"stooq": provider.url}))
    monkeypatch.setenv("STOCKPRED_API_RATE_LIMIT", "1000/second")
    return build_services(load_settings())


def test_a_stale_ticker_is_fetched_rebuilt_and_served_fresh(
    refreshing: ApiServices, provider: FakeProvider
) -> None:
    with TestClient(create_app(refreshing, background=False)) as client:
        token = token_for(client, refreshing, "predictions:read")
        first = client.get("/v1/predictions/AAPL?horizon=5", headers=bearer(token)).json()
        deadline = time.monotonic() + 60
        latest = first
        while time.monotonic() < deadline and latest["as_of"] == first["as_of"]:
            time.sleep(0.2)
            latest = client.get("/v1/predictions/AAPL?horizon=5", headers=bearer(token)).json()
        # More requests while it is fresh enough do not fetch again (one refresh per cooldown).
        for _ in range(3):
            client.get("/v1/predictions/AAPL?horizon=5", headers=bearer(token))
        history = client.get(
            "/v1/predictions/AAPL/history?horizon=5", headers=bearer(token)
        ).json()["rows"]

    assert first["as_of"].startswith("2013-03-01")
    assert first["freshness"]["stale"] is True
    assert latest["as_of"].startswith("2013-03-08"), latest
    assert latest["last_close"] == pytest.approx(431.72)
    behind = first["freshness"]["sessions_behind"] - latest["freshness"]["sessions_behind"]
    assert behind == 5
    assert latest["model"] == first["model"]
    # The first forecast was stored when served; five sessions later its outcome is known.
    realised = {row["as_of"][:10]: row["realised"] for row in history}
    assert realised["2013-03-01"] is not None
    assert abs(realised["2013-03-01"]) < 0.2
    aapl_fetches = [hit for hit in provider.hits if hit.query.get("s") == "aapl.us"]
    assert len(aapl_fetches) == 1


def test_without_the_setting_a_stale_ticker_is_only_reported(
    services: ApiServices, client: TestClient
) -> None:
    token = token_for(client, services, "predictions:read")

    answer = client.get("/v1/predictions/AAPL?horizon=5", headers=bearer(token)).json()

    assert services.refresher is None
    assert answer["freshness"]["stale"] is True
    assert not services.tasks
