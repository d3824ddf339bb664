"""Ingest from providers: prices incrementally with an overlap, macro series with every vintage.

A failure for one symbol (unknown, malformed answer) is reported and the run goes on; a provider
that is down (after retries, or marked down by its breaker) stops being asked, and the run says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import ProviderError, ProviderUnavailableError, QuotaExhaustedError
from stockpred.pipeline.ingest import BarIngest, ingest_bars
from stockpred.quality.bars import DEFAULT_RULES, BarRules
from stockpred.sources.providers.base import MacroProvider, PriceProvider
from stockpred.store.base import Store, WriteResult

__all__ = ["Failure", "MacroIngest", "PriceIngest", "ingest_macro", "ingest_prices"]

# Sessions re-fetched before the last stored bar, so late corrections replace stored bars.
OVERLAP_SESSIONS = 5


@dataclass(frozen=True, slots=True)
class Failure:
    """A symbol that could not be fetched, and why."""

    symbol: str
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class PriceIngest:
    bars: BarIngest | None
    fetched: dict[str, int]
    starts: dict[str, str | None]
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MacroIngest:
    written: WriteResult
    fetched: dict[str, int]
    failures: list[Failure] = field(default_factory=list)


def _incremental_start(
    store: Store, tickers: Sequence[str], *, calendar: str
) -> dict[str, pd.Timestamp | None]:
    """Per ticker: the session ``OVERLAP_SESSIONS`` before its last stored bar, or None."""
    coverage = store.bar_coverage()
    last = dict(
        zip(coverage["ticker"].astype(str), pd.DatetimeIndex(coverage["last"]), strict=True)
    )
    starts: dict[str, pd.Timestamp | None] = {}
    for ticker in tickers:
        stamp = last.get(ticker)
        if stamp is None:
            starts[ticker] = None
            continue
        day = stamp.tz_convert(None).normalize()
        cal = get_trading_calendar(calendar, day - pd.Timedelta(days=30), day)
        sessions = cal.sessions_between(day - pd.Timedelta(days=30), day)
        starts[ticker] = pd.Timestamp(sessions[max(0, len(sessions) - 1 - OVERLAP_SESSIONS)])
    return starts


def _failure(symbol: str, exc: ProviderError) -> Failure:
    return Failure(symbol=symbol, kind=exc.code, message=str(exc))


def ingest_prices(
    store: Store,
    provider: PriceProvider,
    tickers: Sequence[str],
    *,
    calendar: str,
    now: datetime,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    on_symbol: Callable[[str], None] | None = None,
    rules: BarRules = DEFAULT_RULES,
) -> PriceIngest:
    """Fetch daily bars of ``tickers`` and ingest them like a file: validated, reported, upserted.

    Without ``start``, each ticker resumes from its last stored bar minus an overlap, or takes the
    provider's full history when none is stored.
    """
    symbols = [t.strip().upper() for t in tickers]
    starts = (
        dict.fromkeys(symbols, start)
        if start is not None
        else _incremental_start(store, symbols, calendar=calendar)
    )
    frames: list[pd.DataFrame] = []
    fetched: dict[str, int] = {}
    failures: list[Failure] = []
    down: ProviderUnavailableError | QuotaExhaustedError | None = None
    for symbol in symbols:
        if down is not None:
            failures.append(Failure(symbol, "skipped", f"not asked: {down}"))
        else:
            try:
                raw = provider.fetch_bars(symbol, start=starts[symbol], end=end)
            except (ProviderUnavailableError, QuotaExhaustedError) as exc:
                failures.append(_failure(symbol, exc))
                down = exc
            except ProviderError as exc:
                failures.append(_failure(symbol, exc))
            else:
                raw = raw.assign(file=f"{provider.info.name}:{symbol}", row=range(1, len(raw) + 1))
                frames.append(raw)
                fetched[symbol] = len(raw)
        if on_symbol is not None:
            on_symbol(symbol)
    bars = None
    if frames:
        bars = ingest_bars(
            store,
            pd.concat(frames, ignore_index=True),
            calendar=calendar,
            source=provider.info.name,
            now=now,
            layouts={f"{provider.info.name}:{s}": ("provider", "request") for s in fetched},
            rules=rules,
        )
    shown = {s: (v.date().isoformat() if v is not None else None) for s, v in starts.items()}
    return PriceIngest(bars=bars, fetched=fetched, starts=shown, failures=failures)


def ingest_macro(
    store: Store,
    provider: MacroProvider,
    series_ids: Sequence[str],
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    on_symbol: Callable[[str], None] | None = None,
) -> MacroIngest:
    """Fetch every vintage of each series and upsert them; revisions become new rows."""
    written = WriteResult()
    fetched: dict[str, int] = {}
    failures: list[Failure] = []
    for series in (s.strip().upper() for s in series_ids):
        try:
            points = provider.fetch_series(series, start=start, end=end)
        except ProviderError as exc:
            failures.append(_failure(series, exc))
        else:
            # A period published twice on the same day keeps the later row FRED listed.
            points = points.drop_duplicates(["series_id", "period", "released_at"], keep="last")
            written = written + store.write_macro(points)
            fetched[series] = len(points)
        if on_symbol is not None:
            on_symbol(series)
    return MacroIngest(written=written, fetched=fetched, failures=failures)
