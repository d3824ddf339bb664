"""PollingFeed against a loopback HTTP server answering in Yahoo's chart JSON and Alpha
Vantage's intraday JSON, through the real adapters (cache, quota, error translation)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from stockpred.domain.errors import ProviderAuthError
from stockpred.sources.feeds.base import FeedBatch
from stockpred.sources.feeds.policy import StreamPolicy
from stockpred.sources.feeds.polling import (
    AlphaVantageIntraday,
    IntradaySource,
    PollingFeed,
    YahooIntraday,
    poll_period,
)
from stockpred.sources.providers.alphavantage import AlphaVantageProvider
from stockpred.sources.providers.base import ProviderContext, RateLimit
from stockpred.sources.providers.http import HttpPolicy
from stockpred.sources.providers.yahoo import YahooProvider
from support.fake_provider import FAST_RATE, FakeProvider, Reply, serve
from support.intraday import alpha_intraday, price, yahoo_chart

AAPL = "/v8/finance/chart/AAPL"
MSFT = "/v8/finance/chart/MSFT"
OPEN = datetime(2024, 1, 8, 14, 30, tzinfo=UTC)  # 09:30 in New York
POLICY = StreamPolicy(backoff_initial_s=1.0, backoff_max_s=4.0, trade_grace_s=2.0)
ONE_TRY = HttpPolicy(attempts=1, breaker_fail_max=10)


def at(minutes: int) -> datetime:
    return OPEN + timedelta(minutes=minutes)


def starts(first: int, last: int) -> list[datetime | None]:
    return [at(m) for m in range(first, last + 1)]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sleeps:
    """Advances the clock by each wait instead of sleeping it, and records the waits."""

    clock: Clock
    calls: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as provider:
        yield provider


def context(server: FakeProvider, **options: object) -> ProviderContext:
    settings: dict[str, object] = {"base_url": server.url, "timeout_s": 2.0, **options}
    settings.setdefault("rate_limit", FAST_RATE)
    return ProviderContext(**settings)  # type: ignore[arg-type]


def yahoo_feed(
    server: FakeProvider,
    clock: Clock,
    symbols: tuple[str, ...] = ("AAPL",),
    *,
    policy: StreamPolicy = POLICY,
) -> PollingFeed:
    source = YahooIntraday(YahooProvider(context(server), policy=ONE_TRY), interval="1m")
    return PollingFeed(
        symbols,
        source=source,
        interval="1m",
        poll_seconds=60.0,
        policy=policy,
        clock=clock,
        sleep=Sleeps(clock),
    )


def run(scenario: Callable[[], Awaitable[None]], *, timeout_s: float = 10.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout_s):
            await scenario()

    asyncio.run(bounded())


def take(feed: PollingFeed, count: int) -> list[FeedBatch]:
    got: list[FeedBatch] = []

    async def scenario() -> None:
        async for batch in feed.batches():
            got.append(batch)
            if len(got) == count:
                break
        await feed.close()

    run(scenario)
    return got


def take_until(
    feed: PollingFeed, done: Callable[[FeedBatch], bool], *, count: int
) -> list[FeedBatch]:
    """Batches until the ``count``-th for which ``done`` holds."""
    got: list[FeedBatch] = []

    async def scenario() -> None:
        seen = 0
        async for batch in feed.batches():
            got.append(batch)
            seen += done(batch)
            if seen == count:
                break
        await feed.close()

    run(scenario)
    return got


def closes(batch: FeedBatch) -> list[tuple[str, str]]:
    return [(bar.ticker, bar.ts.strftime("%H:%M")) for bar in batch.bars]


def test_each_poll_yields_only_the_complete_bars_newer_than_the_last_in_time_order(
    server: FakeProvider,
) -> None:
    # At 14:33:30 the 14:33 minute is forming; a minute later 14:34 is, and Yahoo's window
    # holds the whole session again.
    server.script(
        AAPL,
        Reply(200, yahoo_chart("AAPL", starts(0, 3))),
        Reply(200, yahoo_chart("AAPL", starts(0, 4))),
    )
    server.script(
        MSFT,
        Reply(200, yahoo_chart("MSFT", starts(0, 3))),
        Reply(200, yahoo_chart("MSFT", starts(0, 4))),
    )
    clock = Clock(at(3) + timedelta(seconds=30))

    got = take(yahoo_feed(server, clock, ("AAPL", "MSFT")), 4)

    assert [closes(b) for b in got] == [
        [("AAPL", "14:31"), ("AAPL", "14:32"), ("AAPL", "14:33")],
        [("MSFT", "14:31"), ("MSFT", "14:32"), ("MSFT", "14:33")],
        [("AAPL", "14:34")],
        [("MSFT", "14:34")],
    ]
    first = got[0].bars[0]
    assert (first.interval, first.source, first.adj_close) == ("1m", "yahoo", None)
    assert first.close == price(at(0))
    assert first.ts.tzinfo is not None
    assert first.ingested_at == at(3) + timedelta(seconds=30)
    assert all(b.degraded == frozenset() for b in got)
    assert [h.query["range"] for h in server.hits] == ["1d"] * 4


def test_the_bar_still_forming_is_held_until_its_minute_is_over(server: FakeProvider) -> None:
    # Polled 1 s after 14:32: the 14:31 minute ended, but within the grace in which Yahoo
    # still updates it, so it waits; the next poll has it.
    server.script(AAPL, Reply(200, yahoo_chart("AAPL", starts(0, 2))))
    clock = Clock(at(2) + timedelta(seconds=1))

    got = take(yahoo_feed(server, clock), 2)

    assert [closes(b) for b in got] == [[("AAPL", "14:31")], [("AAPL", "14:32")]]


def test_the_first_poll_yields_the_latest_session_from_its_first_bar(
    server: FakeProvider,
) -> None:
    yesterday = [at(m) - timedelta(days=1) for m in (388, 389)]
    server.script(AAPL, Reply(200, yahoo_chart("AAPL", [*yesterday, *starts(0, 1)])))

    got = take(yahoo_feed(server, Clock(at(1) + timedelta(seconds=30))), 1)

    assert closes(got[0]) == [("AAPL", "14:31")]


@pytest.mark.parametrize(
    "failure",
    [
        Reply(500, "upstream broke"),
        Reply(200, "<html>not json</html>", content_type="text/html"),
        Reply(200, '{"chart": {"result": [{"timestamp": [1, 2]}], "error": null}}'),
    ],
    ids=["http-500", "not-json", "malformed-chart"],
)
def test_a_failed_poll_degrades_the_ticker_until_one_succeeds_and_loses_no_bar(
    server: FakeProvider, failure: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(
        AAPL,
        Reply(200, yahoo_chart("AAPL", starts(0, 1))),
        failure,
        failure,
        Reply(200, yahoo_chart("AAPL", starts(0, 5))),
    )
    server.script(MSFT, Reply(200, yahoo_chart("MSFT", starts(0, 1))))
    clock = Clock(at(1) + timedelta(seconds=30))
    # Failures at 14:32:30 and 14:33:30, a minute and then two of backoff: the poll at
    # 14:35:30 recovers the four minutes that ended meanwhile.
    slow = StreamPolicy(backoff_initial_s=60.0, backoff_max_s=240.0, trade_grace_s=2.0)
    feed = yahoo_feed(server, clock, ("AAPL", "MSFT"), policy=slow)

    got = take_until(feed, lambda b: any(bar.ticker == "AAPL" for bar in b.bars), count=2)

    aapl = [(t, hm) for b in got for t, hm in closes(b) if t == "AAPL"]
    assert aapl == [("AAPL", f"14:{m}") for m in range(31, 36)]  # each once, in order
    failed = next(i for i, b in enumerate(got) if b.degraded)
    assert got[failed].bars == ()  # the failure is told at once
    # Degraded from the first failure until the poll that brought the missed bars.
    assert all(b.degraded == {"AAPL"} for b in got[failed:-1])
    assert got[-1].degraded == frozenset()
    assert closes(got[-1])[0] == ("AAPL", "14:32")
    ranges = [h.query["range"] for h in server.hits if h.path == AAPL]
    # The polls after a failure ask for the larger window, in case the hole is older.
    assert ranges == ["1d", "1d", "5d", "5d"]
    # Each failure is logged with the backoff before the next try.
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "AAPL failed (1 in a row), degraded; again in 60.0 s" in messages[0]
    assert "AAPL failed (2 in a row), degraded; again in 120.0 s" in messages[1]


def test_alpha_vantage_bars_come_from_new_york_labels_and_its_quota_note_degrades(
    server: FakeProvider,
) -> None:
    note = (
        '{"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 '
        'calls per minute and 25 calls per day."}'
    )
    server.script(
        "/query",
        Reply(200, alpha_intraday("IBM", [at(0), at(1)])),
        Reply(200, note),
        Reply(200, alpha_intraday("IBM", [at(m) for m in range(4)])),
    )
    clock = Clock(at(3) + timedelta(seconds=30))
    provider = AlphaVantageProvider(context(server, api_key="DEMOKEY"), policy=ONE_TRY)
    feed = PollingFeed(
        ["IBM"],
        source=AlphaVantageIntraday(provider, interval="1m"),
        interval="1m",
        poll_seconds=60.0,
        policy=POLICY,
        clock=clock,
        sleep=Sleeps(clock),
    )

    got = take(feed, 3)

    assert [(closes(b), sorted(b.degraded)) for b in got] == [
        ([("IBM", "14:31"), ("IBM", "14:32")], []),
        ([], ["IBM"]),
        ([("IBM", "14:33"), ("IBM", "14:34")], []),
    ]
    assert got[0].bars[0].source == "alphavantage"
    sent = server.hits[0].query
    assert (sent["function"], sent["interval"], sent["outputsize"]) == (
        "TIME_SERIES_INTRADAY",
        "1min",
        "compact",
    )
    assert sent["extended_hours"] == "false"
    assert server.hits[2].query["outputsize"] == "full"


def test_a_refused_key_ends_the_feed_with_the_setting_to_fix(server: FakeProvider) -> None:
    refused = (
        '{"Error Message": "the parameter apikey is invalid or missing. Please claim your '
        'free API key on (https://www.alphavantage.co/support/#api-key)."}'
    )
    server.script("/query", Reply(200, refused))
    clock = Clock(at(3))
    provider = AlphaVantageProvider(context(server, api_key="WRONG"), policy=ONE_TRY)
    feed = PollingFeed(
        ["IBM"],
        source=AlphaVantageIntraday(provider, interval="1m"),
        interval="1m",
        clock=clock,
        sleep=Sleeps(clock),
    )

    with pytest.raises(ProviderAuthError, match="STOCKPRED_ALPHA_VANTAGE_API_KEY"):
        take(feed, 1)
    assert len(server.hits) == 1  # refused once is enough: not retried


def test_a_missing_key_ends_the_feed_before_any_request(server: FakeProvider) -> None:
    clock = Clock(at(3))
    provider = AlphaVantageProvider(context(server, api_key=None), policy=ONE_TRY)
    feed = PollingFeed(
        ["IBM"], source=AlphaVantageIntraday(provider, interval="1m"), interval="1m", clock=clock
    )

    with pytest.raises(ProviderAuthError, match="needs an API key"):
        take(feed, 1)
    assert server.hits == []


def test_the_poll_interval_is_stretched_to_the_quota_over_the_tickers() -> None:
    free_alpha = RateLimit(requests=5, seconds=60, per_day=25)

    # 25 a day: one request every 3,456 s, so one ticker is polled hourly at best.
    assert poll_period(free_alpha, tickers=1, poll_seconds=60) == (3456.0, 3456.0)
    assert poll_period(free_alpha, tickers=3, poll_seconds=60) == (3456.0, 3 * 3456.0)
    # Yahoo's 2 a second leaves a minute's poll of 100 tickers as it is.
    assert poll_period(RateLimit(2, 1), tickers=100, poll_seconds=60) == (0.5, 60.0)
    assert poll_period(RateLimit(2, 1), tickers=200, poll_seconds=60) == (0.5, 100.0)


@dataclass
class Timed:
    """A source that notes the monotonic time of every request it makes."""

    inner: IntradaySource
    times: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def quota(self) -> RateLimit:
        return self.inner.quota

    def recent_bars(self, symbol: str, *, catch_up: bool) -> pd.DataFrame:
        self.times.append(time.monotonic())
        return self.inner.recent_bars(symbol, catch_up=catch_up)

    def close(self) -> None:
        self.inner.close()


def test_requests_never_exceed_the_quota_in_any_window(
    server: FakeProvider, tmp_path: Path
) -> None:
    # Real time: 4 requests a second for 2 tickers polled "every 10 ms"; the quota is the
    # adapter's, whose on-disk limiter would also hold back any excess.
    server.script(AAPL, Reply(200, yahoo_chart("AAPL", starts(0, 1))))
    server.script(MSFT, Reply(200, yahoo_chart("MSFT", starts(0, 1))))
    quota = RateLimit(requests=4, seconds=1)
    provider = YahooProvider(context(server, rate_limit=quota, cache_dir=None), policy=ONE_TRY)
    source = Timed(YahooIntraday(provider, interval="1m"))
    feed = PollingFeed(["AAPL", "MSFT"], source=source, interval="1m", poll_seconds=0.01)

    async def scenario() -> None:
        async def consume() -> None:
            async for _ in feed.batches():
                pass

        consuming = asyncio.create_task(consume())
        while len(source.times) < 9:
            await asyncio.sleep(0.02)
        await feed.close()
        await consuming

    run(scenario)

    assert feed.period_s == 0.5
    windows = [later - first for first, later in zip(source.times, source.times[4:], strict=False)]
    assert min(windows) >= 0.98  # never 5 requests within one second
    assert len(server.hits) == len(source.times)
