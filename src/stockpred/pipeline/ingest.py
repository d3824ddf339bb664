"""Ingest bars: validate, report what was rejected, and upsert the good rows in one write.

Reading happens first for every input so that a file that cannot be read as a whole stops the
run before anything is written; row-level problems only reject their rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import InvalidInputError
from stockpred.quality.bars import DEFAULT_RULES, BarRules, validate_bars
from stockpred.quality.sessions import summarise_coverage
from stockpred.quality.splits import detect_splits
from stockpred.sources.files import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    BarFile,
    read_bar_file,
)
from stockpred.sources.sample import SAMPLE_SOURCE, load_sample_bars, load_sample_macro
from stockpred.store.base import Store, WriteResult

__all__ = [
    "BarIngest",
    "FileSummary",
    "ingest_bars",
    "ingest_files",
    "ingest_sample",
    "read_files",
]


@dataclass(frozen=True, slots=True)
class FileSummary:
    """One input: where it came from, how it was understood, how many rows it gave and the
    tickers named in them (sorted)."""

    name: str
    layout: str
    ticker_from: str
    rows: int
    accepted: int
    rejected: int
    tickers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BarIngest:
    """The outcome of one ingest of bars."""

    inputs: list[FileSummary]
    written: WriteResult
    rejects: pd.DataFrame
    rejected_rows: int
    coverage: pd.DataFrame
    splits: pd.DataFrame
    macro: WriteResult | None = None

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.inputs)


def read_files(
    paths: Sequence[Path],
    *,
    ticker: str | None = None,
    columns: Mapping[str, str] | None = None,
    on_file: Callable[[Path], None] | None = None,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> list[BarFile]:
    """Read every file; the first whole-file problem raises before anything is written.

    ``max_decompressed_bytes`` and ``max_line_bytes`` bound each file (see
    :func:`~stockpred.sources.files.read_bar_file`).
    """
    files = []
    for path in paths:
        files.append(
            read_bar_file(
                path,
                ticker=ticker,
                columns=columns,
                max_decompressed_bytes=max_decompressed_bytes,
                max_line_bytes=max_line_bytes,
            )
        )
        if on_file is not None:
            on_file(path)
    return files


def ingest_bars(
    store: Store,
    raw: pd.DataFrame,
    *,
    calendar: str,
    source: pd.Series | str,
    now: datetime,
    layouts: Mapping[str, tuple[str, str]] | None = None,
    rules: BarRules = DEFAULT_RULES,
) -> BarIngest:
    """Validate ``raw`` bars (canonical columns plus ``file`` and ``row``) and upsert the good ones.

    ``source`` names the provenance stored with each bar: one string or one value per raw row.
    ``layouts`` maps a file name to (layout, ticker_from) for the summary. ``rules`` bound what a
    plausible bar is; a file whose date order cannot be decided stops the run before any write.
    """
    raw = raw.reset_index(drop=True)
    raw["source"] = source
    validation = validate_bars(
        raw,
        calendar=calendar,
        carry=("source",),
        now=pd.Timestamp(now).tz_convert("UTC"),
        rules=rules,
    )
    clean = validation.clean
    bars = clean.assign(ingested_at=pd.Timestamp(now).tz_convert("UTC"))
    written = store.write_bars(bars)

    rejected_rows = validation.rejects.groupby("file")["row"].nunique()
    inputs = []
    for name, group in raw.groupby("file", sort=False):
        rejected = int(rejected_rows.get(name, 0))
        layout, ticker_from = (layouts or {}).get(str(name), ("package", "column ticker"))
        inputs.append(
            FileSummary(
                name=str(name),
                layout=layout,
                ticker_from=ticker_from,
                rows=len(group),
                accepted=len(group) - rejected,
                rejected=rejected,
                tickers=tuple(sorted(set(group["ticker"].dropna().astype(str)))),
            )
        )
    return BarIngest(
        inputs=inputs,
        written=written,
        rejects=validation.rejects,
        rejected_rows=validation.rejected_rows,
        coverage=summarise_coverage(clean[["ticker", "date"]], calendar=calendar),
        splits=_splits_around(store, clean, calendar=calendar),
    )


def _splits_around(store: Store, clean: pd.DataFrame, *, calendar: str) -> pd.DataFrame:
    """Splits in the stored history of the tickers just written, around the new rows.

    Looking at the store, not only the batch, also catches a jump where new bars meet stored
    ones from another source with another adjustment basis.
    """
    if clean.empty:
        return detect_splits(clean)
    margin = pd.Timedelta(days=10)
    stored = store.read_bars(
        tickers=sorted(clean["ticker"].unique()),
        start=clean["ts"].min() - margin,
        end=clean["ts"].max() + margin,
    )
    ts = pd.DatetimeIndex(stored["ts"])
    cal = get_trading_calendar(
        calendar, ts.min().tz_convert(None).normalize(), ts.max().tz_convert(None).normalize()
    )
    stored["date"] = cal.session_dates(stored["ts"])
    return detect_splits(stored)


def ingest_files(
    store: Store,
    files: Sequence[BarFile],
    *,
    calendar: str,
    now: datetime,
    source: str | None = None,
    rules: BarRules = DEFAULT_RULES,
) -> BarIngest:
    """Ingest files already read by :func:`read_files`, in one write."""
    raw = pd.concat([f.frame for f in files], ignore_index=True)
    names = {str(f.path): f.path.name for f in files}
    provenance: pd.Series | str = source if source else "file:" + raw["file"].map(names)
    layouts = {str(f.path): (f.layout, f.ticker_from) for f in files}
    return ingest_bars(
        store, raw, calendar=calendar, source=provenance, now=now, layouts=layouts, rules=rules
    )


SAMPLE_PARTS: tuple[str, ...] = ("stocks", "indices", "macro")


def ingest_sample(
    store: Store,
    *,
    calendar: str,
    now: datetime,
    parts: Sequence[str] = SAMPLE_PARTS,
) -> BarIngest:
    """Load the packaged real sample data: bars for five stocks (``stocks``) and two indices
    (``indices``), four macro series (``macro``); ``parts`` picks which, so a user with their
    own universe can add only the market and macro context."""
    unknown = [p for p in parts if p not in SAMPLE_PARTS]
    if unknown or not parts:
        raise InvalidInputError(
            f"unknown sample part(s) {', '.join(unknown) or '(none given)'}; "
            f"parts: {', '.join(SAMPLE_PARTS)}"
        )
    raw = load_sample_bars()
    is_index = raw["ticker"].astype(str).str.startswith("^")
    raw = raw[(is_index & ("indices" in parts)) | (~is_index & ("stocks" in parts))]
    if raw.empty:
        report = BarIngest(
            inputs=[],
            written=WriteResult(),
            rejects=pd.DataFrame(columns=["file", "row", "reason"]),
            rejected_rows=0,
            coverage=pd.DataFrame(columns=["ticker", "missing_sessions"]),
            splits=pd.DataFrame(),
        )
    else:
        report = ingest_bars(store, raw, calendar=calendar, source=SAMPLE_SOURCE, now=now)
    macro = store.write_macro(load_sample_macro()) if "macro" in parts else None
    return BarIngest(
        inputs=report.inputs,
        written=report.written,
        rejects=report.rejects,
        rejected_rows=report.rejected_rows,
        coverage=report.coverage,
        splits=report.splits,
        macro=macro,
    )
