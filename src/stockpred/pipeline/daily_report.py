"""The daily report's content, gathered from the store and the registry for one session: each
served horizon's champion with its forecasts of that session from the prediction ledger, its
realised accuracy beside the best baseline and its latest drift figures (what the monitor
stored), and the health of the data (each ticker's last bar against the session, the
providers' last runs).

Reading only: nothing is computed here that the monitor or the forecasts did not store, so the
report says what the service knew. :mod:`.daily_report_render` turns the :class:`DailyReport`
into HTML, PDF and a short summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import pandas as pd

from stockpred.domain.calendar import TradingCalendar, get_trading_calendar
from stockpred.domain.errors import InvalidInputError, NotFoundError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.models.drift import drifted
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name
from stockpred.sources.providers.status import ProviderStatus
from stockpred.store.base import Store

__all__ = [
    "AccuracyPoint",
    "DailyReport",
    "DriftFigure",
    "Forecast",
    "HorizonReport",
    "MonitorReading",
    "ProviderHealth",
    "ReadMonitor",
    "TickerHealth",
    "gather_daily_report",
    "latest_closed_session",
    "report_session",
]

# How far back the ledger is searched for a champion's latest forecast, to say how old it is.
_LEDGER_LOOKBACK = timedelta(days=31)


class MonitorReading(Protocol):
    """What the monitor stored of one champion (``monitor/report.py``'s MonitorReport)."""

    @property
    def drift(self) -> pd.DataFrame:
        """The model_drift rows of its latest drift session."""
        ...

    def versus_baseline(self) -> pd.DataFrame:
        """Per scored session: the champion's and the best baseline's rank IC and hit rate."""
        ...


# (horizon, model version) -> what the monitor stored of it.
ReadMonitor = Callable[[int, str], MonitorReading]


@dataclass(frozen=True, slots=True)
class Forecast:
    """One stored forecast: ``value`` the expected log return over the horizon, ``lower`` and
    ``upper`` its interval, ``direction_prob`` the probability of a rise."""

    ticker: str
    value: float
    lower: float
    upper: float
    direction_prob: float
    model: str
    model_version: str


@dataclass(frozen=True, slots=True)
class AccuracyPoint:
    """One scored session: the champion's rolling rank IC and hit rate over its last
    ``n_dates`` matured sessions, and the best baseline's on the same rows (None and NaN when
    no baseline had a figure)."""

    session: date
    n_dates: int
    rank_ic: float
    hit_rate: float
    baseline: str | None
    baseline_rank_ic: float
    baseline_hit_rate: float


@dataclass(frozen=True, slots=True)
class DriftFigure:
    """The drift of one column (or of the forecasts) over the monitor's recent window."""

    subject: str
    psi: float
    psi_threshold: float
    ks_statistic: float
    ks_threshold: float
    drifted: bool


@dataclass(frozen=True, slots=True)
class HorizonReport:
    """One served horizon. ``champion`` is None when the horizon has none; ``forecasts`` are
    the champion's of the report's session, highest expected return first, with
    ``forecasts_note`` saying why there are none; ``accuracy`` the monitor's scored sessions
    up to the report's (ascending); ``drift`` its latest drift figures, drifted columns first,
    then by PSI over its threshold."""

    horizon: int
    champion: str | None
    model_version: str | None
    model_kind: str | None
    forecasts: tuple[Forecast, ...]
    forecasts_note: str | None
    accuracy: tuple[AccuracyPoint, ...]
    drift_session: date | None
    drift: tuple[DriftFigure, ...]

    def top(self, count: int) -> tuple[Forecast, ...]:
        """The ``count`` highest expected returns, highest first (at most half of them,
        rounded up, so that the top and the bottom never share a ticker)."""
        return self.forecasts[: max(0, min(count, (len(self.forecasts) + 1) // 2))]

    def bottom(self, count: int) -> tuple[Forecast, ...]:
        """The ``count`` lowest expected returns, lowest first (at most half, rounded down)."""
        size = max(0, min(count, len(self.forecasts) // 2))
        return tuple(reversed(self.forecasts[len(self.forecasts) - size :])) if size else ()

    @property
    def drifted(self) -> tuple[DriftFigure, ...]:
        return tuple(figure for figure in self.drift if figure.drifted)

    @property
    def below_baseline(self) -> int:
        """Scored sessions in a row, up to the latest, whose champion rank IC is below the
        best baseline's (a session without both figures ends the streak, as the monitor's
        ``below_baseline_streak`` counts it)."""
        streak = 0
        for point in reversed(self.accuracy):
            if not point.rank_ic < point.baseline_rank_ic:  # False with a NaN
                break
            streak += 1
        return streak


@dataclass(frozen=True, slots=True)
class TickerHealth:
    """One ticker's bars: the last one's time (UTC) and session, how many sessions of the
    calendar closed after it up to the report's session, and how many bars are stored."""

    ticker: str
    last_bar: datetime
    last_session: date
    sessions_behind: int
    bars: int
    sources: str

    @property
    def stale(self) -> bool:
        return self.sessions_behind > 0


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """A provider's last success and failure (UTC ISO text, as the status file keeps them)."""

    name: str
    last_success: str | None
    last_failure: str | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DailyReport:
    """The report of ``session`` (a session date of ``calendar``), made at ``generated_at``.
    ``latest_closed`` is the calendar's latest session closed by then; ``tickers`` stale
    first."""

    session: date
    calendar: str
    generated_at: datetime
    latest_closed: date
    sessions_since: int
    horizons: tuple[HorizonReport, ...]
    tickers: tuple[TickerHealth, ...]
    providers: tuple[ProviderHealth, ...]

    @property
    def stale(self) -> tuple[TickerHealth, ...]:
        return tuple(ticker for ticker in self.tickers if ticker.stale)

    @property
    def champions(self) -> tuple[HorizonReport, ...]:
        """The horizons that have a champion."""
        return tuple(horizon for horizon in self.horizons if horizon.champion is not None)


def _calendar(name: str, start: date, end: date) -> TradingCalendar:
    return get_trading_calendar(name, pd.Timestamp(start), pd.Timestamp(end))


def _closed_by(calendar: TradingCalendar, start: date, now: datetime) -> pd.DatetimeIndex:
    sessions = calendar.sessions_between(pd.Timestamp(start), pd.Timestamp(now.date()))
    if len(sessions) == 0:
        return sessions
    return sessions[calendar.session_closes(sessions) <= pd.Timestamp(now)]


def latest_closed_session(calendar: str, *, now: datetime) -> date:
    """The last session of ``calendar`` whose close is at or before ``now`` (UTC-aware)."""
    start = now.date() - timedelta(days=30)
    closed = _closed_by(_calendar(calendar, start, now.date()), start, now)
    if len(closed) == 0:
        raise NotFoundError(f"no {calendar} session closed in the 30 days before {now:%Y-%m-%d}")
    return pd.Timestamp(closed[-1]).date()


def report_session(
    store: Store,
    *,
    calendar: str,
    now: datetime,
    wanted: date | None = None,
    universe: Universe = STOCKS,
) -> date:
    """The session a report is of: ``wanted`` when it is a session of ``calendar`` that has
    closed by ``now``, else an InvalidInputError saying which sessions are near; without it,
    the latest closed session the store has bars of for a modelled instrument of
    ``universe`` (an index's bars, kept as market context, may run on past the stocks')."""
    if wanted is not None:
        cal = _calendar(calendar, wanted - timedelta(days=10), wanted + timedelta(days=10))
        day = pd.Timestamp(wanted)
        if not bool(cal.is_session(pd.DatetimeIndex([day])).iloc[0]):
            before = cal.sessions_between(day - pd.Timedelta(days=10), day)
            after = cal.sessions_between(day, day + pd.Timedelta(days=10))
            near = [f"{pd.Timestamp(s):%Y-%m-%d}" for s in (*before[-1:], *after[:1])]
            raise InvalidInputError(
                f"{wanted:%Y-%m-%d} is not a {calendar} session (a weekend or a holiday); the "
                f"sessions around it: {', '.join(near)}"
            )
        close = cal.session_closes(pd.DatetimeIndex([day]))[0]
        if close > pd.Timestamp(now):
            raise InvalidInputError(
                f"the {calendar} session of {wanted:%Y-%m-%d} closes at {close:%Y-%m-%d %H:%M} "
                "UTC, after now; give a session that has closed"
            )
        return wanted
    coverage = store.bar_coverage()
    if coverage.empty:
        raise NotFoundError("no bars stored, so no session to report on; run `stockpred ingest`")
    latest = latest_closed_session(calendar, now=now)
    modelled = coverage[universe.mask(coverage["ticker"].astype(str)).to_numpy()]
    last_bar = pd.Timestamp((modelled if not modelled.empty else coverage)["last"].max())
    last_day = _session_of(last_bar, calendar)
    return min(last_day, latest)


def _session_of(stamp: pd.Timestamp, calendar: str) -> date:
    """The session a bar closing at ``stamp`` (UTC) belongs to: its local date, or the session
    before it when that date is no session."""
    day = pd.Timestamp(stamp.date())
    cal = _calendar(
        calendar, (day - pd.Timedelta(days=10)).date(), (day + pd.Timedelta(days=2)).date()
    )
    local = cal.session_dates(pd.Series([stamp]))[0]
    sessions = cal.sessions_between(local - pd.Timedelta(days=10), local)
    return pd.Timestamp(sessions[-1]).date() if len(sessions) else local.date()


def _float(value: object) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _champion(registry: ModelRegistry, horizon: int) -> ModelVersion | None:
    try:
        return registry.champion(model_name(horizon))
    except NotFoundError:
        return None


def _forecasts(
    store: Store, champion: ModelVersion, *, horizon: int, session: date, calendar: str
) -> tuple[tuple[Forecast, ...], str | None]:
    """The champion's ledger rows of ``session`` (one per ticker, the last made), highest
    expected return first; with none, a note saying what the ledger has instead."""
    day = pd.Timestamp(session, tz="UTC")
    rows = store.read_predictions(
        start=day - pd.Timedelta(_LEDGER_LOOKBACK), end=day + pd.Timedelta(days=2)
    )
    label = f"{champion.name} v{champion.version}"
    if not rows.empty:
        mine = (
            (rows["horizon"] == horizon)
            & (rows["model_version"].astype(str) == str(champion.version))
            & (rows["model"].astype(str).str.split("/").str[0] == champion.name)
        )
        rows = rows[mine.to_numpy()]
    if not rows.empty:
        cal = _calendar(calendar, session - timedelta(days=40), session + timedelta(days=5))
        sessions = cal.session_dates(rows["as_of"])
        today = rows[sessions == pd.Timestamp(session)]
        if not today.empty:
            today = today.sort_values("created_at").drop_duplicates("ticker", keep="last")
            today = today.sort_values(["value", "ticker"], ascending=[False, True])
            return (
                tuple(
                    Forecast(
                        ticker=str(row.ticker),
                        value=_float(row.value),
                        lower=_float(row.lower),
                        upper=_float(row.upper),
                        direction_prob=_float(row.direction_prob),
                        model=str(row.model),
                        model_version=str(row.model_version),
                    )
                    for row in today.itertuples(index=False)
                ),
                None,
            )
        earlier = pd.Timestamp(rows["as_of"].max())
        return (), (
            f"no forecast of {label} as of {session:%Y-%m-%d} in the ledger; its latest is as "
            f"of {earlier:%Y-%m-%d}"
        )
    return (), (
        f"no forecast of {label} as of {session:%Y-%m-%d} in the ledger, nor in the "
        f"{_LEDGER_LOOKBACK.days} days before: forecasts are stored when the API serves them, "
        "the stream makes them or `stockpred predict` is run"
    )


def _accuracy(reading: MonitorReading, session: date) -> tuple[AccuracyPoint, ...]:
    frame = reading.versus_baseline()
    points = []
    for row in frame.to_dict(orient="records"):
        day = pd.Timestamp(row["session"]).date()
        if day > session:
            continue
        baseline = row["baseline"]
        points.append(
            AccuracyPoint(
                session=day,
                n_dates=int(row["n_dates"]),
                rank_ic=_float(row["rank_ic"]),
                hit_rate=_float(row["hit_rate"]),
                baseline=None if baseline is None or pd.isna(baseline) else str(baseline),
                baseline_rank_ic=_float(row["baseline_rank_ic"]),
                baseline_hit_rate=_float(row["baseline_hit_rate"]),
            )
        )
    return tuple(points)


def _drift(reading: MonitorReading) -> tuple[date | None, tuple[DriftFigure, ...]]:
    frame = reading.drift
    if frame.empty:
        return None, ()
    past = drifted(frame).to_numpy()
    ratio = (frame["psi"] / frame["psi_threshold"]).fillna(-math.inf).to_numpy()
    figures = [
        DriftFigure(
            subject=str(row.subject),
            psi=_float(row.psi),
            psi_threshold=_float(row.psi_threshold),
            ks_statistic=_float(row.ks_statistic),
            ks_threshold=_float(row.ks_threshold),
            drifted=bool(flag),
        )
        for row, flag in zip(frame.itertuples(index=False), past, strict=True)
    ]
    order = sorted(range(len(figures)), key=lambda i: (not figures[i].drifted, -ratio[i]))
    return pd.Timestamp(frame["session"].max()).date(), tuple(figures[i] for i in order)


def _horizon(
    store: Store,
    registry: ModelRegistry,
    read_monitor: ReadMonitor,
    *,
    horizon: int,
    session: date,
    calendar: str,
) -> HorizonReport:
    champion = _champion(registry, horizon)
    if champion is None:
        return HorizonReport(horizon, None, None, None, (), None, (), None, ())
    forecasts, note = _forecasts(
        store, champion, horizon=horizon, session=session, calendar=calendar
    )
    reading = read_monitor(horizon, str(champion.version))
    drift_session, drift = _drift(reading)
    return HorizonReport(
        horizon=horizon,
        champion=champion.name,
        model_version=str(champion.version),
        model_kind=champion.metadata.get("model_kind"),
        forecasts=forecasts,
        forecasts_note=note,
        accuracy=_accuracy(reading, session),
        drift_session=drift_session,
        drift=drift,
    )


def _tickers(store: Store, *, session: date, calendar: str) -> tuple[TickerHealth, ...]:
    coverage = store.bar_coverage()
    if coverage.empty:
        return ()
    lasts = pd.DatetimeIndex(pd.to_datetime(coverage["last"], utc=True))
    first = min(lasts.min().date(), session)
    cal = _calendar(calendar, first - timedelta(days=10), session + timedelta(days=10))
    local = cal.session_dates(pd.Series(lasts))
    sessions = cal.sessions_between(
        pd.Timestamp(first) - pd.Timedelta(days=10), pd.Timestamp(session)
    )
    # Sessions after each last bar, up to the report's: its position from the end.
    behind = len(sessions) - sessions.searchsorted(local, side="right")
    health = [
        TickerHealth(
            ticker=str(row["ticker"]),
            last_bar=last.to_pydatetime(),
            last_session=pd.Timestamp(day).date(),
            sessions_behind=max(0, int(count)),
            bars=int(row["rows"]),
            sources=str(row["sources"] or ""),
        )
        for row, last, day, count in zip(
            coverage.to_dict(orient="records"), lasts, local, behind, strict=True
        )
    ]
    return tuple(sorted(health, key=lambda t: (-t.sessions_behind, t.ticker)))


def _providers(status: Mapping[str, ProviderStatus]) -> tuple[ProviderHealth, ...]:
    return tuple(
        ProviderHealth(
            name=name,
            last_success=entry.get("last_success"),
            last_failure=entry.get("last_failure"),
            last_error=entry.get("last_error"),
        )
        for name, entry in sorted(status.items())
    )


def gather_daily_report(
    store: Store,
    registry: ModelRegistry,
    *,
    read_monitor: ReadMonitor,
    horizons: Sequence[int],
    calendar: str,
    now: datetime,
    session: date | None = None,
    providers: Mapping[str, ProviderStatus] | None = None,
    universe: Universe = STOCKS,
) -> DailyReport:
    """The report of ``session`` (default: :func:`report_session` of ``universe``) for the
    champions of ``horizons``; ``read_monitor`` reads what the monitor stored of a champion,
    ``providers`` is the providers' status file (empty when none ran). ``now``: UTC-aware."""
    if now.tzinfo is None:
        raise InvalidInputError("now must be timezone-aware (UTC)")
    day = report_session(store, calendar=calendar, now=now, wanted=session, universe=universe)
    latest = latest_closed_session(calendar, now=now)
    between = _calendar(calendar, day, max(latest, day)).sessions_between(
        pd.Timestamp(day), pd.Timestamp(latest)
    )
    return DailyReport(
        session=day,
        calendar=calendar,
        generated_at=now,
        latest_closed=latest,
        sessions_since=max(0, len(between) - 1),
        horizons=tuple(
            _horizon(store, registry, read_monitor, horizon=h, session=day, calendar=calendar)
            for h in sorted(set(horizons))
        ),
        tickers=_tickers(store, session=day, calendar=calendar),
        providers=_providers(providers or {}),
    )
