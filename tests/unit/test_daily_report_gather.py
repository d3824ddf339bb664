"""Gathering the daily report from a store (an embedded DuckDB file), a registry and what the
monitor stored: the session it is of, the champion's forecasts of that session only, the
accuracy and drift as stored, the tickers' freshness against the session."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import InvalidInputError, NotFoundError
from stockpred.pipeline.daily_report import (
    DailyReport,
    gather_daily_report,
    latest_closed_session,
)
from stockpred.registry.base import ModelVersion
from stockpred.store.duckdb import DuckDBStore

# Friday 2024-03-15, Monday 2024-03-18 (XNYS closes 16:00 New York = 20:00 UTC in March).
FRIDAY, MONDAY = date(2024, 3, 15), date(2024, 3, 18)
AFTER_MONDAY_CLOSE = datetime(2024, 3, 18, 22, 0, tzinfo=UTC)


def _close(day: date) -> pd.Timestamp:
    return pd.Timestamp(f"{day:%Y-%m-%d} 20:00", tz="UTC")


def _bars(ticker: str, days: list[date]) -> pd.DataFrame:
    n = len(days)
    price = np.linspace(100, 110, n)
    return pd.DataFrame(
        {
            "ticker": ticker,
            "ts": [_close(d) for d in days],
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price,
            "adj_close": price,
            "volume": np.full(n, 1e6),
            "source": "test",
            "ingested_at": pd.Timestamp("2024-03-19", tz="UTC"),
        }
    )


def _forecast(ticker: str, day: date, value: float, *, version: str = "7") -> dict[str, object]:
    return {
        "ticker": ticker,
        "as_of": _close(day),
        "horizon": 5,
        "target": "log_return",
        "value": value,
        "lower": value - 0.04,
        "upper": value + 0.04,
        "direction_prob": 0.55,
        "model": "stockpred-h5/ridge",
        "model_version": version,
        "created_at": pd.Timestamp("2024-03-18", tz="UTC"),
    }


class _Registry:
    """The registry's one read the report makes: each horizon's champion."""

    def __init__(self, champions: dict[str, ModelVersion]) -> None:
        self._champions = champions

    def champion(self, name: str) -> ModelVersion | None:
        return self._champions.get(name)


class _Reading:
    """What the monitor stored of a champion, as ``monitor/report.py`` reads it."""

    def __init__(self, versus: pd.DataFrame, drift: pd.DataFrame) -> None:
        self._versus = versus
        self.drift = drift

    def versus_baseline(self) -> pd.DataFrame:
        return self._versus


CHAMPION = ModelVersion(
    name="stockpred-h5",
    version=7,
    run_id="r7",
    created_at=datetime(2024, 1, 2, tzinfo=UTC),
    aliases=("champion",),
    metadata={"model_kind": "ridge"},
)


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    store = DuckDBStore(tmp_path / "store.duckdb")
    days = [date(2024, 3, d) for d in (11, 12, 13, 14, 15)]
    store.write_bars(
        pd.concat(
            [
                _bars("AAPL", days),
                _bars("MSFT", days),
                _bars("IBM", days[:-1]),  # one session behind
                _bars("^GSPC", [*days, MONDAY]),  # an index, ahead of the stocks
            ]
        )
    )
    store.write_predictions(
        pd.DataFrame(
            [
                _forecast("AAPL", FRIDAY, 0.01),
                _forecast("MSFT", FRIDAY, 0.03),
                _forecast("IBM", FRIDAY, -0.02),
                _forecast("AAPL", date(2024, 3, 14), 0.09),  # the session before
                _forecast("AAPL", FRIDAY, 0.20, version="6"),  # a former champion
            ]
        )
    )
    return store


def _gather(store: DuckDBStore, **kwargs: object) -> DailyReport:
    versus = pd.DataFrame(
        {
            "session": pd.to_datetime(["2024-03-13", "2024-03-14", "2024-03-15"]),
            "window_sessions": 63,
            "n_dates": [61, 62, 63],
            "model": "ridge",
            "rank_ic": [0.05, 0.01, 0.02],
            "hit_rate": [0.52, 0.5, 0.51],
            "baseline": "mean_drift",
            "baseline_rank_ic": [0.03, 0.04, 0.04],
            "baseline_hit_rate": [0.53, 0.53, 0.54],
        }
    )
    drift = pd.DataFrame(
        {
            "session": pd.Timestamp("2024-03-15"),
            "subject": ["calm", "rsi_14", "prediction"],
            "psi": [0.01, 0.5, 0.2],
            "psi_threshold": [0.25, 0.25, 0.25],
            "ks_statistic": [0.02, 0.4, 0.05],
            "ks_threshold": [0.1, 0.1, 0.1],
        }
    )
    options: dict[str, object] = {
        "read_monitor": lambda horizon, version: _Reading(versus, drift),
        "horizons": [1, 5],
        "calendar": "XNYS",
        "now": AFTER_MONDAY_CLOSE,
    }
    options.update(kwargs)
    return gather_daily_report(store, _Registry({"stockpred-h5": CHAMPION}), **options)  # type: ignore[arg-type]


def test_the_default_session_is_the_latest_closed_one_the_stocks_have(store: DuckDBStore) -> None:
    report = _gather(store)

    # The index has Monday's bar; the stocks end on Friday: the report is of Friday.
    assert report.session == FRIDAY
    assert report.latest_closed == MONDAY
    assert report.sessions_since == 1


def test_before_monday_close_the_latest_closed_session_is_friday() -> None:
    assert latest_closed_session("XNYS", now=datetime(2024, 3, 18, 19, 59, tzinfo=UTC)) == FRIDAY
    assert latest_closed_session("XNYS", now=datetime(2024, 3, 18, 20, 0, tzinfo=UTC)) == MONDAY


def test_only_the_champions_forecasts_of_the_session_highest_first(store: DuckDBStore) -> None:
    (no_champion, five) = _gather(store).horizons

    assert no_champion.champion is None
    assert [(f.ticker, f.value, f.model_version) for f in five.forecasts] == [
        ("MSFT", 0.03, "7"),
        ("AAPL", 0.01, "7"),
        ("IBM", -0.02, "7"),
    ]
    assert five.forecasts_note is None


def test_a_session_without_forecasts_names_the_latest_the_ledger_has(store: DuckDBStore) -> None:
    (_, five) = _gather(store, session=MONDAY).horizons

    assert five.forecasts == ()
    assert five.forecasts_note is not None
    assert "no forecast of stockpred-h5 v7 as of 2024-03-18" in five.forecasts_note
    assert "its latest is as of 2024-03-15" in five.forecasts_note


def test_accuracy_and_drift_are_read_as_the_monitor_stored_them(store: DuckDBStore) -> None:
    (_, five) = _gather(store).horizons

    assert [p.session for p in five.accuracy] == [date(2024, 3, d) for d in (13, 14, 15)]
    assert five.accuracy[-1].baseline == "mean_drift"
    assert five.below_baseline == 2
    assert [f.subject for f in five.drift] == ["rsi_14", "prediction", "calm"]
    assert [f.subject for f in five.drifted] == ["rsi_14"]
    # A report of an earlier session leaves the later scored sessions out.
    (_, earlier) = _gather(store, session=date(2024, 3, 14)).horizons
    assert [p.session for p in earlier.accuracy] == [date(2024, 3, 13), date(2024, 3, 14)]


def test_tickers_behind_the_session_are_stale_and_listed_first(store: DuckDBStore) -> None:
    report = _gather(store)

    assert [(t.ticker, t.sessions_behind, t.stale) for t in report.tickers] == [
        ("IBM", 1, True),
        ("AAPL", 0, False),
        ("MSFT", 0, False),
        ("^GSPC", 0, False),
    ]
    assert report.tickers[0].bars == 4
    assert report.tickers[0].last_session == date(2024, 3, 14)
    monday = _gather(store, session=MONDAY)
    assert {t.ticker for t in monday.stale} == {"AAPL", "MSFT", "IBM"}


def test_providers_come_from_the_status_file(store: DuckDBStore) -> None:
    report = _gather(
        store,
        providers={"yahoo": {"last_success": "2024-03-18T20:31:00+00:00", "errors": {}}},
    )

    (yahoo,) = report.providers
    assert (yahoo.name, yahoo.last_success, yahoo.last_failure) == (
        "yahoo",
        "2024-03-18T20:31:00+00:00",
        None,
    )


def test_a_date_that_is_no_session_or_has_not_closed_is_refused(store: DuckDBStore) -> None:
    with pytest.raises(
        InvalidInputError, match=r"2024-03-16 is not a XNYS session.*2024-03-15, 2024-03-18"
    ):
        _gather(store, session=date(2024, 3, 16))
    with pytest.raises(InvalidInputError, match="after now"):
        _gather(store, session=date(2024, 3, 19))


def test_an_empty_store_has_no_session_to_report(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no bars stored"):
        _gather(DuckDBStore(tmp_path / "empty.duckdb"))
