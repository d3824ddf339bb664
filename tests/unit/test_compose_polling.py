"""compose.polling_feed: provider, bar length and poll interval come from the settings."""

from __future__ import annotations

import pytest

from stockpred import compose
from stockpred.domain.errors import ConfigurationError
from stockpred.settings import load_settings


def test_polling_feed_defaults_to_yahoos_minute_bars_every_minute() -> None:
    feed = compose.polling_feed(load_settings(), ["aapl", "msft"])

    assert feed.name == "yahoo"
    assert feed._interval == "1m"
    assert feed._symbols == ("AAPL", "MSFT")
    assert feed.period_s == 60.0


def test_polling_feed_takes_its_provider_interval_and_pace_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPRED_POLL_PROVIDER", "alphavantage")
    monkeypatch.setenv("STOCKPRED_POLL_BAR_INTERVAL", "5m")
    monkeypatch.setenv("STOCKPRED_POLL_SECONDS", "300")
    monkeypatch.setenv("STOCKPRED_ALPHA_VANTAGE_API_KEY", "key")
    monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", '{"alphavantage": "http://127.0.0.1:9"}')

    feed = compose.polling_feed(load_settings(), ["IBM", "AAPL"])

    assert feed.name == "alphavantage"
    assert feed._interval == "5m"
    # The free quota (25 a day) over two tickers: each polled every 6,912 s, not 300.
    assert feed.period_s == 2 * 86400 / 25


def test_an_unknown_poll_provider_is_refused_with_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPRED_POLL_PROVIDER", "stooq")

    with pytest.raises(ConfigurationError, match="poll_provider"):
        load_settings()
