"""``stockpred ingest``: bring bars (and the sample's macro series) into the store."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockpred.cli.job_report import reports_job
from stockpred.cli.render import FittedTable, frame_table, records, short_names
from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.domain.errors import DataSourceError, InvalidInputError

# pandas, the store, the providers and the scorers load in the commands that use them, so that
# `--help` does not pay for them.
if TYPE_CHECKING:
    import pandas as pd

    from stockpred.pipeline.fetch import Failure
    from stockpred.pipeline.ingest import BarIngest
    from stockpred.sentiment.base import SentimentScorer

__all__ = ["ingest_app"]

ingest_app = typer.Typer(
    help="Bring data into the store.",
    no_args_is_help=True,
    epilog="Example: stockpred ingest sample; stockpred ingest file 'data/*.csv'",
)

_REJECTS_SHOWN = 20
# An input naming more tickers than this shows how many, not which.
_TICKERS_NAMED = 3


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
        # The tickers of each input are for the table; the JSON keeps its shape.
        "inputs": [
            {k: v for k, v in dataclasses.asdict(f).items() if k != "tickers"}
            for f in result.inputs
        ],
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


def _tickers_cell(tickers: tuple[str, ...]) -> str:
    return ", ".join(tickers) if len(tickers) <= _TICKERS_NAMED else f"{len(tickers):,}"


def _inputs_table(result: BarIngest) -> tuple[FittedTable, dict[str, str]]:
    """The inputs, named relative to the folder they share (in the title), with their
    tickers; and the short name of every input, for the rejects table. Where the ticker came
    from says the layout (a column: long; the file name or --ticker: single-ticker), so the
    layout itself is left to --json, to fit 80 columns."""
    import pandas as pd

    folder, names = short_names([f.name for f in result.inputs])
    inputs = pd.DataFrame(
        {
            "file": names,
            "tickers": [_tickers_cell(f.tickers) for f in result.inputs],
            "ticker from": [f.ticker_from for f in result.inputs],
            "rows": [f.rows for f in result.inputs],
            "accepted": [f.accepted for f in result.inputs],
            "rejected": [f.rejected for f in result.inputs],
        }
    )
    title = "Inputs" if folder is None else f"Inputs in {folder}"
    table = frame_table(inputs, title=title, numeric=["tickers"])
    return table, dict(zip((f.name for f in result.inputs), names, strict=True))


def _report(runtime: Runtime, result: BarIngest, rejects_file: Path | None) -> None:
    out = runtime.out
    inputs, short = _inputs_table(result)
    out.print(inputs)
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
                headers={"missing_sessions": "missing", "first_missing": "first missing"},
            )
        )
    if not result.splits.empty:
        splits = result.splits
        if "note" in splits.columns and (splits["note"].astype(str) == "").all():
            splits = splits.drop(columns=["note"])
        out.print(
            frame_table(
                splits,
                title="Splits detected (prices are stored as received)",
                limit=_REJECTS_SHOWN,
                headers={
                    "close_before": "close before",
                    "close_after": "close after",
                    "confirmed_by_adj_close": "adj close agrees",
                },
                formats={"confirmed_by_adj_close": lambda v: "yes" if v else "no"},
            )
        )
    if result.rejected_rows:
        rejects = result.rejects.assign(file=result.rejects["file"].map(short))
        where = ""
        if len(result.inputs) == 1 and "file" in rejects.columns:
            # One input: its name is in the title, not on every row.
            where = f" in {rejects['file'].iloc[0]}"
            rejects = rejects.drop(columns=["file"])
        out.print(
            frame_table(
                rejects,
                title=f"[red]{result.rejected_rows:,} rows rejected[/]{where} (the other rows "
                "were kept)",
                limit=_REJECTS_SHOWN,
            )
        )
        out.print(f"every rejected row: {rejects_file}", markup=False, highlight=False)
    else:
        out.print("no rows rejected")


@ingest_app.command(
    "sample",
    epilog="Examples: stockpred ingest sample  |  stockpred ingest sample --parts indices,macro",
)
def sample(
    ctx: typer.Context,
    parts: str = typer.Option(
        "stocks,indices,macro",
        "--parts",
        help="Which parts: stocks, indices, macro (e.g. 'indices,macro' for the market and "
        "macro context of your own universe).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Load real daily data shipped by installed packages; no network, no keys.

    AAPL, FB, GOOG, IBM, MSFT 2000-2013 (bokeh-sampledata), the S&P 500 (^GSPC) and NASDAQ
    (^IXIC) 1999-2018, and VIX, core CPI, AAA and BAA yields as macro series (arch).
    """
    from stockpred.compose import open_store
    from stockpred.pipeline.ingest import ingest_sample

    runtime = runtime_of(ctx)
    now = runtime.clock()
    chosen = [p.strip().lower() for p in parts.split(",") if p.strip()]
    with runtime.progress() as progress, open_store(runtime.settings) as store:
        task = progress.add_task("loading the sample data", total=None)
        result = ingest_sample(store, calendar=runtime.settings.calendar, now=now, parts=chosen)
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
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 if any row is rejected (for schedulers)."
    ),
    date_format: str | None = typer.Option(
        None,
        "--date-format",
        help="Layout of non-ISO dates, e.g. '%d/%m/%Y' (default: decided per file from all its "
        "dates; a file that reads both ways is refused).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Ingest daily bars from CSV or Parquet files: Yahoo downloads, Kaggle-style long files, or
    any file with a ticker column.

    Bad rows are rejected with their row number and reason and saved to a CSV; good rows in the
    same file are kept. Nothing is written if any file cannot be read as a whole. Exit status:
    0 when rows were accepted, 1 when none was (or, with --strict, when any was rejected).
    """
    from stockpred.compose import bar_rules, open_store
    from stockpred.pipeline.ingest import ingest_files, read_files
    from stockpred.sources.files import expand_paths, parse_column_mapping

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
            max_decompressed_bytes=runtime.settings.ingest_max_decompressed_bytes,
            max_line_bytes=runtime.settings.ingest_max_line_bytes,
        )
        writing = progress.add_task("validating and writing", total=None)
        with open_store(runtime.settings) as store:
            result = ingest_files(
                store,
                files,
                calendar=calendar or runtime.settings.calendar,
                now=now,
                source=source,
                rules=bar_rules(runtime.settings, date_format=_checked_format(date_format)),
            )
        progress.update(writing, completed=1, total=1)
    rejects_file = _save_rejects(runtime, result, report, now)
    if as_json:
        runtime.print_json(_payload(result, rejects_file))
    else:
        _report(runtime, result, rejects_file)
    _exit_status(runtime, result, rejects_file, strict=strict)


def _checked_format(text: str | None) -> str | None:
    """``--date-format`` as given, once it is known to hold a day, a month and a year."""
    if text is None:
        return None
    month = any(m in text for m in ("%m", "%b", "%B"))
    year = any(y in text for y in ("%Y", "%y"))
    if "%d" not in text or not month or not year:
        raise InvalidInputError(
            f"--date-format {text!r} needs a day (%d), a month (%m, %b) and a year (%Y, %y), "
            "e.g. '%d/%m/%Y' for 31/12/2017"
        )
    return text


def _exit_status(
    runtime: Runtime, result: BarIngest, rejects_file: Path | None, *, strict: bool
) -> None:
    """Exit 1, with one line on stderr, when no row was accepted, or any rejected if strict."""
    w = result.written
    accepted = w.inserted + w.updated + w.unchanged
    where = f"; every rejected row: {rejects_file}" if rejects_file else ""
    if accepted == 0:
        runtime.err.print(
            f"error: no row was accepted ({result.rejected_rows:,} rejected){where}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)
    if strict and result.rejected_rows:
        runtime.err.print(
            f"error: {result.rejected_rows:,} rows rejected and --strict is set "
            f"({accepted:,} were stored){where}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)


def _symbols(option: str | None, extra: list[str] | None, name: str) -> list[str]:
    found = [s for s in (option or "").replace(",", " ").split() if s] + list(extra or [])
    if not found:
        raise InvalidInputError(f"name at least one {name}, e.g. --{name}s AAPL MSFT")
    return list(dict.fromkeys(s.strip().upper() for s in found))


def _failures_table(runtime: Runtime, failures: list[Failure]) -> None:
    import pandas as pd

    if failures:
        frame = pd.DataFrame([dataclasses.asdict(f) for f in failures])
        runtime.out.print(frame_table(frame, title=f"[red]{len(failures)} not fetched[/]"))


@ingest_app.command(
    "prices",
    epilog="Example: stockpred ingest prices --source stooq --tickers AAPL MSFT --start 2020-01-01",
)
@reports_job("ingest_prices")
def prices(
    ctx: typer.Context,
    symbols: list[str] | None = typer.Argument(
        None, help="Tickers (also accepted after --tickers)."
    ),
    source: str = typer.Option(..., "--source", help="Price provider (see `stockpred sources`)."),
    tickers: str | None = typer.Option(
        None, "--tickers", help="Tickers, e.g. AAPL MSFT or AAPL,MSFT."
    ),
    start: str | None = typer.Option(
        None, "--start", help="First date (default: resume from the store with an overlap)."
    ),
    end: str | None = typer.Option(None, "--end", help="Last date (default: the latest)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Fetch daily bars from a provider and ingest them like a file: validated, reported, upserted.

    Without --start each ticker resumes from its last stored bar minus a few sessions, so late
    corrections replace stored bars; the provider's answers are cached on disk.
    """
    from stockpred.compose import bar_rules, open_store, provider_context
    from stockpred.pipeline.fetch import ingest_prices
    from stockpred.sources.providers.registry import price_provider

    runtime = runtime_of(ctx)
    names = _symbols(tickers, symbols, "ticker")
    first, last = _date(start, "--start"), _date(end, "--end")
    provider = price_provider(source, provider_context(runtime.settings, source))
    with runtime.progress() as progress, open_store(runtime.settings) as store:
        task = progress.add_task(f"fetching from {provider.info.name}", total=len(names))
        result = ingest_prices(
            store,
            provider,
            names,
            calendar=runtime.settings.calendar,
            now=runtime.clock(),
            start=first,
            end=last,
            on_symbol=lambda _: progress.advance(task),
            rules=bar_rules(runtime.settings),
        )
    rejects_file = (
        _save_rejects(runtime, result.bars, None, runtime.clock()) if result.bars else None
    )
    if as_json:
        payload: dict[str, Any] = {
            "source": provider.info.name,
            "fetched": result.fetched,
            "starts": result.starts,
            "failures": [dataclasses.asdict(f) for f in result.failures],
            "ingest": _payload(result.bars, rejects_file) if result.bars else None,
        }
        runtime.print_json(payload)
        return
    if result.bars is not None:
        _report(runtime, result.bars, rejects_file)
    _failures_table(runtime, result.failures)
    if not result.fetched:
        raise DataSourceError(f"nothing was fetched from {provider.info.name}; see the table above")


@ingest_app.command(
    "macro", epilog="Example: stockpred ingest macro --source fred --series CPIAUCSL UNRATE"
)
@reports_job("ingest_macro")
def macro(
    ctx: typer.Context,
    symbols: list[str] | None = typer.Argument(None, help="Series ids (also after --series)."),
    source: str = typer.Option(..., "--source", help="Macro provider (see `stockpred sources`)."),
    series: str | None = typer.Option(None, "--series", help="Series ids, e.g. CPIAUCSL UNRATE."),
    start: str | None = typer.Option(None, "--start", help="First reference period, YYYY-MM-DD."),
    end: str | None = typer.Option(None, "--end", help="Last reference period, YYYY-MM-DD."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Fetch macro series with every vintage: each value keeps the day it became known."""
    from stockpred.compose import open_store, provider_context
    from stockpred.pipeline.fetch import ingest_macro
    from stockpred.sources.providers.registry import macro_provider

    runtime = runtime_of(ctx)
    names = _symbols(series, symbols, "serie")
    provider = macro_provider(source, provider_context(runtime.settings, source))
    with runtime.progress() as progress, open_store(runtime.settings) as store:
        task = progress.add_task(f"fetching from {provider.info.name}", total=len(names))
        result = ingest_macro(
            store,
            provider,
            names,
            start=_date(start, "--start"),
            end=_date(end, "--end"),
            on_symbol=lambda _: progress.advance(task),
        )
    w = result.written
    if as_json:
        runtime.print_json(
            {
                "source": provider.info.name,
                "fetched": result.fetched,
                "points": {"inserted": w.inserted, "updated": w.updated, "unchanged": w.unchanged},
                "failures": [dataclasses.asdict(f) for f in result.failures],
            }
        )
        return
    for name, count in result.fetched.items():
        runtime.out.print(f"{name}: {count:,} observations (all vintages)")
    runtime.out.print(
        f"macro points: [green]{w.inserted:,} new[/], [yellow]{w.updated:,} changed[/], "
        f"{w.unchanged:,} already stored"
    )
    _failures_table(runtime, result.failures)
    if not result.fetched:
        raise DataSourceError(f"nothing was fetched from {provider.info.name}; see the table above")


def _date(text: str | None, option: str) -> pd.Timestamp | None:
    import pandas as pd

    if text is None:
        return None
    try:
        day = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from exc
    return day.normalize()


def _utc(day: pd.Timestamp | None, *, end_of_day: bool = False) -> pd.Timestamp | None:
    import pandas as pd

    if day is None:
        return None
    stamp = day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1) if end_of_day else day
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@ingest_app.command(
    "news",
    epilog="Example: stockpred ingest news --source newsapi --tickers AAPL MSFT --since 2024-01-01",
)
@reports_job("ingest_news")
def news(
    ctx: typer.Context,
    symbols: list[str] | None = typer.Argument(
        None, help="Tickers (also accepted after --tickers)."
    ),
    source: str = typer.Option(..., "--source", help="News provider (see `stockpred sources`)."),
    tickers: str | None = typer.Option(
        None, "--tickers", help="Tickers, e.g. AAPL MSFT or AAPL,MSFT."
    ),
    query: str | None = typer.Option(
        None, "--query", help="Search text for every ticker (default: the ticker itself)."
    ),
    since: str | None = typer.Option(None, "--since", help="First publication day, UTC."),
    until: str | None = typer.Option(
        None, "--until", help="Last publication day, UTC (default: now)."
    ),
    sentiment: str = typer.Option(
        "loughran_mcdonald",
        "--sentiment",
        help="Scorer of the stored sentiment: loughran_mcdonald, vader, embedding (needs "
        "stockpred[sentiment]), finbert (when configured) or none.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Fetch headlines per ticker, dedupe them by URL and near-identical title, map them to
    tickers (the query they answered, cashtags), score their sentiment and store them.

    Running it again stores nothing new; the provider's answers are cached on disk.
    """
    from stockpred.compose import open_store, provider_context
    from stockpred.pipeline.news import ingest_news
    from stockpred.sentiment.embedding import load_embedding_scorer
    from stockpred.sentiment.scorers import build_scorers
    from stockpred.sources.providers.registry import news_provider

    runtime = runtime_of(ctx)
    names = _symbols(tickers, symbols, "ticker")
    first = _utc(_date(since, "--since"))
    last = _utc(_date(until, "--until"), end_of_day=True)
    scorer: SentimentScorer | None = None
    if sentiment == "embedding":
        # Loaded only when asked for: it reads a 90 MB model (MissingExtraError without it).
        scorer = load_embedding_scorer()
    elif sentiment != "none":
        scorers = {
            s.name: s
            for s in build_scorers(
                finbert_model_dir=runtime.settings.finbert_model_dir, embedding=False
            )
        }
        if sentiment not in scorers:
            raise InvalidInputError(
                f"--sentiment {sentiment!r} is not available; use one of "
                f"{', '.join([*sorted([*scorers, 'embedding']), 'none'])}"
            )
        scorer = scorers[sentiment]
    provider = news_provider(source, provider_context(runtime.settings, source))
    with runtime.progress() as progress, open_store(runtime.settings) as store:
        task = progress.add_task(f"fetching from {provider.info.name}", total=len(names))
        result = ingest_news(
            store,
            provider,
            names,
            now=runtime.clock(),
            query=query,
            since=first,
            until=last,
            company_names=runtime.settings.company_names,
            scorer=scorer,
            on_symbol=lambda _: progress.advance(task),
        )
    w = result.written
    if as_json:
        runtime.print_json(
            {
                "source": provider.info.name,
                "fetched": result.fetched,
                "headlines": result.headlines,
                "duplicates": result.duplicates,
                "sentiment": result.scorer,
                "written": {"inserted": w.inserted, "updated": w.updated, "unchanged": w.unchanged},
                "daily_sentiment": {
                    "inserted": result.daily.inserted,
                    "unchanged": result.daily.unchanged,
                },
                "failures": [dataclasses.asdict(f) for f in result.failures],
            }
        )
        return
    for name, count in result.fetched.items():
        runtime.out.print(f"{name}: {count:,} items")
    runtime.out.print(
        f"headlines: [green]{w.inserted:,} new[/], [yellow]{w.updated:,} changed[/], "
        f"{w.unchanged:,} already stored ({result.duplicates:,} duplicates merged)"
    )
    if result.scorer is not None:
        runtime.out.print(
            f"daily {result.scorer} sentiment: {result.daily.inserted:,} new day rows, "
            f"{result.daily.unchanged:,} unchanged"
        )
    _failures_table(runtime, result.failures)
    if not result.fetched:
        raise DataSourceError(f"nothing was fetched from {provider.info.name}; see the table above")
