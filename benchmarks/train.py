"""Training cost: wall time and peak memory to fit LightGBM and the two LSTMs (PyTorch and
Keras 3 / TensorFlow) on the same panel.

Data: ``--tickers`` x ``--days`` daily bars from the fixed-seed random walk of
``benchmarks/features.py`` (plus the index ticker ^GSPC for the market context, left out of the
design frame), the whole ``daily_v1`` feature library built with ``build_panel``, and the target
the forward 5-session log return of the generated closes (rows without one dropped). The design
frame is built once and handed to one child process per model through a Parquet file, so each
model's peak resident memory (``ru_maxrss``) is its own: reading the frame plus training.

LightGBM is the project's estimator (``stockpred.models.catalog.make_model("lightgbm")``) when it
exists, else ``lightgbm.LGBMRegressor``, both with num_leaves 31, learning_rate 0.05, 300 rounds,
min_child_samples 200, subsample and colsample 0.8. The LSTMs are
``stockpred.models.lstm.LSTMForecaster`` (``lstm``, PyTorch) and
``stockpred.models.keras_lstm.KerasLSTMForecaster`` (``keras_lstm``, Keras 3 on TensorFlow) at
their defaults (the same network: 20-row sequences, one layer of 32, batch 512, Huber loss, Adam
at 1e-3) for ``--epochs`` epochs; their epoch times come from the ``on_epoch`` callback (an epoch:
one pass over the training rows plus the validation pass); ``import_seconds`` is the framework's
import in the worker. Every model uses ``--threads`` threads (2 by default; 1 is fairer when other
work shares the cores: OpenMP's spinning threads suffer most). ``--models`` picks which run (all
three by default). Prints one JSON object.

    python benchmarks/train.py [--tickers 500] [--days 1260] [--epochs 3] [--threads 2]
        [--models lightgbm,lstm,keras_lstm] [--skip-lstm]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
HORIZON = 5
KINDS = ("lightgbm", "lstm", "keras_lstm")
THREADS = 2
LIGHTGBM_PARAMS: dict[str, Any] = {
    "num_leaves": 31,
    "learning_rate": 0.05,
    "n_estimators": 300,
    "min_child_samples": 200,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "n_jobs": THREADS,
}


def features_benchmark() -> ModuleType:
    """benchmarks/features.py, for its generator and its bars frame."""
    spec = importlib.util.spec_from_file_location("benchmarks_features", HERE / "features.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def design_frame(tickers: int, days: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The design frame (ticker, ts, daily_v1 features, ``target``) and a description of it."""
    from stockpred.features.panel import build_panel
    from stockpred.features.sets import get_feature_set

    bench = features_benchmark()
    start = time.perf_counter()
    # One more walk than tickers: bars_frame names the last one ^GSPC, the market index.
    bars = bench.bars_frame(bench.generate(tickers + 1, days))
    generated_s = time.perf_counter() - start
    feature_set = get_feature_set("daily_v1")
    start = time.perf_counter()
    panel = build_panel(bars, feature_set).frame
    panel_s = time.perf_counter() - start
    bars = bars.sort_values(["ticker", "ts"], kind="stable")
    log_close = np.log(bars["close"].to_numpy(dtype=np.float64))
    forward = (
        pd.Series(log_close, index=bars.index).groupby(bars["ticker"].to_numpy()).shift(-HORIZON)
    )
    labels = pd.DataFrame(
        {
            "ticker": bars["ticker"].to_numpy(),
            "ts": bars["ts"].to_numpy(),
            "target": forward.to_numpy() - log_close,
        }
    )
    frame = panel.merge(labels, on=["ticker", "ts"], how="inner", validate="one_to_one")
    frame = frame[(frame["ticker"] != "^GSPC") & frame["target"].notna()].reset_index(drop=True)
    features = [c for c in frame.columns if c not in ("ticker", "ts", "target")]
    described = {
        "generator": "benchmarks/features.py generate (seed 20240), XNYS sessions",
        "tickers": int(frame["ticker"].nunique()),
        "days": days,
        "rows": len(frame),
        "feature_set": f"{feature_set.name}@{feature_set.version}",
        "features": len(features),
        "nan_share": round(float(frame[features].isna().to_numpy().mean()), 4),
        "target": f"forward {HORIZON}-session log return of the generated close",
        "design_frame_mb": round(frame.memory_usage(deep=True).sum() / 2**20, 1),
        "generate_seconds": round(generated_s, 2),
        "build_panel_seconds": round(panel_s, 2),
    }
    return frame, described


def train_lightgbm(X: pd.DataFrame, y: pd.Series, threads: int) -> dict[str, Any]:
    try:
        from stockpred.models.catalog import make_model
    except ImportError:
        make_model = None
    if make_model is not None:
        model = make_model("lightgbm", **{**LIGHTGBM_PARAMS, "n_jobs": threads})
        implementation = "stockpred.models.catalog.make_model('lightgbm')"
        start = time.perf_counter()
        model.fit(X, y)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        model.predict(X)
        predict_s = time.perf_counter() - start
    else:
        import lightgbm

        implementation = "lightgbm.LGBMRegressor"
        regressor = lightgbm.LGBMRegressor(
            **{**LIGHTGBM_PARAMS, "n_jobs": threads},
            subsample_freq=1,
            random_state=0,
            verbosity=-1,
        )
        matrix = X.drop(columns=["ticker", "ts"]).to_numpy(dtype=np.float64)
        start = time.perf_counter()
        regressor.fit(matrix, y.to_numpy())
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        regressor.predict(matrix)
        predict_s = time.perf_counter() - start
    import lightgbm

    return {
        "implementation": implementation,
        "lightgbm_version": lightgbm.__version__,
        "params": {**LIGHTGBM_PARAMS, "n_jobs": threads},
        "fit_seconds": round(fit_s, 2),
        "predict_seconds_all_rows": round(predict_s, 2),
        "fit_krows_per_s": round(len(X) / fit_s / 1e3, 1),
    }


def train_lstm(
    X: pd.DataFrame, y: pd.Series, epochs: int, *, kind: str, threads: int
) -> dict[str, Any]:
    """``kind`` ``lstm`` (PyTorch) or ``keras_lstm`` (Keras 3 on TensorFlow)."""
    start = time.perf_counter()
    if kind == "lstm":
        import torch

        from stockpred.models.lstm import LSTMForecaster as Forecaster

        framework = {
            "torch_version": torch.__version__,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
        }
        implementation = "stockpred.models.lstm.LSTMForecaster"
    else:
        os.environ["KERAS_BACKEND"] = "tensorflow"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        import keras
        import tensorflow

        from stockpred.models.keras_lstm import KerasLSTMForecaster as Forecaster

        framework = {
            "tensorflow_version": tensorflow.__version__,
            "keras_version": keras.__version__,
            "device": "gpu" if tensorflow.config.list_physical_devices("GPU") else "cpu",
        }
        implementation = "stockpred.models.keras_lstm.KerasLSTMForecaster"
    import_s = time.perf_counter() - start

    marks: list[float] = []
    losses: list[tuple[int, float, float]] = []

    def on_epoch(epoch: int, train: float, validation: float) -> None:
        marks.append(time.perf_counter())
        losses.append((epoch, round(train, 5), round(validation, 5)))

    model = Forecaster(horizon=HORIZON, epochs=epochs, threads=threads, on_epoch=on_epoch)
    start = time.perf_counter()
    model.fit(X, y)
    fit_s = time.perf_counter() - start
    epoch_s = np.diff([start, *marks])
    # The first epoch also carries the set-up (sorting, standardising, tensors, tracing).
    steady = epoch_s[1:] if len(epoch_s) > 1 else epoch_s
    start = time.perf_counter()
    model.predict(X)
    predict_s = time.perf_counter() - start
    return {
        "implementation": implementation,
        **framework,
        "import_seconds": round(import_s, 2),
        "params": dict(model.params),
        "epochs_run": len(epoch_s),
        "first_epoch_seconds": round(float(epoch_s[0]), 2),
        "seconds_per_epoch": round(float(np.mean(steady)), 2),
        "epochs_per_second": round(1.0 / float(np.mean(steady)), 4),
        "fit_seconds": round(fit_s, 2),
        "predict_seconds_all_rows": round(predict_s, 2),
        "rows_per_second": round(len(X) / float(np.mean(steady))),
        "losses": losses,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(kind: str, path: Path, epochs: int, threads: int) -> dict[str, Any]:
    """One model in this process: read the frame, train, report time and peak memory."""
    frame = pd.read_parquet(path)
    X, y = frame.drop(columns="target"), frame["target"]
    before, cpu = peak_rss_mb(), cpu_seconds()
    if kind == "lightgbm":
        result = train_lightgbm(X, y, threads)
    else:
        result = train_lstm(X, y, epochs, kind=kind, threads=threads)
    return {
        **result,
        # fit and predict together; near 2 x wall on two idle cores
        "cpu_seconds": round(cpu_seconds() - cpu, 1),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_before_fit": before,
    }


def run_worker(kind: str, path: Path, epochs: int, threads: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--frame", str(path)]
    command += ["--epochs", str(epochs), "--threads", str(threads)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-5:]}
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["process_wall_seconds"] = round(time.perf_counter() - start, 2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=int, default=500)
    parser.add_argument("--days", type=int, default=1260)
    parser.add_argument("--epochs", type=int, default=3, help="LSTM epochs.")
    parser.add_argument(
        "--models", default=",".join(KINDS), help=f"Comma-separated, of {', '.join(KINDS)}."
    )
    parser.add_argument("--skip-lstm", action="store_true", help="Run neither LSTM.")
    parser.add_argument(
        "--threads",
        type=int,
        default=THREADS,
        help="Threads per model; 1 is the fair choice when other work shares the cores.",
    )
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--frame", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    kinds = [kind for kind in args.models.split(",") if kind]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    if args.skip_lstm:
        kinds = [kind for kind in kinds if kind == "lightgbm"]

    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.frame, args.epochs, args.threads)))
        return 0

    frame, data = design_frame(args.tickers, args.days)
    report: dict[str, Any] = {
        "data": data,
        "machine": {
            "cpus": os.cpu_count(),
            "threads_per_model": args.threads,
            "python": platform.python_version(),
            # Other work on the machine slows both, OpenMP's spinning threads most.
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "memory": "peak_rss_mb: ru_maxrss of the model's own process (frame read + training)",
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "design.parquet"
        frame.to_parquet(path)
        del frame
        for kind in kinds:
            report[kind] = run_worker(kind, path, args.epochs, args.threads)
    report["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
