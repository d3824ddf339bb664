"""``stockpred ingest``: bring bars (and the sample's macro series) into the store."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from stockpred.cli.render import frame_table, records
from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.compose import open_store
from stockpred.pipeline.ingest import BarIngest, ingest_files, ingest_sample, read_files
from stockpred.sources.files import expand_paths, parse_column_mapping

__all__ = ["ingest_app"]

ingest_app = typer.Typer(
    help="Bring data into the store.",
    no_args_is_help=True,
    epilog="Example: stockpred ingest sample; stockpred ingest file 'data/*.csv'",
)

_REJECTS_SHOWN = 20


def _save_rejects(
    runtime: Runtime, result: BarIngest, report: Path | None, now: datetime
) -> Path | None:
    if result.rejects.empty:
        return None
    path = report or runtime.settings.reports_path / f"rejects-{now:%Y%m%dT%H%M%SZ}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    result.rejects.to_csv(path, index=False)
    return path


def _payload(result: BarIngest, rejects_file: Path | None) -> dict[str, Any]:
    return {
        "inputs": [dataclasses.asdict(f) for f in result.inputs],
        "bars": {
            "inserted": result.written.inserted,
            "updated": result.written.updated,
            "unchanged": result.written.unchanged,
        },
        "macro": None
        if result.macro is None
        else {
            "inserted": result.macro.inserted,
            "updated": result.macro.updated,
            "unchanged": result.macro.unchanged,
        },
        "rejected_rows": result.rejected_rows,
        "rejects_file": str(rejects_file) if rejects_file else None,
        "rejects": records(result.rejects),
        "missing_sessions": records(result.coverage[result.coverage["missing_sessions"] > 0]),
        "splits": records(result.splits),
    }


def _report(runtime: Runtime, result: BarIngest, rejects_file: Path | None) -> None:
    out = runtime.out
    inputs = pd.DataFrame([dataclasses.asdict(f) for f in result.inputs])
    out.print(frame_table(inputs, title="Inputs"))
    w = result.written
    out.print(
        f"bars: [green]{w.inserted:,} new[/], [yellow]{w.updated:,} changed[/], "
        f"{w.unchanged:,} already stored"
    )
    if result.macro is not None:
        m = result.macro
        out.print(
            f"macro points: [green]{m.inserted:,} new[/], [yellow]{m.updated:,} changed[/], "
            f"{m.unchanged:,} already stored"
        )
    gaps = result.coverage[result.coverage["missing_sessions"] > 0]
    if not gaps.empty:
        out.print(
            frame_table(
                gaps,
                title=f"Missing sessions (reported, not filled) in {len(gaps)} tickers",
                limit=_REJECTS_SHOWN,
            )
        )
    if not result.splits.empty:
        out.print(
            frame_table(
                result.splits,
                title="Splits detected (prices are stored as received)",
                limit=_REJECTS_SHOWN,
            )
        )
    if result.rejected_rows:
        out.print(
            frame_table(
                result.rejects,
                title=f"[red]{result.rejected_rows:,} rows rejected[/] (the other rows were kept)",
                limit=_REJECTS_SHOWN,
            )
        )
        out.print(f"every rejected row: {rejects_file}")
    else:
        out.print("no rows rejected")


@ingest_app.command("sample", epilog="Example: stockpred ingest sample && stockpred data list")
def sample(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Load real daily data shipped by installed packages; no network, no keys.

    AAPL, FB, GOOG, IBM, MSFT 2000-2013 (bokeh-sampledata), the S&P 500 (^GSPC) and NASDAQ
    (^IXIC) 1999-2018, and VIX, core CPI, AAA and BAA yields as macro series (arch).
    """
    runtime = runtime_of(ctx)
    now = runtime.clock()
    with runtime.progress() as progress, open_store(runtime.settings) as store:
        task = progress.add_task("loading the sample data", total=None)
        result = ingest_sample(store, calendar=runtime.settings.calendar, now=now)
        progress.update(task, completed=1, total=1)
    rejects_file = _save_rejects(runtime, result, None, now)
    if as_json:
        runtime.print_json(_payload(result, rejects_file))
    else:
        _report(runtime, result, rejects_file)


@ingest_app.command(
    "file",
    epilog=(
        "Examples: stockpred ingest file prices.csv  |  stockpred ingest file 'data/*.csv'  |  "
        "stockpred ingest file SPY.csv --ticker SPY  |  "
        "stockpred ingest file quotes.parquet --columns 'Sym=ticker,Dt=date'"
    ),
)
def file(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(..., help="CSV (.csv, .csv.gz) or Parquet files, or globs."),
    ticker: str | None = typer.Option(
        None, "--ticker", help="Ticker of single-ticker files (default: the file name)."
    ),
    columns: str | None = typer.Option(
        None,
        "--columns",
        help="Map file columns to ours: 'Sym=ticker,Dt=date'. Ours: ticker, date, open, high, "
        "low, close, adj_close, volume.",
    ),
    calendar: str | None = typer.Option(
        None, "--calendar", help="Exchange calendar (ISO MIC, default from settings: XNYS)."
    ),
    source: str | None = typer.Option(
        None, "--source", help="Provenance stored with each bar (default: file:<name>)."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Where to save rejected rows as CSV (default: the reports dir)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Ingest daily bars from CSV or Parquet files: Yahoo downloads, Kaggle-style long files, or
    any file with a ticker column.

    Bad rows are rejected with their row number and reason and saved to a CSV; good rows in the
    same file are kept. Nothing is written if any file cannot be read as a whole.
    """
    runtime = runtime_of(ctx)
    now = runtime.clock()
    mapping = parse_column_mapping(columns)
    found = expand_paths(paths)
    with runtime.progress() as progress:
        reading = progress.add_task("reading files", total=len(found))
        files = read_files(
            found,
            ticker=ticker.strip().upper() if ticker else None,
            columns=mapping,
            on_file=lambda _: progress.advance(reading),
        )
        writing = progress.add_task("validating and writing", total=None)
        with open_store(runtime.settings) as store:
            result = ingest_files(
                store,
                files,
                calendar=calendar or runtime.settings.calendar,
                now=now,
                source=source,
            )
        progress.update(writing, completed=1, total=1)
    rejects_file = _save_rejects(runtime, result, report, now)
    if as_json:
        runtime.print_json(_payload(result, rejects_file))
    else:
        _report(runtime, result, rejects_file)
