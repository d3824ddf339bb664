"""Stream speed: the feature state and the stream processor on generated bars, minute bars
through each bus, beside the bus's own raw publish/consume ceiling for as many records in the
same run; then the crash and parity tests' own figures.

Data (generated for scale, seed fixed): --tickers stocks and the ^GSPC index, random-walk daily
bars on the XNYS sessions, --warm sessions to warm the state on; then two sessions of minute
bars (each daily bar split into 390 one-minute bars whose session folds back into it:
``sources/feeds/intraday.py``), 500 x 390 = 195,000 bars a session with the default size.

- ``state``: the whole daily_v1 state's update, per daily bar, from warming: bars/s, after a
  first session in the process (which compiles the stacked drivers: ``first_session_s``);
- ``close`` and ``peek``: one session close, and one peek of every ticker's session so far
  (states, context, ranks), p50/p99 ms;
- ``backends``: the processor on each bus. ``bars_per_s``: the first minute session published
  as fast as the bus takes it, from the first publish to the session committed at its close
  and taken (nowcasts published on the way; rows to a sink that keeps nothing; a stand-in
  champion, one matrix product per batch as a ridge's). ``p50_ms``/``p99_ms``: the second
  session's first --paced-minutes minutes published one every --pace seconds, from a minute's
  publish to the first provisional forecast of it (or later) received on ``predictions``.
  ``raw_per_s``: ``benchmarks/bus.py``'s raw client moving as many bar-sized records.
- ``crash`` and ``parity``: tests/e2e/test_stream_crash.py (SIGKILLs against each broker) and
  tests/integration/test_stream_parity.py run by pytest, their figures read back
  (``--no-checks`` skips them: about 6 minutes).

Prints one JSON object.

    python benchmarks/stream.py [--tickers 500] [--backends memory,redis,...] [--no-checks]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stockpred.bus import open_bus
from stockpred.bus.topics import BARS, PREDICTIONS
from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Bar, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.sources.feeds.intraday import split_session
from stockpred.stream.features import SessionFeatures
from stockpred.stream.memory import MemorySink
from stockpred.stream.processor import StreamProcessor
from stockpred.stream.sessions import SessionClock

_HERE = Path(__file__).resolve().parent
# Daily session closes timed for the ``close`` figure.
CLOSES = 20


def _bus_benchmark() -> Any:
    """benchmarks/bus.py, for its raw-client ceilings and its Tansu start-up."""
    spec = importlib.util.spec_from_file_location("bench_bus", _HERE / "bus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_bus"] = module
    spec.loader.exec_module(module)
    return module


def sessions_of(count: int, first: str = "2019-01-02") -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """``count`` XNYS sessions from ``first``: (open, close) in UTC."""
    start = pd.Timestamp(first)
    calendar = get_trading_calendar("XNYS", start, start + pd.DateOffset(days=2 * count))
    days = calendar.sessions_between(start, start + pd.DateOffset(days=2 * count))[:count]
    closes = calendar.session_closes(days)
    out = []
    for close in closes:
        bounds = calendar.session_bounds(close)
        assert bounds is not None
        out.append(bounds)
    return out


def generated(tickers: int, closes: Sequence[pd.Timestamp], seed: int = 20240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(closes)
    frames = []
    for name in ["^GSPC", *(f"S{i:04d}" for i in range(tickers))]:
        close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, n)))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": name,
                    "ts": pd.DatetimeIndex(closes),
                    "open": close * (1 + rng.normal(0, 0.003, n)),
                    "high": close * (1 + np.abs(rng.normal(0, 0.01, n))) + 0.01,
                    "low": close * (1 - np.abs(rng.normal(0, 0.01, n))) - 0.01,
                    "close": close,
                    "adj_close": close,
                    "volume": rng.integers(100_000, 5_000_000, n).astype(float),
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    return frame


def minutes(daily: list[Bar], opened: pd.Timestamp) -> list[list[Bar]]:
    """The session's bars as one-minute bars, grouped by minute."""
    split = [
        m
        for bar in daily
        for m in split_session(bar, opened=opened.to_pydatetime(), every=timedelta(minutes=1))
    ]
    split.sort(key=lambda b: (b.ts, b.ticker))
    return [list(group) for _, group in groupby(split, key=lambda b: b.ts)]


class _LinearForecaster:
    """Stands in for a champion: one fixed linear model over the feature row (a ridge's
    matrix product, without its contributions), a forecast per ticker."""

    horizons = (1,)
    context_rows = 1

    def __init__(self, outputs: Sequence[str]) -> None:
        self._outputs = list(outputs)
        self._weights = np.random.default_rng(7).normal(0, 1e-3, len(self._outputs))

    def forecast(
        self, rows: pd.DataFrame, *, last_close: object, now: datetime
    ) -> list[Prediction]:
        x = np.nan_to_num(rows[self._outputs].to_numpy(dtype=np.float64))
        values = x @ self._weights
        return [
            Prediction(
                ticker=str(t), as_of=ts, horizon=1, target="log_return", value=float(v),
                lower=float(v) - 0.02, upper=float(v) + 0.02, direction_prob=0.5,
                model="linear", model_version="bench", created_at=now,
            )
            for t, ts, v in zip(rows["ticker"], rows["ts"], values, strict=True)
        ]  # fmt: skip

    def reload(self) -> bool:
        return False


class _NoSink(MemorySink):
    """Keeps nothing: the stream's own path, not the store's."""

    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        return None

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        return None

    def write_intraday_bars(self, bars: Sequence[Bar]) -> None:
        return None


def warmed(bars: pd.DataFrame, warm_until: pd.Timestamp) -> tuple[SessionFeatures, float]:
    state = SessionFeatures(get_feature_set("daily_v1"))
    part = bars[bars["ts"] <= warm_until]
    started = time.perf_counter()
    state.warm(part)
    return state, len(part) / (time.perf_counter() - started)


def close_figures(state: SessionFeatures, sessions: list[list[Bar]]) -> dict[str, float]:
    times = []
    for session in sessions:
        started = time.perf_counter()
        state.close_session(session)
        times.append(time.perf_counter() - started)
    ordered = sorted(times)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1),
        "bars_per_s": round(len(sessions[0]) / statistics.median(ordered), 1),
    }


def peek_figures(state: SessionFeatures, partials: list[list[Bar]]) -> dict[str, float]:
    """A peek of every ticker's session so far after 60, 120, ... minutes (its bars folded)."""
    times = []
    for bars in partials:
        folded: dict[str, Bar] = {}
        for bar in bars:
            held = folded.get(bar.ticker)
            folded[bar.ticker] = bar if held is None else dataclasses.replace(
                held, ts=bar.ts, high=max(held.high, bar.high), low=min(held.low, bar.low),
                close=bar.close, volume=held.volume + bar.volume,
            )  # fmt: skip
        started = time.perf_counter()
        state.peek(list(folded.values()))
        times.append(time.perf_counter() - started)
    return _percentiles(times)


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1),
    }


async def through(
    url: str,
    state: SessionFeatures,
    fast: list[list[Bar]],
    paced: list[list[Bar]],
    *,
    pace: float,
) -> dict[str, Any]:
    """The processor on ``url``: ``fast`` (a session's minutes) as fast as the bus takes them,
    until the session is committed and taken; then ``paced`` minutes one every ``pace`` s."""
    namespace = f"bench{uuid.uuid4().hex[:12]}"
    bus = open_bus(url, namespace=namespace)
    processor = StreamProcessor(
        state,
        bus,
        _LinearForecaster(state.outputs),
        sink=_NoSink(),
        clock=lambda: datetime.now().astimezone(),
        idle_close=0.5,
        sessions=SessionClock("XNYS"),
    )
    received: list[tuple[pd.Timestamp, float]] = []
    stop = asyncio.Event()

    async def listen() -> None:
        listener = await bus.subscribe(PREDICTIONS, group="bench", consumer="bench")
        while not stop.is_set():
            batch = await listener.fetch(max_records=5_000, timeout=0.05)
            now = time.perf_counter()
            received.extend(
                (pd.Timestamp(d.record.as_of), now)
                for d in batch
                if isinstance(d.record, Prediction) and d.record.provisional
            )
            await listener.ack(batch)
        await listener.close()

    try:
        running = asyncio.create_task(processor.run(stop))
        listening = asyncio.create_task(listen())
        await processor.ready.wait()
        await asyncio.sleep(0.5)  # the listener's group formed (a Kafka one takes seconds)
        started = time.perf_counter()
        for minute in fast:
            await bus.publish_many(BARS, [(b.ticker, b) for b in minute])
        while processor.stats.sessions < 1:
            if running.done():
                running.result()
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - started
        nowcasts = processor.stats.nowcasts
        await asyncio.sleep(1.0)
        received.clear()
        published: dict[pd.Timestamp, float] = {}
        for minute in paced:
            published[pd.Timestamp(minute[0].ts)] = time.perf_counter()
            await bus.publish_many(BARS, [(b.ticker, b) for b in minute])
            await asyncio.sleep(pace)
        await asyncio.sleep(2.0)
        stop.set()
        await running
        await listening
    finally:
        await bus.close()
    latencies = []
    for stamp, at in published.items():
        answers = [t for as_of, t in received if as_of >= stamp]
        if answers:
            latencies.append(min(answers) - at)
    bars = sum(len(m) for m in fast)
    return {
        "bars_per_s": round(bars / seconds, 1),
        "seconds": round(seconds, 2),
        "nowcasts": nowcasts,
        **_percentiles(latencies),
        "paced_minutes": len(published),
        "minutes_answered": len(latencies),
    }


def checks(backends: Sequence[str]) -> dict[str, Any]:
    """The crash test (on the brokers among ``backends``) and the parity test, by pytest; their
    figures as they reported them."""
    brokers = [b for b in backends if b != "memory"]
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as folder:
        report = Path(folder) / "report.jsonl"
        selected = " or ".join(brokers) or "nothing"
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            str(_HERE.parent / "tests/integration/test_stream_parity.py"),
            str(_HERE.parent / "tests/e2e/test_stream_crash.py"), "-k", f"parity or {selected}",
        ]  # fmt: skip
        env = {**os.environ, "STOCKPRED_TEST_BENCH_REPORT": str(report)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        lines = report.read_text().splitlines() if report.exists() else []
    figures = [json.loads(line) for line in lines]
    crash = [
        {k: f[k] for k in ("backend", "kills", "lost", "duplicated", "kill_seconds")}
        for f in figures
        if f["kind"] == "crash"
    ]
    parity = [f for f in figures if f["kind"] == "parity"]
    return {
        "crash": crash,
        "parity": {
            "max_abs_diff": max(f["max_abs_diff"] for f in parity) if parity else None,
            "max_rel_diff": max(f["max_rel_diff"] for f in parity) if parity else None,
            "rows": max((f["rows"] for f in parity), default=0),
            "features": max((f["features"] for f in parity), default=0),
        },
        "checks_passed": done.returncode == 0,
        **({} if done.returncode == 0 else {"checks_output": done.stdout[-2000:]}),
    }


async def _raw(
    bench_bus: Any, name: str, url: str, args: argparse.Namespace, payload: bytes
) -> dict[str, float]:
    if name == "memory":
        result: dict[str, float] = await bench_bus.raw_queue(args)
    elif name == "redis":
        result = await bench_bus.raw_redis(url, args, payload)
    elif name == "nats":
        result = await bench_bus.raw_nats(url, args, payload)
    else:
        result = await bench_bus.raw_kafka(url.removeprefix("kafka://"), args, payload)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--warm", type=int, default=280, help="sessions to warm the state on")
    parser.add_argument("--paced-minutes", type=int, default=60)
    parser.add_argument(
        "--pace",
        type=float,
        default=0.25,
        help="seconds between paced minutes (0.25: 2,000 bars/s at 500 tickers, under every "
        "bus's ceiling, so the latency is the path's and not a backlog's)",
    )
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--backends", default="memory,redis,nats,kafka")
    parser.add_argument("--checks", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("STOCKPRED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    parser.add_argument(
        "--nats-url", default=os.environ.get("STOCKPRED_TEST_NATS_URL", "nats://127.0.0.1:4222")
    )
    args = parser.parse_args()
    backends = args.backends.split(",")
    sessions = sessions_of(args.warm + 2 + CLOSES)
    closes = [close for _, close in sessions]
    bars = generated(args.tickers, closes, seed=args.seed)
    warm_until = closes[args.warm - 1]
    fast_day, paced_day = (bars_of(bars[bars["ts"] == closes[args.warm + i]]) for i in (0, 1))
    fast = minutes(fast_day, sessions[args.warm][0])
    paced = minutes(paced_day, sessions[args.warm + 1][0])[: args.paced_minutes]
    started = time.perf_counter()
    SessionFeatures(get_feature_set("daily_v1")).warm(bars[bars["ts"] == closes[0]])
    first_session = time.perf_counter() - started
    state, warm_rate = warmed(bars, warm_until)
    # Peeks at the first minute session so far, then daily closes of the sessions after it.
    peek = peek_figures(state, [[b for m in fast[: 30 * (i + 1)] for b in m] for i in range(13)])
    close = close_figures(
        state, [bars_of(bars[bars["ts"] == c]) for c in closes[args.warm : args.warm + CLOSES]]
    )
    bench_bus = _bus_benchmark()
    records = sum(len(m) for m in fast)
    raw_args = argparse.Namespace(records=records, batch=500, fetch=500, window=10_000)
    payload = bench_bus.encode_record(bench_bus.bar(records // 2))
    results = []
    for name in backends:
        broker: AbstractContextManager[Any] = nullcontext()
        folder = tempfile.TemporaryDirectory(prefix="bench-stream-")
        if name == "kafka":
            broker = bench_bus.tansu(bench_bus._tansu_binary(), log=Path(folder.name) / "t.log")
        with folder, broker as started:
            url = {
                "memory": "memory://?max_records=1000000",
                "redis": args.redis_url,
                "nats": args.nats_url,
                "kafka": f"kafka://127.0.0.1:{started.port}" if started is not None else "",
            }[name]
            fresh, _ = warmed(bars, warm_until)
            ours = asyncio.run(through(url, fresh, fast, paced, pace=args.pace))
            raw = asyncio.run(_raw(bench_bus, name, url, raw_args, payload))
        results.append({"backend": name, **ours, "raw_per_s": raw["msgs_per_s"]})
        print(f"{name}: {results[-1]}", file=sys.stderr)
    verified = checks(backends) if args.checks else {"crash": [], "parity": None}
    print(
        json.dumps(
            {
                "data": {
                    "tickers": args.tickers,
                    "index": "^GSPC",
                    "warm_sessions": args.warm,
                    "minute_bars_per_session": records,
                    "paced_minutes": len(paced),
                    "pace_s": args.pace,
                    "generated": True,
                    "champion": "a stand-in linear model (no contributions)",
                },
                "targets": {
                    "in_process_bars_per_s": 50_000,
                    "p99_ms_in_process": 20,
                    "p99_ms_broker": 100,
                },
                "state": {
                    "bars_per_s": round(warm_rate, 1),
                    "first_session_s": round(first_session, 2),
                },
                "close": close,
                "peek": peek,
                "backends": results,
                **verified,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
