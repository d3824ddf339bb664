"""What the API serves: the champion of each horizon and its forecast for every ticker.

The forecast for (ticker, horizon) is a pure function of the champion version and the ticker's
latest feature row. So a :class:`Predictor` computes every ticker's forecast in one vectorised
call whenever either changes (a new champion, new features) and answers requests from that
table; a request costs a dictionary lookup, not a model call. ``refresh`` is what notices the
changes: the API runs it every ``api_model_poll_seconds``, so the champion is swapped without a
restart when the registry's alias moves. Each forecast served is queued once for the
``predictions`` table (DESIGN.md, invariant 5); ``take_unsaved`` hands the queue to the writer.

The store is opened only for a refresh and closed after: the embedded DuckDB file admits one
writing process, and the ingest, features and train commands must be able to run beside a
serving process.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import NotFoundError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.models.base import Model
from stockpred.pipeline.predict import (
    Forecast,
    context_rows,
    forecasts_from_rows,
    latest_rows,
    load_champion,
    not_modelled,
)
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name
from stockpred.store.base import Store

__all__ = [
    "Freshness",
    "Predictor",
    "ServedForecast",
    "ServedModel",
    "StaleRefresher",
    "StoreOpener",
]

StoreOpener = Callable[[], AbstractContextManager[Store]]
T = TypeVar("T")
_LOG = logging.getLogger("stockpred.serving")


@dataclass(frozen=True, slots=True)
class ServedModel:
    """The champion serving one horizon."""

    horizon: int
    version: ModelVersion
    model: Model

    @property
    def feature_set(self) -> str:
        return self.version.metadata.get("feature_set", "")

    @property
    def kind(self) -> str:
        return self.version.metadata.get("model_kind", "unknown")


@dataclass(frozen=True, slots=True)
class Freshness:
    """How current a forecast's inputs are: the feature timestamp it used, the latest session
    close that had passed at ``checked_at`` and how many sessions lie between them."""

    feature_ts: pd.Timestamp
    expected_ts: pd.Timestamp | None
    sessions_behind: int
    checked_at: datetime

    @property
    def stale(self) -> bool:
        return self.sessions_behind > 0


@dataclass(frozen=True, slots=True)
class ServedForecast:
    forecast: Forecast
    freshness: Freshness


@dataclass(frozen=True, slots=True)
class _Table:
    """Everything requests read, swapped as one object so a reader never sees half a refresh."""

    models: Mapping[int, ServedModel]
    forecasts: Mapping[tuple[str, int], Forecast]
    freshness: Mapping[pd.Timestamp, Freshness]
    signatures: Mapping[str, tuple[object, ...]]
    # What callers derived from a forecast (a rendered answer), valid while this table is.
    memo: dict[tuple[str, int], object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Derived:
    source: Forecast
    freshness: Freshness
    value: object


def _check_horizon(table: _Table, horizon: int) -> None:
    if horizon not in table.models:
        served = ", ".join(str(h) for h in sorted(table.models)) or "none yet"
        raise NotFoundError(
            f"no champion model serves horizon {horizon} (served: {served}); "
            f"train one with `stockpred train --horizon {horizon}`"
        )


class Predictor:
    """Champions and their forecasts for the API. Thread-safe: ``refresh`` runs in a worker
    thread while requests read the current table."""

    def __init__(
        self,
        open_store: StoreOpener,
        registry: ModelRegistry,
        *,
        horizons: Sequence[int],
        cache: Path,
        calendar: str,
        clock: Callable[[], datetime],
        universe: Universe = STOCKS,
    ) -> None:
        self._open_store = open_store
        self._universe = universe
        self._registry = registry
        self._horizons = tuple(sorted(set(horizons)))
        self._cache = cache
        self._calendar = calendar
        self._clock = clock
        self._table = _Table({}, {}, {}, {})
        self._refreshing = threading.Lock()
        self._unsaved: list[Forecast] = []
        self._saved: set[tuple[str, int, int, pd.Timestamp]] = set()
        self.last_refresh: datetime | None = None

    @property
    def models(self) -> Mapping[int, ServedModel]:
        return self._table.models

    def tickers(self) -> list[str]:
        """Tickers with a forecast for at least one horizon, sorted."""
        return sorted({ticker for ticker, _ in self._table.forecasts})

    def refresh(self) -> list[Forecast]:
        """Reload champions whose alias moved and features that changed; recompute the
        forecasts they touch. Returns the forecasts that are new since the last refresh (a
        new champion, or a new feature row), for the stream and webhooks to push."""
        with self._refreshing:
            table = self._table
            models = dict(table.models)
            for horizon in self._horizons:
                served = self._champion(horizon, models.get(horizon))
                if served is None:
                    models.pop(horizon, None)
                else:
                    models[horizon] = served
            with self._open_store() as store:
                signatures = {
                    fs: _signature(store, fs) for fs in {m.feature_set for m in models.values()}
                }
                forecasts: dict[tuple[str, int], Forecast] = {}
                for horizon, served in models.items():
                    unchanged = (
                        table.models.get(horizon) is not None
                        and table.models[horizon].version.version == served.version.version
                        and table.signatures.get(served.feature_set)
                        == signatures[served.feature_set]
                    )
                    if unchanged:
                        forecasts |= {k: f for k, f in table.forecasts.items() if k[1] == horizon}
                    else:
                        forecasts |= {
                            (f.ticker, horizon): f
                            for f in _forecast_all(store, served, self._universe)
                        }
            now = self._clock()
            fresh = _freshness(
                {f.as_of for f in forecasts.values()}, calendar=self._calendar, now=now
            )
            new = [
                f
                for key, f in forecasts.items()
                if (old := table.forecasts.get(key)) is None
                or (old.model_version, old.as_of) != (f.model_version, f.as_of)
            ]
            self._table = _Table(models, forecasts, fresh, signatures)
            # Forget what was stored of forecasts no longer served (they never come back);
            # a key dropped by a race is at worst stored twice, and storing is an upsert.
            current = {(f.ticker, h, f.model_version, f.as_of) for (_, h), f in forecasts.items()}
            self._saved = self._saved & current
            self.last_refresh = now
            return new

    def forecast(self, ticker: str, horizon: int) -> ServedForecast:
        """The current forecast; NotFoundError for a horizon without a champion or a ticker
        without features. Marks the forecast for the ``predictions`` table."""
        table = self._table
        _check_horizon(table, horizon)
        symbol = ticker.strip().upper()
        found = table.forecasts.get((symbol, horizon))
        if found is None:
            if not self._universe.includes(symbol):
                raise NotFoundError(not_modelled(symbol, self._universe))
            raise NotFoundError(
                f"no forecast for ticker {symbol!r}: it has no stored "
                f"{table.models[horizon].feature_set} features; GET /v1/tickers lists the "
                "tickers served"
            )
        key = (found.ticker, horizon, found.model_version, found.as_of)
        if key not in self._saved:
            self._saved.add(key)
            self._unsaved.append(found)
        return ServedForecast(found, table.freshness[found.as_of])

    def derived(self, served: ServedForecast, make: Callable[[ServedForecast], T]) -> T:
        """``make(served)``, computed once per forecast and refresh: the API renders each
        answer's JSON once, not on every request. ``make`` must depend on ``served`` alone."""
        table = self._table
        key = (served.forecast.ticker, served.forecast.horizon)
        found = table.memo.get(key)
        # The entry must be of this very forecast: a refresh may have swapped the table
        # between the caller's forecast() and this call.
        if (
            isinstance(found, _Derived)
            and found.source is served.forecast
            and found.freshness is served.freshness
        ):
            return found.value  # type: ignore[return-value]
        value = make(served)
        table.memo[key] = _Derived(served.forecast, served.freshness, value)
        return value

    def peek(self, ticker: str, horizon: int) -> ServedForecast | None:
        """The current forecast without serving it (for pushes to the stream and webhooks)."""
        table = self._table
        found = table.forecasts.get((ticker, horizon))
        return None if found is None else ServedForecast(found, table.freshness[found.as_of])

    def requeue(self, forecasts: Sequence[Forecast]) -> None:
        """Put back forecasts whose storing failed, ahead of newer ones."""
        self._unsaved[:0] = forecasts

    def check_horizon(self, horizon: int) -> None:
        """NotFoundError naming the served horizons when ``horizon`` has no champion."""
        _check_horizon(self._table, horizon)

    def take_unsaved(self) -> list[Forecast]:
        """Forecasts served since the last call and not yet stored; the caller stores them."""
        taken, self._unsaved = self._unsaved, []
        return taken

    def _champion(self, horizon: int, current: ServedModel | None) -> ServedModel | None:
        name = model_name(horizon)
        try:
            champion = self._registry.champion(name)
        except NotFoundError:
            return None
        if champion is None:
            return None
        if current is not None and current.version.version == champion.version:
            return current
        version, model = load_champion(self._registry, horizon=horizon, cache=self._cache)
        if current is not None:
            _LOG.info(
                "champion of %s moved from v%d to v%d", name, current.version.version, version
            )
        return ServedModel(horizon, version, model)


def _signature(store: Store, feature_set: str) -> tuple[object, ...]:
    """What changes when a feature set's stored rows change: rows and last ts per ticker."""
    coverage = store.feature_coverage(feature_set)
    if coverage.empty:
        return ()
    return (int(coverage["rows"].sum()), pd.Timestamp(coverage["last"].max()), len(coverage))


def _forecast_all(store: Store, served: ServedModel, universe: Universe) -> list[Forecast]:
    """Every modelled ticker's forecast from its latest stored feature row (and the rows before
    it that a sequence model reads); feature rows of other kinds (an index's, built on request)
    are not forecast."""
    coverage = store.feature_coverage(served.feature_set)
    if coverage.empty:
        return []
    start = pd.Timestamp(coverage["last"].min())
    needed = context_rows(served.model)
    # Calendar days that surely hold ``needed`` sessions (weekends, holidays, a few gaps).
    history = start - pd.Timedelta(days=2 * needed + 10) if needed > 1 else start
    rows = latest_rows(
        store.read_features(feature_set=served.feature_set, start=history), served.model
    )
    rows = rows[universe.mask(rows["ticker"])]
    if rows.empty:
        return []
    ends = rows.groupby("ticker", sort=True).tail(1)
    bars = store.read_bars(tickers=list(ends["ticker"]), start=start)
    closes = bars.merge(ends[["ticker", "ts"]], on=["ticker", "ts"])
    last_close = dict(zip(closes["ticker"], closes["close"].astype("float64"), strict=True))
    return forecasts_from_rows(
        served.version,
        served.model,
        rows,
        horizon=served.horizon,
        last_close=last_close,
    )


def freshness_of(stamp: pd.Timestamp, *, calendar: str, now: datetime) -> Freshness:
    """How many sessions of ``calendar`` closed by ``now`` lie after the feature time ``stamp``
    (what the API reports with every forecast; ``predict`` on the command line too)."""
    return _freshness({stamp}, calendar=calendar, now=now)[stamp]


def _freshness(
    stamps: set[pd.Timestamp], *, calendar: str, now: datetime
) -> dict[pd.Timestamp, Freshness]:
    """Freshness of each feature timestamp against the sessions closed by ``now``."""
    if not stamps:
        return {}
    today = pd.Timestamp(now).tz_convert("UTC").tz_localize(None).normalize()
    first = min(stamps).tz_convert("UTC").tz_localize(None).normalize()
    sessions = get_trading_calendar(
        calendar, first - pd.Timedelta(days=7), today + pd.Timedelta(days=7)
    )
    dates = sessions.sessions_between(first - pd.Timedelta(days=7), today)
    closes = sessions.session_closes(dates)
    closed = closes[closes <= pd.Timestamp(now)]
    expected = pd.Timestamp(closed[-1]) if len(closed) else None
    result = {}
    for stamp in stamps:
        behind = int((closed > stamp).sum()) if len(closed) else 0
        result[stamp] = Freshness(stamp, expected, behind, now)
    return result


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: a missing figure is null."""
    return value if math.isfinite(value) else None


class StaleRefresher:
    """Brings a stale ticker up to date when a request finds its features behind the latest
    session: fetch the missing bars from the configured price source, then rebuild the ticker's
    features (the batch path, which equals the incremental one: DESIGN.md, invariant 2). The
    request is answered at once with the forecast it has, marked stale; the refreshed forecast
    follows on the next background pass and is pushed to the stream and webhooks.

    ``update(store, ticker)`` does the fetching and rebuilding. One refresh per ticker per
    ``cooldown``, so a burst of requests (or a provider that has nothing newer) causes one
    fetch, not one per request.
    """

    def __init__(
        self,
        open_store: StoreOpener,
        *,
        update: Callable[[Store, str], None],
        cooldown_seconds: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._open_store = open_store
        self._update = update
        self._cooldown = pd.Timedelta(seconds=cooldown_seconds)
        self._clock = clock
        self._last: dict[str, pd.Timestamp] = {}
        self._lock = threading.Lock()

    def claim(self, ticker: str) -> bool:
        """True when ``ticker`` should be refreshed now (and marks it as being refreshed)."""
        now = pd.Timestamp(self._clock())
        with self._lock:
            last = self._last.get(ticker)
            if last is not None and now - last < self._cooldown:
                return False
            self._last[ticker] = now
            return True

    def refresh(self, ticker: str) -> None:
        """Fetch and rebuild ``ticker`` (blocking; run it off the event loop)."""
        with self._open_store() as store:
            self._update(store, ticker)
