"""Store speed: bulk load of the dev price file and one ticker's full history, DuckDB and
PostgreSQL in the same run.

The file is read and validated once (``read_files`` + ``validate_bars``, as ``stockpred ingest``
does); only ``write_bars`` into an empty store and ``read_bars(tickers=[TICKER])`` are timed.
DuckDB writes a temporary file; PostgreSQL a fresh schema, dropped afterwards. Loads are medians
over --repeat fresh stores, reads medians over --reads runs. Prints one JSON object.

    python benchmarks/store.py [--data ../shared/data/prices/sp500_5yr_dev.csv]
                               [--postgres-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from stockpred.pipeline.ingest import read_files
from stockpred.quality.bars import validate_bars
from stockpred.store.base import Store
from stockpred.store.duckdb import DuckDBStore
from stockpred.store.postgres import PostgresStore

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "prices"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
TICKER = "AAPL"


def _bars(path: Path) -> pd.DataFrame:
    now = datetime.now(UTC)
    raw = pd.concat([f.frame for f in read_files([path])], ignore_index=True)
    raw["source"] = f"file:{path.name}"
    clean = validate_bars(
        raw, calendar="XNYS", carry=("source",), now=pd.Timestamp(now).tz_convert("UTC")
    ).clean
    return clean.assign(ingested_at=pd.Timestamp(now).tz_convert("UTC"))


@contextmanager
def _duckdb(tmp: Path, run: int) -> Iterator[Store]:
    with DuckDBStore(tmp / f"bench-{run}.duckdb") as store:
        yield store


def _postgres(url: str) -> Callable[[Path, int], AbstractContextManager[Store]]:
    @contextmanager
    def open_fresh(_tmp: Path, _run: int) -> Iterator[Store]:
        schema = f"bench_{uuid.uuid4().hex}"
        try:
            with PostgresStore(url, schema=schema) as store:
                yield store
        finally:
            with psycopg.connect(url, autocommit=True) as con:
                con.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )

    return open_fresh


def _measure(
    open_store: Callable[[Path, int], AbstractContextManager[Store]],
    bars: pd.DataFrame,
    *,
    repeat: int,
    reads: int,
) -> dict[str, float]:
    loads: list[float] = []
    read_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(repeat):
            with open_store(Path(tmp), run) as store:
                start = time.perf_counter()
                result = store.write_bars(bars)
                loads.append(time.perf_counter() - start)
                assert result.inserted == len(bars), result
                if run == repeat - 1:
                    history = store.read_bars(tickers=[TICKER])  # warm-up, and a check
                    assert len(history) == int((bars["ticker"] == TICKER).sum())
                    for _ in range(reads):
                        start = time.perf_counter()
                        store.read_bars(tickers=[TICKER])
                        read_times.append(time.perf_counter() - start)
    load, read = statistics.median(loads), statistics.median(read_times)
    return {
        "load_s": load,
        "load_rows_per_s": len(bars) / load,
        "read_ms": read * 1000,
        "reads_per_s": 1 / read,
        "read_rows": float(len(history)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA / "sp500_5yr_dev.csv")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("STOCKPRED_TEST_POSTGRES_URL") or LOCAL_POSTGRES,
        help="server to load into (a fresh schema, dropped afterwards)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="bulk loads per backend")
    parser.add_argument("--reads", type=int, default=25, help="single-ticker reads per backend")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"no data file at {args.data}; pass --data", file=sys.stderr)
        return 1

    bars = _bars(args.data)
    duck = _measure(_duckdb, bars, repeat=args.repeat, reads=args.reads)
    pg = _measure(_postgres(args.postgres_url), bars, repeat=args.repeat, reads=args.reads)
    report = {
        "benchmark": "store",
        "data": args.data.name,
        "rows": len(bars),
        "tickers": int(bars["ticker"].nunique()),
        "read_ticker": TICKER,
        "read_rows": int(duck["read_rows"]),
        "repeat": args.repeat,
        "reads": args.reads,
        "duckdb": {
            "bulk_load_rows_per_s": round(duck["load_rows_per_s"]),
            "bulk_load_s": round(duck["load_s"], 3),
            "single_ticker_read_ms": round(duck["read_ms"], 2),
            "single_ticker_reads_per_s": round(duck["reads_per_s"], 1),
        },
        "postgres": {
            "bulk_load_rows_per_s": round(pg["load_rows_per_s"]),
            "bulk_load_s": round(pg["load_s"], 3),
            "single_ticker_read_ms": round(pg["read_ms"], 2),
            "single_ticker_reads_per_s": round(pg["reads_per_s"], 1),
        },
        "ratio_postgres_to_duckdb": {
            "bulk_load_rows_per_s": round(pg["load_rows_per_s"] / duck["load_rows_per_s"], 3),
            "single_ticker_reads_per_s": round(pg["reads_per_s"] / duck["reads_per_s"], 3),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
