"""What the API serves: the champion of each horizon and its forecast for every ticker.

The forecast for (ticker, horizon) is a pure function of the champion version and the ticker's
latest feature row, so every ticker's forecast is computed in one vectorised call whenever
either changes, and requests are answered from a table: a dictionary lookup, not a model call.
Four parts, one job each:

* :class:`ChampionCache`: the champion of each horizon, reloaded when the registry alias moves;
* :class:`ForecastTable`: an immutable table of forecasts; ``apply`` returns a new table and
  the forecasts that changed (pure: no store, no clock);
* :class:`ServedLog`: the forecasts served, each queued once for the ``predictions`` table
  (DESIGN.md, invariant 5); the route records what it served, a read records nothing;
* :class:`ServingState`: keeps the table current from the store: all of it (``refresh``: at
  start-up, on a new champion, on the fallback poll) or the tickers whose features were just
  written (``apply_features``: on a ``features`` event). Requests read its current table.

The store is opened only to refresh and closed after: the embedded DuckDB file admits one
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

import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import NotFoundError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.domain.records import Prediction
from stockpred.models.base import Model
from stockpred.pipeline.predict import (
    context_rows,
    forecasts_from_rows,
    latest_rows,
    load_champion,
    not_modelled,
)
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name
from stockpred.store.base import Store

__all__ = [
    "ChampionCache",
    "ForecastTable",
    "Freshness",
    "FreshnessCache",
    "ServedForecast",
    "ServedLog",
    "ServedModel",
    "ServingState",
    "StaleRefresher",
    "StoreOpener",
]

StoreOpener = Callable[[], AbstractContextManager[Store]]
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
    forecast: Prediction
    freshness: Freshness


def _check_horizon(models: Mapping[int, ServedModel], horizon: int) -> None:
    if horizon not in models:
        served = ", ".join(str(h) for h in sorted(models)) or "none yet"
        raise NotFoundError(
            f"no champion model serves horizon {horizon} (served: {served}); "
            f"train one with `stockpred train --horizon {horizon}`"
        )


class ChampionCache:
    """The champion of each served horizon, loaded once per registry version."""

    def __init__(self, registry: ModelRegistry, *, horizons: Sequence[int], cache: Path) -> None:
        self._registry = registry
        self._horizons = tuple(sorted(set(horizons)))
        self._cache = cache
        self._models: Mapping[int, ServedModel] = {}

    @property
    def models(self) -> Mapping[int, ServedModel]:
        return self._models

    @property
    def cache(self) -> Path:
        """Where each version's files are downloaded: ``cache/<name>/<version>/model``."""
        return self._cache

    def reload(self) -> set[int]:
        """Follow the registry's champion aliases; returns the horizons whose champion changed
        (a first champion, a promotion, or none any more)."""
        models = dict(self._models)
        changed: set[int] = set()
        for horizon in self._horizons:
            current = models.get(horizon)
            served = self._champion(horizon, current)
            if served is None:
                if models.pop(horizon, None) is not None:
                    changed.add(horizon)
            elif served is not current:
                models[horizon] = served
                changed.add(horizon)
        self._models = models
        return changed

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


@dataclass(frozen=True, slots=True)
class ForecastTable:
    """Forecasts by (ticker, horizon); immutable, so a reader never sees half an update."""

    forecasts: Mapping[tuple[str, int], Prediction] = field(default_factory=dict)

    def get(self, ticker: str, horizon: int) -> Prediction | None:
        return self.forecasts.get((ticker, horizon))

    def tickers(self) -> list[str]:
        """Tickers with a forecast for at least one horizon, sorted."""
        return sorted({ticker for ticker, _ in self.forecasts})

    def apply(
        self, horizon: int, forecasts: Sequence[Prediction], *, replace: bool = False
    ) -> tuple[ForecastTable, list[Prediction]]:
        """The table with ``forecasts`` (all of one horizon) in place, and those of them that
        are new or changed (another model version or feature time). ``replace`` drops the
        horizon's other forecasts (a full recompute, e.g. for a new champion)."""
        kept = {key: f for key, f in self.forecasts.items() if not (replace and key[1] == horizon)}
        changed = []
        for f in forecasts:
            old = self.forecasts.get((f.ticker, horizon))
            if old is not None and (old.model_version, old.as_of) == (f.model_version, f.as_of):
                # The same inputs: the served object stays, and what was rendered from it.
                kept[(f.ticker, horizon)] = old
            else:
                kept[(f.ticker, horizon)] = f
                changed.append(f)
        return ForecastTable(kept), changed

    def without(self, horizons: set[int]) -> ForecastTable:
        return ForecastTable({k: f for k, f in self.forecasts.items() if k[1] not in horizons})


ServedKey = tuple[str, int, str, datetime]


class ServedLog:
    """The forecasts served and not yet stored; each (ticker, horizon, model version, feature
    time) is queued once. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._unsaved: list[Prediction] = []
        self._seen: set[ServedKey] = set()

    def record(self, forecast: Prediction) -> None:
        key = (forecast.ticker, forecast.horizon, forecast.model_version, forecast.as_of)
        with self._lock:
            if key not in self._seen:
                self._seen.add(key)
                self._unsaved.append(forecast)

    def take(self) -> list[Prediction]:
        """Forecasts served since the last call and not yet stored; the caller stores them."""
        with self._lock:
            taken, self._unsaved = self._unsaved, []
        return taken

    def requeue(self, forecasts: Sequence[Prediction]) -> None:
        """Put back forecasts whose storing failed, ahead of newer ones."""
        with self._lock:
            self._unsaved[:0] = forecasts

    def keep_only(self, current: set[ServedKey]) -> None:
        """Forget what was stored of forecasts no longer served (they never come back); a key
        dropped by a race is at worst stored twice, and storing is an upsert."""
        with self._lock:
            self._seen &= current


class FreshnessCache:
    """Freshness of feature timestamps against the sessions closed by now, computed at read
    time (a session closing makes a forecast stale without any new data) and kept for a
    minute per timestamp."""

    def __init__(self, *, calendar: str, clock: Callable[[], datetime]) -> None:
        self._calendar = calendar
        self._clock = clock
        self._memo: dict[pd.Timestamp, Freshness] = {}
        self._minute: pd.Timestamp | None = None

    def of(self, stamp: pd.Timestamp) -> Freshness:
        now = self._clock()
        minute = pd.Timestamp(now).floor("min")
        if minute != self._minute:
            self._memo, self._minute = {}, minute
        found = self._memo.get(stamp)
        if found is None:
            found = freshness_of(stamp, calendar=self._calendar, now=now)
            self._memo[stamp] = found
        return found


class ServingState:
    """The champions and the current forecast table, kept current from the store. Thread-safe:
    updates run in a worker thread while requests read the current table."""

    def __init__(
        self,
        open_store: StoreOpener,
        champions: ChampionCache,
        *,
        freshness: FreshnessCache,
        clock: Callable[[], datetime],
        universe: Universe = STOCKS,
    ) -> None:
        self._open_store = open_store
        self._champions = champions
        self._freshness = freshness
        self._clock = clock
        self._universe = universe
        self._table = ForecastTable()
        self._signatures: Mapping[str, tuple[object, ...]] = {}
        self._updating = threading.Lock()
        self.last_refresh: datetime | None = None

    @property
    def models(self) -> Mapping[int, ServedModel]:
        return self._champions.models

    @property
    def table(self) -> ForecastTable:
        return self._table

    @property
    def model_cache(self) -> Path:
        """Where the champions' files were downloaded (:attr:`ChampionCache.cache`)."""
        return self._champions.cache

    def tickers(self) -> list[str]:
        return self._table.tickers()

    def freshness(self, stamp: pd.Timestamp) -> Freshness:
        """How many sessions closed after ``stamp``, as a forecast's freshness is measured."""
        return self._freshness.of(stamp)

    def refresh(self) -> list[Prediction]:
        """Reload champions whose alias moved and recompute the horizons whose champion or
        stored features changed (by a cheap coverage signature): what start-up and a store
        that changed without saying which tickers run. Returns the forecasts that are new, for
        the stream and webhooks to push."""
        with self._updating:
            return self._recompute(self._champions.reload(), check_features=True)

    def reload_champions(self) -> list[Prediction]:
        """Follow the registry's champion aliases; the store is opened only when one moved,
        to recompute that horizon. Returns the forecasts that are new."""
        with self._updating:
            changed = self._champions.reload()
            if not changed:
                return []
            return self._recompute(changed, check_features=False)

    def _recompute(self, changed: set[int], *, check_features: bool) -> list[Prediction]:
        models = self._champions.models
        table = self._table.without(self._table_horizons() - set(models))
        new: list[Prediction] = []
        signatures = dict(self._signatures)
        if any(h in changed for h in models) or (check_features and models):
            with self._open_store() as store:
                for fs in {m.feature_set for m in models.values()}:
                    if check_features or fs not in signatures:
                        signatures[fs] = _signature(store, fs)
                for horizon, served in models.items():
                    moved = signatures[served.feature_set] != self._signatures.get(
                        served.feature_set
                    )
                    if horizon in changed or moved:
                        computed = _forecast_all(store, served, self._universe, now=self._clock())
                        table, fresh = table.apply(horizon, computed, replace=True)
                        new += fresh
        self._swap(table, signatures)
        return new

    def apply_features(self, tickers: Sequence[str]) -> list[Prediction]:
        """Recompute the forecasts of ``tickers`` only, whose features were just written (a
        ``features`` event); returns those that changed."""
        wanted = self._universe.select(t.strip().upper() for t in tickers)
        if not wanted:
            return []
        with self._updating:
            models = self._champions.models
            table = self._table
            new: list[Prediction] = []
            with self._open_store() as store:
                for horizon, served in models.items():
                    computed = _forecast_tickers(store, served, wanted, now=self._clock())
                    table, fresh = table.apply(horizon, computed)
                    new += fresh
                signatures = {
                    fs: _signature(store, fs) for fs in {m.feature_set for m in models.values()}
                }
            self._swap(table, signatures)
            return new

    def forecast(self, ticker: str, horizon: int) -> ServedForecast:
        """The current forecast with its freshness; NotFoundError for a horizon without a
        champion or a ticker without one. Records nothing: the caller says what it served."""
        _check_horizon(self.models, horizon)
        symbol = ticker.strip().upper()
        found = self._table.get(symbol, horizon)
        if found is None:
            if not self._universe.includes(symbol):
                raise NotFoundError(not_modelled(symbol, self._universe))
            raise NotFoundError(
                f"no forecast for ticker {symbol!r}: it has no stored "
                f"{self.models[horizon].feature_set} features; GET /v1/tickers lists the "
                "tickers served"
            )
        return ServedForecast(found, self._freshness.of(pd.Timestamp(found.as_of)))

    def served(self, forecast: Prediction) -> ServedForecast:
        """``forecast`` (from this process or another) with its freshness now."""
        return ServedForecast(forecast, self._freshness.of(pd.Timestamp(forecast.as_of)))

    def peek(self, ticker: str, horizon: int) -> ServedForecast | None:
        """The current forecast, or None."""
        found = self._table.get(ticker, horizon)
        return (
            None
            if found is None
            else ServedForecast(found, self._freshness.of(pd.Timestamp(found.as_of)))
        )

    def check_horizon(self, horizon: int) -> None:
        """NotFoundError naming the served horizons when ``horizon`` has no champion."""
        _check_horizon(self.models, horizon)

    def served_keys(self) -> set[ServedKey]:
        return {
            (f.ticker, h, f.model_version, f.as_of) for (_, h), f in self._table.forecasts.items()
        }

    def _table_horizons(self) -> set[int]:
        return {h for _, h in self._table.forecasts}

    def _swap(self, table: ForecastTable, signatures: Mapping[str, tuple[object, ...]]) -> None:
        self._table = table
        self._signatures = signatures
        self.last_refresh = self._clock()


def _signature(store: Store, feature_set: str) -> tuple[object, ...]:
    """What changes when a feature set's stored rows change: rows and last ts per ticker."""
    coverage = store.feature_coverage(feature_set)
    if coverage.empty:
        return ()
    return (int(coverage["rows"].sum()), pd.Timestamp(coverage["last"].max()), len(coverage))


def _forecast_all(
    store: Store, served: ServedModel, universe: Universe, *, now: datetime
) -> list[Prediction]:
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
        now=now,
    )


def _forecast_tickers(
    store: Store, served: ServedModel, tickers: Sequence[str], *, now: datetime
) -> list[Prediction]:
    """The forecasts of ``tickers`` from their latest stored feature rows."""
    rows = store.read_features(feature_set=served.feature_set, tickers=list(tickers))
    if rows.empty:
        return []
    rows = latest_rows(rows, served.model)
    ends = rows.groupby("ticker", sort=True).tail(1)
    bars = store.read_bars(tickers=list(ends["ticker"]), start=pd.Timestamp(ends["ts"].min()))
    closes = bars.merge(ends[["ticker", "ts"]], on=["ticker", "ts"])
    last_close = dict(zip(closes["ticker"], closes["close"].astype("float64"), strict=True))
    return forecasts_from_rows(
        served.version,
        served.model,
        rows,
        horizon=served.horizon,
        last_close=last_close,
        now=now,
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
