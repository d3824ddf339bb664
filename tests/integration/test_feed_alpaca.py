"""AlpacaFeed against a loopback websocket server speaking Alpaca's v2 stream and a loopback
HTTP server answering its REST bars."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from stockpred.domain.errors import ProviderAuthError, ProviderError, ProviderUnavailableError
from stockpred.domain.records import Bar
from stockpred.sources.feeds.alpaca import AlpacaFeed
from stockpred.sources.feeds.base import FeedBatch
from stockpred.sources.feeds.policy import StreamPolicy
from support.alpaca_stream import (
    KEY_ID,
    SECRET_KEY,
    Session,
    alpaca_stream,
    minute,
    rest_bar,
    wire_bar,
    wire_trade,
)
from support.fake_provider import FakeProvider, Reply, serve

BARS_PATH = "/v2/stocks/bars"
NO_BARS = Reply(body=json.dumps({"bars": {}, "next_page_token": None}))
FAST = StreamPolicy(
    ping_interval_s=5.0,
    ping_timeout_s=5.0,
    open_timeout_s=2.0,
    close_timeout_s=0.2,
    backoff_initial_s=0.01,
    backoff_max_s=0.03,
    rest_timeout_s=2.0,
    tick_s=0.05,
)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Sleeps:
    """Records the waits asked for and yields to the loop instead of sleeping them."""

    calls: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def rest() -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as provider:
        provider.script(BARS_PATH, NO_BARS)
        yield provider


def run(scenario: Callable[[], Awaitable[None]], *, timeout_s: float = 5.0) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(timeout_s):
            await scenario()

    asyncio.run(bounded())


def make_feed(
    url: str, rest_url: str, clock: Clock, sleeps: Sleeps, **options: object
) -> AlpacaFeed:
    settings: dict[str, object] = {
        "key_id": KEY_ID,
        "secret_key": SECRET_KEY,
        "stream_url": url,
        "rest_url": rest_url,
        "policy": FAST,
        "clock": clock,
        "sleep": sleeps,
        **options,
    }
    symbols = settings.pop("symbols", ["AAPL", "MSFT"])
    return AlpacaFeed(symbols, **settings)  # type: ignore[arg-type]


async def take(feed: AlpacaFeed, count: int, *, on_batch: Callable[[int], None] | None = None):
    """The first ``count`` batches; ``on_batch(i)`` runs after batch i arrives."""
    got: list[FeedBatch] = []
    async for batch in feed.batches():
        got.append(batch)
        if on_batch is not None:
            on_batch(len(got) - 1)
        if len(got) == count:
            break
    await feed.close()
    return got


def closes(batch: FeedBatch) -> list[tuple[str, str, float]]:
    return [(b.ticker, b.ts.strftime("%H:%M"), b.close) for b in batch.bars]


def test_bars_arrive_as_domain_bars_closing_a_minute_after_their_start(
    rest: FakeProvider,
) -> None:
    clock = Clock(minute("15:50"))
    frames: list[list[dict[str, object]] | float] = [
        # One frame batches several objects, other types and unsubscribed symbols among them.
        [
            wire_bar("AAPL", "15:51", 126.5, volume=1200),
            {"T": "q", "S": "AAPL", "bp": 126.4, "ap": 126.6},
            wire_bar("MSFT", "15:51", 240.0),
            wire_bar("TSLA", "15:51", 700.0),
        ],
        [wire_bar("AAPL", "15:52", 127.0)],
    ]

    async def scenario() -> None:
        async with alpaca_stream(Session(frames=frames)) as server:
            feed = make_feed(server.url, rest.url, clock, Sleeps())
            got = await take(feed, 2)
            assert server.seen[0].auth == {"action": "auth", "key": KEY_ID, "secret": SECRET_KEY}
            assert server.seen[0].subscribe == {
                "action": "subscribe",
                "bars": ["AAPL", "MSFT"],
                "trades": [],
            }
        assert [closes(b) for b in got] == [
            [("AAPL", "15:52", 126.5), ("MSFT", "15:52", 240.0)],
            [("AAPL", "15:53", 127.0)],
        ]
        assert got[0].bars[0] == Bar(
            ticker="AAPL",
            ts=minute("15:52"),
            open=126.0,
            high=127.5,
            low=125.5,
            close=126.5,
            adj_close=None,
            volume=1200.0,
            source="alpaca",
            ingested_at=minute("15:50"),
            interval="1m",
        )
        assert all(b.degraded == frozenset() for b in got)
        assert len(server.seen) == 1
        assert rest.hits_on(BARS_PATH) == 0

    run(scenario)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (402, "refused the keys"),
        (401, "not authenticated"),
        (409, "plan does not include this data feed"),
    ],
)
def test_refused_keys_end_the_feed_with_an_auth_error_naming_the_settings(
    rest: FakeProvider, code: int, words: str
) -> None:
    sleeps = Sleeps()

    async def scenario() -> None:
        async with alpaca_stream(Session(refuse=code)) as server:
            feed = make_feed(server.url, rest.url, Clock(minute("15:50")), sleeps)
            with pytest.raises(ProviderAuthError) as caught:
                await take(feed, 1)
            assert len(server.seen) == 1  # no reconnect loop
        message = str(caught.value)
        assert words in message
        assert f"code {code}" in message
        if code in (401, 402):
            assert "STOCKPRED_ALPACA_KEY_ID" in message
            assert "STOCKPRED_ALPACA_SECRET_KEY" in message
        assert SECRET_KEY not in message
        assert sleeps.calls == []

    run(scenario)


def test_wrong_secret_is_refused_once(rest: FakeProvider) -> None:
    async def scenario() -> None:
        async with alpaca_stream(Session()) as server:
            feed = make_feed(
                server.url, rest.url, Clock(minute("15:50")), Sleeps(), secret_key="wrong"
            )
            with pytest.raises(ProviderAuthError, match="refused the keys"):
                await take(feed, 1)
            assert len(server.seen) == 1

    run(scenario)


def test_connection_limit_on_the_first_connection_is_a_clear_error(rest: FakeProvider) -> None:
    async def scenario() -> None:
        async with alpaca_stream(Session(refuse=406)) as server:
            feed = make_feed(server.url, rest.url, Clock(minute("15:50")), Sleeps())
            with pytest.raises(ProviderError, match="connection limit is exceeded") as caught:
                await take(feed, 1)
            assert not isinstance(caught.value, ProviderAuthError)
            assert len(server.seen) == 1

    run(scenario)


def test_dropped_connections_reconnect_reauthenticate_and_resubscribe(rest: FakeProvider) -> None:
    sleeps = Sleeps()
    sessions = [
        Session(frames=[[wire_bar("AAPL", "15:50", 1.0)]], end="close"),
        # Long enough for the gap to be filled before the network fails.
        Session(frames=[[wire_bar("AAPL", "15:51", 2.0)], 0.3], end="abort"),
        Session(frames=[[wire_bar("AAPL", "15:52", 3.0)]]),
    ]

    async def scenario() -> None:
        async with alpaca_stream(*sessions) as server:
            feed = make_feed(server.url, rest.url, Clock(minute("15:50")), sleeps)
            got = await take(feed, 5)
            assert len(server.seen) == 3
            for seen in server.seen:
                assert seen.auth == {"action": "auth", "key": KEY_ID, "secret": SECRET_KEY}
                assert seen.subscribe == {
                    "action": "subscribe",
                    "bars": ["AAPL", "MSFT"],
                    "trades": [],
                }
        assert [(closes(b), b.degraded) for b in got] == [
            ([("AAPL", "15:51", 1.0)], frozenset()),
            ([], frozenset({"AAPL", "MSFT"})),
            ([("AAPL", "15:52", 2.0)], frozenset()),
            ([], frozenset({"AAPL", "MSFT"})),
            ([("AAPL", "15:53", 3.0)], frozenset()),
        ]
        assert sleeps.calls == [0.01, 0.01]

    run(scenario)


def test_gap_is_backfilled_from_every_rest_page_before_the_held_live_bars_without_duplicates(
    rest: FakeProvider,
) -> None:
    clock = Clock(minute("15:50") + timedelta(seconds=30))
    page_1 = {
        "bars": {"AAPL": [rest_bar("15:51", 2.0), rest_bar("15:52", 3.0)]},
        "next_page_token": "QUFQTHwyMDIx",
    }
    page_2 = {
        "bars": {
            "AAPL": [rest_bar("15:53", 4.0), rest_bar("15:54", 5.0), rest_bar("15:55", 50.0)],
            "MSFT": [rest_bar("15:52", 240.0)],
        },
        "next_page_token": None,
    }
    # The first page answers late, so that live bars arrive while the gap is being filled.
    rest.script(BARS_PATH, Reply(body=json.dumps(page_1), delay_s=0.3))
    rest.script(BARS_PATH, Reply(body=json.dumps(page_2)), when={"page_token": "QUFQTHwyMDIx"})
    sessions = [
        Session(
            frames=[[wire_bar("AAPL", "15:50", 1.0), wire_bar("AAPL", "15:51", 2.0)]],
            end="close",
        ),
        Session(
            frames=[
                [wire_bar("AAPL", "15:54", 55.0)],  # also in the history: the live one wins
                [wire_bar("AAPL", "15:55", 6.0)],
                0.8,
                [wire_bar("AAPL", "15:55", 99.0), wire_bar("AAPL", "15:56", 7.0)],
            ]
        ),
    ]

    def advance(index: int) -> None:
        if index == 1:  # disconnected: the reconnect happens at 15:55:30
            clock.now = minute("15:55") + timedelta(seconds=30)

    async def scenario() -> None:
        async with alpaca_stream(*sessions) as server:
            feed = make_feed(server.url, rest.url, clock, Sleeps())
            got = await take(feed, 4, on_batch=advance)
            assert len(server.seen) == 2
        assert [(closes(b), b.degraded) for b in got] == [
            ([("AAPL", "15:51", 1.0), ("AAPL", "15:52", 2.0)], frozenset()),
            ([], frozenset({"AAPL", "MSFT"})),
            (
                [
                    ("AAPL", "15:53", 3.0),
                    ("AAPL", "15:54", 4.0),
                    ("AAPL", "15:55", 55.0),
                    ("AAPL", "15:56", 6.0),
                    ("MSFT", "15:53", 240.0),
                ],
                frozenset(),
            ),
            ([("AAPL", "15:57", 7.0)], frozenset()),
        ]
        hits = [h for h in rest.hits if h.path == BARS_PATH]
        assert len(hits) == 2
        first = {
            "symbols": "AAPL,MSFT",
            "timeframe": "1Min",
            # MSFT never had a bar: its gap starts with the feed (15:50:30, floored).
            "start": "2021-02-22T15:50:00Z",
            "end": "2021-02-22T15:55:30Z",
            "limit": "10000",
            "feed": "iex",
        }
        assert hits[0].query == first
        assert hits[1].query == {**first, "page_token": "QUFQTHwyMDIx"}
        for hit in hits:
            assert hit.headers["APCA-API-KEY-ID"] == KEY_ID
            assert hit.headers["APCA-API-SECRET-KEY"] == SECRET_KEY
        backfilled = got[2].bars[0]
        assert backfilled.source == "alpaca"
        assert backfilled.interval == "1m"
        assert backfilled.ingested_at == minute("15:55") + timedelta(seconds=30)

    run(scenario)


def test_transient_rest_failures_keep_the_symbols_degraded_until_a_retry_fills_the_gap(
    rest: FakeProvider,
) -> None:
    sleeps = Sleeps()
    filled = {"bars": {"MSFT": [rest_bar("15:51", 240.0)]}, "next_page_token": None}
    rest.script(BARS_PATH, Reply(503, "busy"), Reply(body=json.dumps(filled)))
    sessions = [
        Session(frames=[[wire_bar("AAPL", "15:50", 1.0)]], end="close"),
        Session(frames=[[wire_bar("AAPL", "15:52", 3.0)]]),
    ]

    clock = Clock(minute("15:50"))

    def advance(index: int) -> None:
        if index == 1:
            clock.now = minute("15:53")

    async def scenario() -> None:
        async with alpaca_stream(*sessions) as server:
            feed = make_feed(server.url, rest.url, clock, sleeps)
            got = await take(feed, 3, on_batch=advance)
        assert [(closes(b), b.degraded) for b in got] == [
            ([("AAPL", "15:51", 1.0)], frozenset()),
            ([], frozenset({"AAPL", "MSFT"})),
            ([("AAPL", "15:53", 3.0), ("MSFT", "15:52", 240.0)], frozenset()),
        ]
        assert rest.hits_on(BARS_PATH) == 2
        assert sleeps.calls == [0.01, 0.01]  # the reconnect, then the REST retry

    run(scenario)


def test_unanswered_pings_are_detected_and_the_feed_reconnects(rest: FakeProvider) -> None:
    policy = StreamPolicy(
        ping_interval_s=0.05,
        ping_timeout_s=0.1,
        open_timeout_s=2.0,
        close_timeout_s=0.1,
        backoff_initial_s=0.01,
        rest_timeout_s=2.0,
    )
    sessions = [
        Session(frames=[[wire_bar("AAPL", "15:50", 1.0)]], end="freeze"),
        Session(frames=[[wire_bar("AAPL", "15:51", 2.0)]]),
    ]

    async def scenario() -> None:
        async with alpaca_stream(*sessions) as server:
            feed = make_feed(server.url, rest.url, Clock(minute("15:50")), Sleeps(), policy=policy)
            got = await take(feed, 3)
            assert len(server.seen) == 2
            assert server.seen[1].subscribe is not None
        assert [(closes(b), b.degraded) for b in got] == [
            ([("AAPL", "15:51", 1.0)], frozenset()),
            ([], frozenset({"AAPL", "MSFT"})),
            ([("AAPL", "15:52", 2.0)], frozenset()),
        ]

    run(scenario)


def test_close_ends_batches(rest: FakeProvider) -> None:
    async def scenario() -> None:
        async with alpaca_stream(Session(frames=[[wire_bar("AAPL", "15:50", 1.0)]])) as server:
            feed = make_feed(server.url, rest.url, Clock(minute("15:50")), Sleeps())
            first = asyncio.Event()
            got: list[FeedBatch] = []

            async def consume() -> None:
                async for batch in feed.batches():
                    got.append(batch)
                    first.set()

            consumer = asyncio.create_task(consume())
            await first.wait()
            await feed.close()
            await feed.close()  # idempotent
            async with asyncio.timeout(1.0):
                await consumer
            assert len(got) == 1
            assert len(server.seen) == 1
            assert [b async for b in feed.batches()] == []

    run(scenario)


def test_unreachable_stream_backs_off_exponentially_capped_then_gives_up(
    rest: FakeProvider,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    policy = StreamPolicy(backoff_initial_s=0.01, backoff_max_s=0.03, max_attempts=5)

    async def scenario() -> None:
        feed = make_feed(
            f"ws://127.0.0.1:{port}/v2/iex",
            rest.url,
            Clock(minute("15:50")),
            sleeps,
            policy=policy,
        )
        with pytest.raises(ProviderUnavailableError, match="failed 5 times in a row"):
            await take(feed, 1)

    run(scenario)
    assert sleeps.calls == [0.01, 0.02, 0.03, 0.03]


def test_trades_become_minute_bars_when_the_next_minute_starts_or_the_clock_passes_it(
    rest: FakeProvider,
) -> None:
    clock = Clock(minute("15:50") + timedelta(seconds=30))
    frames: list[list[dict[str, object]] | float] = [
        [
            # The minute under way at the subscription missed its first trades: not built.
            wire_trade("AAPL", "15:50:50.000", 1.0, 1),
            wire_trade("AAPL", "15:51:10.000", 100.0, 10),
            wire_trade("AAPL", "15:51:40.500", 101.0, 5),
        ],
        [
            wire_trade("AAPL", "15:51:20.250", 99.0, 1),  # reported late, in its minute
            wire_bar("MSFT", "15:51", 240.0),
            wire_trade("AAPL", "15:52:05.000", 102.0, 3),
        ],
    ]

    def advance(index: int) -> None:
        if index == 0:  # the 15:52 minute is over (and its grace of 2 s)
            clock.now = minute("15:53") + timedelta(seconds=3)

    async def scenario() -> None:
        async with alpaca_stream(Session(frames=frames)) as server:
            feed = make_feed(server.url, rest.url, clock, Sleeps(), from_trades=["AAPL"])
            got = await take(feed, 2, on_batch=advance)
            assert server.seen[0].subscribe == {
                "action": "subscribe",
                "bars": ["MSFT"],
                "trades": ["AAPL"],
            }
        assert [closes(b) for b in got] == [
            [("MSFT", "15:52", 240.0), ("AAPL", "15:52", 101.0)],
            [("AAPL", "15:53", 102.0)],
        ]
        built = got[0].bars[1]
        assert (built.open, built.high, built.low, built.close, built.volume) == (
            100.0,
            101.0,
            99.0,
            101.0,
            16.0,
        )
        assert built.interval == "1m"
        assert built.ingested_at == minute("15:50") + timedelta(seconds=30)
        assert got[1].bars[0].volume == 3.0

    run(scenario)


def test_a_drop_while_the_gap_is_filled_keeps_the_held_bars_for_the_next_fill(
    rest: FakeProvider,
) -> None:
    rest.script(
        BARS_PATH, Reply(body=json.dumps({"bars": {}, "next_page_token": None}), delay_s=0.3)
    )
    sessions = [
        Session(frames=[[wire_bar("AAPL", "15:50", 1.0)]], end="close"),
        Session(frames=[[wire_bar("AAPL", "15:51", 2.0)]], end="abort"),  # before the fill
        Session(frames=[[wire_bar("AAPL", "15:52", 3.0)]]),
    ]

    async def scenario() -> None:
        async with alpaca_stream(*sessions) as server:
            feed = make_feed(server.url, rest.url, Clock(minute("15:50")), Sleeps())
            got = await take(feed, 4)
            assert len(server.seen) == 3
        assert [(closes(b), b.degraded) for b in got] == [
            ([("AAPL", "15:51", 1.0)], frozenset()),
            ([], frozenset({"AAPL", "MSFT"})),
            ([], frozenset({"AAPL", "MSFT"})),
            ([("AAPL", "15:52", 2.0), ("AAPL", "15:53", 3.0)], frozenset()),
        ]

    run(scenario)
