"""Ingest speed: the dev price file into DuckDB, next to a plain pandas.read_csv of it (the floor).

Prints one JSON object: data size, rows/second for read_csv, for a first ingest into an empty
store (read + validate + calendar + upsert), and for a second ingest of the same file (every row
already stored), and the ratios to read_csv. Medians over --repeat runs, all in this one process.

    python benchmarks/ingest.py [--data ../shared/data/prices/sp500_5yr_dev.csv] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stockpred.pipeline.ingest import ingest_files, read_files
from stockpred.store.duckdb import DuckDBStore

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "prices"


def _median_seconds(run: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA / "sp500_5yr_dev.csv")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"no data file at {args.data}; pass --data", file=sys.stderr)
        return 1
    rows = len(pd.read_csv(args.data))  # also warms the file cache for every contender

    read_csv = _median_seconds(lambda: pd.read_csv(args.data), args.repeat)
    read_stage = _median_seconds(lambda: read_files([args.data]), args.repeat)

    first_runs, second_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            path = Path(tmp) / f"bench-{i}.duckdb"
            with DuckDBStore(path) as store:
                start = time.perf_counter()
                files = read_files([args.data])
                ingest_files(store, files, calendar="XNYS", now=datetime.now(UTC))
                first_runs.append(time.perf_counter() - start)
                start = time.perf_counter()
                files = read_files([args.data])
                result = ingest_files(store, files, calendar="XNYS", now=datetime.now(UTC))
                second_runs.append(time.perf_counter() - start)
                assert result.written.written == 0, "second ingest must change nothing"
    first, second = statistics.median(first_runs), statistics.median(second_runs)
    report = {
        "benchmark": "ingest",
        "data": str(args.data.name),
        "rows": rows,
        "bytes": args.data.stat().st_size,
        "repeat": args.repeat,
        "pandas_read_csv_rows_per_s": round(rows / read_csv),
        "stockpred_read_stage_rows_per_s": round(rows / read_stage),
        "stockpred_first_ingest_rows_per_s": round(rows / first),
        "stockpred_reingest_rows_per_s": round(rows / second),
        "ratio_first_ingest_to_read_csv": round(read_csv / first, 3),
        "ratio_reingest_to_read_csv": round(read_csv / second, 3),
        "seconds": {
            "pandas_read_csv": round(read_csv, 3),
            "first_ingest": round(first, 3),
            "reingest": round(second, 3),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
