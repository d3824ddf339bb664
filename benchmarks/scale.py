"""Scale: the universe at x1, x10 and x100 (500, 5,000, 50,000 tickers) through features (in
process and on Spark), training, the stream and the serving path; measured where it fits on
this machine, extrapolated by a fitted line where it does not, every figure marked which.

Data, generated for scale (fixed seeds): geometric random walks, one daily bar per ticker and
XNYS session, plus the index ticker ^GSPC; the size of every run is stated in its ``data``
(tickers x sessions = rows, and features). Each measurement runs in a fresh child process so
its peak resident memory (``ru_maxrss``) is its own; a child that passes ``--timeout`` seconds is
stopped and reported as such.

- ``features``: ``build_panel`` of ``daily_v1`` (``features/panel.py``, the in-process engine of
  ``stockpred features build``) on ``--sizes`` tickers x ``--days`` sessions; seconds, rows/s,
  the panel's size, peak RSS. ``build``: the whole ``build_features`` use case into a fresh
  DuckDB file (``benchmarks/features.py end_to_end``: panel plus store write) at
  ``--build-sizes``.
- ``spark``: the same panel on PySpark (``pipeline/spark.py``, ``local[*]``) beside the
  in-process engine at ``--spark-sizes`` (``benchmarks/features.py spark_against_local``).
- ``train``: the design frame of ``benchmarks/train.py`` (``--sizes`` x ``--train-days``, target
  the forward 5-session log return), then one untuned fit of the catalogue's ``ridge`` and
  ``lightgbm`` at their defaults, each in its own process: fit seconds, rows/s, peak RSS.
- ``stream``: ``benchmarks/stream.py``'s state warmed on ``--stream-warm`` sessions, then one
  session of minute bars (N x 390) through the in-process ``StreamProcessor`` on the
  ``memory://`` bus (bars/s, publish to committed session) up to ``--stream-minute-max``
  tickers, and the commit of a daily session (``SessionFeatures.close_session`` of N bars)
  at every ``--stream-sizes``.
- ``api``: the serving path in process for N tickers: the forecast table's refresh
  (``forecasts_from_rows`` with an untuned LightGBM champion, contributions included, and
  ``ForecastTable.apply``), then every ticker answered in batches of ``api_max_batch`` (500)
  as ``POST /v1/predictions:batch`` answers them (lookup, freshness, rendered JSON), first
  rendering and cached. The latest feature rows of 200 modelled tickers are repeated under new
  names to make N (the cost of a forecast does not depend on its values). HTTP, auth and the
  store read of the refresh are not in it (``benchmarks/api.py`` measures the HTTP route).

Per step, a line ``seconds = a + b * x`` (x: rows, or tickers for the stream and the API) is
fitted by least squares to the measured sizes, with the exponent of a log-log fit beside it
(1: linear), and used for the sizes asked in ``--extrapolate`` that were not measured.

    python benchmarks/scale.py [--steps features,build,spark,train,stream,api]
        [--sizes 500,1000,2000] [--days 2520] [--train-days 1260]
        [--spark-sizes 500,1000] [--build-sizes 500,1000]
        [--stream-sizes 500,1000,2000,5000,50000] [--stream-minute-max 5000] [--stream-warm 60]
        [--api-sizes 500,1000,5000,50000] [--extrapolate 5000,50000] [--timeout 480]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
STEPS = ("features", "build", "spark", "train", "stream", "api")
SESSION_MINUTES = 390
API_BASE_TICKERS = 200


def fit_scaling(x: Sequence[float], seconds: Sequence[float]) -> dict[str, float]:
    """Least-squares line ``seconds = intercept + slope * x`` and the exponent ``k`` of
    ``seconds ~ x**k`` (log-log fit). One point: a line through the origin and k = 1."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(seconds, dtype=np.float64)
    if xs.size == 0 or xs.size != ys.size:
        raise ValueError(f"need as many sizes as times, at least one; got {xs.size}, {ys.size}")
    if xs.size == 1 or np.ptp(xs) == 0:
        return {
            "intercept_s": 0.0,
            "slope_s_per_unit": float(ys.mean() / xs.mean()),
            "exponent": 1.0,
        }
    slope, intercept = np.polyfit(xs, ys, 1)
    exponent = float(np.polyfit(np.log(xs), np.log(np.maximum(ys, 1e-9)), 1)[0])
    return {"intercept_s": float(intercept), "slope_s_per_unit": float(slope), "exponent": exponent}


def predict_seconds(fit: dict[str, float], x: float) -> float:
    """The fitted line at ``x``, never below the slope's share (a negative intercept would
    make a small size free)."""
    return max(fit["intercept_s"] + fit["slope_s_per_unit"] * x, fit["slope_s_per_unit"] * x)


def _sibling(name: str) -> ModuleType:
    """benchmarks/<name>.py, imported from its file (benchmarks/ is no package)."""
    key = f"bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load benchmarks/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _top(profile: cProfile.Profile, count: int = 8) -> dict[str, list[dict[str, Any]]]:
    """The functions with the most own time."""
    stats = pstats.Stats(profile)
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((own, cumulative, calls, f"{Path(file).name}:{line}({name})"))
    rows.sort(reverse=True)
    own = [
        {"function": f, "own_s": round(o, 2), "cumulative_s": round(c, 2), "calls": n}
        for o, c, n, f in rows[:count]
    ]
    rows.sort(key=lambda row: row[1], reverse=True)
    cumulative = [
        {"function": f, "own_s": round(o, 2), "cumulative_s": round(c, 2), "calls": n}
        for o, c, n, f in rows[:count]
    ]
    return {"by_own_time": own, "by_cumulative_time": cumulative}


class _Clock:
    """Times a block; profiles it too when asked (then the seconds include cProfile's cost)."""

    def __init__(self, profile: bool) -> None:
        self._profile = cProfile.Profile() if profile else None
        self.seconds = 0.0

    def __enter__(self) -> _Clock:
        if self._profile is not None:
            self._profile.enable()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._start
        if self._profile is not None:
            self._profile.disable()

    def top(self) -> dict[str, Any]:
        return {} if self._profile is None else {"profile": _top(self._profile)}


# -- workers: one measurement each, in a child process ----------------------------------------


def work_features(size: int, days: int, profile: bool) -> dict[str, Any]:
    from stockpred.features.panel import build_panel
    from stockpred.features.sets import get_feature_set

    bench = _sibling("features")
    # One walk more than tickers: bars_frame names the last one ^GSPC, the market index.
    bars = bench.bars_frame(bench.generate(size + 1, days))
    feature_set = get_feature_set("daily_v1")
    before = current_rss_mb()
    with _Clock(profile) as clock:
        panel = build_panel(bars, feature_set).frame
    rows = len(bars)
    return {
        "data": {
            "tickers": size,
            "sessions": days,
            "rows": rows,
            "features": len(feature_set.outputs),
        },
        "seconds": round(clock.seconds, 2),
        "krows_per_s": round(rows / clock.seconds / 1e3, 1),
        "bars_frame_mb": round(bars.memory_usage(deep=True).sum() / 2**20, 1),
        "panel_mb": round(panel.memory_usage(deep=True).sum() / 2**20, 1),
        "rss_before_mb": before,
        "peak_rss_mb": peak_rss_mb(),
        **clock.top(),
    }


def work_build(size: int, days: int, profile: bool) -> dict[str, Any]:
    bench = _sibling("features")
    with _Clock(profile) as clock:
        result = bench.end_to_end(bench.generate(size + 1, days))
    return {
        "data": {
            "tickers": size,
            "sessions": days,
            "rows": result["rows"],
            "features": result["features"],
        },
        "seconds": result["seconds"],
        "krows_per_s": round(result["rows"] / result["seconds"] / 1e3, 1),
        "seconds_with_generation": round(clock.seconds, 2),
        "store": "DuckDB file in a temporary folder",
        "peak_rss_mb": peak_rss_mb(),
        **clock.top(),
    }


def work_spark(size: int, days: int, profile: bool) -> dict[str, Any]:
    bench = _sibling("features")
    result = bench.spark_against_local(bench.generate(size + 1, days), "local[*]")
    return {
        "data": {
            "tickers": size,
            "sessions": days,
            "rows": result["rows"],
            "features": result["features"],
        },
        "seconds": result["spark_seconds"],
        "krows_per_s": result["spark_krows_per_s"],
        **{k: result[k] for k in ("spark_cores", "local_seconds", "spark_session_start_s")},
        "identical_values": result["identical_values"],
        "driver_peak_rss_mb": peak_rss_mb(),
        "memory_note": "the Python driver's peak; the JVM (spark.driver.memory 6g) and the Python "
        "workers are other processes, not counted",
    }


def work_design(size: int, days: int, path: Path) -> dict[str, Any]:
    train = _sibling("train")
    frame, described = train.design_frame(size, days)
    frame.to_parquet(path)
    return {"data": described, "peak_rss_mb": peak_rss_mb()}


def work_fit(kind: str, path: Path, profile: bool) -> dict[str, Any]:
    import pandas as pd

    from stockpred.models.catalog import make_model

    frame = pd.read_parquet(path)
    X, y = frame.drop(columns="target"), frame["target"]
    del frame
    before = current_rss_mb()
    model = make_model(kind)
    with _Clock(profile) as clock:
        model.fit(X, y)
    return {
        "kind": kind,
        "params": "catalogue defaults (untuned)",
        "rows": len(X),
        "seconds": round(clock.seconds, 2),
        "krows_per_s": round(len(X) / clock.seconds / 1e3, 1),
        "design_frame_mb": round(X.memory_usage(deep=True).sum() / 2**20, 1),
        "rss_before_fit_mb": before,
        "peak_rss_mb": peak_rss_mb(),
        **clock.top(),
    }


def work_stream(size: int, warm: int, minute_max: int, profile: bool) -> dict[str, Any]:
    import asyncio

    from stockpred.domain.frames import bars_of
    from stockpred.features.sets import get_feature_set
    from stockpred.stream.features import SessionFeatures

    stream = _sibling("stream")
    closes_timed = 5
    # warm sessions, then the timed daily closes, then the minute session and two paced minutes
    sessions = stream.sessions_of(warm + closes_timed + 2)
    closes = [close for _, close in sessions]
    bars = stream.generated(size, closes)
    # A first session in a throwaway state compiles the stacked drivers (stream.py does too).
    SessionFeatures(get_feature_set("daily_v1")).warm(bars[bars["ts"] == closes[0]])
    state, warm_rate = stream.warmed(bars, closes[warm - 1])
    out: dict[str, Any] = {
        "data": {"tickers": size, "index": "^GSPC", "warm_sessions": warm},
        "warm_bars_per_s": round(warm_rate, 1),
        "rss_after_warm_mb": current_rss_mb(),
    }
    days = [bars_of(bars[bars["ts"] == c]) for c in closes[warm:]]
    del bars
    close = stream.close_figures(state, days[:closes_timed])
    out["close_session"] = {"bars": size + 1, **close}
    out["seconds"] = round(close["p50_ms"] / 1000, 3)
    clock = _Clock(False)
    if size <= minute_max:
        fast = stream.minutes(days[closes_timed], sessions[warm + closes_timed][0])
        paced = stream.minutes(days[closes_timed + 1], sessions[warm + closes_timed + 1][0])[:2]
        records = sum(len(m) for m in fast)
        url = f"memory://?max_records={2 * records}"
        clock = _Clock(profile)
        with clock:
            through = asyncio.run(stream.through(url, state, fast, paced, pace=0.1))
        out["minute_session"] = {
            "bars": records,
            "bars_per_s": through["bars_per_s"],
            "publish_to_committed_s": through["seconds"],
            "bus": "memory://",
            "champion": "benchmarks/stream.py's stand-in linear model",
        }
    else:
        out["minute_session"] = (
            f"not run: {size + 1} x {SESSION_MINUTES} minute bars is over --stream-minute-max"
        )
    out["peak_rss_mb"] = peak_rss_mb()
    out.update(clock.top())
    return out


def _champion(days: int) -> tuple[Any, Any, Any]:
    """An untuned LightGBM fitted on API_BASE_TICKERS tickers, its version record and the
    latest design row of each ticker."""
    from stockpred.models.catalog import make_model
    from stockpred.registry.base import ModelVersion

    train = _sibling("train")
    frame, _ = train.design_frame(API_BASE_TICKERS, days)
    X, y = frame.drop(columns="target"), frame["target"]
    model = make_model("lightgbm")
    model.fit(X, y)
    latest = X.groupby("ticker", sort=True).tail(1).reset_index(drop=True)
    version = ModelVersion(
        name="stockpred-h5",
        version=1,
        run_id="scale",
        created_at=datetime(2021, 1, 1, tzinfo=UTC),
        metadata={
            "interval_half_width": "0.05",
            "interval_coverage": "0.8",
            "model_kind": "lightgbm",
        },
    )
    return model, version, latest


def work_api(size: int, days: int, batch: int, profile: bool) -> dict[str, Any]:
    import pandas as pd

    from stockpred.api.rendering import RenderCache
    from stockpred.api.schemas import prediction_out
    from stockpred.pipeline.predict import forecasts_from_rows
    from stockpred.pipeline.serving import ForecastTable, FreshnessCache, ServedForecast, ServedLog

    model, version, latest = _champion(days)
    copies = -(-size // len(latest))
    rows = pd.concat([latest] * copies, ignore_index=True).iloc[:size].copy()
    rows["ticker"] = [f"S{i:05d}" for i in range(size)]
    rows = rows.sort_values(["ticker", "ts"]).reset_index(drop=True)
    last_close = dict.fromkeys(rows["ticker"], 100.0)
    now = pd.Timestamp(rows["ts"].max()) + pd.Timedelta(hours=1)
    before = current_rss_mb()
    with _Clock(profile) as clock:
        forecasts = forecasts_from_rows(
            version, model, rows, horizon=5, last_close=last_close, now=now.to_pydatetime()
        )
    refresh_s = clock.seconds
    start = time.perf_counter()
    table, _ = ForecastTable().apply(5, forecasts, replace=True)
    apply_s = time.perf_counter() - start
    freshness = FreshnessCache(calendar="XNYS", clock=now.to_pydatetime)
    renders, log = RenderCache(), ServedLog()

    def render(served: ServedForecast) -> bytes:
        return prediction_out(served).model_dump_json().encode()

    tickers = list(rows["ticker"])
    answered: dict[str, float] = {}
    for name in ("first_render", "cached"):
        start = time.perf_counter()
        for i in range(0, size, batch):
            bodies = []
            for ticker in tickers[i : i + batch]:
                found = table.get(ticker, 5)
                assert found is not None
                served = ServedForecast(found, freshness.of(pd.Timestamp(found.as_of)))
                log.record(found)
                bodies.append(renders.body(served, render))
            b'{"predictions":[' + b",".join(bodies) + b'],"errors":[]}'
        answered[name] = time.perf_counter() - start
        log.take()
    return {
        "data": {"tickers": size, "rows": size, "features": latest.shape[1] - 2, "batch": batch},
        "seconds": round(refresh_s + apply_s, 3),
        "refresh": {
            "forecasts_from_rows_s": round(refresh_s, 3),
            "table_apply_s": round(apply_s, 3),
            "forecasts_per_s": round(size / (refresh_s + apply_s), 1),
        },
        "answer_all_batches": {
            name: {"seconds": round(s, 3), "forecasts_per_s": round(size / s, 1)}
            for name, s in answered.items()
        },
        "rss_before_refresh_mb": before,
        "peak_rss_mb": peak_rss_mb(),
        **clock.top(),
    }


def worker(args: argparse.Namespace) -> dict[str, Any]:
    step, size, profile = args.worker, args.size, args.profile
    if step == "features":
        return work_features(size, args.days, profile)
    if step == "build":
        return work_build(size, args.days, profile)
    if step == "spark":
        return work_spark(size, args.days, profile)
    if step == "design":
        return work_design(size, args.train_days, args.frame)
    if step in ("ridge", "lightgbm"):
        return work_fit(step, args.frame, profile)
    if step == "stream":
        return work_stream(size, args.stream_warm, args.stream_minute_max, profile)
    return work_api(size, args.train_days, args.api_batch, profile)


# -- the parent: runs the children, fits, extrapolates ------------------------------------------


def run_child(
    args: argparse.Namespace,
    step: str,
    size: int,
    *,
    profile: bool = False,
    frame: Path | None = None,
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", step, "--size", str(size)]
    command += ["--days", str(args.days), "--train-days", str(args.train_days)]
    command += [
        "--stream-warm",
        str(args.stream_warm),
        "--stream-minute-max",
        str(args.stream_minute_max),
    ]
    command += ["--api-batch", str(args.api_batch)]
    command += ["--profile"] if profile else []
    command += ["--frame", str(frame)] if frame is not None else []
    started = time.perf_counter()
    print(
        f"scale: {step} {size}{' (profiled)' if profile else ''} ...", file=sys.stderr, flush=True
    )
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": f"stopped after --timeout {args.timeout} s"}
    wall = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        return {
            "status": "failed",
            "error": done.stderr.strip().splitlines()[-5:],
            "process_wall_s": wall,
        }
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["status"] = "measured"
    report["process_wall_s"] = wall
    print(
        f"scale: {step} {size}: {report.get('seconds')} s in {wall} s", file=sys.stderr, flush=True
    )
    return report


def scaling(
    points: dict[int, dict[str, Any]],
    *,
    unit: str,
    unit_of: Any,
    wanted: Sequence[int],
    per_unit: str,
) -> dict[str, Any]:
    """The fit over the measured points and a marked figure at every wanted size."""
    good = {n: p for n, p in points.items() if p.get("status") == "measured"}
    if not good:
        return {"fit": None}
    xs = [unit_of(n, p) for n, p in good.items()]
    fit = fit_scaling(xs, [p["seconds"] for p in good.values()])
    figures = []
    for n in sorted(set(wanted) | set(points)):
        if n in good:
            x, seconds = unit_of(n, good[n]), good[n]["seconds"]
            status = "measured"
        else:
            x = unit_of(n, None)
            seconds, status = predict_seconds(fit, x), "extrapolated"
        figures.append(
            {
                "tickers": n,
                unit: int(x),
                "status": status,
                "seconds": round(seconds, 3),
                per_unit: round(x / seconds, 1) if seconds > 0 else None,
                **(
                    {"peak_rss_mb": good[n]["peak_rss_mb"]}
                    if n in good and "peak_rss_mb" in good[n]
                    else {}
                ),
            }
        )
    return {
        "fit": {"x": unit, **{k: float(f"{v:.6g}") for k, v in fit.items()}},
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda text: [int(v) for v in text.split(",") if v]  # noqa: E731
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument(
        "--sizes", type=ints, default=[500, 1000, 2000], help="tickers, features and train"
    )
    parser.add_argument(
        "--days", type=int, default=2520, help="sessions for features, build, spark"
    )
    parser.add_argument(
        "--train-days", type=int, default=1260, help="sessions for train and the API's champion"
    )
    parser.add_argument("--build-sizes", type=ints, default=[500, 1000])
    parser.add_argument("--spark-sizes", type=ints, default=[500, 1000])
    parser.add_argument("--stream-sizes", type=ints, default=[500, 1000, 2000, 5000, 50000])
    parser.add_argument("--stream-warm", type=int, default=60)
    parser.add_argument("--stream-minute-max", type=int, default=5000)
    parser.add_argument("--api-sizes", type=ints, default=[500, 1000, 5000, 50000])
    parser.add_argument("--api-batch", type=int, default=500, help="api_max_batch")
    parser.add_argument("--extrapolate", type=ints, default=[5000, 50000])
    parser.add_argument("--timeout", type=int, default=480, help="seconds per measurement")
    parser.add_argument(
        "--no-profile",
        dest="profile_smallest",
        action="store_false",
        help="skip the profiled run at the smallest size of each step",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--frame", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args)))
        return 0
    steps = [s for s in args.steps.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")

    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "command": " ".join(
            ["python", "benchmarks/scale.py", *(argv if argv is not None else sys.argv[1:])]
        ),
    }
    rows_of = lambda days: lambda n, p: p["data"]["rows"] if p else (n + 1) * days  # noqa: E731
    tickers_of = lambda n, p: n  # noqa: E731
    sizes = {"features": args.sizes, "build": args.build_sizes, "spark": args.spark_sizes}
    for step in ("features", "build", "spark"):
        if step not in steps:
            continue
        points = {n: run_child(args, step, n) for n in sizes[step]}
        profiled = (
            run_child(args, step, min(sizes[step]), profile=True)
            if args.profile_smallest and step != "spark"
            else {}
        )
        report[step] = {
            "data": f"tickers x {args.days} sessions (+ ^GSPC), daily_v1",
            "runs": points,
            "profile_smallest": profiled,
            **scaling(
                points,
                unit="rows",
                unit_of=rows_of(args.days),
                wanted=args.extrapolate,
                per_unit="rows_per_s",
            ),
        }
    if "train" in steps:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
            by_kind: dict[str, dict[int, dict[str, Any]]] = {"ridge": {}, "lightgbm": {}}
            designs = {}
            for n in args.sizes:
                path = Path(folder) / f"design-{n}.parquet"
                designs[n] = run_child(args, "design", n, frame=path)
                for kind, points in by_kind.items():
                    points[n] = run_child(args, kind, n, frame=path)
                    if points[n].get("status") == "measured":
                        points[n]["data"] = {"rows": points[n]["rows"]}
                path.unlink(missing_ok=True)
        measured = [
            d["data"]["rows"] / n for n, d in designs.items() if d.get("status") == "measured"
        ]
        per_ticker = float(np.mean(measured)) if measured else float(args.train_days)
        train_rows = lambda n, p: p["data"]["rows"] if p else n * per_ticker  # noqa: E731
        report["train"] = {
            "data": f"tickers x {args.train_days} sessions, daily_v1 design frame, "
            "target the 5-session forward log return",
            "design": designs,
            **{
                kind: {
                    "runs": points,
                    **scaling(
                        points,
                        unit="rows",
                        unit_of=train_rows,
                        wanted=args.extrapolate,
                        per_unit="rows_per_s",
                    ),
                }
                for kind, points in by_kind.items()
            },
        }
    if "stream" in steps:
        points = {n: run_child(args, "stream", n) for n in args.stream_sizes}
        minute = {
            n: {
                "status": "measured",
                "seconds": p["minute_session"]["publish_to_committed_s"],
                "data": p["data"],
            }
            for n, p in points.items()
            if p.get("status") == "measured" and isinstance(p.get("minute_session"), dict)
        }
        bars_of_session = lambda n, p: (n + 1) * SESSION_MINUTES  # noqa: E731
        report["stream"] = {
            "data": f"tickers (+ ^GSPC), warmed on {args.stream_warm} sessions; "
            "one session of minute bars on memory://",
            "runs": points,
            "close_session": scaling(
                points,
                unit="bars",
                unit_of=lambda n, p: n + 1,
                wanted=args.extrapolate,
                per_unit="bars_per_s",
            ),
            "minute_session": scaling(
                minute,
                unit="bars",
                unit_of=bars_of_session,
                wanted=args.extrapolate,
                per_unit="bars_per_s",
            ),
        }
    if "api" in steps:
        points = {n: run_child(args, "api", n) for n in args.api_sizes}
        profiled = (
            run_child(args, "api", min(args.api_sizes), profile=True)
            if args.profile_smallest
            else {}
        )
        answered = {
            n: {"status": "measured", "seconds": p["answer_all_batches"]["first_render"]["seconds"]}
            for n, p in points.items()
            if p.get("status") == "measured"
        }
        report["api"] = {
            "data": "N tickers' latest daily_v1 rows (200 modelled ones repeated), LightGBM "
            f"untuned, batches of {args.api_batch}",
            "runs": points,
            "profile_smallest": profiled,
            "refresh": scaling(
                points,
                unit="tickers",
                unit_of=tickers_of,
                wanted=args.extrapolate,
                per_unit="forecasts_per_s",
            ),
            "answer_first_render": scaling(
                answered,
                unit="tickers",
                unit_of=tickers_of,
                wanted=args.extrapolate,
                per_unit="forecasts_per_s",
            ),
        }
    report["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
