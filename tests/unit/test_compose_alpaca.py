"""compose.alpaca_feed: the keys and URLs come from the settings."""

from __future__ import annotations

import pytest

from stockpred import compose
from stockpred.domain.errors import ProviderAuthError
from stockpred.settings import load_settings


def test_alpaca_feed_takes_its_keys_and_urls_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPRED_ALPACA_KEY_ID", "kid")
    monkeypatch.setenv("STOCKPRED_ALPACA_SECRET_KEY", "shh")
    monkeypatch.setenv(
        "STOCKPRED_PROVIDER_URLS",
        '{"alpaca_stream": "ws://127.0.0.1:9/v2/iex", "alpaca": "http://127.0.0.1:9"}',
    )
    feed = compose.alpaca_feed(load_settings(), ["aapl"])
    assert feed.name == "alpaca"
    assert feed._key_id == "kid"
    assert feed._secret_key == "shh"
    assert feed._stream_url == "ws://127.0.0.1:9/v2/iex"
    assert feed._rest_url == "http://127.0.0.1:9"
    assert feed._symbols == ("AAPL",)


def test_alpaca_feed_without_keys_names_the_settings_to_set() -> None:
    with pytest.raises(ProviderAuthError, match="STOCKPRED_ALPACA_KEY_ID and STOCKPRED_ALPACA"):
        compose.alpaca_feed(load_settings(), ["AAPL"])
