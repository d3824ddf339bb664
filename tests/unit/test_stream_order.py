"""The processor closes a session only once it is complete, whatever order the bus interleaves
tickers in: a Kafka topic keeps one key's order, not the order across keys (partitions)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from stockpred.bus.inprocess import InProcessBus
from stockpred.bus.topics import BARS
from stockpred.domain.records import Bar, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.stream.features import SessionFeatures, bars_of
from stockpred.stream.processor import StreamProcessor

TICKERS, WARM, LIVE = 12, 300, 8


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


class _Keep:
    def __init__(self) -> None:
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
    # Two minute bars per ticker before the close: 14:30 and 15:30 UTC.
    minutes = [
        Bar(**{**_partial(b), "ts": (close - pd.Timedelta(hours=h)).to_pydatetime(),
               "interval": "1m", "adj_close": None})  # type: ignore[arg-type]
        for h in (6.5, 5.5)
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
