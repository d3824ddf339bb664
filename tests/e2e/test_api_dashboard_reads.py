"""The reads the analysts' dashboard makes, over the trained sample home: a ticker's news, a
model's versions and champion moves, the leaderboard that chose a version, and the service
status (providers, bar freshness against the calendar, alerts received, parked notices)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.api.services import ApiServices
from stockpred.compose import open_store, provider_status
from stockpred.domain.calendar import get_trading_calendar
from stockpred.notify.notice_store import NoticeDeadLetter, NoticeStore
from stockpred.pipeline.leaderboard import LEADERBOARD_FILE
from stockpred.settings import load_settings
from support.api import bearer, token_for

ROUTES = (
    "/v1/tickers/AAPL/news",
    "/v1/models/stockpred-h5/versions",
    "/v1/models/stockpred-h5/1/leaderboard",
    "/v1/status",
)


def _app(services: ApiServices) -> Iterator[tuple[TestClient, ApiServices, str]]:
    with TestClient(create_app(services, background=False)) as client:
        yield client, services, token_for(client, services, "predictions:read")


@pytest.fixture
def reader(home_copy: Path) -> Iterator[tuple[TestClient, ApiServices, str]]:
    """The app over a copy of the served home, and a predictions:read token."""
    yield from _app(build_services(load_settings()))


# -- news ------------------------------------------------------------------------------------


def _headline(number: int, *, ticker: str, hours: int, **values: object) -> dict[str, object]:
    return {
        "id": f"h{number}",
        "ticker": ticker,
        "published_at": pd.Timestamp("2013-02-01 14:00", tz="UTC") + pd.Timedelta(hours=hours),
        "source": "wire",
        "title": f"{ticker} headline {number}",
        "url": f"https://news.example/{number}",
        "sentiment": 0.1 * number,
        **values,
    }


def test_news_are_the_tickers_newest_headlines_first_with_their_fields(
    home_copy: Path,
) -> None:
    with open_store(load_settings()) as store:
        store.write_headlines(
            pd.DataFrame(
                [
                    _headline(1, ticker="AAPL", hours=0),
                    _headline(2, ticker="AAPL", hours=48, url=None, sentiment=float("nan")),
                    _headline(3, ticker="AAPL", hours=24),
                    _headline(4, ticker="MSFT", hours=72),
                ]
            )
        )
    for client, _, token in _app(build_services(load_settings())):
        answer = client.get("/v1/tickers/aapl/news", headers=bearer(token))

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["ticker"] == "AAPL"
        assert [r["title"] for r in body["rows"]] == [
            "AAPL headline 2",
            "AAPL headline 3",
            "AAPL headline 1",
        ]
        assert body["rows"][0] == {
            "published_at": "2013-02-03T14:00:00+00:00",
            "source": "wire",
            "title": "AAPL headline 2",
            "url": None,
            "sentiment": None,
        }
        assert body["rows"][1]["url"] == "https://news.example/3"
        assert body["rows"][1]["sentiment"] == pytest.approx(0.3)
        limited = client.get("/v1/tickers/AAPL/news?limit=1", headers=bearer(token)).json()
        assert [r["title"] for r in limited["rows"]] == ["AAPL headline 2"]
        # A ticker held without headlines has none; an unknown one is not found, as for bars.
        quiet = client.get("/v1/tickers/IBM/news", headers=bearer(token))
        assert quiet.status_code == 200
        assert quiet.json() == {"ticker": "IBM", "rows": []}
        unknown = client.get("/v1/tickers/ZZZZ/news", headers=bearer(token))
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "not_found"
        assert "GET /v1/tickers" in unknown.json()["message"]
        for limit in (0, 501):
            refused = client.get(f"/v1/tickers/AAPL/news?limit={limit}", headers=bearer(token))
            assert refused.status_code == 422


# -- versions and leaderboards ---------------------------------------------------------------


def test_versions_are_newest_first_with_the_champion_and_its_moves_newest_first(
    reader: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, token = reader
    name = "stockpred-h5"
    registered = services.registry.versions(name)
    champion = services.registry.champion(name)
    assert champion is not None
    other = next(v for v in registered if v.version != champion.version)
    # The served home is shared: earlier tests may have moved its champion and back.
    earlier = [
        (c.action, c.from_version, c.to_version, c.reason) for c in services.registry.history(name)
    ]
    earlier.reverse()  # newest first, as the route answers
    services.registry.promote(name, other.version, reason="the desk wants the baseline")
    services.registry.rollback(name, reason="back to the model")

    answer = client.get(f"/v1/models/{name}/versions", headers=bearer(token))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["name"] == name
    numbers = [v["version"] for v in body["versions"]]
    assert numbers == sorted((v.version for v in registered), reverse=True)
    by_number = {v["version"]: v for v in body["versions"]}
    assert [n for n, v in by_number.items() if v["champion"]] == [champion.version]
    served = by_number[champion.version]
    assert served["kind"] == "ridge"
    assert served["feature_set"] == champion.metadata["feature_set"]
    assert served["data_start"] == champion.metadata["data_start"]
    assert served["data_end"] == champion.metadata["data_end"]
    assert served["metrics"]["rank_ic_mean"] == pytest.approx(champion.metrics["rank_ic_mean"])
    assert all(isinstance(x, float) for x in served["metrics"].values())
    assert by_number[other.version]["promotion_reason"] == "the desk wants the baseline"
    assert [(h["action"], h["from"], h["to"], h["reason"]) for h in body["history"]] == [
        ("rollback", other.version, champion.version, "back to the model"),
        ("promote", champion.version, other.version, "the desk wants the baseline"),
        *earlier,
    ]
    # The first promotion of all is the training run's, forced to ridge.
    assert body["history"][-1]["from"] is None
    assert "forced by the user" in body["history"][-1]["reason"]
    moments = [h["at"] for h in body["history"]]
    assert moments == sorted(moments, reverse=True)
    unknown = client.get("/v1/models/stockpred-h77/versions", headers=bearer(token))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"


def test_the_leaderboard_that_chose_each_version_of_a_training_run(
    reader: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, token = reader
    champion = services.serving.models[5].version
    versions = services.registry.versions("stockpred-h5")

    answer = client.get(
        f"/v1/models/stockpred-h5/{champion.version}/leaderboard", headers=bearer(token)
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["name"], body["version"], body["horizon"]) == (
        "stockpred-h5",
        champion.version,
        5,
    )
    assert body["basis"].startswith("walk-forward, h=5")
    records = {r["model"]: r for r in body["records"]}
    assert {"ridge", "random_walk", "mean_drift"} <= set(records)
    assert records["ridge"]["family"] == "model"
    assert records["random_walk"]["family"] == "baseline"
    ridge = records["ridge"]
    assert ridge["rank_ic_low"] <= ridge["rank_ic_mean"] <= ridge["rank_ic_high"]
    # The figures recorded on the version are the leaderboard's.
    assert ridge["rank_ic_mean"] == pytest.approx(champion.metrics["rank_ic_mean"])
    assert "long_short_sharpe_net" in ridge
    assert "long_short_hit_rate_net" in ridge
    equity = body["equity"]
    assert equity["kind"] == "long_short"
    assert equity["cost_bps"] == 5.0
    assert 0 < len(equity["dates"]) <= 500
    assert equity["dates"] == sorted(equity["dates"])
    assert set(equity["series"]) == set(records)
    assert all(len(s) == len(equity["dates"]) for s in equity["series"].values())
    # A version that does not serve (the baseline registered beside it) has the same one,
    # downloaded through the registry.
    other = next(v for v in versions if v.version != champion.version)
    beside = client.get(
        f"/v1/models/stockpred-h5/{other.version}/leaderboard", headers=bearer(token)
    )
    assert beside.status_code == 200, beside.text
    assert beside.json()["records"] == body["records"]


def test_a_version_without_a_leaderboard_answers_404_saying_a_retrain_records_one(
    reader: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, token = reader
    champion = services.serving.models[5].version
    # The champion as it was downloaded when trained before leaderboards were saved.
    saved = services.serving.model_cache / "stockpred-h5" / str(champion.version) / "model"
    (saved / LEADERBOARD_FILE).unlink()

    answer = client.get(
        f"/v1/models/stockpred-h5/{champion.version}/leaderboard", headers=bearer(token)
    )

    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    assert "trained before leaderboards were saved" in answer.json()["message"]
    assert "retrain" in answer.json()["message"]
    missing = client.get("/v1/models/stockpred-h5/999/leaderboard", headers=bearer(token))
    assert missing.status_code == 404
    assert "its versions" in missing.json()["message"]


# -- status ----------------------------------------------------------------------------------


def _next_close(last: pd.Timestamp, calendar: str) -> pd.Timestamp:
    day = last.tz_convert("UTC").tz_localize(None).normalize()
    sessions = get_trading_calendar(calendar, day, day + pd.Timedelta(days=10))
    dates = sessions.sessions_between(day + pd.Timedelta(days=1), day + pd.Timedelta(days=10))
    return pd.Timestamp(sessions.session_closes(dates)[0])


def _alerts(status: str, name: str, **labels: str) -> dict[str, object]:
    return {
        "version": "4",
        "status": status,
        "receiver": "operators",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "severity": "warning", **labels},
                "annotations": {"summary": f"{name} says so"},
            }
        ],
    }


def test_status_shows_providers_a_stale_ticker_the_alerts_received_and_parked_notices(
    home_copy: Path,
) -> None:
    settings = load_settings()
    with open_store(settings) as store:
        # The sample's stocks end on 2013-03-01 (its indices, context only, go on).
        bars = store.read_bars(tickers=["AAPL", "FB", "GOOG", "IBM", "MSFT"])
        last = bars.groupby("ticker").tail(1)
        close = _next_close(pd.Timestamp(last["ts"].max()), settings.calendar)
        # Every ticker but AAPL gets the next session's bar: AAPL is one session behind.
        store.write_bars(last[last["ticker"] != "AAPL"].assign(ts=close))
    status = provider_status(settings)
    status.record("yahoo", True, "")
    status.record("newsapi", False, "HTTP 503 from newsapi.org")
    parked = NoticeStore(settings.api_database_url)
    parked.park(
        NoticeDeadLetter(
            id="dl_status",
            notice_id="n_status",
            channel="slack",
            target="https://hooks.slack.example/T/B/x",
            destination="hooks.slack.example",
            title="Down",
            payload="{}",
            attempts=3,
            last_error="HTTP 503",
            first_attempt_at=datetime(2024, 1, 2, tzinfo=UTC),
            parked_at=datetime(2024, 1, 2, tzinfo=UTC),
        )
    )
    parked.close()
    now = (close + pd.Timedelta(hours=2)).to_pydatetime()
    # A clock that moves a second per reading: alerts of two deliveries are apart.
    ticks = itertools.count()
    services = build_services(settings, clock=lambda: now + timedelta(seconds=next(ticks)))

    for client, _, token in _app(services):
        writer = token_for(client, services, "models:write")
        sent = client.post(
            "/v1/monitoring/notifications",
            json=_alerts("firing", "ProviderDown", ticker="MSFT"),
            headers=bearer(writer),
        )
        assert sent.status_code == 202, sent.text
        resolved = client.post(
            "/v1/monitoring/alerts",
            json=_alerts("resolved", "FeatureDrift"),
            headers=bearer(writer),
        )
        assert resolved.status_code == 202, resolved.text

        answer = client.get("/v1/status", headers=bearer(token))

        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert datetime.fromisoformat(body["checked_at"]) >= now
        sources = {s["source"]: s for s in body["sources"]}
        assert sources["yahoo"]["last_success"] is not None
        assert sources["yahoo"]["last_failure"] is None
        assert sources["newsapi"]["last_error"] == "HTTP 503 from newsapi.org"
        freshness = {f["ticker"]: f for f in body["freshness"]}
        assert set(freshness) == set(services.serving.tickers())
        assert freshness["AAPL"]["stale"] is True
        assert freshness["AAPL"]["sessions_behind"] == 1
        assert freshness["AAPL"]["expected"] == close.date().isoformat()
        assert freshness["AAPL"]["last_bar"] < close.date().isoformat()
        assert freshness["MSFT"] == {
            "ticker": "MSFT",
            "last_bar": close.date().isoformat(),
            "expected": close.date().isoformat(),
            "sessions_behind": 0,
            "stale": False,
        }
        alerts = body["alerts"]
        assert [(a["alertname"], a["status"]) for a in alerts] == [
            ("FeatureDrift", "resolved"),
            ("ProviderDown", "firing"),
        ]
        assert alerts[1]["ticker"] == "MSFT"
        assert alerts[1]["severity"] == "warning"
        assert alerts[1]["summary"] == "ProviderDown says so"
        assert alerts[0]["ticker"] is None
        assert alerts[0]["received_at"] > alerts[1]["received_at"]
        assert body["dead_letters"] == 1


def test_an_alert_neither_firing_nor_resolved_is_refused(
    reader: tuple[TestClient, ApiServices, str],
) -> None:
    client, services, _ = reader
    writer = token_for(client, services, "models:write")
    answer = client.post(
        "/v1/monitoring/notifications", json=_alerts("pending", "X"), headers=bearer(writer)
    )
    assert answer.status_code == 422
    assert services.alerts.recent() == []


@pytest.mark.parametrize("route", ROUTES)
def test_each_read_needs_a_token_with_predictions_read(
    reader: tuple[TestClient, ApiServices, str], route: str
) -> None:
    client, services, _ = reader
    assert client.get(route).status_code == 401
    other = token_for(client, services, "stream:read")
    refused = client.get(route, headers=bearer(other))
    assert refused.status_code == 403
    assert "predictions:read" in refused.json()["message"]
