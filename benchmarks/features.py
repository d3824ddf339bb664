"""Feature kernel speed: stockpred's numba kernels against TA-Lib on the same data, same run.

Computes the benchmark set of issue 4 — SMA(20), EMA(20), RSI(14), MACD(12,26,9),
Bollinger(20,2), ATR(14), 20-day volatility and 10-day momentum — for every ticker, with
stockpred (through the catalogue's ``Indicator.batch``, as the pipeline calls it) and with TA-Lib.
Data: 500 tickers x 2,520 daily bars from a fixed-seed random walk, or ``--data`` (a CSV with
date, open, high, low, close, volume, Name). Times are medians over ``--repeat`` runs after a
warm-up, the engines taking turns within each repeat; numba's compile time with an empty cache
(a fresh process) and this run's first call (compile or cache load) are reported separately.

TA-Lib is timed two ways: ``talib_calls`` is the bare library calls (SMA, EMA, RSI, MACD, BBANDS,
ATR, STDDEV of log returns, MOM and ROC); ``talib_same_outputs`` adds the numpy arithmetic that
turns them into the same features stockpred returns (%b and bandwidth from the bands,
ATR / close, annualised sample volatility). The ratio is TA-Lib time / stockpred time (above 1
means stockpred is faster), against both.

Also the incremental cost: the whole set's state objects updated bar by bar over --bars bars of
one ticker; microseconds per bar for the set, median and p99.

The end-to-end figure builds the whole ``daily_v1`` library for --end-to-end-tickers into a fresh
DuckDB store; ``--engine spark`` also computes that panel on PySpark beside the in-process engine.

    python benchmarks/features.py [--data ../shared/data/prices/sp500_5yr_dev.csv]
                                  [--tickers 500] [--days 2520] [--repeat 5]
                                  [--engine spark --spark-master 'local[*]']
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import talib

from stockpred.features.catalog import CATALOG
from stockpred.features.library import INPUTS, Indicator

Ticker = dict[str, np.ndarray]

BENCHMARK_SET: tuple[tuple[str, dict[str, int | float]], ...] = (
    ("sma", {"period": 20}),
    ("ema", {"period": 20}),
    ("rsi", {"period": 14}),
    ("macd", {"fast": 12, "slow": 26, "signal": 9}),
    ("bollinger", {"period": 20, "width": 2.0}),
    ("atr", {"period": 14}),
    ("volatility", {"period": 20}),
    ("momentum", {"period": 10}),
)
ANNUAL = np.sqrt(252.0)
VOLATILITY_DDOF = np.sqrt(20.0 / 19.0)


def generate(tickers: int, days: int, *, seed: int = 20240) -> list[Ticker]:
    """Geometric random walks with consistent OHLC and lognormal volume."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(tickers):
        close = rng.uniform(10.0, 500.0) * np.exp(np.cumsum(rng.normal(0.0, 0.02, days)))
        open_ = close * np.exp(rng.normal(0.0, 0.005, days))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, days)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, days)))
        volume = rng.lognormal(14.0, 0.5, days)
        out.append({"open": open_, "high": high, "low": low, "close": close, "volume": volume})
    return out


def load(path: Path) -> list[Ticker]:
    """One dict of contiguous float64 arrays per ticker, oldest first."""
    frame = pd.read_csv(path).sort_values(["Name", "date"])
    return [
        {name: np.ascontiguousarray(group[name].to_numpy(dtype=np.float64)) for name in INPUTS}
        for _, group in frame.groupby("Name", sort=True)
    ]


def talib_calls() -> dict[str, Callable[[Ticker], Any]]:
    def volatility(x: Ticker) -> Any:
        returns = np.empty_like(x["close"])
        returns[0] = np.nan
        np.log(x["close"][1:] / x["close"][:-1], out=returns[1:])
        return talib.STDDEV(returns, timeperiod=20, nbdev=1.0)

    return {
        "sma": lambda x: talib.SMA(x["close"], timeperiod=20),
        "ema": lambda x: talib.EMA(x["close"], timeperiod=20),
        "rsi": lambda x: talib.RSI(x["close"], timeperiod=14),
        "macd": lambda x: talib.MACD(x["close"], fastperiod=12, slowperiod=26, signalperiod=9),
        "bollinger": lambda x: talib.BBANDS(
            x["close"], timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0
        ),
        "atr": lambda x: talib.ATR(x["high"], x["low"], x["close"], timeperiod=14),
        "volatility": volatility,
        "momentum": lambda x: (
            talib.MOM(x["close"], timeperiod=10),
            talib.ROC(x["close"], timeperiod=10),
        ),
    }


def talib_same_outputs() -> dict[str, Callable[[Ticker], Any]]:
    calls = talib_calls()

    def bollinger(x: Ticker) -> Any:
        upper, middle, lower = calls["bollinger"](x)
        band = upper - lower
        return (x["close"] - lower) / band, band / middle

    def atr(x: Ticker) -> Any:
        value = calls["atr"](x)
        return value, value / x["close"]

    def momentum(x: Ticker) -> Any:
        value, rate = calls["momentum"](x)
        return value, rate / 100.0

    return {
        **calls,
        "bollinger": bollinger,
        "atr": atr,
        "volatility": lambda x: calls["volatility"](x) * (VOLATILITY_DDOF * ANNUAL),
        "momentum": momentum,
    }


def time_engines(
    engines: Mapping[str, Mapping[str, Callable[[Ticker], Any]]],
    data: list[Ticker],
    repeat: int,
) -> dict[str, dict[str, float]]:
    """Median seconds per engine and indicator over the whole universe. The engines take turns
    within every repeat, so a busy machine slows them alike."""
    for functions in engines.values():
        for function in functions.values():
            for x in data[:3]:
                function(x)
    runs: dict[str, dict[str, list[float]]] = {
        engine: {name: [] for name in functions} for engine, functions in engines.items()
    }
    for _ in range(repeat):
        for engine, functions in engines.items():
            for name, function in functions.items():
                start = time.perf_counter()
                for x in data:
                    function(x)
                runs[engine][name].append(time.perf_counter() - start)
    return {
        engine: {name: statistics.median(times) for name, times in by_name.items()}
        for engine, by_name in runs.items()
    }


def cold_compile_seconds() -> float:
    """Seconds for the first call of every kernel of the set with an empty numba cache (a fresh
    process with NUMBA_CACHE_DIR in a temporary folder): the one-off compile cost."""
    script = (
        "import time, numpy as np\n"
        "t = time.perf_counter()\n"
        "from benchmarks_features_set import build\n"
        "x = {k: np.linspace(1.0, 2.0, 100) for k in ('open', 'high', 'low', 'close', 'volume')}\n"
        "for indicator in build(): indicator.batch(x)\n"
        "print(time.perf_counter() - t)\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        module = Path(folder) / "benchmarks_features_set.py"
        module.write_text(
            "from stockpred.features.catalog import CATALOG\n"
            f"SET = {BENCHMARK_SET!r}\n"
            "def build():\n"
            "    return [CATALOG[kind](**params) for kind, params in SET]\n"
        )
        env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(folder) / "cache"), "PYTHONPATH": folder}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
    return float(done.stdout.strip())


def incremental_cost(indicators: list[Indicator], bars: int) -> dict[str, float]:
    """Microseconds per bar to update every state of the set, median and p99."""
    history = generate(1, bars, seed=7)[0]
    rows = [{name: float(history[name][i]) for name in INPUTS} for i in range(bars)]
    states = [indicator.incremental() for indicator in indicators]
    for row in rows[:50]:
        for state in states:
            state.update(row)
    for state in states:
        state.reset()
    costs = np.empty(bars)
    for i, row in enumerate(rows):
        start = time.perf_counter_ns()
        for state in states:
            state.update(row)
            state.value  # noqa: B018 - reading the value is part of a streaming update
        costs[i] = (time.perf_counter_ns() - start) / 1000.0
    return {
        "bars": bars,
        "median_us_per_bar": round(float(np.median(costs)), 2),
        "p99_us_per_bar": round(float(np.percentile(costs, 99)), 2),
        "per_indicator_median_us": round(float(np.median(costs)) / len(indicators), 2),
    }


def bars_frame(data: list[Ticker]) -> pd.DataFrame:
    """The generated tickers as bars on consecutive XNYS sessions; the last one is the index
    ticker ^GSPC, so market context is computed too."""
    from stockpred.domain.calendar import get_trading_calendar

    days = len(data[0]["close"])
    cal = get_trading_calendar("XNYS", pd.Timestamp("2005-01-01"), pd.Timestamp("2020-12-31"))
    sessions = cal.sessions_between(pd.Timestamp("2005-01-01"), pd.Timestamp("2020-12-31"))
    closes = cal.session_closes(sessions[-days:])
    names = [f"T{i:04d}" for i in range(len(data) - 1)] + ["^GSPC"]
    frames = []
    for name, x in zip(names, data, strict=True):
        frames.append(
            pd.DataFrame(
                {
                    "ticker": name,
                    "ts": closes[-len(x["close"]) :],
                    **{k: x[k] for k in INPUTS},
                    "adj_close": x["close"],
                    "source": "benchmark",
                    "ingested_at": pd.Timestamp("2021-01-01", tz="UTC"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def end_to_end(data: list[Ticker]) -> dict[str, float | int | str]:
    """The whole ``daily_v1`` library built and written to a fresh DuckDB store, timed.

    The bars are written first, untimed; the clock covers ``build_features``: reading the
    bars, every indicator, the context features and ranks, and the store write of every row.
    """
    from datetime import UTC, datetime

    from stockpred.features.sets import get_feature_set
    from stockpred.pipeline.features import build_features
    from stockpred.store.duckdb import DuckDBStore

    bars = bars_frame(data)
    feature_set = get_feature_set("daily_v1")
    with (
        tempfile.TemporaryDirectory() as folder,
        DuckDBStore(f"{folder}/bench.duckdb") as store,
    ):
        store.write_bars(bars)
        start = time.perf_counter()
        result = build_features(store, feature_set, now=datetime(2021, 1, 1, tzinfo=UTC))
        seconds = time.perf_counter() - start
    features = len(feature_set.outputs)
    return {
        "feature_set": f"{feature_set.name}@{feature_set.version}",
        "tickers": len(data),
        "rows": int(result.rows),
        "features": features,
        "rows_written": int(result.written.inserted),
        "seconds": round(seconds, 2),
        "values_per_s": round(result.rows * features / seconds),
        "target": "500 x 2,520 in under 10 s",
    }


def spark_against_local(data: list[Ticker], master: str) -> dict[str, Any]:
    """The ``daily_v1`` panel of the same bars computed in process and on Spark (``master``),
    each timed end to end from a pandas frame of bars to a pandas panel (Spark: shipping the
    bars to the workers and the panel back included; its session start is reported apart).
    The Spark run is timed after one warm-up run, so worker start and numba loading are out."""
    from stockpred.features.panel import build_panel
    from stockpred.features.sets import get_feature_set
    from stockpred.pipeline.spark import SparkEngine, spark_session

    bars = bars_frame(data)
    feature_set = get_feature_set("daily_v1")
    start = time.perf_counter()
    local = build_panel(bars, feature_set)
    local_s = time.perf_counter() - start
    start = time.perf_counter()
    with spark_session(master, driver_memory="6g") as session:
        started_s = time.perf_counter() - start
        engine = SparkEngine(session)
        engine.build_panel(bars.iloc[: 2 * len(data[0]["close"])], feature_set)
        start = time.perf_counter()
        spark = engine.build_panel(bars, feature_set)
        spark_s = time.perf_counter() - start
        cores = session.sparkContext.defaultParallelism
    try:
        pd.testing.assert_frame_equal(local.frame, spark.frame, check_exact=True, check_dtype=False)
        same = True
    except AssertionError:
        same = False
    rows = len(bars)
    return {
        "master": master,
        "spark_cores": cores,
        "tickers": len(data),
        "rows": rows,
        "features": len(feature_set.outputs),
        "local_seconds": round(local_s, 2),
        "spark_seconds": round(spark_s, 2),
        "spark_session_start_s": round(started_s, 2),
        "local_krows_per_s": round(rows / local_s / 1e3, 1),
        "spark_krows_per_s": round(rows / spark_s / 1e3, 1),
        "spark_over_local": round(local_s / spark_s, 3),
        "identical_values": bool(same),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--incremental-bars", type=int, default=5000)
    parser.add_argument(
        "--end-to-end-tickers",
        type=int,
        default=500,
        help="Tickers for the full daily_v1 build into DuckDB (0 skips it).",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="spark: also compute the daily_v1 panel of the --end-to-end-tickers on PySpark "
        "beside the in-process engine (needs the spark extra and Java).",
    )
    parser.add_argument("--spark-master", default="local[*]", help="Spark master URL.")
    args = parser.parse_args(argv)

    data = load(args.data) if args.data else generate(args.tickers, args.days)
    rows = sum(len(x["close"]) for x in data)
    indicators = [CATALOG[kind](**params) for kind, params in BENCHMARK_SET]

    cold = cold_compile_seconds()
    start = time.perf_counter()
    for indicator in indicators:
        indicator.batch(data[0])
    first_call = time.perf_counter() - start

    stockpred = {kind: ind.batch for (kind, _), ind in zip(BENCHMARK_SET, indicators, strict=True)}
    seconds = time_engines(
        {"stockpred": stockpred, "talib": talib_calls(), "talib_same": talib_same_outputs()},
        data,
        args.repeat,
    )
    ours, bare, same = seconds["stockpred"], seconds["talib"], seconds["talib_same"]

    def rate(seconds: float) -> float:
        return round(rows / seconds / 1e6, 2)

    per_indicator = {
        kind: {
            "stockpred_mrows_per_s": rate(ours[kind]),
            "talib_calls_mrows_per_s": rate(bare[kind]),
            "talib_same_outputs_mrows_per_s": rate(same[kind]),
            "ratio_vs_talib_calls": round(bare[kind] / ours[kind], 3),
            "ratio_vs_talib_same_outputs": round(same[kind] / ours[kind], 3),
        }
        for kind in ours
    }
    total_ours, total_bare, total_same = (sum(t.values()) for t in (ours, bare, same))
    report = {
        "data": str(args.data) if args.data else "generated (seed 20240)",
        "tickers": len(data),
        "rows": rows,
        "indicator_set": [ind.name for ind in indicators],
        "numba_compile_s_cold_cache": round(cold, 2),
        "numba_first_call_s_this_run": round(first_call, 3),
        "repeat": args.repeat,
        "set": {
            "stockpred_mrows_per_s": rate(total_ours),
            "talib_calls_mrows_per_s": rate(total_bare),
            "talib_same_outputs_mrows_per_s": rate(total_same),
            "ratio_vs_talib_calls": round(total_bare / total_ours, 3),
            "ratio_vs_talib_same_outputs": round(total_same / total_ours, 3),
            "stockpred_seconds": round(total_ours, 4),
            "talib_calls_seconds": round(total_bare, 4),
        },
        "per_indicator": per_indicator,
        "incremental": incremental_cost(indicators, args.incremental_bars),
    }
    if args.end_to_end_tickers > 0 and not args.data:
        report["end_to_end_daily_v1"] = end_to_end(data[: args.end_to_end_tickers])
    if args.engine == "spark" and not args.data:
        tickers = args.end_to_end_tickers or args.tickers
        report["spark_vs_local_daily_v1_panel"] = spark_against_local(
            data[:tickers], args.spark_master
        )
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
