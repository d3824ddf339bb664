"""Every provider the issue names, driven through the command line against loopback servers.

The answers are the same provider-format payloads the adapter tests use (loaded from those
modules), so this proves the wiring: registry, settings (key and base URL), ingestion and store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from stockpred.cli.app import main
from support.fake_provider import FakeProvider, Reply, serve
from support.scripts import load_file

PROVIDER_TESTS = Path(__file__).resolve().parents[1] / "integration" / "providers"


def payloads(name: str) -> ModuleType:
    """The adapter test module of provider ``name``, for its payloads."""
    return load_file(PROVIDER_TESTS / f"test_{name}.py", name=f"payloads_{name}")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as fake:
        names = ["alphavantage", "alphavantage_news", "googlenews", "x"]
        monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", json.dumps(dict.fromkeys(names, fake.url)))
        yield fake


def run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    payload = json.loads(captured.out)
    assert isinstance(payload, dict)
    return payload


def test_alpha_vantage_daily_adjusted_prices(
    server: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    av = payloads("alphavantage")
    monkeypatch.setenv("STOCKPRED_ALPHA_VANTAGE_API_KEY", av.KEY)
    server.script(av.PATH, Reply(200, av.DAILY))

    payload = run(capsys, "ingest", "prices", "--source", "alphavantage", "--tickers", "IBM")

    assert payload["fetched"] == {"IBM": 4}
    assert main(["data", "show", "IBM", "--json"]) == 0
    bars = json.loads(capsys.readouterr().out)
    assert [b["adj_close"] for b in bars] == [156.72, 155.36, 156.33, 156.2]


def test_google_news_rss(server: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    google = payloads("googlenews")
    server.script(google.PATH, Reply(200, google.AAPL, content_type=google.RSS))

    payload = run(capsys, "ingest", "news", "--source", "googlenews", "--tickers", "AAPL")

    assert payload["fetched"]["AAPL"] >= 1
    assert payload["written"]["inserted"] >= 1


def test_x_recent_search(
    server: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    x = payloads("x")
    monkeypatch.setenv("STOCKPRED_X_BEARER_TOKEN", x.TOKEN)
    server.script(x.PATH, Reply(200, x.search(x.NEWER, x.OLDER)))

    payload = run(capsys, "ingest", "news", "--source", "x", "--tickers", "AAPL")

    assert payload["fetched"] == {"AAPL": 2}
    assert payload["written"]["inserted"] == 2
    assert x.TOKEN not in json.dumps(payload)


def test_alpha_vantage_news_sentiment(
    server: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    news = payloads("alphavantage_news")
    monkeypatch.setenv("STOCKPRED_ALPHA_VANTAGE_API_KEY", news.KEY)
    server.script(news.PATH, Reply(200, news.FEED))

    payload = run(capsys, "ingest", "news", "--source", "alphavantage_news", "--tickers", "AAPL")

    assert payload["fetched"]["AAPL"] >= 1
    assert payload["written"]["inserted"] >= 1
