"""ingest_news with an in-memory news provider and the real DuckDB store.

Idempotence (DESIGN invariant 3): a second run writes nothing new; per-ticker failures are
reported and the run goes on; a provider that is down is not asked again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from stockpred.domain.errors import ProviderError, ProviderUnavailableError
from stockpred.pipeline.news import default_query, ingest_news
from stockpred.sentiment import load_vader_scorer
from stockpred.sources.providers.base import NEWS_ITEM_COLUMNS, ProviderInfo, RateLimit
from stockpred.sources.providers.newsitems import news_frame
from stockpred.store.duckdb import DuckDBStore

NOW = datetime(2024, 1, 5, 16, 0, tzinfo=UTC)
INFO = ProviderInfo(
    name="memory",
    kind="news",
    title="news held in memory",
    base_url="memory://",
    rate_limit=RateLimit(requests=1000, seconds=1),
    key_setting=None,
)


class MemoryNews:
    """Answers each query from a dict; a query mapped to an exception raises it."""

    info = INFO

    def __init__(self, answers: dict[str, list[dict[str, object]] | Exception]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def fetch_news(
        self,
        query: str,
        *,
        tickers: Sequence[str],
        since: pd.Timestamp | None,
        until: pd.Timestamp | None,
    ) -> pd.DataFrame:
        self.queries.append(query)
        answer = self.answers.get(query, [])
        if isinstance(answer, Exception):
            raise answer
        return news_frame(answer, query=query, tickers=tickers, since=since, until=until)


def article(item_id: str, when: str, title: str, url: str, text: str = "") -> dict[str, object]:
    return {
        "id": item_id,
        "published_at": pd.Timestamp(when, tz="UTC"),
        "source": "Reuters",
        "title": title,
        "url": url,
        "text": text,
    }


SHARED = article("s1", "2024-01-02 14:31", "Apple and Microsoft lead tech rally", "https://r.com/1")
AAPL = [
    SHARED,
    article(
        "a1", "2024-01-03 10:00", "Apple shares fall after weak iPhone sales", "https://r.com/2"
    ),
    article(
        "a2", "2024-01-03 11:00", "Apple Shares Fall After Weak iPhone Sales!", "https://c.com/9"
    ),
]
MSFT = [
    {**SHARED, "id": "s1-copy", "url": "https://www.r.com/1/?utm_source=feed"},
    article("m1", "2024-01-04 09:00", "Cloud demand lifts $MSFT and $NVDA", "https://r.com/3"),
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with DuckDBStore(tmp_path / "store.duckdb") as opened:
        yield opened


def test_default_query_adds_the_company_name_when_known() -> None:
    assert default_query("AAPL") == "AAPL"
    assert default_query("AAPL", "Apple") == 'AAPL OR "Apple"'


def test_news_is_deduped_mapped_scored_and_stored_once(store: DuckDBStore) -> None:
    provider = MemoryNews({"AAPL": AAPL, "MSFT": MSFT})
    scorer = load_vader_scorer()

    first = ingest_news(store, provider, ["aapl", "MSFT", "NVDA"], now=NOW, scorer=scorer)

    stored = store.read_headlines()
    pairs = set(zip(stored["id"], stored["ticker"], strict=True))
    assert pairs == {("s1", "AAPL"), ("s1", "MSFT"), ("a1", "AAPL"), ("m1", "MSFT"), ("m1", "NVDA")}
    assert first.written.inserted == 5
    assert first.fetched == {"AAPL": 3, "MSFT": 2, "NVDA": 0}
    assert stored["sentiment"].notna().all()
    assert stored.loc[stored["id"] == "a1", "sentiment"].iloc[0] < 0
    assert str(stored["published_at"].dt.tz) == "UTC"

    second = ingest_news(store, provider, ["AAPL", "MSFT", "NVDA"], now=NOW, scorer=scorer)

    assert (second.written.inserted, second.written.updated) == (0, 0)
    assert len(store.read_headlines()) == 5


def test_a_syndicated_copy_under_a_new_id_in_a_later_run_is_not_stored(
    store: DuckDBStore,
) -> None:
    ingest_news(store, MemoryNews({"AAPL": AAPL[:2]}), ["AAPL"], now=NOW)
    later = MemoryNews({"AAPL": [{**AAPL[1], "id": "a1-elsewhere", "url": "https://y.com/5"}]})

    result = ingest_news(store, later, ["AAPL"], now=NOW)

    assert result.written.inserted == 0
    assert sorted(store.read_headlines()["id"]) == ["a1", "s1"]


def test_without_a_scorer_sentiment_is_left_missing(store: DuckDBStore) -> None:
    result = ingest_news(store, MemoryNews({"AAPL": AAPL}), ["AAPL"], now=NOW)

    assert result.scorer is None
    assert store.read_headlines()["sentiment"].isna().all()


def test_items_published_after_now_are_not_stored(store: DuckDBStore) -> None:
    future = article("f1", "2024-01-06 09:00", "Apple event announced", "https://r.com/9")

    ingest_news(store, MemoryNews({"AAPL": [*AAPL, future]}), ["AAPL"], now=NOW)

    assert "f1" not in set(store.read_headlines()["id"])


def test_a_failing_ticker_is_reported_and_the_others_are_kept(store: DuckDBStore) -> None:
    provider = MemoryNews(
        {"AAPL": AAPL, "NOPE": ProviderError("memory rejected the query", provider="memory")}
    )

    result = ingest_news(store, provider, ["NOPE", "AAPL"], now=NOW)

    assert [f.symbol for f in result.failures] == ["NOPE"]
    assert result.failures[0].kind == "provider_error"
    assert result.fetched == {"AAPL": 3}


def test_a_provider_that_is_down_is_not_asked_again(store: DuckDBStore) -> None:
    down = ProviderUnavailableError("memory did not answer", provider="memory")
    provider = MemoryNews({"AAPL": down, "MSFT": MSFT})

    result = ingest_news(store, provider, ["AAPL", "MSFT"], now=NOW)

    assert provider.queries == ["AAPL"]
    assert [(f.symbol, f.kind) for f in result.failures] == [
        ("AAPL", "provider_unavailable"),
        ("MSFT", "skipped"),
    ]
    assert result.written.inserted == 0


def test_an_explicit_query_and_company_names_are_used(store: DuckDBStore) -> None:
    provider = MemoryNews({})

    ingest_news(store, provider, ["AAPL", "MSFT"], now=NOW, company_names={"AAPL": "Apple"})
    ingest_news(store, provider, ["AAPL"], now=NOW, query="iPhone")

    assert provider.queries == ['AAPL OR "Apple"', "MSFT", "iPhone"]
    assert list(news_frame([], query="q", tickers=[], since=None, until=None).columns) == list(
        NEWS_ITEM_COLUMNS
    )
