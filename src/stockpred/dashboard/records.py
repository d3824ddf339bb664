"""What the dashboard reads from the API, as plain records and frames.

The API's JSON is read here once, field by field, so the pages never index raw dictionaries:
a forecast is the same :class:`Forecast` whether it came from ``GET /v1/predictions/{t}``, the
batch route or a ``/v1/stream`` message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

__all__ = [
    "BatchFailure",
    "Check",
    "Forecast",
    "Leaderboard",
    "ModelHistory",
    "Performance",
    "Readiness",
    "ServedModel",
    "ServiceStatus",
    "TickerInfo",
    "forecast_from_json",
    "mapping",
    "records_frame",
    "sequence",
    "table_frame",
    "timestamp",
]


def mapping(value: object, *, what: str) -> Mapping[str, object]:
    """``value`` as a JSON object, or ValueError naming ``what`` was expected."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def sequence(value: object, *, what: str) -> list[object]:
    """``value`` as a JSON list (null as empty), or ValueError naming ``what``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{what}: expected a JSON list, got {type(value).__name__}")
    return list(value)


def _items(value: object, *, what: str) -> list[Mapping[str, object]]:
    return [mapping(item, what=what) for item in sequence(value, what=what)]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def timestamp(value: object) -> datetime | None:
    """An ISO 8601 string as a UTC-aware datetime (a naive one is taken as UTC); None stays
    None."""
    if value is None or value == "":
        return None
    stamp = pd.Timestamp(str(value))
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    moment: datetime = stamp.to_pydatetime()
    return moment


def _utc_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for column in columns:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    return frame


def table_frame(payload: Mapping[str, object], *, times: Sequence[str] = ("ts",)) -> pd.DataFrame:
    """The API's ``{"columns": [...], "rows": [[...]]}`` tables (bars, features) as a frame,
    ``times`` parsed as UTC."""
    columns = [str(c) for c in sequence(payload.get("columns"), what="table.columns")]
    rows = sequence(payload.get("rows"), what="table.rows")
    frame = pd.DataFrame(rows, columns=columns)
    return _utc_columns(frame, times)


def records_frame(
    value: object, *, what: str, columns: Sequence[str], times: Sequence[str] = ()
) -> pd.DataFrame:
    """A JSON list of objects as a frame with at least ``columns`` (missing ones empty), in
    that order first, ``times`` parsed as UTC."""
    rows = _items(value, what=what)
    frame = pd.DataFrame([dict(row) for row in rows])
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    extra = [c for c in frame.columns if c not in columns]
    return _utc_columns(frame.loc[:, [*columns, *extra]], times)


@dataclass(frozen=True, slots=True)
class Forecast:
    """One forecast of the forward log return over ``horizon`` sessions.

    ``price`` is ``last_close * exp(log_return)``; ``price_low``/``price_high`` the interval's
    ends in price terms (None without a close or an interval).
    """

    ticker: str
    horizon: int
    as_of: datetime
    log_return: float
    lower: float | None
    upper: float | None
    coverage: float | None
    last_close: float | None
    price: float | None
    direction_prob: float | None
    model_name: str
    model_version: str
    model_kind: str
    family: str
    stale: bool
    sessions_behind: int
    checked_at: datetime | None
    contributions: tuple[tuple[str, float], ...]
    provisional: bool
    degraded: bool

    @property
    def price_low(self) -> float | None:
        return _price(self.last_close, self.lower)

    @property
    def price_high(self) -> float | None:
        return _price(self.last_close, self.upper)


def _price(close: float | None, log_return: float | None) -> float | None:
    if close is None or log_return is None:
        return None
    return close * math.exp(log_return)


def forecast_from_json(value: object) -> Forecast:
    """A forecast from the API's prediction body (REST or a websocket message)."""
    body = mapping(value, what="forecast")
    model = mapping(body.get("model", {}), what="forecast.model")
    freshness = mapping(body.get("freshness", {}), what="forecast.freshness")
    as_of = timestamp(body.get("as_of"))
    log_return = _number(body.get("log_return"))
    if as_of is None or log_return is None:
        raise ValueError("forecast: as_of and log_return are required")
    contributions = tuple(
        (str(item.get("feature")), _number(item.get("value")) or 0.0)
        for item in _items(body.get("contributions", []), what="forecast.contributions")
    )
    return Forecast(
        ticker=str(body.get("ticker", "")),
        horizon=int(str(body.get("horizon", 0))),
        as_of=as_of,
        log_return=log_return,
        lower=_number(body.get("lower")),
        upper=_number(body.get("upper")),
        coverage=_number(body.get("coverage")),
        last_close=_number(body.get("last_close")),
        price=_number(body.get("price")),
        direction_prob=_number(body.get("direction_prob")),
        model_name=str(model.get("name", "")),
        model_version=str(model.get("version", "")),
        model_kind=str(model.get("kind", "")),
        family=str(model.get("family", "")),
        stale=bool(freshness.get("stale", False)),
        sessions_behind=int(str(freshness.get("sessions_behind", 0))),
        checked_at=timestamp(freshness.get("checked_at")),
        contributions=contributions,
        provisional=bool(body.get("provisional", False)),
        degraded=bool(body.get("degraded", False)),
    )


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """A ticker the batch route could not forecast, and why."""

    ticker: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class TickerInfo:
    ticker: str
    first: datetime | None
    last: datetime | None
    bars: int
    kind: str
    served: bool

    @classmethod
    def from_json(cls, value: object) -> TickerInfo:
        row = mapping(value, what="ticker")
        return cls(
            ticker=str(row.get("ticker", "")),
            first=timestamp(row.get("first")),
            last=timestamp(row.get("last")),
            bars=int(str(row.get("bars", 0))),
            kind=str(row.get("kind", "")),
            served=bool(row.get("served", False)),
        )


@dataclass(frozen=True, slots=True)
class ServedModel:
    """The champion serving one horizon."""

    horizon: int
    name: str
    version: str
    kind: str
    family: str
    feature_set: str
    trained_from: datetime | None
    trained_to: datetime | None
    registered_at: datetime | None
    metrics: Mapping[str, float | None]
    promotion_reason: str | None

    @classmethod
    def from_json(cls, value: object) -> ServedModel:
        row = mapping(value, what="model")
        metrics = mapping(row.get("metrics", {}) or {}, what="model.metrics")
        return cls(
            horizon=int(str(row.get("horizon", 0))),
            name=str(row.get("name", "")),
            version=str(row.get("version", "")),
            kind=str(row.get("kind", "")),
            family=str(row.get("family", "")),
            feature_set=str(row.get("feature_set", "")),
            trained_from=timestamp(row.get("trained_from")),
            trained_to=timestamp(row.get("trained_to")),
            registered_at=timestamp(row.get("registered_at")),
            metrics={str(k): _number(v) for k, v in metrics.items()},
            promotion_reason=_text(row.get("promotion_reason")),
        )


@dataclass(frozen=True, slots=True)
class Leaderboard:
    """The evaluation that chose a model version: one row per candidate, baselines included,
    and the cumulative net return of each one's ``kind`` portfolio (``equity``: columns date,
    model, cumulative_return)."""

    name: str
    version: str
    horizon: int
    records: pd.DataFrame
    kind: str
    cost_bps: float | None
    equity: pd.DataFrame

    @classmethod
    def from_json(cls, value: object) -> Leaderboard:
        body = mapping(value, what="leaderboard")
        records = records_frame(
            body.get("records", []), what="leaderboard.records", columns=("model", "family")
        )
        equity = mapping(body.get("equity", {}) or {}, what="leaderboard.equity")
        dates = pd.to_datetime(
            pd.Series(sequence(equity.get("dates"), what="leaderboard.equity.dates")), utc=True
        )
        series = mapping(equity.get("series", {}) or {}, what="leaderboard.equity.series")
        parts = [
            pd.DataFrame(
                {
                    "date": dates.iloc[: len(values)].to_numpy(),
                    "model": str(model),
                    "cumulative_return": pd.to_numeric(pd.Series(values), errors="coerce"),
                }
            )
            for model, values in series.items()
            if isinstance(values, list)
        ]
        curves = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=["date", "model", "cumulative_return"])
        )
        return cls(
            name=str(body.get("name", "")),
            version=str(body.get("version", "")),
            horizon=int(str(body.get("horizon", 0))),
            records=records,
            kind=str(equity.get("kind", "")),
            cost_bps=_number(equity.get("cost_bps")),
            equity=curves,
        )


@dataclass(frozen=True, slots=True)
class Performance:
    """What the monitor measured of a version: per matured session the rolling figures of the
    model and of the best baseline (``sessions``: session, champion_rank_ic,
    baseline_rank_ic, champion_hit_rate, ...), and the latest drift of each feature."""

    name: str
    version: str
    horizon: int
    champion: bool
    sessions: pd.DataFrame
    sessions_below_baseline: int
    drift_session: datetime | None
    drift: pd.DataFrame
    drifted: tuple[str, ...]

    @classmethod
    def from_json(cls, value: object) -> Performance:
        body = mapping(value, what="performance")
        rows: list[dict[str, object]] = []
        for session in _items(body.get("sessions", []), what="performance.sessions"):
            row: dict[str, object] = {"session": session.get("session")}
            for side in ("champion", "best_baseline"):
                scored = session.get(side)
                prefix = "champion" if side == "champion" else "baseline"
                if isinstance(scored, Mapping):
                    row[f"{prefix}_model"] = scored.get("model")
                    for figure in ("rank_ic", "hit_rate", "mae", "coverage"):
                        row[f"{prefix}_{figure}"] = _number(scored.get(figure))
            rows.append(row)
        sessions = _utc_columns(pd.DataFrame(rows), ["session"])
        drift = records_frame(
            body.get("drift", []),
            what="performance.drift",
            columns=(
                "subject",
                "psi",
                "psi_threshold",
                "ks_statistic",
                "ks_threshold",
                "n",
                "drifted",
            ),
        )
        return cls(
            name=str(body.get("name", "")),
            version=str(body.get("version", "")),
            horizon=int(str(body.get("horizon", 0))),
            champion=bool(body.get("champion", False)),
            sessions=sessions,
            sessions_below_baseline=int(str(body.get("sessions_below_baseline", 0))),
            drift_session=timestamp(body.get("drift_session")),
            drift=drift,
            drifted=tuple(str(s) for s in sequence(body.get("drifted"), what="drifted")),
        )


@dataclass(frozen=True, slots=True)
class ModelHistory:
    """Every registered version of a model (``versions``: version, created_at, champion,
    kind, ...) and its promotions and rollbacks with their reasons (``history``: at, action,
    from, to, reason)."""

    name: str
    versions: pd.DataFrame
    history: pd.DataFrame

    @classmethod
    def from_json(cls, value: object) -> ModelHistory:
        body = mapping(value, what="versions")
        versions = records_frame(
            body.get("versions", []),
            what="versions.versions",
            columns=(
                "version",
                "created_at",
                "champion",
                "kind",
                "feature_set",
                "data_start",
                "data_end",
                "metrics",
                "promotion_reason",
            ),
            times=("created_at", "data_start", "data_end"),
        )
        history = records_frame(
            body.get("history", []),
            what="versions.history",
            columns=("at", "action", "from", "to", "reason"),
            times=("at",),
        )
        return cls(name=str(body.get("name", "")), versions=versions, history=history)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    """``GET /readyz``: whether the API can answer, check by check."""

    ready: bool
    checks: tuple[Check, ...]

    @classmethod
    def from_json(cls, value: object) -> Readiness:
        body = mapping(value, what="readiness")
        checks = tuple(
            Check(
                name=str(c.get("name", "")),
                ok=bool(c.get("ok", False)),
                detail=str(c.get("detail", "")),
            )
            for c in _items(body.get("checks", []), what="readiness.checks")
        )
        return cls(ready=bool(body.get("ready", False)), checks=checks)


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """``GET /v1/status``: the sources' last runs, each ticker's freshness, recent alerts and
    how many notices wait in the dead letters."""

    checked_at: datetime | None
    sources: pd.DataFrame
    freshness: pd.DataFrame
    alerts: pd.DataFrame
    dead_letters: int

    @classmethod
    def from_json(cls, value: object) -> ServiceStatus:
        body = mapping(value, what="status")
        return cls(
            checked_at=timestamp(body.get("checked_at")),
            sources=records_frame(
                body.get("sources", []),
                what="status.sources",
                columns=("source", "last_success", "last_failure", "last_error"),
                times=("last_success", "last_failure"),
            ),
            freshness=records_frame(
                body.get("freshness", []),
                what="status.freshness",
                columns=("ticker", "last_bar", "expected", "sessions_behind", "stale"),
                times=("last_bar", "expected"),
            ),
            alerts=records_frame(
                body.get("alerts", []),
                what="status.alerts",
                columns=("received_at", "status", "alertname", "severity", "summary", "ticker"),
                times=("received_at",),
            ),
            dead_letters=int(str(body.get("dead_letters", 0))),
        )


def now_utc() -> datetime:
    """The wall clock, UTC-aware (the default clock of the client and the live feed)."""
    return datetime.now(UTC)
