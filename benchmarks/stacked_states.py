"""Stacked indicator states against per-ticker kernel states, on the same bars in the same run.

Data (generated for scale, seed fixed): --tickers tickers x --sessions sessions of random-walk
daily bars (about 0.5% of bars a gap), the daily_v1 feature set's indicators. Both engines take
every session for every ticker and return the same outputs (checked at the end, bit for bit):

- ``peer``: one ``KernelState`` per indicator per ticker, as the stream state kept them: each
  ticker's bar through each of its states, its row read from their values;
- ``stacked``: one ``StackedStates``, each session one ``update`` of every row.

Figures: bars/s each and the ratio (stacked / peer); a peek of every ticker ("if the session
closed now", state unchanged), p50/p99 ms over --peeks repeats (the peer's p50 beside it); and,
first in the process, the load of the step functions from numba's disk cache and the
compilation of the stacked drivers on their first call (numba cannot cache them on disk).
Prints one JSON object.

    python benchmarks/stacked_states.py [--tickers 500] [--sessions 300] [--peeks 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Mapping, Sequence

import numpy as np

from stockpred.features.incremental import KernelState
from stockpred.features.library import INPUTS, Indicator
from stockpred.features.sets import get_feature_set
from stockpred.features.stacked import StackedStates

Bars = dict[str, np.ndarray]


def generated(tickers: int, sessions: int, seed: int) -> Bars:
    """Input matrices of shape (sessions, tickers): geometric random walks, consistent OHLC,
    lognormal volume, about 0.5% of bars all NaN (gaps)."""
    rng = np.random.default_rng(seed)
    shape = (sessions, tickers)
    close = rng.uniform(10.0, 500.0, tickers) * np.exp(np.cumsum(rng.normal(0, 0.02, shape), 0))
    open_ = close * np.exp(rng.normal(0.0, 0.005, shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, shape)))
    volume = rng.lognormal(14.0, 0.5, shape)
    bars = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    gaps = rng.random(shape) < 0.005
    for values in bars.values():
        values[gaps] = np.nan
    return bars


def kernel_states(indicators: Sequence[Indicator]) -> list[tuple[Indicator, KernelState]]:
    pairs = []
    for indicator in indicators:
        state = indicator.incremental()
        assert isinstance(state, KernelState)
        pairs.append((indicator, state))
    return pairs


def session_bars(bars: Bars, day: int) -> list[dict[str, float]]:
    tickers = bars["close"].shape[1]
    return [{name: float(bars[name][day, t]) for name in INPUTS} for t in range(tickers)]


def run_peer(
    states: list[list[tuple[Indicator, KernelState]]], sessions: list[list[dict[str, float]]]
) -> tuple[float, np.ndarray]:
    """Seconds to take every session; the last session's rows."""
    rows = np.empty(0)
    started = time.perf_counter()
    for session in sessions:
        out = []
        for ticker, bar in zip(states, session, strict=True):
            row: list[float] = []
            for indicator, state in ticker:
                state.update(bar)
                value = state.value
                row += [value[name] for name in indicator.outputs]
            out.append(row)
        rows = np.asarray(out)
    return time.perf_counter() - started, rows


def run_stacked(
    stacked: StackedStates, rows: np.ndarray, bars: Bars, sessions: range
) -> tuple[float, np.ndarray]:
    inputs = [{name: bars[name][day] for name in INPUTS} for day in sessions]
    out = np.empty(0)
    started = time.perf_counter()
    for session in inputs:
        out = stacked.update(rows, session)
    return time.perf_counter() - started, out


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 3),
    }


def peek_times(
    stacked: StackedStates, rows: np.ndarray, partial: Mapping[str, np.ndarray], repeats: int
) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        stacked.peek(rows, partial)
        times.append(time.perf_counter() - started)
    return times


def peer_peek_times(
    states: list[list[tuple[Indicator, KernelState]]],
    partial: list[dict[str, float]],
    repeats: int,
) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for ticker, bar in zip(states, partial, strict=True):
            for _, state in ticker:
                state.peek(bar)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--peeks", type=int, default=200, help="peeks of every ticker timed")
    parser.add_argument("--seed", type=int, default=20240)
    args = parser.parse_args()
    feature_set = get_feature_set("daily_v1")
    indicators = feature_set.built
    bars = generated(args.tickers, args.sessions + 1, seed=args.seed)

    # First in the process: the steps from numba's disk cache, then the drivers' compilation.
    started = time.perf_counter()
    for _, state in kernel_states(indicators):
        state.update({"close": 1.0})
    step_load = time.perf_counter() - started
    probe = StackedStates(indicators, capacity=1)
    probe.add("probe")
    started = time.perf_counter()
    probe.update([0], {"close": [1.0]})
    compile_update = time.perf_counter() - started
    started = time.perf_counter()
    probe.peek([0], {"close": [1.0]})
    first_peek = time.perf_counter() - started

    peer = [kernel_states(indicators) for _ in range(args.tickers)]
    peer_sessions = [session_bars(bars, day) for day in range(args.sessions)]
    peer_seconds, peer_last = run_peer(peer, peer_sessions)

    stacked = StackedStates(indicators, capacity=args.tickers)
    rows = np.asarray([stacked.add(f"S{t:04d}") for t in range(args.tickers)])
    stacked_seconds, stacked_last = run_stacked(stacked, rows, bars, range(args.sessions))
    if not np.array_equal(peer_last, stacked_last, equal_nan=True):
        raise SystemExit("stacked and per-ticker states disagree; the figures would mean nothing")

    partial = {name: bars[name][args.sessions] for name in INPUTS}
    before = stacked.values(rows)
    stacked_peeks = peek_times(stacked, rows, partial, args.peeks)
    assert np.array_equal(stacked.values(rows), before, equal_nan=True)
    peer_peeks = peer_peek_times(peer, session_bars(bars, args.sessions), max(3, args.peeks // 20))

    measured = args.tickers * args.sessions
    peer_rate = measured / peer_seconds
    stacked_rate = measured / stacked_seconds
    print(
        json.dumps(
            {
                "data": {
                    "tickers": args.tickers,
                    "sessions": args.sessions,
                    "bars_measured": measured,
                    "feature_set": feature_set.key,
                    "indicators": len(indicators),
                    "outputs": len(stacked.outputs),
                    "state_floats_per_ticker": stacked.row_size,
                    "generated": True,
                    "seed": args.seed,
                },
                "compile": {
                    "step_cache_load_s": round(step_load, 3),
                    "stacked_first_update_s": round(compile_update, 3),
                    "stacked_first_peek_s": round(first_peek, 4),
                },
                "update": {
                    "peer_bars_per_s": round(peer_rate, 1),
                    "stacked_bars_per_s": round(stacked_rate, 1),
                    "ratio": round(stacked_rate / peer_rate, 1),
                    "target_bars_per_s": 50_000,
                },
                "peek_all_tickers": {
                    "stacked": percentiles(stacked_peeks),
                    "peer_p50_ms": percentiles(peer_peeks)["p50_ms"],
                    "repeats": args.peeks,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
