"""`stockpred ingest news` and `stockpred sources` against a news provider on loopback.

Only the base URL differs from the real service (STOCKPRED_PROVIDER_URLS).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from stockpred.cli.app import main
from stockpred.sentiment.scorers import embedding_scorer_installed
from support.fake_provider import FakeProvider, Reply, serve

NEWSAPI = "/v2/everything"
KEY = "0123456789abcdef0123456789abcdef"


def article(title: str, url: str, when: str) -> dict[str, object]:
    return {
        "source": {"id": "reuters", "name": "Reuters"},
        "author": "Staff",
        "title": title,
        "description": title,
        "url": url,
        "urlToImage": None,
        "publishedAt": when,
        "content": title,
    }


AAPL = json.dumps(
    {
        "status": "ok",
        "totalResults": 3,
        "articles": [
            article(
                "Apple shares fall after weak iPhone sales in China",
                "https://www.reuters.com/technology/apple-china-2024-01-04/",
                "2024-01-04T09:05:00Z",
            ),
            article(
                "Apple shares fall after weak iPhone sales in China.",
                "https://www.yahoo.com/news/apple-china-2024-01-04.html",
                "2024-01-04T09:40:00Z",
            ),
            article(
                "Barclays downgrades $AAPL; $MSFT seen gaining",
                "https://www.reuters.com/markets/barclays-apple-2024-01-02/",
                "2024-01-02T14:31:00Z",
            ),
        ],
    }
)


@pytest.fixture
def providers(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as server:
        monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", json.dumps({"newsapi": server.url}))
        yield server


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_news_is_stored_and_a_second_run_adds_none(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_NEWSAPI_API_KEY", KEY)
    providers.script(NEWSAPI, Reply(200, AAPL))
    args = ("ingest", "news", "--source", "newsapi", "--tickers", "AAPL", "--since", "2024-01-01")

    code, out, err = run(capsys, *args, "--until", "2024-01-05", "--json")

    assert code == 0, err
    payload = json.loads(out)
    assert payload["fetched"] == {"AAPL": 3}
    assert payload["written"]["inserted"] == 2
    assert payload["duplicates"] == 1
    assert payload["sentiment"] == "loughran_mcdonald"
    assert payload["daily_sentiment"]["inserted"] >= 1  # per-ticker day aggregates stored
    assert providers.hits[0].headers["X-Api-Key"] == KEY
    assert "apiKey" not in providers.hits[0].query
    assert KEY not in out + err

    code, out, err = run(capsys, *args, "--until", "2024-01-05", "--json")

    assert code == 0, err
    again = json.loads(out)
    assert again["written"] == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert again["daily_sentiment"]["inserted"] == 0
    assert providers.hits_on(NEWSAPI) == 1  # served from the cache


def test_news_without_json_prints_counts(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_NEWSAPI_API_KEY", KEY)
    providers.script(NEWSAPI, Reply(200, AAPL))

    code, out, err = run(capsys, "ingest", "news", "AAPL", "--source", "newsapi")

    assert code == 0, err
    assert "AAPL: 3 items" in out
    assert "2 new" in out
    assert "to" not in providers.hits[0].query  # "now" is not sent, so the cache can answer
    code, out, err = run(capsys, "ingest", "news", "AAPL", "--source", "newsapi")
    assert code == 0, err
    assert "0 new" in out
    assert providers.hits_on(NEWSAPI) == 1


def test_news_scored_by_the_embedding_scorer_is_stored_under_its_name(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not embedding_scorer_installed():
        pytest.skip("the 'sentiment' extra is not installed: pip install 'stockpred[sentiment]'")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("STOCKPRED_NEWSAPI_API_KEY", KEY)
    providers.script(NEWSAPI, Reply(200, AAPL))

    code, out, err = run(
        capsys,
        "ingest",
        "news",
        "AAPL",
        "--source",
        "newsapi",
        "--sentiment",
        "embedding",
        "--json",
    )

    assert code == 0, err
    payload = json.loads(out)
    assert payload["sentiment"] == "embedding"
    assert payload["written"]["inserted"] == 2
    assert payload["daily_sentiment"]["inserted"] >= 1


def test_an_unknown_scorer_is_refused_naming_the_scorers(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_NEWSAPI_API_KEY", KEY)

    code, out, err = run(
        capsys, "ingest", "news", "AAPL", "--source", "newsapi", "--sentiment", "bert"
    )

    assert code == 1
    assert "embedding, loughran_mcdonald, vader, none" in out + err
    assert providers.hits == []


def test_news_without_a_key_says_which_variable_to_set(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "ingest", "news", "--source", "newsapi", "--tickers", "AAPL")

    assert code == 1
    assert "STOCKPRED_NEWSAPI_API_KEY" in out + err
    assert providers.hits == []


def test_a_price_provider_is_refused_for_news(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ingest", "news", "--source", "stooq", "--tickers", "AAPL")

    assert code == 1
    assert "stooq is a prices provider; for news use:" in err


def test_sources_lists_the_news_providers(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "sources", "--json")

    assert code == 0
    rows = {row["provider"]: row for row in json.loads(out)}
    news = {name for name, row in rows.items() if row["kind"] == "news"}
    assert news == {"googlenews", "newsapi", "x", "alphavantage_news"}
    assert rows["googlenews"]["key"] == "not needed"
    assert rows["newsapi"]["key"].startswith("missing (STOCKPRED_NEWSAPI_API_KEY")
    assert rows["x"]["key"].startswith("missing (STOCKPRED_X_BEARER_TOKEN")
    assert rows["newsapi"]["base_url"] == providers.url


def test_scheduler_news_job_stores_headlines_and_daily_sentiment(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_NEWSAPI_API_KEY", KEY)
    monkeypatch.setenv("STOCKPRED_UNIVERSE", '["AAPL"]')
    monkeypatch.setenv("STOCKPRED_NEWS_SOURCE", "newsapi")
    providers.script(NEWSAPI, Reply(200, AAPL))

    code, out, err = run(capsys, "scheduler", "--run", "news", "--json")

    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert summary.startswith("1 tickers searched, 2 new headlines")
    assert "new daily sentiment rows" in summary


def test_company_names_setting_widens_the_news_search(
    providers: FakeProvider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_NEWSAPI_API_KEY", KEY)
    monkeypatch.setenv("STOCKPRED_COMPANY_NAMES", '{"AAPL": "Apple"}')
    providers.script(NEWSAPI, Reply(200, AAPL))

    code, _, err = run(capsys, "ingest", "news", "--source", "newsapi", "--tickers", "AAPL")

    assert code == 0, err
    assert providers.hits[0].query["q"] == 'AAPL OR "Apple"'
