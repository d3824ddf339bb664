"""Daily reports made by hand, for the tests of their rendering and delivery: a champion with
forecasts of twelve tickers, scored sessions that win or lose against the best baseline,
drift figures with drifted columns, tickers fresh and stale."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from stockpred.pipeline.daily_report import (
    AccuracyPoint,
    DailyReport,
    DriftFigure,
    Forecast,
    HorizonReport,
    ProviderHealth,
    TickerHealth,
)

SESSION = date(2024, 3, 15)
TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "JPM", "XOM", "IBM", "KO", "PG")


def forecasts(values: dict[str, float] | None = None) -> tuple[Forecast, ...]:
    """One forecast per ticker (default: 12 tickers, +3.0% down to -2.5%), highest first."""
    chosen = values or {t: 0.03 - 0.005 * i for i, t in enumerate(TICKERS)}
    ordered = sorted(chosen.items(), key=lambda item: -item[1])
    return tuple(
        Forecast(
            ticker=ticker,
            value=value,
            lower=value - 0.04,
            upper=value + 0.04,
            direction_prob=0.5 + value * 5,
            model="stockpred-h5/ridge",
            model_version="7",
        )
        for ticker, value in ordered
    )


def accuracy(*, champion: float, baseline: float, sessions: int = 12) -> tuple[AccuracyPoint, ...]:
    """``sessions`` scored sessions up to SESSION, the champion's rank IC ``champion`` and
    mean drift's ``baseline`` in each."""
    return tuple(
        AccuracyPoint(
            session=SESSION - timedelta(days=sessions - 1 - i),
            n_dates=63,
            rank_ic=champion,
            hit_rate=0.51,
            baseline="mean_drift",
            baseline_rank_ic=baseline,
            baseline_hit_rate=0.53,
        )
        for i in range(sessions)
    )


def drift() -> tuple[DriftFigure, ...]:
    return (
        DriftFigure("rsi_14", 0.41, 0.25, 0.31, 0.1, drifted=True),
        DriftFigure("volatility_20", 0.30, 0.25, 0.12, 0.1, drifted=True),
        DriftFigure("prediction", 0.05, 0.25, 0.04, 0.1, drifted=False),
    )


def horizon(**changes: object) -> HorizonReport:
    """Horizon 5 with ridge v7 as champion: 12 forecasts, 12 sessions trailing mean drift,
    two drifted columns; ``changes`` replace fields."""
    fields: dict[str, object] = {
        "horizon": 5,
        "champion": "stockpred-h5",
        "model_version": "7",
        "model_kind": "ridge",
        "forecasts": forecasts(),
        "forecasts_note": None,
        "accuracy": accuracy(champion=0.012, baseline=0.046),
        "drift_session": SESSION,
        "drift": drift(),
    }
    fields.update(changes)
    return HorizonReport(**fields)  # type: ignore[arg-type]


def report(**changes: object) -> DailyReport:
    """A report of SESSION with :func:`horizon` and horizon 1 without a champion, IBM one
    session behind; ``changes`` replace fields."""
    close = datetime(2024, 3, 15, 20, 0, tzinfo=UTC)
    fields: dict[str, object] = {
        "session": SESSION,
        "calendar": "XNYS",
        "generated_at": datetime(2024, 3, 18, 22, 30, tzinfo=UTC),
        "latest_closed": date(2024, 3, 18),
        "sessions_since": 1,
        "horizons": (
            HorizonReport(1, None, None, None, (), None, (), None, ()),
            horizon(),
        ),
        "tickers": (
            TickerHealth("IBM", close - timedelta(days=1), date(2024, 3, 14), 1, 2500, "yahoo"),
            TickerHealth("AAPL", close, SESSION, 0, 2501, "yahoo"),
            TickerHealth("MSFT", close, SESSION, 0, 2501, "yahoo"),
        ),
        "providers": (ProviderHealth("yahoo", "2024-03-15T20:31:00+00:00", None, None),),
    }
    fields.update(changes)
    return DailyReport(**fields)  # type: ignore[arg-type]
