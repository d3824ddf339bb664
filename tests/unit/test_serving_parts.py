"""The serving parts on their own: the forecast table is pure and reports what changed, and the
served log queues each forecast once."""

from __future__ import annotations

import pandas as pd

from stockpred.domain.records import Prediction
from stockpred.pipeline.serving import ForecastTable, ServedLog

DAY = pd.Timestamp("2024-01-02 21:00", tz="UTC")


def forecast(ticker: str, *, horizon: int = 5, version: int = 1, day: int = 0) -> Prediction:
    return Prediction(
        ticker=ticker,
        horizon=horizon,
        as_of=DAY + pd.Timedelta(days=day),
        target="log_return",
        value=0.01,
        lower=-0.02,
        upper=0.04,
        coverage=0.9,
        last_close=100.0,
        price=101.0,
        direction_prob=0.6,
        model="ridge",
        model_version=str(version),
        created_at=DAY,
        registered_name=f"stockpred-h{horizon}",
        contributions=(),
    )


def test_apply_returns_a_new_table_and_only_the_forecasts_that_changed() -> None:
    table, first = ForecastTable().apply(5, [forecast("AAPL"), forecast("IBM")])

    same, unchanged = table.apply(5, [forecast("AAPL")])
    newer, moved = same.apply(5, [forecast("AAPL", day=1), forecast("IBM", version=2)])

    assert [f.ticker for f in first] == ["AAPL", "IBM"]
    assert unchanged == []
    assert same.get("AAPL", 5) is table.get("AAPL", 5)  # kept, with what was rendered from it
    assert [(f.ticker, f.model_version, f.as_of.day) for f in moved] == [
        ("AAPL", "1", 3),
        ("IBM", "2", 2),
    ]
    assert table.get("AAPL", 5) is not newer.get("AAPL", 5)  # the old table is untouched
    assert table.get("AAPL", 5) == forecast("AAPL")


def test_apply_keeps_other_tickers_unless_it_replaces_the_horizon() -> None:
    table, _ = ForecastTable().apply(5, [forecast("AAPL"), forecast("IBM")])
    table, _ = table.apply(1, [forecast("AAPL", horizon=1)])

    partial, _ = table.apply(5, [forecast("AAPL", day=1)])
    replaced, _ = table.apply(5, [forecast("AAPL", day=1)], replace=True)

    assert partial.tickers() == ["AAPL", "IBM"]
    assert replaced.get("IBM", 5) is None
    assert replaced.get("AAPL", 1) is not None  # another horizon is left alone
    assert table.without({5}).tickers() == ["AAPL"]


def test_the_served_log_queues_each_forecast_once_and_takes_them_in_order() -> None:
    log = ServedLog()
    for f in (forecast("AAPL"), forecast("AAPL"), forecast("IBM"), forecast("AAPL", day=1)):
        log.record(f)

    taken = log.take()
    log.record(forecast("AAPL"))  # stored already: not again
    log.requeue(taken[:1])

    assert [(f.ticker, f.as_of.day) for f in taken] == [("AAPL", 2), ("IBM", 2), ("AAPL", 3)]
    assert [f.ticker for f in log.take()] == ["AAPL"]
    assert log.take() == []


def test_the_served_log_forgets_keys_no_longer_served() -> None:
    log = ServedLog()
    log.record(forecast("AAPL"))
    log.take()

    log.keep_only(set())
    log.record(forecast("AAPL"))

    assert [f.ticker for f in log.take()] == ["AAPL"]
