"""Stream speed: the feature state and the stream processor on generated session bars, beside
the bus's own raw publish/consume ceiling for the same number of records in the same run.

Data (generated for scale, seed fixed): --tickers stocks and the ^GSPC index, random-walk daily
bars, --warm sessions to warm the state on, then --sessions sessions measured. Three figures:

- ``state``: the per-bar cost of the whole daily_v1 state (every indicator's incremental
  update), from warming: bars/s, after a first session in the process (which compiles the
  stacked states' drivers: ``first_session_s``);
- ``close``: one session close for every ticker (states, context, ranks): p50/p99 ms;
- ``backends``: the processor consuming the measured sessions from each bus (the bars
  published as fast as the bus takes them, rows to a sink that keeps nothing, no champion:
  the stream's own path), bars/s and each session's close-to-published latency p50/p99,
  beside ``benchmarks/bus.py``'s raw client moving as many bar-sized records
  (``raw_per_s``).

Intraday (minute) bars are not measured: the nowcasts that take them are not built yet.
Prints one JSON object.

    python benchmarks/stream.py [--tickers 500] [--sessions 20] [--backends memory,redis,...]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stockpred.bus import open_bus
from stockpred.bus.topics import BARS
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Bar, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.stream.features import SessionFeatures
from stockpred.stream.memory import MemorySink
from stockpred.stream.processor import StreamProcessor

_HERE = Path(__file__).resolve().parent


def _bus_benchmark() -> Any:
    """benchmarks/bus.py, for its raw-client ceilings and its Tansu start-up."""
    spec = importlib.util.spec_from_file_location("bench_bus", _HERE / "bus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_bus"] = module
    spec.loader.exec_module(module)
    return module


def generated(tickers: int, sessions: int, seed: int = 20240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2020-01-01", periods=sessions, tz="UTC") + pd.Timedelta(hours=21)
    frames = []
    for name in ["^GSPC", *(f"S{i:04d}" for i in range(tickers))]:
        close = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, sessions)))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": name,
                    "ts": days,
                    "open": close * (1 + rng.normal(0, 0.003, sessions)),
                    "high": close * (1 + np.abs(rng.normal(0, 0.01, sessions))),
                    "low": close * (1 - np.abs(rng.normal(0, 0.01, sessions))),
                    "close": close,
                    "adj_close": close,
                    "volume": rng.integers(100_000, 5_000_000, sessions).astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


class _NoForecaster:
    def __init__(self) -> None:
        self.horizons: list[int] = []
        self.context_rows = 1

    def forecast(self, rows: pd.DataFrame, **_: object) -> list[Prediction]:
        return []

    def reload(self) -> bool:
        return False


class _NoSink(MemorySink):
    def write_session(self, feature_set: str, bars: Sequence[Bar], rows: pd.DataFrame) -> None:
        return None

    def write_forecasts(self, forecasts: Sequence[Prediction]) -> None:
        return None

    def read_rows(self, *_: object, **__: object) -> pd.DataFrame:
        return pd.DataFrame()


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


async def through(
    url: str, state: SessionFeatures, sessions: list[list[Bar]], trigger: list[Bar]
) -> dict[str, Any]:
    """The processor on ``url``: ``sessions`` published as fast as the bus takes them, then
    ``trigger``, the next session, whose first bar closes the last measured one (as live)."""
    namespace = f"bench{uuid.uuid4().hex[:12]}"
    bus = open_bus(url, namespace=namespace)
    processor = StreamProcessor(
        state,
        bus,
        _NoForecaster(),
        sink=_NoSink(),
        clock=lambda: datetime.now().astimezone(),
        idle_close=0.5,
    )
    stop = asyncio.Event()
    try:
        running = asyncio.create_task(processor.run(stop))
        await asyncio.sleep(0.5)  # the group formed before the clock starts
        started = time.perf_counter()
        for session in [*sessions, trigger]:
            await bus.publish_many(BARS, [(b.ticker, b) for b in session])
        while processor.stats.sessions < len(sessions):
            if running.done():
                running.result()
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        stop.set()
        await running
    finally:
        await bus.close()
    latencies = sorted(processor.stats.latencies)
    bars = sum(len(s) for s in sessions)
    return {
        "bars_per_s": round(bars / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1),
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
    parser.add_argument("--sessions", type=int, default=20, help="sessions measured")
    parser.add_argument("--seed", type=int, default=20240)
    parser.add_argument("--backends", default="memory,redis,nats,kafka")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("STOCKPRED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    parser.add_argument(
        "--nats-url", default=os.environ.get("STOCKPRED_TEST_NATS_URL", "nats://127.0.0.1:4222")
    )
    args = parser.parse_args()
    bars = generated(args.tickers, args.warm + args.sessions + 1, seed=args.seed)
    days = sorted(bars["ts"].unique())
    warm_until = pd.Timestamp(days[args.warm - 1])
    later = bars[bars["ts"] > warm_until]
    *sessions, trigger = [bars_of(s) for _, s in later.groupby("ts", sort=True)]
    started = time.perf_counter()
    SessionFeatures(get_feature_set("daily_v1")).warm(bars[bars["ts"] == days[0]])
    first_session = time.perf_counter() - started
    state, warm_rate = warmed(bars, warm_until)
    close = close_figures(state, sessions)
    bench_bus = _bus_benchmark()
    records = sum(len(s) for s in sessions)
    raw_args = argparse.Namespace(records=records, batch=500, fetch=500, window=10_000)
    payload = bench_bus.encode_record(bench_bus.bar(records // 2))
    results = []
    for name in args.backends.split(","):
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
            ours = asyncio.run(through(url, fresh, sessions, trigger))
            raw = asyncio.run(_raw(bench_bus, name, url, raw_args, payload))
        results.append({"backend": name, **ours, "raw_per_s": raw["msgs_per_s"]})
    print(
        json.dumps(
            {
                "data": {
                    "tickers": args.tickers,
                    "index": "^GSPC",
                    "warm_sessions": args.warm,
                    "sessions": args.sessions,
                    "bars_measured": records,
                    "generated": True,
                },
                "state": {
                    "bars_per_s": round(warm_rate, 1),
                    "target_bars_per_s": 50_000,
                    "first_session_s": round(first_session, 2),
                },
                "close": close,
                "backends": results,
                "minute_bars": "not measured: the intraday nowcasts are not built yet",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
