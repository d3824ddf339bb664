"""The dashboard's pages, run by Streamlit's AppTest against the real API app on the trained
sample (the e2e fixtures): each page shows what the API answers, an API failure is a message
on the page (never an exception), and a forecast arriving on the websocket changes the
universe table."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.api.background import PREDICTIONS_TOPIC
from stockpred.api.services import ApiServices
from stockpred.cli.app import main
from stockpred.settings import load_settings
from support.api import bearer, token_for

pytest.importorskip("streamlit", reason="the dashboard extra (streamlit) is not installed")

from streamlit.testing.v1 import AppTest

from stockpred.dashboard.app import APP_FILE
from stockpred.dashboard.client import ApiClient, Credentials
from stockpred.dashboard.context import SESSION_KEY, Dashboard
from stockpred.dashboard.live import Backoff, LiveBuffer, LiveFeed
from stockpred.dashboard.present import format_price
from support.dashboard import (
    connector_through,
    dashboard_credentials,
    dashboard_on,
    live_dashboard,
    wait_for,
)


def _app(dashboard: Dashboard, page: str | None = None) -> AppTest:
    """The dashboard, run once on ``page`` (default: the first, Ticker)."""
    at = AppTest.from_file(str(APP_FILE), default_timeout=60)
    at.session_state[SESSION_KEY] = dashboard
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _frame(at: AppTest, index: int = 0) -> pd.DataFrame:
    frame = at.dataframe[index].value
    assert isinstance(frame, pd.DataFrame)
    return frame


def _metric(at: AppTest, label: str) -> str:
    for metric in at.metric:
        if metric.label == label:
            return str(metric.value)
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def _served(client: TestClient, reader: dict[str, str]) -> list[str]:
    tickers = client.get("/v1/tickers", headers=reader).json()["tickers"]
    return sorted(t["ticker"] for t in tickers if t["served"])


@pytest.fixture
def reader(client: TestClient, services: ApiServices) -> dict[str, str]:
    return bearer(token_for(client, services, "predictions:read"))


@pytest.fixture
def dashboard(client: TestClient, services: ApiServices) -> Dashboard:
    return dashboard_on(client, services)


@pytest.fixture
def streamed(home_copy: Path) -> Iterator[tuple[TestClient, ApiServices]]:
    """The API on a copy of the served home whose stream replayed February 2013: stored
    forecasts of every session, the earlier ones with their realised return."""
    assert main(["stream", "--from", "2013-02-01", "--fast", "--json"]) == 0
    services = build_services(load_settings())
    with TestClient(create_app(services, background=False)) as client:
        yield client, services


def test_the_ticker_page_shows_the_forecast_history_and_indicators_the_api_serves(
    streamed: tuple[TestClient, ApiServices],
) -> None:
    client, services = streamed
    reader = bearer(token_for(client, services, "predictions:read"))
    served = _served(client, reader)
    at = _app(dashboard_on(client, services))

    chooser = at.selectbox(key="ticker")
    ticker = chooser.value
    assert list(chooser.options) == served
    forecast = client.get(f"/v1/predictions/{ticker}?horizon=5", headers=reader).json()
    assert at.title[0].value == "Ticker"
    assert _metric(at, "Last close") == format_price(forecast["last_close"])
    assert _metric(at, "Target in 5 sessions") == format_price(forecast["price"])
    model = f"Model {forecast['model']['kind']} v{forecast['model']['version']}"
    assert any(str(c.value).startswith(model) for c in at.caption)
    # The recent forecasts below the price chart are the API's history, newest first, the
    # matured ones with their realised return.
    stored = client.get(f"/v1/predictions/{ticker}/history?horizon=5", headers=reader).json()
    history = sorted(stored["rows"], key=lambda r: r["as_of"], reverse=True)[:12]
    table = _frame(at, 0)
    assert len(table) == len(history) == 12
    # In percent points, the API's fractions x 100.
    assert (table["log_return"] / 100).tolist() == pytest.approx([r["log_return"] for r in history])
    realised = [r["realised"] for r in history]
    assert any(r is not None for r in realised)
    assert table["realised"].isna().tolist() == [r is None for r in realised]
    caption = next(c.value for c in at.caption if "stored forecasts" in str(c.value))
    assert "matured" in caption
    assert len(at.get("vega_lite_chart")) >= 2  # the price with its targets, the drivers

    at.selectbox(key="ticker").select("MSFT").run()
    msft = client.get("/v1/predictions/MSFT?horizon=5", headers=reader).json()
    assert not at.exception
    assert _metric(at, "Last close") == format_price(msft["last_close"])
    # The indicators' table holds the latest stored feature row.
    features = client.get("/v1/tickers/MSFT/features?limit=1", headers=reader).json()
    latest = dict(zip(features["columns"], features["rows"][-1], strict=True))
    indicators = _frame(at, len(at.dataframe) - 1).set_index("indicator")["latest"]
    assert len(indicators) > 10
    for name in indicators.index:
        assert indicators[name] == pytest.approx(latest[name], nan_ok=True)


def test_the_ticker_page_shows_news_or_says_why_there_is_none(
    client: TestClient, dashboard: Dashboard, reader: dict[str, str]
) -> None:
    at = _app(dashboard)
    answer = client.get("/v1/tickers/AAPL/news?limit=15", headers=reader)
    subheaders = [s.value for s in at.subheader]
    assert "News" in subheaders
    notes = [m.value for m in (*at.info, *at.error)]
    if answer.status_code == 404:
        assert any("news" in note for note in notes), notes
    elif not answer.json()["rows"]:
        assert "No headlines stored for AAPL." in notes
    else:
        titles = [r["title"] for r in answer.json()["rows"]]
        shown = next(
            _frame(at, i) for i in range(len(at.dataframe)) if "title" in _frame(at, i).columns
        )
        assert shown["title"].tolist() == titles


def test_the_universe_page_ranks_the_served_forecasts_by_expected_return(
    client: TestClient, dashboard: Dashboard, reader: dict[str, str]
) -> None:
    tickers = _served(client, reader)
    batch = client.post(
        "/v1/predictions:batch", json={"tickers": tickers, "horizon": 5}, headers=reader
    ).json()["predictions"]
    expected = sorted(batch, key=lambda p: (-p["log_return"], p["ticker"]))

    at = _app(dashboard, "universe")

    table = _frame(at)
    assert at.title[0].value == "Universe"
    assert table["ticker"].tolist() == [p["ticker"] for p in expected]
    # Shown in percent, the API's log return x 100.
    assert (table["expected_return"] / 100).tolist() == pytest.approx(
        [p["log_return"] for p in expected]
    )
    assert (table["direction_prob"] / 100).tolist() == pytest.approx(
        [p["direction_prob"] for p in expected]
    )
    assert table["price_target"].tolist() == pytest.approx([p["price"] for p in expected])
    assert table["model"].tolist() == [
        f"{p['model']['kind']} v{p['model']['version']}" for p in expected
    ]
    assert set(table["source"]) == {"REST"}
    assert _metric(at, "Tickers") == str(len(expected))


def test_the_universe_page_shows_a_forecast_that_arrives_on_the_websocket(
    client: TestClient, services: ApiServices, reader: dict[str, str]
) -> None:
    tickers = _served(client, reader)
    horizons = len(client.get("/v1/models", headers=reader).json()["models"])
    with live_dashboard(client, services) as dashboard:
        # On connecting, the stream sends the current forecast of every ticker and horizon.
        wait_for(
            lambda: dashboard.live.state().received >= len(tickers) * horizons,
            what="the stream's snapshot",
        )
        at = _app(dashboard, "universe")
        before = _frame(at).set_index("ticker")
        assert set(before["source"]) == {"REST"}
        low = before["expected_return"].idxmin()

        # A new forecast for the lowest-ranked ticker, as the stream processor publishes it.
        current = client.get(f"/v1/predictions/{low}?horizon=5", headers=reader).json()
        pushed = {**current, "log_return": 0.5, "price": current["last_close"] * math.exp(0.5)}
        services.fanout.publish(PREDICTIONS_TOPIC, pushed)
        wait_for(
            lambda: dashboard.live.state().forecasts[(low, 5)].forecast.log_return == 0.5,
            what="the pushed forecast",
        )
        at.run()

    assert not at.exception
    after = _frame(at)
    assert after["ticker"].iloc[0] == low
    assert after["expected_return"].iloc[0] == pytest.approx(50.0)  # percent
    assert after["source"].iloc[0] == "stream"
    assert after["price_target"].iloc[0] == pytest.approx(current["last_close"] * math.exp(0.5))
    # Everything else is still the REST answer.
    assert set(after["source"].iloc[1:]) == {"REST"}
    live = next(c.value for c in at.caption if str(c.value).startswith("Live:"))
    assert "stream connected" in live
    assert "1 of" in live


def test_the_models_page_shows_the_champions_and_their_leaderboard_beside_the_baselines(
    client: TestClient, dashboard: Dashboard, reader: dict[str, str]
) -> None:
    models = client.get("/v1/models", headers=reader).json()["models"]
    at = _app(dashboard, "models")

    champions = _frame(at, 0)
    assert at.title[0].value == "Models"
    assert sorted(champions["horizon"].tolist()) == sorted(m["horizon"] for m in models)
    h5 = next(m for m in models if m["horizon"] == 5)
    assert f"{h5['name']} v{h5['version']}" in champions["model"].tolist()
    answer = client.get(f"/v1/models/{h5['name']}/{h5['version']}/leaderboard", headers=reader)
    notes = [m.value for m in (*at.info, *at.error)]
    if answer.status_code == 404:
        assert any("leaderboard" in note for note in notes), notes
    else:
        records = answer.json()["records"]
        board = next(
            _frame(at, i)
            for i in range(len(at.dataframe))
            if "family" in _frame(at, i).columns and "rank_ic_mean" in _frame(at, i).columns
        )
        assert board["model"].tolist() == [r["model"] for r in records]
        assert "baseline" in set(board["family"])
        assert len(at.get("vega_lite_chart")) >= 1
    assert "Since then: realised accuracy and drift" in [s.value for s in at.subheader]
    assert "Versions and retrain history" in [s.value for s in at.subheader]


def test_the_health_page_shows_the_api_readiness_checks(
    client: TestClient, dashboard: Dashboard, reader: dict[str, str]
) -> None:
    readiness = client.get("/readyz").json()
    at = _app(dashboard, "health")

    assert at.title[0].value == "Health"
    checks = _frame(at, 0)
    assert checks["check"].tolist() == [c["name"] for c in readiness["checks"]]
    assert checks["ok"].tolist() == [c["ok"] for c in readiness["checks"]]
    assert at.success[0].value.startswith("Ready")
    status = client.get("/v1/status", headers=reader)
    if status.status_code == 200:
        assert _metric(at, "Dead letters") == str(status.json()["dead_letters"])
        assert _metric(at, "Tickers tracked") == str(len(status.json()["freshness"]))
    else:
        assert any("/v1/status" in e.value for e in (*at.info, *at.error))


@pytest.fixture
def unreachable() -> Iterator[Dashboard]:
    http = httpx.Client(base_url="http://127.0.0.1:9", timeout=2)
    api = ApiClient(http=http, credentials=Credentials(client_id="cl_x", client_secret="s"))
    yield Dashboard(api=api, live=LiveBuffer())
    http.close()


@pytest.mark.parametrize("page", [None, "universe", "models", "health"])
def test_an_api_that_cannot_be_reached_is_a_message_on_every_page(
    unreachable: Dashboard, page: str | None
) -> None:
    at = _app(unreachable, page)

    assert not at.exception
    assert any("cannot reach the API at http://127.0.0.1:9" in e.value for e in at.error)


def test_refused_credentials_are_shown_with_the_apis_message(client: TestClient) -> None:
    api = ApiClient(
        http=client, credentials=Credentials(client_id="cl_nobody", client_secret="wrong")
    )
    at = _app(Dashboard(api=api, live=LiveBuffer()), "universe")

    assert not at.exception
    assert any("refused the dashboard's client 'cl_nobody'" in e.value for e in at.error)


def test_the_live_feed_reconnects_with_a_new_token_after_the_stream_refuses_one(
    client: TestClient, services: ApiServices
) -> None:
    api = ApiClient(http=client, credentials=dashboard_credentials(services))
    asked: list[bool] = []

    def token(renew: bool) -> str:
        asked.append(renew)
        # The first token is one the API never issued (as after a restart with a new key).
        return api.token(renew=True) if renew else "not-a-token"

    buffer = LiveBuffer()
    feed = LiveFeed(
        connect=connector_through(client),
        token=token,
        tickers=api.served_tickers,
        buffer=buffer,
        backoff=Backoff(first=0.05, most=0.2),
        poll_seconds=0.1,
    )
    feed.start()
    try:
        wait_for(lambda: buffer.state().received > 0, what="forecasts after reconnecting")
        state = buffer.state()
    finally:
        feed.stop()

    assert asked[:2] == [False, True]
    assert state.connected
    assert state.error is None
    assert {ticker for ticker, _ in state.forecasts} <= set(api.served_tickers())
