"""The processor closes a session only once it is complete, whatever order the bus interleaves
tickers in: a Kafka topic keeps one key's order, not the order across keys (partitions)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby

import numpy as np
import pandas as pd
import pytest

from stockpred.bus.inprocess import InProcessBus
from stockpred.bus.topics import BARS
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Bar, FeedHealth, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.sources.feeds.intraday import split_last_sessions
from stockpred.stream.features import SessionFeatures
from stockpred.stream.memory import MemorySink
from stockpred.stream.processor import StreamProcessor
from stockpred.stream.sessions import SessionClock

TICKERS, WARM, LIVE = 12, 300, 8
NOW_UTC = datetime(2022, 6, 1, tzinfo=UTC)


def _bars() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = WARM + LIVE
    days = pd.bdate_range("2021-01-01", periods=n, tz="UTC") + pd.Timedelta(hours=21)
    frames = []
    for name in ["^GSPC", *(f"S{i:02d}" for i in range(TICKERS))]:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": name, "ts": days, "open": close, "high": close * 1.01,
                    "low": close * 0.99, "close": close, "adj_close": close,
                    "volume": rng.integers(1_000, 9_000, n).astype(float),
                }
            )
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True)


class _Keep(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[pd.DataFrame] = []

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        self.rows.append(rows)

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        return None

    def read_rows(self, *_: object, **__: object) -> pd.DataFrame:
        raise AssertionError("nothing is delivered twice here")


class _NoForecaster:
    horizons: tuple[int, ...] = ()
    context_rows = 1

    def forecast(self, rows: pd.DataFrame, **_: object) -> list[Prediction]:
        return []

    def reload(self) -> bool:
        return False


def _state(bars: pd.DataFrame, until: pd.Timestamp) -> SessionFeatures:
    state = SessionFeatures(get_feature_set("daily_v1"))
    state.warm(bars[bars["ts"] <= until])
    return state


def test_sessions_interleaved_across_tickers_give_the_in_order_rows() -> None:
    bars = _bars()
    days = sorted(bars["ts"].unique())
    until = pd.Timestamp(days[WARM - 1])
    live = bars[bars["ts"] > until].sort_values(["ts", "ticker"])
    in_order = _state(bars, until)
    reference = pd.concat(
        [in_order.close_session(bars_of(s)) for _, s in live.groupby("ts", sort=True)],
        ignore_index=True,
    )
    # Three "partitions": every session of one group of tickers, then the next group's.
    partition = {t: i % 3 for i, t in enumerate(sorted(live["ticker"].unique()))}
    shuffled = live.assign(p=live["ticker"].map(partition)).sort_values(["p", "ts", "ticker"])
    sink = _Keep()

    async def run() -> None:
        bus = InProcessBus()
        processor = StreamProcessor(
            _state(bars, until),
            bus,
            _NoForecaster(),
            sink=sink,
            clock=lambda: datetime(2022, 1, 1, tzinfo=UTC),
            idle_close=0.3,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        # In small pieces, so that the processor fetches between them, as from a broker.
        for _, piece in shuffled.groupby(["p", "ts"], sort=False):
            await bus.publish_many(BARS, [(b.ticker, b) for b in bars_of(piece)])
            await asyncio.sleep(0.01)
        while processor.stats.sessions < LIVE:
            assert not running.done()
            await asyncio.sleep(0.02)
        stop.set()
        await running

    asyncio.run(run())

    got = pd.concat(sink.rows, ignore_index=True)
    assert len(sink.rows) == LIVE  # one close per session, none split
    pd.testing.assert_frame_equal(
        got.sort_values(["ts", "ticker"]).reset_index(drop=True),
        reference.sort_values(["ts", "ticker"]).reset_index(drop=True),
        rtol=1e-12,
        atol=1e-12,
    )


def test_a_peek_at_the_whole_session_is_the_row_its_close_commits_and_changes_nothing() -> None:
    bars = _bars()
    days = sorted(bars["ts"].unique())
    until = pd.Timestamp(days[WARM - 1])
    sessions = [bars_of(s) for _, s in bars[bars["ts"] > until].groupby("ts", sort=True)]
    reference = _state(bars, until)
    expected = [reference.close_session(s) for s in sessions]
    state = _state(bars, until)

    for session, want in zip(sessions, expected, strict=True):
        # Intraday: a partial session (the open to mid-day) peeked, then the whole one.
        partial = [Bar(**_partial(b)) for b in session]  # type: ignore[arg-type]
        early = state.peek(partial)
        peeked = state.peek(session)
        committed = state.close_session(session)

        pd.testing.assert_frame_equal(peeked, want, rtol=1e-12, atol=1e-12)
        pd.testing.assert_frame_equal(committed, want, rtol=1e-12, atol=1e-12)
        assert len(early) == TICKERS
        assert not np.allclose(
            early.filter(like="rsi").to_numpy(float), want.filter(like="rsi").to_numpy(float)
        )


def _partial(bar: Bar) -> dict[str, object]:
    """The session so far at mid-day: the open, a narrower range, a last trade 3% under
    where the session will close."""
    mid = bar.close * 0.97
    return {
        "ticker": bar.ticker,
        "ts": bar.ts,
        "open": bar.open,
        "high": max(bar.open, mid),
        "low": min(bar.open, mid),
        "close": mid,
        "adj_close": mid,
        "volume": bar.volume / 2,
        "source": bar.source,
        "ingested_at": bar.ingested_at,
    }


class _RsiForecaster:
    """Forecasts each row's rsi_14 / 100, so a test can tell which row it came from."""

    horizons = (1,)
    context_rows = 1

    def forecast(
        self, rows: pd.DataFrame, *, last_close: object, now: datetime
    ) -> list[Prediction]:
        return [
            Prediction(
                ticker=str(r.ticker), as_of=r.ts, horizon=1, target="log_return",
                value=float(r.rsi_14) / 100, lower=np.nan, upper=np.nan, direction_prob=np.nan,
                model="test", model_version="1", created_at=now,
            )
            for r in rows.itertuples()
        ]  # fmt: skip

    def reload(self) -> bool:
        return False


class _Stored(_Keep):
    def __init__(self) -> None:
        super().__init__()
        self.forecasts: list[Prediction] = []

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        self.forecasts += forecasts


def test_intraday_bars_give_provisional_forecasts_and_the_close_commits_one() -> None:
    bars = _bars()
    days = sorted(bars["ts"].unique())
    until = pd.Timestamp(days[WARM - 1])
    session = bars_of(bars[bars["ts"] == days[WARM]])
    close = pd.Timestamp(days[WARM])
    # Two minute bars per ticker before the close: 15:00 and 15:30 UTC.
    minutes = [
        Bar(**{**_partial(b), "ts": (close - pd.Timedelta(hours=h)).to_pydatetime(),
               "interval": "1m", "adj_close": None})  # type: ignore[arg-type]
        for h in (6.0, 5.5)
        for b in session
    ]  # fmt: skip
    sink = _Stored()
    published: list[Prediction] = []

    async def run() -> None:
        bus = InProcessBus()
        listener = await bus.subscribe("predictions", group="t", consumer="t")
        processor = StreamProcessor(
            _state(bars, until),
            bus,
            _RsiForecaster(),
            sink=sink,
            clock=lambda: datetime(2022, 1, 1, tzinfo=UTC),
            idle_close=0.3,
        )
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        for minute in (minutes[: TICKERS + 1], minutes[TICKERS + 1 :]):
            await bus.publish_many(BARS, [(b.ticker, b) for b in minute])
            await asyncio.sleep(0.3)
        await bus.publish_many(BARS, [(b.ticker, b) for b in session])
        while processor.stats.sessions < 1:
            assert not running.done()
            await asyncio.sleep(0.02)
        stop.set()
        await running
        for delivery in await listener.fetch(max_records=1000, timeout=0.2):
            assert isinstance(delivery.record, Prediction)
            published.append(delivery.record)

    asyncio.run(run())

    provisional = [p for p in published if p.provisional]
    committed = [p for p in published if not p.provisional]
    expected = _state(bars, until).close_session(session).set_index("ticker")["rsi_14"]
    assert {p.ticker for p in committed} == set(expected.index)
    for p in committed:
        assert p.as_of == close
        assert abs(p.value - expected[p.ticker] / 100) < 1e-12
    # Nowcasts came for each minute batch, at the minute's time, none stored.
    assert {p.as_of for p in provisional} == {pd.Timestamp(m.ts) for m in minutes}
    assert len(provisional) >= 2 * TICKERS
    assert all(not p.provisional for p in sink.forecasts)
    assert len(sink.forecasts) == len(committed)


def _session_day(bars: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first close from the WARM-th on that is a full XNYS session's (16:00 New York is
    21:00 UTC in winter), and the close before it."""
    days = sorted(bars["ts"].unique())
    clock = SessionClock("XNYS")
    for i in range(WARM, len(days)):
        close = pd.Timestamp(days[i])
        bounds = clock.session_of((close - pd.Timedelta(minutes=1)).to_pydatetime())
        if bounds is not None and pd.Timestamp(bounds[1]) == close:
            return pd.Timestamp(days[i - 1]), close
    raise AssertionError("no full session among the generated days")


def _split(bars: pd.DataFrame, close: pd.Timestamp) -> list[Bar]:
    session = bars_of(bars[bars["ts"] == close])
    return split_last_sessions(session, every=timedelta(minutes=5))


async def _publish_minutes(bus: InProcessBus, minutes: Sequence[Bar]) -> None:
    for _, batch in groupby(minutes, key=lambda b: b.ts):
        await bus.publish_many(BARS, [(b.ticker, b) for b in batch])
        await asyncio.sleep(0.01)  # a pace the processor keeps up with


def test_a_daily_bar_split_into_five_minute_bars_folds_back_into_itself() -> None:
    bars = _bars()
    _, close = _session_day(bars)
    minutes = _split(bars, close)
    by_ticker = {t: [m for m in minutes if m.ticker == t] for t in {m.ticker for m in minutes}}
    for daily in bars_of(bars[bars["ts"] == close]):
        parts = by_ticker[daily.ticker]
        assert len(parts) == 78  # 09:30 to 16:00
        assert [p.ts for p in parts] == sorted(p.ts for p in parts)
        assert parts[-1].ts == daily.ts
        assert all(p.interval == "5m" for p in parts)
        assert parts[0].open == daily.open
        assert parts[-1].close == daily.close
        assert max(p.high for p in parts) == daily.high
        assert min(p.low for p in parts) == daily.low
        assert sum(p.volume for p in parts) == daily.volume
        assert parts[-1].adj_close == daily.adj_close


def test_an_early_close_splits_into_its_shorter_session() -> None:
    day_after_thanksgiving = datetime(2023, 11, 24, 18, 0, tzinfo=UTC)  # 13:00 New York
    bar = Bar("AAA", day_after_thanksgiving, 10.0, 11.0, 9.0, 10.5, None, 4200.0, "t", NOW_UTC)
    parts = split_last_sessions([bar], every=timedelta(minutes=5))
    assert len(parts) == 42
    assert parts[0].ts == datetime(2023, 11, 24, 14, 35, tzinfo=UTC)


def _intraday_processor(
    bars: pd.DataFrame, until: pd.Timestamp, bus: InProcessBus, sink: _Stored
) -> StreamProcessor:
    return StreamProcessor(
        _state(bars, until),
        bus,
        _RsiForecaster(),
        sink=sink,
        clock=lambda: NOW_UTC,
        idle_close=0.3,
        sessions=SessionClock("XNYS"),
        checkpoint_every=0.0,
    )


async def _until_sessions(
    processor: StreamProcessor, running: asyncio.Task[object], sessions: int
) -> None:
    """Wait (30 s at most) until ``processor`` has closed ``sessions`` sessions."""
    deadline = time.monotonic() + 30
    while processor.stats.sessions < sessions:
        assert not running.done()
        assert time.monotonic() < deadline, f"{processor.stats.sessions} of {sessions}"
        await asyncio.sleep(0.02)


def _assert_rows_of_every_session_after(
    bars: pd.DataFrame, until: pd.Timestamp, sink: _Stored
) -> None:
    """The rows ``sink`` got equal the state's closes of every session after ``until``, exactly."""
    reference = _state(bars, until)
    want = pd.concat(
        [reference.close_session(bars_of(s)) for _, s in bars[bars["ts"] > until].groupby("ts")],
        ignore_index=True,
    )
    got = pd.concat(sink.rows, ignore_index=True)
    pd.testing.assert_frame_equal(got, want, rtol=0, atol=0)


def test_intraday_bars_alone_commit_the_session_at_the_exchange_close() -> None:
    bars = _bars()
    until, close = _session_day(bars)
    minutes = _split(bars, close)
    sink = _Stored()
    published: list[Prediction] = []

    async def run() -> None:
        bus = InProcessBus()
        listener = await bus.subscribe("predictions", group="t", consumer="t")
        processor = _intraday_processor(bars, until, bus, sink)
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        await processor.ready.wait()
        await _publish_minutes(bus, minutes)
        while processor.stats.sessions < 1:
            assert not running.done()
            await asyncio.sleep(0.02)
        stop.set()
        await running
        while deliveries := await listener.fetch(max_records=10_000, timeout=0.1):
            published.extend(d.record for d in deliveries if isinstance(d.record, Prediction))

    asyncio.run(run())

    expected = _state(bars, until).close_session(bars_of(bars[bars["ts"] == close]))
    got = pd.concat(sink.rows, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, rtol=0, atol=0)
    committed = [p for p in published if not p.provisional]
    assert sorted(p.ticker for p in committed) == sorted(expected["ticker"])
    assert {p.as_of for p in committed} == {close}
    assert all(not p.provisional for p in sink.forecasts)
    assert len(sink.forecasts) == TICKERS
    # A nowcast for each five minutes (a few may fold together when the processor is busy).
    nowcast_times = {p.as_of for p in published if p.provisional}
    assert len(nowcast_times) >= 40
    assert max(nowcast_times) == close
    assert len(sink.intraday) == len(minutes)  # every intraday bar kept, once


def test_a_processor_killed_mid_session_commits_the_same_session_after_a_restart() -> None:
    bars = _bars()
    until, close = _session_day(bars)
    minutes = _split(bars, close)
    half = len(minutes) // 2
    sink = _Stored()

    async def run() -> None:
        bus = InProcessBus(ack_timeout=0.2)
        first = _intraday_processor(bars, until, bus, sink)
        stop = asyncio.Event()
        running = asyncio.create_task(first.run(stop))
        await first.ready.wait()
        await _publish_minutes(bus, minutes[:half])
        while first.stats.intraday < half:
            await asyncio.sleep(0.01)
        running.cancel()  # no final checkpoint: what was not checkpointed is not acknowledged
        await asyncio.gather(running, return_exceptions=True)
        assert sink.intraday, "intraday bars were kept before the kill"
        second = _intraday_processor(bars, until, bus, sink)
        stop = asyncio.Event()
        running = asyncio.create_task(second.run(stop))
        await second.ready.wait()
        await _publish_minutes(bus, minutes[half:])
        while second.stats.sessions < 1:
            assert not running.done()
            await asyncio.sleep(0.02)
        stop.set()
        await running

    asyncio.run(run())

    expected = _state(bars, until).close_session(bars_of(bars[bars["ts"] == close]))
    got = pd.concat(sink.rows, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, rtol=0, atol=0)
    assert len(sink.forecasts) == TICKERS


def test_daily_sessions_after_an_intraday_one_wait_for_its_commit() -> None:
    bars = _bars()
    until, close = _session_day(bars)
    later = bars[bars["ts"] > close].sort_values(["ts", "ticker"])
    sink = _Stored()

    async def run() -> None:
        bus = InProcessBus()
        processor = _intraday_processor(bars, until, bus, sink)
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        await processor.ready.wait()
        # All at once: the commit's daily bars come back behind the later sessions' bars.
        everything = [*_split(bars, close), *bars_of(later)]
        await bus.publish_many(BARS, [(b.ticker, b) for b in everything])
        await _until_sessions(processor, running, 1 + later["ts"].nunique())
        stop.set()
        await running

    asyncio.run(run())

    _assert_rows_of_every_session_after(bars, until, sink)


@pytest.mark.parametrize("intraday", [True, False], ids=["intraday", "daily"])
def test_a_later_session_of_some_tickers_does_not_close_the_others_without_their_bars(
    intraday: bool,
) -> None:
    """Kafka's partitions interleave freely: half the tickers' bars of a session and of the
    sessions after may all come before the other half's. A later session of one ticker says
    nothing of another's, so the session waits for each ticker's own bars. The processor is
    made before its state is warmed, as ``compose.stream_processor``'s is."""
    bars = _bars()
    until, close = _session_day(bars)
    later = bars[bars["ts"] > close].sort_values(["ts", "ticker"])
    first_session = _split(bars, close) if intraday else bars_of(bars[bars["ts"] == close])
    names = sorted({b.ticker for b in first_session})
    ahead_part = set(names[: len(names) // 2])
    sink = _Stored()

    async def run() -> None:
        bus = InProcessBus()
        processor = StreamProcessor(
            SessionFeatures(get_feature_set("daily_v1")),
            bus,
            _RsiForecaster(),
            sink=sink,
            clock=lambda: NOW_UTC,
            idle_close=0.3,
            sessions=SessionClock("XNYS"),
            checkpoint_every=0.0,
        )
        processor.state.warm(bars[bars["ts"] <= until])
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        await processor.ready.wait()
        for part in (ahead_part, set(names) - ahead_part):
            ahead = [b for b in [*first_session, *bars_of(later)] if b.ticker in part]
            await bus.publish_many(BARS, [(b.ticker, b) for b in ahead])
            await asyncio.sleep(0.1)  # well within idle_close: the other partition lags
        await _until_sessions(processor, running, 1 + later["ts"].nunique())
        stop.set()
        await running

    asyncio.run(run())

    _assert_rows_of_every_session_after(bars, until, sink)


def test_forecasts_of_a_ticker_whose_feed_has_a_hole_are_marked_degraded_until_it_is_filled() -> (
    None
):
    bars = _bars()
    until, close = _session_day(bars)
    minutes = _split(bars, close)
    half = len(minutes) // 2
    sink = _Stored()
    published: list[Prediction] = []

    async def run() -> None:
        bus = InProcessBus()
        listener = await bus.subscribe("predictions", group="t", consumer="t")
        processor = _intraday_processor(bars, until, bus, sink)
        stop = asyncio.Event()
        running = asyncio.create_task(processor.run(stop))
        await processor.ready.wait()
        hole = FeedHealth("live", ("S03",), NOW_UTC)
        await bus.publish(BARS, key="live", record=hole)
        await _publish_minutes(bus, minutes[:half])
        await asyncio.sleep(0.3)
        filled = FeedHealth("live", (), NOW_UTC)
        await bus.publish(BARS, key="live", record=filled)
        await asyncio.sleep(0.1)
        await _publish_minutes(bus, minutes[half:])
        while processor.stats.sessions < 1:
            assert not running.done()
            await asyncio.sleep(0.02)
        stop.set()
        await running
        while deliveries := await listener.fetch(max_records=10_000, timeout=0.1):
            published.extend(d.record for d in deliveries if isinstance(d.record, Prediction))

    asyncio.run(run())

    middle = pd.Timestamp(minutes[half].ts)
    early = [p for p in published if p.provisional and p.as_of < middle]
    late = [p for p in published if p.as_of >= middle]
    assert early
    assert all(p.degraded == (p.ticker == "S03") for p in early)
    assert late
    assert not any(p.degraded for p in late)  # the committed ones included
    assert not any(p.degraded for p in sink.forecasts)
