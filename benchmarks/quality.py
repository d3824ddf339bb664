"""Forecast quality under a research protocol that cannot flatter itself: every model and
baseline, walk-forward, in several disjoint cells of the real data, printed as JSON.

Cells: the 241 S&P 500 stocks of ``../shared/data/prices/sp500_5yr_dev.csv`` (2013-02 to
2018-02) split in two groups by a fixed hash of the symbol (``models/cells.py``), times three
test periods (from 2015-07-01, 2016-07-01 and 2017-07-01 to the end of the data). Each group is
evaluated on its own, as a user would evaluate their own universe: the walk-forward (expanding
window, refit every ``--test-size`` dates, purged and embargoed, parameters tuned inside each
training window unless ``--no-tune``) sees only that group's stocks, and tests every date from
the first period's start on. Per cell, the mean daily rank IC and its Newey-West t of each
model and baseline; the pooled figure over every cell; and in how many cells each model beats
the best baseline of that cell (chosen after the fact). A change is kept only when it wins
across cells.

The S&P 500 index (``../shared/data/index/GSPC_1927_2023.csv``) gives the market context.
Nothing was tuned on a test period: the protocol and defaults were fixed before the run.

    python benchmarks/quality.py [--horizon 5] [--models ensemble,lightgbm,ridge] [--no-tune]
                                 [--store DIR] [--export oos.parquet]

``--store DIR`` keeps the ingested store and features there and reuses them on the next run
(the walk-forward is always recomputed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stockpred.features.sets import DEFAULT_FEATURE_SET, FeatureSet, get_feature_set
from stockpred.models.baselines import BASELINES
from stockpred.models.catalog import DEFAULT_MODELS, MODELS, PARAM_GRIDS
from stockpred.models.cells import (
    cell_table,
    daily_rank_ic,
    period_labels,
    pooled_table,
    ticker_group,
    wins_against_baselines,
)
from stockpred.pipeline.evaluate import EvaluationConfig, evaluate
from stockpred.pipeline.features import build_features
from stockpred.pipeline.ingest import ingest_files, read_files
from stockpred.sources.files import BarFile
from stockpred.store.duckdb import DuckDBStore

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD_STARTS = ("2015-07-01", "2016-07-01", "2017-07-01")
REFERENCE = {
    "qlib_alpha158_lightgbm_csi300": {"ic": 0.045, "rank_ic": 0.047, "icir": 0.37},
    "same_years_264_other_sp500_test_2016_07_2018_02": {
        "qlib_alpha158_lightgbm_rank_ic_h1": 0.0135,
        "qlib_alpha158_lightgbm_rank_ic_t_h1": 3.2,
        "one_day_reversal_rank_ic_h1": 0.016,
        "mean_drift_rank_ic_h5": 0.025,
        "ar1_rank_ic_h5": 0.018,
    },
}


def _until(bars: BarFile, end: pd.Timestamp) -> BarFile:
    """The file's rows dated on or before ``end``."""
    dates = pd.to_datetime(bars.frame["date"].str.slice(0, 10), errors="coerce", utc=True)
    kept = bars.frame.loc[~(dates > end)].reset_index(drop=True)
    return replace(bars, frame=kept)


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _prepare(store: DuckDBStore, args: argparse.Namespace, feature_set_name: str) -> float:
    """Ingest and build features unless the store already holds them; seconds spent."""
    feature_set = get_feature_set(feature_set_name)
    start = time.perf_counter()
    if store.bar_coverage().empty:
        _progress(f"ingesting {args.data}")
        files = read_files([args.data])
        if str(args.index) and args.index.is_file():
            files += read_files([args.index], ticker="^GSPC")
        if args.data_end:
            files = [_until(f, pd.Timestamp(args.data_end, tz="UTC")) for f in files]
        ingest_files(store, files, calendar="XNYS", now=NOW)
    _progress(f"building {feature_set.key} (nothing to do when stored)")
    build_features(store, feature_set, now=NOW)
    return time.perf_counter() - start


def _table(cells: pd.DataFrame, pooled: pd.DataFrame, wins: pd.DataFrame) -> str:
    """The cells as a terminal table of at most 80 columns: rank IC (t) per cell."""
    keys = sorted({(str(g), str(p)) for g, p in zip(cells["group"], cells["period"], strict=True)})
    header = f"{'model':<22}" + "".join(f"{f'g{g}{p}':>8}" for g, p in keys)
    header += f"{'pooled':>8}{'t':>5}{'wins':>5}"
    lines = [header]
    order = pooled.sort_values("rank_ic", ascending=False)["model"]
    win = dict(zip(wins["model"], wins["wins"], strict=True))
    for model in order:
        row = cells[cells["model"] == model].set_index(["group", "period"])
        values = "".join(
            f"{row.loc[(int(g), p), 'rank_ic']:8.4f}" if (int(g), p) in row.index else f"{'-':>8}"
            for g, p in keys
        )
        total = pooled[pooled["model"] == model].iloc[0]
        mark = str(win[model]) if model in win else "base"
        lines.append(f"{model[:22]:<22}{values}{total['rank_ic']:8.4f}{total['t']:5.1f}{mark:>5}")
    return "\n".join(lines)


def _time_default(store: DuckDBStore, feature_set: FeatureSet) -> dict[str, object]:
    """Wall time of the walk-forward `stockpred evaluate` runs with every default (models,
    tuning, folds, GARCH intervals, scoring and backtest) on every stock, and the data size."""
    config = EvaluationConfig()
    _progress(f"timing the default evaluate ({', '.join(config.models)}, tuned) on every stock")
    started = time.perf_counter()
    evaluation = evaluate(
        store, feature_set, config, calendar="XNYS", catalog=MODELS, grids=PARAM_GRIDS
    )
    seconds = time.perf_counter() - started
    predictions = evaluation.result.predictions
    design = store.read_features(feature_set=feature_set.key)
    stocks = design[~design["ticker"].str.startswith("^")]
    return {
        "seconds": round(seconds, 1),
        "models": list(config.models),
        "tuned": config.tune,
        "horizon": config.horizon,
        "tickers": int(stocks["ticker"].nunique()),
        "design_rows": len(stocks),
        "design_dates": int(stocks["ts"].nunique()),
        "features": len(feature_set.outputs),
        "folds": len(evaluation.result.folds),
        "test_dates": int(predictions["ts"].nunique()),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SHARED / "prices" / "sp500_5yr_dev.csv")
    parser.add_argument(
        "--index", type=Path, default=SHARED / "index" / "GSPC_1927_2023.csv", help="'' for none"
    )
    parser.add_argument("--set", default=DEFAULT_FEATURE_SET, help="feature set")
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--periods", default=",".join(PERIOD_STARTS), help="test period starts")
    parser.add_argument("--groups", type=int, default=2, help="ticker groups by hash")
    parser.add_argument("--test-size", type=int, default=63)
    parser.add_argument("--embargo", type=int, default=5)
    parser.add_argument("--holdout", type=int, default=63)
    parser.add_argument("--no-tune", action="store_true")
    parser.add_argument("--cost-bps", type=float, default=5.0)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--data-end", default=None, help="drop bars after this date")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", choices=("return", "excess", "rank"), default="return")
    parser.add_argument("--store", type=Path, default=None, help="keep/reuse the store here")
    parser.add_argument("--export", type=Path, default=None, help="every OOS prediction")
    parser.add_argument(
        "--time-default",
        action="store_true",
        help="also time `stockpred evaluate` with its defaults on every stock (one universe)",
    )
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} not found; pass --data", file=sys.stderr)
        return 1
    starts = [pd.Timestamp(s, tz="UTC") for s in args.periods.split(",")]
    feature_set = get_feature_set(args.set)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.store or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        with DuckDBStore(str(folder / "quality.duckdb")) as store:
            timings["ingest_and_features_s"] = _prepare(store, args, args.set)
            coverage = store.bar_coverage()
            stocks = sorted(t for t in coverage["ticker"] if not str(t).startswith("^"))
            dates = pd.DatetimeIndex(store.read_bars(tickers=stocks[:50])["ts"]).unique()
            dates = dates.sort_values()
            gap = args.horizon + args.embargo
            min_train = int(dates.searchsorted(starts[0])) - gap
            pieces = []
            for group in range(args.groups):
                members = tuple(t for t in stocks if ticker_group(t, groups=args.groups) == group)
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
                    seed=args.seed,
                    target=args.target,
                    tickers=members,
                    garch=False,
                )
                _progress(f"group {group}: {len(members)} tickers, walk-forward")
                started = time.perf_counter()
                evaluation = evaluate(
                    store,
                    feature_set,
                    config,
                    calendar="XNYS",
                    catalog=MODELS,
                    grids=PARAM_GRIDS,
                    on_step=lambda fold, name: _progress(f"  fold {fold.number} {name}"),
                )
                timings[f"walk_forward_group{group}_s"] = time.perf_counter() - started
                pieces.append(evaluation.result.predictions.assign(group=group))
            default_run = _time_default(store, feature_set) if args.time_default else None
    predictions = pd.concat(pieces, ignore_index=True)
    predictions["period"] = period_labels(predictions["ts"], starts)
    if args.export is not None:
        predictions.to_parquet(args.export, index=False)
    daily = daily_rank_ic(predictions.dropna(subset=["period"]), by=("group", "period"))
    cells = cell_table(daily, horizon=args.horizon)
    pooled = pooled_table(daily, horizon=args.horizon)
    wins = wins_against_baselines(cells, baselines=BASELINES)
    print(_table(cells, pooled, wins), file=sys.stderr)
    report = {
        "data": args.data.name,
        "tickers": int(predictions["ticker"].nunique()),
        "groups": {
            str(g): int(n) for g, n in predictions.groupby("group")["ticker"].nunique().items()
        },
        "feature_set": feature_set.key,
        "horizon": args.horizon,
        "target": args.target,
        "tuned": not args.no_tune,
        "periods": {
            p: [str(d.min().date()), str(d.max().date()), int(d.nunique())]
            for p, d in predictions.dropna(subset=["period"]).groupby("period")["ts"]
        },
        "cells": cells.round(5).to_dict(orient="records"),
        "pooled": pooled.round(5).to_dict(orient="records"),
        "wins_against_best_baseline": wins.to_dict(orient="records"),
        "reference": REFERENCE,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "default_evaluate": default_run,
    }
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
