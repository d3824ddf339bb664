"""Forecast quality, measured: the walk-forward leaderboard of every baseline and model on a real
cross-section, printed as JSON.

Default data: ``../shared/data/prices/sp500_5yr_dev.csv`` (241 S&P 500 stocks, 2013-02 to
2018-02) with the S&P 500 index from ``../shared/data/index/GSPC_1927_2023.csv`` for market
context. The bars are ingested into a fresh DuckDB store, ``daily_v1`` is built, and the
walk-forward (expanding window, refit every ``--test-size`` dates, purged and embargoed,
parameters tuned inside each training window) tests from ``--test-start`` on: by default
2016-07-01, the start of the reference test period quoted in issue 5, so the figures sit next
to published ones on comparable data. Nothing was tuned on the test period: the defaults were
fixed before the first run.

    python benchmarks/quality.py [--data CSV] [--index CSV] [--horizon 1]
                                 [--models ridge,lightgbm,xgboost,hist_gradient_boosting]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stockpred.features.sets import get_feature_set
from stockpred.models.catalog import MODELS, PARAM_GRIDS
from stockpred.pipeline.evaluate import EvaluationConfig, evaluate
from stockpred.pipeline.features import build_features
from stockpred.pipeline.ingest import ingest_files, read_files
from stockpred.pipeline.report import leaderboard_records
from stockpred.sources.files import BarFile
from stockpred.store.duckdb import DuckDBStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
REFERENCE = {
    "qlib_alpha158_lightgbm_csi300": {"ic": 0.045, "rank_ic": 0.047, "icir": 0.37},
    "same_years_264_other_sp500_test_2016_07_2018_02": {
        "qlib_alpha158_lightgbm_rank_ic": 0.0135,
        "qlib_alpha158_lightgbm_rank_ic_t": 3.2,
        "one_day_reversal_rank_ic": 0.016,
        "one_day_reversal_rank_ic_t": 2.0,
        "profitable_after_5bps": "none",
    },
}


def _until(bars: BarFile, end: pd.Timestamp) -> BarFile:
    """The file's rows dated on or before ``end``."""
    dates = pd.to_datetime(bars.frame["date"].str.slice(0, 10), errors="coerce", utc=True)
    kept = bars.frame.loc[~(dates > end)].reset_index(drop=True)
    return replace(bars, frame=kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED / "prices" / "sp500_5yr_dev.csv")
    parser.add_argument(
        "--index", type=Path, default=SHARED / "index" / "GSPC_1927_2023.csv", help="'' for none"
    )
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--models", default="ridge,lightgbm,xgboost,hist_gradient_boosting")
    parser.add_argument("--test-start", default="2016-07-01")
    parser.add_argument("--test-size", type=int, default=63)
    parser.add_argument("--embargo", type=int, default=5)
    parser.add_argument("--holdout", type=int, default=63)
    parser.add_argument("--no-tune", action="store_true")
    parser.add_argument("--cost-bps", type=float, default=5.0)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument(
        "--rebalance", type=int, default=1, help="re-form portfolios every N dates, hold between"
    )
    parser.add_argument(
        "--data-end",
        default=None,
        help="drop bars after this date (YYYY-MM-DD): test an earlier period nobody tuned on",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", choices=("return", "excess", "rank"), default="return")
    parser.add_argument(
        "--export", type=Path, default=None, help="write every out-of-sample prediction (Parquet)"
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} not found; pass --data", file=sys.stderr)
        return 1

    timings: dict[str, float] = {}
    feature_set = get_feature_set("daily_v1")
    with tempfile.TemporaryDirectory() as folder, DuckDBStore(f"{folder}/q.duckdb") as store:
        start = time.perf_counter()
        files = read_files([args.data])
        if str(args.index) and args.index.is_file():
            files += read_files([args.index], ticker="^GSPC")
        if args.data_end:
            files = [_until(f, pd.Timestamp(args.data_end, tz="UTC")) for f in files]
        ingest_files(store, files, calendar="XNYS", now=NOW)
        timings["ingest_s"] = time.perf_counter() - start
        start = time.perf_counter()
        build_features(store, feature_set, now=NOW)
        timings["features_s"] = time.perf_counter() - start
        stocks = store.bar_coverage()
        stocks = stocks[~stocks["ticker"].str.startswith("^")]
        first = pd.Timestamp(stocks["first"].min())
        dates = (
            pd.DatetimeIndex(store.read_bars(tickers=list(stocks["ticker"][:50]))["ts"])
            .unique()
            .sort_values()
        )
        test_start = pd.Timestamp(args.test_start, tz="UTC")
        gap = args.horizon + args.embargo
        min_train = int(dates.searchsorted(test_start)) - gap
        config = EvaluationConfig(
            horizon=args.horizon,
            models=tuple(m for m in args.models.split(",") if m),
            tune=not args.no_tune,
            min_train=min_train,
            test_size=args.test_size,
            embargo=args.embargo,
            holdout=args.holdout,
            cost_bps=args.cost_bps,
            top_k=args.top_k,
            rebalance=args.rebalance,
            seed=args.seed,
            target=args.target,
        )
        start = time.perf_counter()
        evaluation = evaluate(
            store, feature_set, config, calendar="XNYS", catalog=MODELS, grids=PARAM_GRIDS
        )
        timings["walk_forward_s"] = time.perf_counter() - start
    predictions = evaluation.result.predictions
    if args.export is not None:
        predictions.to_parquet(args.export, index=False)
    report = {
        "data": str(args.data),
        "tickers": int(predictions["ticker"].nunique()),
        "bars_from": first.date().isoformat(),
        "feature_set": feature_set.key,
        "horizon": args.horizon,
        "test_from": predictions["ts"].min().date().isoformat(),
        "test_to": predictions["ts"].max().date().isoformat(),
        "test_dates": int(predictions["ts"].nunique()),
        "folds": len(evaluation.result.folds),
        "config": {
            "min_train_dates": min_train,
            "test_size": args.test_size,
            "embargo": args.embargo,
            "holdout": args.holdout,
            "tuned": not args.no_tune,
            "cost_bps": args.cost_bps,
            "top_k": args.top_k,
            "rebalance": args.rebalance,
            "data_end": args.data_end,
            "seed": args.seed,
            "target": args.target,
        },
        "leaderboard": leaderboard_records(evaluation.scores, backtest=evaluation.backtest),
        "reference": REFERENCE,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
