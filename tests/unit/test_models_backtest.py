"""Daily top-k portfolios from predictions: weights, P&L, turnover, costs and performance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockpred.models.backtest import (
    DAILY_COLUMNS,
    NO_PICK_SHARE,
    SUMMARY_COLUMNS,
    backtest,
    compute_max_drawdown,
    hold_weights,
    portfolio_weights,
)
from stockpred.models.metrics import PREDICTION_COLUMNS

DATES = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04"], tz="UTC")
TICKERS = ("A", "B", "C", "D")
# Model "m": long A / short D, then long B / short C, then long A / short D again (k = 1).
PREDICTED = [[0.03, 0.01, -0.01, -0.02], [0.01, 0.03, -0.02, -0.01], [0.02, 0.01, 0.00, -0.03]]
NEXT_RETURN = [[0.02, 0.01, 0.00, -0.01], [0.00, -0.01, 0.01, 0.02], [0.03, 0.00, 0.01, 0.01]]


def frame_of(
    predicted: list[list[float]] | np.ndarray,
    next_return: list[list[float]] | np.ndarray,
    *,
    dates: pd.DatetimeIndex = DATES,
    tickers: tuple[str, ...] = TICKERS,
) -> pd.DataFrame:
    keys = pd.MultiIndex.from_product([dates, tickers], names=["ts", "ticker"]).to_frame(
        index=False
    )
    parts = []
    for name, values in (("random_walk", np.zeros_like(predicted)), ("m", predicted)):
        part = keys.copy()
        part["horizon"] = 1
        part["model"] = name
        part["prediction"] = np.asarray(values, dtype=float).ravel()
        part["lower"] = np.nan
        part["upper"] = np.nan
        part["next_return"] = np.asarray(next_return, dtype=float).ravel()
        part["actual"] = np.log1p(part["next_return"])
        part["fold"] = 0
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[list(PREDICTION_COLUMNS)]


def daily_of(result_daily: pd.DataFrame, model: str, kind: str) -> pd.DataFrame:
    rows = result_daily[(result_daily["model"] == model) & (result_daily["kind"] == kind)]
    return rows.reset_index(drop=True)


def test_hand_made_long_short_returns_turnover_and_costs() -> None:
    result = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1, cost_bps=10)

    daily = daily_of(result.daily, "m", "long_short")
    # +1/2 long, -1/2 short: 0.5*0.02 - 0.5*(-0.01); 0.5*(-0.01) - 0.5*0.01; 0.5*0.03 - 0.5*0.01.
    np.testing.assert_allclose(daily["gross"], [0.015, -0.010, 0.010], atol=1e-15)
    # Enter from cash (1.0), then swap both legs (2.0), then swap back (2.0).
    np.testing.assert_allclose(daily["turnover"], [1.0, 2.0, 2.0], atol=1e-15)
    # 10 bps per unit of turnover.
    np.testing.assert_allclose(daily["net"], [0.014, -0.012, 0.008], atol=1e-15)
    np.testing.assert_allclose(daily["equity"], [1.014, 1.014 * 0.988, 1.014 * 0.988 * 1.008])
    assert list(daily["ts"]) == list(DATES)
    assert list(result.daily.columns) == list(DAILY_COLUMNS)


def test_hand_made_long_only_returns_turnover_and_costs() -> None:
    result = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1, cost_bps=10)

    daily = daily_of(result.daily, "m", "long_only")
    np.testing.assert_allclose(daily["gross"], [0.02, -0.01, 0.03], atol=1e-15)
    np.testing.assert_allclose(daily["turnover"], [1.0, 2.0, 2.0], atol=1e-15)
    np.testing.assert_allclose(daily["net"], [0.019, -0.012, 0.028], atol=1e-15)


def test_summary_figures_follow_from_the_daily_returns() -> None:
    result = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1, cost_bps=10)

    summary = result.summary.set_index(["model", "kind"]).loc[("m", "long_short")]
    net = np.array([0.014, -0.012, 0.008])
    daily_sharpe = net.mean() / net.std(ddof=1)
    assert summary["ann_return_net"] == pytest.approx(net.mean() * 252)
    assert summary["ann_volatility_net"] == pytest.approx(net.std(ddof=1) * np.sqrt(252))
    assert summary["sharpe_net"] == pytest.approx(daily_sharpe * np.sqrt(252))
    assert summary["sharpe_se_net"] == pytest.approx(
        np.sqrt((1 + daily_sharpe**2 / 2) / 3) * np.sqrt(252)
    )
    # Peak 1.014 after day 1, then down 1.2% on day 2.
    assert summary["max_drawdown_net"] == pytest.approx(-0.012)
    assert summary["hit_rate_net"] == pytest.approx(2 / 3)
    assert summary["hit_rate_gross"] == pytest.approx(2 / 3)
    assert summary["total_return_net"] == pytest.approx(1.014 * 0.988 * 1.008 - 1)
    assert summary["turnover"] == pytest.approx(5 / 3)
    assert (summary["days"], summary["skipped_dates"], summary["k"]) == (3, 0, 1)
    assert list(result.summary.columns) == list(SUMMARY_COLUMNS)


def test_constant_predictions_hold_nothing_long_short_and_the_universe_long_only() -> None:
    result = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1, cost_bps=10)

    flat = daily_of(result.daily, "random_walk", "long_short")
    np.testing.assert_allclose(flat["gross"], 0.0)
    np.testing.assert_allclose(flat["turnover"], 0.0)
    universe = daily_of(result.daily, "random_walk", "long_only")
    np.testing.assert_allclose(universe["gross"], np.mean(NEXT_RETURN, axis=1), atol=1e-15)
    np.testing.assert_allclose(universe["turnover"], [1.0, 0.0, 0.0], atol=1e-15)


PICK_FIGURES = [
    f"{name}_{basis}"
    for basis in ("gross", "net")
    for name in ("ann_return", "ann_volatility", "sharpe", "sharpe_se", "max_drawdown")
] + ["hit_rate_net", "total_return_net", "turnover"]


def test_forecasts_equal_across_tickers_pick_nothing_so_their_figures_are_nan() -> None:
    result = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1, cost_bps=10)

    summary = result.summary.set_index(["model", "kind"])
    for kind in ("long_short", "long_only"):
        flat = summary.loc[("random_walk", kind)]
        assert (flat["tied_dates"], flat["days"]) == (3, 3)
        assert flat[PICK_FIGURES].isna().all(), flat[PICK_FIGURES]
        picked = summary.loc[("m", kind)]
        assert picked["tied_dates"] == 0
        assert picked[PICK_FIGURES].notna().all(), picked[PICK_FIGURES]
    # The rule still made the daily rows: the universe, equally weighted, long-only.
    universe = daily_of(result.daily, "random_walk", "long_only")
    np.testing.assert_allclose(universe["gross"], np.mean(NEXT_RETURN, axis=1), atol=1e-15)


@pytest.mark.parametrize(("tied", "picks"), [(39, False), (38, False), (20, True), (0, True)])
def test_forecasts_tied_on_nearly_every_date_pick_nothing(tied: int, picks: bool) -> None:
    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2024-01-01", periods=40, tz="UTC")
    tickers = tuple(f"T{i}" for i in range(6))
    forecast = rng.normal(size=(40, 6))
    forecast[:tied] = 0.01  # the same forecast for every ticker on the first `tied` dates
    frame = frame_of(forecast, rng.normal(0, 0.01, (40, 6)), dates=dates, tickers=tickers)

    result = backtest(frame, k=2)

    summary = result.summary.set_index(["model", "kind"]).loc[("m", "long_only")]
    assert summary["tied_dates"] == tied
    assert (tied >= NO_PICK_SHARE * 40) is not picks
    assert bool(summary[PICK_FIGURES].notna().all()) is picks


def test_tied_predictions_at_the_edge_share_the_remaining_slot() -> None:
    weights = portfolio_weights(np.array([[3.0, 2.0, 2.0, 1.0, 0.0]]), k=2)

    # Top 2: A, then B and C tie for the last slot and split it; bottom 2: E and D.
    np.testing.assert_allclose(weights["long_only"], [[0.5, 0.25, 0.25, 0.0, 0.0]])
    np.testing.assert_allclose(weights["long_short"], [[0.25, 0.125, 0.125, -0.25, -0.25]])


def test_weights_have_gross_one_and_ignore_tickers_absent_that_day() -> None:
    rng = np.random.default_rng(0)
    predictions = rng.normal(size=(30, 12))
    predictions[rng.random((30, 12)) < 0.2] = np.nan

    weights = portfolio_weights(predictions, k=3)

    long_short, long_only = weights["long_short"], weights["long_only"]
    np.testing.assert_allclose(np.abs(long_short).sum(axis=1), 1.0)
    np.testing.assert_allclose(long_short.sum(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(long_only.sum(axis=1), 1.0)
    assert (long_short[np.isnan(predictions)] == 0).all()
    assert (long_only[np.isnan(predictions)] == 0).all()


def test_k_shrinks_to_half_the_median_universe() -> None:
    rng = np.random.default_rng(1)
    tickers = ("A", "B", "C", "D", "E")
    dates = pd.bdate_range("2024-01-01", periods=4, tz="UTC")
    frame = frame_of(
        rng.normal(size=(4, 5)), rng.normal(0, 0.01, (4, 5)), dates=dates, tickers=tickers
    )

    result = backtest(frame, k=10)

    assert result.k == 2
    assert set(result.summary["k"]) == {2}
    first = daily_of(result.daily, "m", "long_short")["turnover"].iloc[0]
    assert first == pytest.approx(1.0)  # 2 long at 1/4, 2 short at 1/4


def test_dates_with_fewer_than_2k_tickers_are_skipped_and_counted() -> None:
    frame = frame_of(PREDICTED, NEXT_RETURN)
    # Day 2 keeps only A, B and C: with k = 2 it cannot fill both legs.
    thin = frame[~((frame["ts"] == DATES[1]) & (frame["ticker"] == "D"))]

    result = backtest(thin, k=2, cost_bps=0)

    summary = result.summary.set_index(["model", "kind"]).loc[("m", "long_short")]
    assert (summary["days"], summary["skipped_dates"]) == (2, 1)
    daily = daily_of(result.daily, "m", "long_short")
    assert list(daily["ts"]) == [DATES[0], DATES[2]]
    # Day 3 trades against day 1's weights: A,B long / C,D short on both days.
    np.testing.assert_allclose(daily["turnover"], [1.0, 0.0], atol=1e-15)


def test_net_is_gross_minus_turnover_times_cost() -> None:
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2024-01-01", periods=40, tz="UTC")
    tickers = tuple(f"T{i}" for i in range(12))
    frame = frame_of(
        rng.normal(size=(40, 12)), rng.normal(0, 0.01, (40, 12)), dates=dates, tickers=tickers
    )

    daily = backtest(frame, k=3, cost_bps=7.5).daily

    np.testing.assert_allclose(daily["net"], daily["gross"] - daily["turnover"] * 7.5e-4)
    free = backtest(frame, k=3, cost_bps=0).daily
    np.testing.assert_allclose(free["net"], free["gross"])


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        # Equity 1.1, 0.88, 0.924, 0.8316, 1.08108: from the 1.1 peak down to 0.8316.
        ([0.10, -0.20, 0.05, -0.10, 0.30], 0.8316 / 1.1 - 1),
        ([-0.10, 0.05], -0.10),  # a first-day loss is a drawdown from the starting capital
        ([0.01, 0.02, 0.0], 0.0),
        ([], 0.0),
    ],
)
def test_max_drawdown_by_hand(returns: list[float], expected: float) -> None:
    assert compute_max_drawdown(np.array(returns)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"k": 0}, "k must be >= 1, got 0"),
        ({"cost_bps": -1.0}, "cost_bps must be a finite number >= 0, got -1.0"),
        ({"cost_bps": float("nan")}, "cost_bps must be a finite number"),
        ({"rebalance": 0}, "rebalance must be >= 1"),
    ],
)
def test_bad_parameters_are_refused(keywords: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backtest(frame_of(PREDICTED, NEXT_RETURN), **keywords)


def test_a_held_ticker_without_a_next_return_earns_zero_and_is_counted() -> None:
    frame = frame_of(PREDICTED, NEXT_RETURN)
    # Model "m" holds A long on day 1; its next bar is missing.
    frame.loc[(frame["model"] == "m") & (frame["ticker"] == "A"), "next_return"] = [
        np.nan,
        0.00,
        0.03,
    ]

    result = backtest(frame, k=1, cost_bps=0)

    daily = daily_of(result.daily, "m", "long_short")
    # Day 1: A earns 0, the short in D earns -0.5 * -0.01.
    np.testing.assert_allclose(daily["gross"], [0.005, -0.010, 0.010], atol=1e-15)
    summary = result.summary.set_index(["model", "kind"])
    assert summary.loc[("m", "long_short"), "missing_returns"] == 1
    assert summary.loc[("m", "long_only"), "missing_returns"] == 1


def test_rebalancing_every_two_dates_holds_the_first_portfolio_through_the_second() -> None:
    result = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1, cost_bps=10, rebalance=2)

    daily = daily_of(result.daily, "m", "long_short")
    # Long A / short D formed on day 1 and kept on day 2 (0.5*0.00 - 0.5*0.02); re-formed on
    # day 3 into the same long A / short D, so only the entry trades.
    np.testing.assert_allclose(daily["gross"], [0.015, -0.010, 0.010], atol=1e-15)
    np.testing.assert_allclose(daily["turnover"], [1.0, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(daily["net"], [0.014, -0.010, 0.010], atol=1e-15)
    summary = result.summary.set_index(["model", "kind"])
    assert summary.loc[("m", "long_short"), "rebalance"] == 2
    assert result.rebalance == 2


def test_rebalancing_every_date_is_the_daily_backtest() -> None:
    daily = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1).daily
    held = backtest(frame_of(PREDICTED, NEXT_RETURN), k=1, rebalance=1).daily

    pd.testing.assert_frame_equal(daily, held)


def test_hold_weights_repeats_the_last_formed_row() -> None:
    weights = np.arange(10.0).reshape(5, 2)

    held = hold_weights(weights, rebalance=3)

    np.testing.assert_array_equal(held, weights[[0, 0, 0, 3, 3]])
