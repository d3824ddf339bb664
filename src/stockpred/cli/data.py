"""``stockpred data``: what the store holds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockpred.cli.render import FittedTable, Formatter, compact_count, frame_table, records
from stockpred.cli.runtime import runtime_of
from stockpred.domain.errors import InvalidInputError, NotFoundError
from stockpred.domain.records import FEATURE_KEY

# pandas, the store and the calendars load in the commands that use them, so that `--help`
# does not pay for them.
if TYPE_CHECKING:
    import pandas as pd

__all__ = ["data_app"]

data_app = typer.Typer(
    help="Look at the stored data.",
    no_args_is_help=True,
    epilog="Example: stockpred data list; stockpred data show AAPL --start 2012-01-01",
)


@data_app.command("list", epilog="Example: stockpred data list --json")
def list_tickers(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Per ticker: first and last session, rows, missing sessions and sources."""
    from stockpred.compose import open_store
    from stockpred.pipeline.summary import summarise_bars

    runtime = runtime_of(ctx)
    with open_store(runtime.settings) as store:
        summary = summarise_bars(store, calendar=runtime.settings.calendar)
    if as_json:
        runtime.print_json(records(summary))
        return
    if summary.empty:
        runtime.err.print("The store holds no bars yet. Try: stockpred ingest sample")
        return
    title = (
        f"{len(summary)} tickers, {int(summary['rows'].sum()):,} bars "
        f"({runtime.settings.calendar} sessions) in {runtime.settings.store_path}"
    )
    runtime.out.print(
        frame_table(
            summary,
            title=title,
            headers={"missing_sessions": "missing"},
            # A space after each comma lets a list of sources wrap.
            formats={"sources": lambda v: ", ".join(str(v).split(","))},
        )
    )


def _day(text: str | None, option: str) -> pd.Timestamp | None:
    import pandas as pd

    if text is None:
        return None
    try:
        day = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from exc
    if day.tzinfo is not None or day != day.normalize():
        raise InvalidInputError(f"{option} {text!r} should be a date without a time, YYYY-MM-DD")
    return day


_PRICES = ("open", "high", "low", "close", "adj_close")


def _price(value: object) -> str:
    """Cents for a price of a unit or more, four significant digits below."""
    if not isinstance(value, (int, float)) or math.isnan(float(value)):
        return ""
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"


def _bars_table(bars: pd.DataFrame, *, title: str, wide: bool) -> FittedTable:
    """Daily bars: session date, prices, volume and source. The default view fits 80 columns:
    prices in cents, volumes as 47.2M, and the source in the title when the rows share one."""
    columns = ["date", *_PRICES, "volume", "source"]
    headers = {"adj_close": "adj close"}
    if wide:
        return frame_table(bars, title=title, columns=columns, headers=headers)
    sources = sorted(set(bars["source"].astype(str)))
    if len(sources) == 1:
        columns.remove("source")
        title = f"{title} from {sources[0]}"
    formats: dict[str, Formatter] = dict.fromkeys(_PRICES, _price)
    formats["volume"] = compact_count
    return frame_table(
        bars, title=title, columns=columns, headers=headers, formats=formats, numeric=["volume"]
    )


@data_app.command(
    "show",
    epilog="Examples: stockpred data show AAPL --start 2012-01-01 --end 2012-03-31  |  "
    "stockpred data show AAPL --all --plot aapl.png",
)
def show(
    ctx: typer.Context,
    ticker: str = typer.Argument(..., help="Ticker symbol, e.g. AAPL or ^GSPC."),
    start: str | None = typer.Option(None, "--start", help="First session date, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last session date, YYYY-MM-DD."),
    limit: int = typer.Option(
        20, "--limit", min=1, help="Rows to show in the table (the latest ones)."
    ),
    show_all: bool = typer.Option(False, "--all", help="Show every row in the range."),
    wide: bool = typer.Option(
        False,
        "--wide",
        help="Prices to 4 decimals, volumes in full and a source column on every row "
        "(the default view fits 80 columns).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (every row in the range)."),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Also save a PNG chart of the range: prices, volume, splits, missing sessions "
        "(needs the 'plot' extra).",
    ),
) -> None:
    """Show the stored daily bars of one ticker."""
    import pandas as pd

    from stockpred.cli.charts import render_price_chart
    from stockpred.compose import open_archive, open_store
    from stockpred.domain.calendar import get_trading_calendar
    from stockpred.pipeline.archive import read_history
    from stockpred.quality.splits import detect_splits

    runtime = runtime_of(ctx)
    symbol = ticker.strip().upper()
    first, last = _day(start, "--start"), _day(end, "--end")
    if first is not None and last is not None and first > last:
        raise InvalidInputError(f"--start {start} is after --end {end}")
    with open_store(runtime.settings) as store:
        held = store.bar_coverage()
        history = open_archive(runtime.settings)
        archived = set(history.tickers())
        if symbol not in set(held["ticker"]) | archived:
            near = ", ".join(sorted(t for t in held["ticker"] if t.startswith(symbol[:1]))[:8])
            hint = f" (stored tickers starting with {symbol[:1]!r}: {near})" if near else ""
            raise NotFoundError(
                f"no bars stored for {symbol!r}{hint}; `stockpred data list` shows every ticker"
            )
        bars = read_history(
            store,
            history if symbol in archived else None,
            tickers=[symbol],
            start=first.tz_localize("UTC") if first is not None else None,
            end=(last + pd.Timedelta(days=1)).tz_localize("UTC") if last is not None else None,
        )
    if not bars.empty:
        ts = pd.DatetimeIndex(bars["ts"])
        cal = get_trading_calendar(
            runtime.settings.calendar,
            ts.min().tz_convert(None).normalize(),
            ts.max().tz_convert(None).normalize(),
        )
        bars.insert(1, "date", cal.session_dates(bars["ts"]))
        if last is not None:
            bars = bars[bars["date"] <= last]
    if as_json:
        runtime.print_json(records(bars.drop(columns=["ticker"])))
        return
    if bars.empty:
        runtime.err.print(
            f"{symbol} has no bars between {start or 'the start'} and {end or 'the end'}"
        )
        return
    if plot is not None:
        dates = pd.DatetimeIndex(bars["date"])
        missing = cal.missing_sessions(dates)
        chart = render_price_chart(
            bars, ticker=symbol, path=plot, splits=detect_splits(bars), missing=missing
        )
        runtime.err.print(f"chart saved to {chart}")
    shown = bars if show_all else bars.tail(limit)
    table = _bars_table(shown, title=f"{symbol}: {len(bars):,} bars", wide=wide)
    if len(shown) < len(bars):
        table.caption = f"latest {len(shown)} of {len(bars):,}; use --all, --start/--end, --json"
    runtime.out.print(table)


@data_app.command(
    "export",
    epilog="Example: stockpred data export bars macro --out exports/ --partition-by ticker",
)
def export(
    ctx: typer.Context,
    tables: list[str] = typer.Argument(
        None,
        help="Tables to export (default: all): bars, headlines, macro, sentiment_daily, "
        "predictions, features (every stored feature set).",
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write the Parquet files into."),
    partition_by: str | None = typer.Option(
        None, "--partition-by", help="Hive-partition by this column (e.g. ticker) where it exists."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Write stored tables as Parquet, for other tools or for anyone to check the data.

    ``features`` stands for every stored feature set, one table each (features_<set>)."""
    from stockpred.compose import open_store
    from stockpred.store.schema import TABLES, feature_table_name

    runtime = runtime_of(ctx)
    written: list[dict[str, str]] = []
    with open_store(runtime.settings) as store:
        sets = {feature_table_name(key): key for key in store.feature_sets()}
        known = [*TABLES, "features", *sets]
        unknown = [t for t in tables or [] if t not in known]
        if unknown:
            raise InvalidInputError(f"unknown table {unknown[0]!r}; tables: {', '.join(known)}")
        names: list[str] = []
        for name in tables or [*TABLES, "features"]:
            names.extend(sorted(sets) if name == "features" else [name])
        for name in dict.fromkeys(names):
            columns = TABLES[name].names if name in TABLES else FEATURE_KEY
            column = partition_by if partition_by in columns else None
            path = store.export_parquet(name, out, partition_by=column)
            written.append({"table": name, "path": str(path)})
    if as_json:
        runtime.print_json(written)
        return
    for item in written:
        runtime.out.print(f"{item['table']}: {item['path']}")


_MACRO_HEADERS = {
    "series_id": "series",
    "first_period": "first period",
    "last_period": "last period",
    "last_released": "last released (UTC)",
    "released_at": "released (UTC)",
}


@data_app.command(
    "macro",
    epilog="Examples: stockpred data macro  |  stockpred data macro CPILFESL --as-of 2008-10-01",
)
def macro(
    ctx: typer.Context,
    series: str | None = typer.Argument(None, help="Series id, e.g. VIXCLS or CPILFESL."),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="Show only what was known by the end of this day (UTC), YYYY-MM-DD: point in time.",
    ),
    limit: int = typer.Option(20, "--limit", min=1, help="Latest periods to show in the table."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (every period)."),
) -> None:
    """List the macro series, or show one as it was known at a date."""
    import pandas as pd

    from stockpred.compose import open_store

    runtime = runtime_of(ctx)
    day = _day(as_of, "--as-of")
    known_by = (
        None
        if day is None
        else (day + pd.Timedelta(days=1)).tz_localize("UTC") - pd.Timedelta(microseconds=1)
    )
    with open_store(runtime.settings) as store:
        points = store.read_macro(
            series_ids=[series.strip().upper()] if series else None,
            as_of=known_by,
        )
        if series and points.empty and store.read_macro(series_ids=[series.upper()]).empty:
            raise NotFoundError(
                f"no macro series {series.upper()!r} stored; `stockpred data macro` lists them"
            )
    if series is None:
        summary = (
            points.groupby("series_id", sort=True)
            .agg(
                first_period=("period", "min"),
                last_period=("period", "max"),
                points=("value", "size"),
                last_released=("released_at", "max"),
                sources=("source", lambda s: ",".join(sorted(set(s)))),
            )
            .reset_index()
        )
        if as_json:
            runtime.print_json(records(summary))
        elif summary.empty:
            runtime.err.print("No macro series stored yet. Try: stockpred ingest sample")
        else:
            when = f" as known on {as_of}" if as_of else ""
            runtime.out.print(
                frame_table(
                    summary,
                    title=f"{len(summary)} macro series{when}",
                    headers=_MACRO_HEADERS,
                    numeric=["first_period", "last_period", "last_released"],
                )
            )
        return
    view = points[["period", "value", "released_at", "source"]]
    if as_json:
        runtime.print_json(records(view))
        return
    if view.empty:
        runtime.err.print(f"nothing of {series.upper()} had been released by {as_of}")
        return
    when = f", as known on {as_of}" if as_of else ""
    table = frame_table(
        view.tail(limit),
        title=f"{series.upper()}: {len(view):,} periods{when}",
        headers=_MACRO_HEADERS,
        numeric=["period", "released_at"],
    )
    if len(view) > limit:
        table.caption = f"latest {limit} of {len(view):,}; use --limit or --json"
    runtime.out.print(table)


@data_app.command("archive", epilog="Example: stockpred data archive --older-than-days 1095")
def archive(
    ctx: typer.Context,
    older_than_days: int | None = typer.Option(
        None,
        "--older-than-days",
        min=1,
        help="Age in days (default: the archive_after_days setting).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Move bars older than the configured age to the Parquet archive (by ticker and year).

    Reads of history (`data show`) span the archive and the store transparently.
    """
    import pandas as pd

    from stockpred.compose import open_archive, open_store
    from stockpred.pipeline.archive import archive_bars

    runtime = runtime_of(ctx)
    days = older_than_days or runtime.settings.archive_after_days
    cutoff = pd.Timestamp(runtime.clock()).tz_convert("UTC").normalize() - pd.Timedelta(days=days)
    with open_store(runtime.settings) as store:
        result = archive_bars(store, open_archive(runtime.settings), before=cutoff)
    if as_json:
        runtime.print_json(
            {
                "moved": result.moved,
                "tickers": result.tickers,
                "cutoff": result.cutoff.isoformat(),
                "archive": runtime.settings.archive_location,
            }
        )
        return
    runtime.out.print(
        f"moved {result.moved:,} bars of {result.tickers} tickers older than "
        f"{result.cutoff.date()} to {runtime.settings.archive_location}"
    )
