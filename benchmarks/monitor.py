"""Realised accuracy on real stocks nobody tuned on: what the monitor would have said in 2017.

Data: ``../shared/data/prices/sp500_5yr_dev.csv`` (241 S&P 500 stocks, 2013-02..2018-02) with the
packaged sample's indices and macro series. The champion of horizon 5 is chosen by
``train_models`` (ridge and LightGBM, untuned, beside every baseline) on the data known by
--cut; it then forecasts every session after its training data, those forecasts go to the ledger,
and ``monitor_champion`` scores them once they matured (at the end of the file), over the last
63 sessions and over the whole out-of-sample span, beside every baseline fitted on the same
training window. Prints JSON: the champion, why it was chosen, and per window each model's rank
IC, hit rate, MAE and coverage, and the drifted columns.

    python benchmarks/monitor.py [--cut 2016-12-30] [--data ../shared/data/prices/sp500_5yr_dev.csv]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "prices" / "sp500_5yr_dev.csv"
NOW = datetime(2018, 2, 9, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cut", default="2016-12-30", help="last date the champion may know")
    parser.add_argument("--data", type=Path, default=DATA, help="a long OHLCV file")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"error: {args.data} not found; pass --data", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        return _run(Path(folder), data=args.data, cut=pd.Timestamp(args.cut, tz="UTC"))


def _run(work: Path, *, data: Path, cut: pd.Timestamp) -> int:
    started = time.perf_counter()
    full, home = work / "full", work / "home"
    os.environ["STOCKPRED_HOME"] = str(full)
    # Imported after STOCKPRED_HOME is set: the CLI reads the settings once.
    from stockpred import __version__
    from stockpred.cli.app import main as cli
    from stockpred.compose import open_registry
    from stockpred.features.sets import get_feature_set
    from stockpred.models.catalog import MODELS, PARAM_GRIDS
    from stockpred.monitor.session import monitor_champion
    from stockpred.pipeline.evaluate import EvaluationConfig
    from stockpred.pipeline.features import build_features
    from stockpred.pipeline.predict import load_champion
    from stockpred.pipeline.train import train_models
    from stockpred.settings import load_settings
    from stockpred.store.duckdb import DuckDBStore
    from stockpred.store.schema import MODEL_PERFORMANCE

    for command in (
        ["ingest", "sample", "--parts", "indices,macro"],
        ["ingest", "file", str(data)],
    ):
        # Their reports go to stderr: stdout is this benchmark's JSON.
        with contextlib.redirect_stdout(sys.stderr):
            code = cli([*command, "--json"])
        if code not in (0, 1):  # 1: some rows were rejected, the rest kept
            raise SystemExit(f"stockpred {' '.join(command)} failed")
    with DuckDBStore(full / "stockpred.duckdb") as source:
        bars, macro = source.read_bars(), source.read_macro()
    os.environ["STOCKPRED_HOME"] = str(home)
    settings = load_settings()
    registry = open_registry(settings)
    fs = get_feature_set("daily_v1")
    config = EvaluationConfig(
        horizon=5, models=("ridge", "lightgbm"), tune=False, min_train=504, test_size=126
    )
    cut_close = cut + pd.Timedelta(hours=23)
    with DuckDBStore(home / "stockpred.duckdb") as store:
        store.write_bars(bars[bars["ts"] <= cut_close])
        store.write_macro(macro)
        build_features(store, fs, now=cut_close.to_pydatetime())
        trained = train_models(
            store,
            registry,
            fs,
            config,
            calendar="XNYS",
            now=cut_close.to_pydatetime(),
            code_version=__version__,
            git_commit=None,
            catalog=MODELS,
            grids=PARAM_GRIDS,
        )
        store.write_bars(bars[bars["ts"] > cut_close])
        build_features(store, fs, now=NOW)
        version, model = load_champion(registry, horizon=5, cache=home / "models")
        design = store.read_features(feature_set=fs.key)
        after = design["ts"] > pd.Timestamp(version.metadata["data_end"])
        design = design[after & ~design["ticker"].str.startswith("^")].reset_index(drop=True)
        features = json.loads(version.metadata["features"])
        value = np.asarray(model.predict(design[["ticker", "ts", *features]]), dtype="float64")
        half = float(version.metadata["interval_half_width"])
        ledger = pd.DataFrame(
            {
                "ticker": design["ticker"],
                "as_of": design["ts"],
                "horizon": 5,
                "target": "log_return",
                "value": value,
                "lower": value - half,
                "upper": value + half,
                "direction_prob": 0.5,
                "model": f"stockpred-h5/{version.metadata['model_kind']}",
                "model_version": str(version.version),
                "created_at": pd.Timestamp(NOW),
            }
        )
        store.write_predictions(ledger)
    # Each window is scored on its own copy of the store: the monitor scores a session once.
    copy = home / "whole-span.duckdb"
    copy.write_bytes((home / "stockpred.duckdb").read_bytes())
    windows: dict[str, object] = {}
    for path, window in ((home / "stockpred.duckdb", 63), (copy, 1000)):
        with DuckDBStore(path) as store:
            result = monitor_champion(
                store,
                registry,
                horizon=5,
                calendar="XNYS",
                now=NOW,
                cache=home / "models",
                window=window,
                catch_up=1,
            )
            scored = store.read_monitoring(MODEL_PERFORMANCE.name, horizon=5)
        columns = ["model", "role", "n_dates", "n_rows", "rank_ic", "hit_rate", "mae", "coverage"]
        windows[str(int(scored["window_sessions"].iloc[0]))] = {
            "session": str(scored["session"].iloc[0]),
            "drifted": result.drifted,
            "models": [
                {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                for row in scored[columns].to_dict("records")
            ],
        }
    report = {
        "data": {
            "file": data.name,
            "tickers": int(ledger["ticker"].nunique()),
            "forecasts": len(ledger),
            "cut": str(cut.date()),
        },
        "champion": version.metadata["model_kind"],
        "trained_to": version.metadata["data_end"],
        "why": trained.reason,
        "windows": windows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    json.dump(report, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
