"""Labels by the trading calendar, and walk-forward folds that purge and embargo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import ModelError
from stockpred.features.panel import prepare_bars
from stockpred.models.targets import forward_returns
from stockpred.models.walkforward import WalkForward, inner_split


def closes(start: str, n: int) -> pd.DatetimeIndex:
    first = pd.Timestamp(start)
    cal = get_trading_calendar("XNYS", first, first + pd.Timedelta(days=2 * n + 30))
    return cal.session_closes(
        cal.sessions_between(first, first + pd.Timedelta(days=2 * n + 30))[:n]
    )


def bars(ticker: str, ts: pd.DatetimeIndex, close: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"ticker": ticker, "ts": ts, "close": close, "adj_close": close})


def test_forward_return_is_the_log_return_h_sessions_later_and_known_at_that_close() -> None:
    ts = closes("2024-01-02", 10)
    close = np.array([100, 101, 103, 102, 105, 107, 106, 108, 110, 111], dtype=float)

    labels = forward_returns(bars("AAA", ts, close), horizons=[1, 3])

    np.testing.assert_allclose(labels["target_3"].iloc[:7], np.log(close[3:] / close[:7]))
    assert labels["target_3"].iloc[7:].isna().all()
    assert labels["known_at_3"].iloc[0] == ts[3]
    np.testing.assert_allclose(labels["next_return"].iloc[:9], close[1:] / close[:9] - 1)
    np.testing.assert_allclose(labels["target_1"].iloc[:9], np.log(close[1:] / close[:9]))


def test_a_missing_bar_leaves_the_label_undefined_instead_of_stretching_the_horizon() -> None:
    ts = closes("2024-01-02", 6)
    close = np.array([100.0, 101.0, 102.0, 103.0, 104.0, 105.0])
    kept = [0, 1, 3, 4, 5]  # session 2 missing

    labels = forward_returns(bars("AAA", ts[kept], close[kept]), horizons=[2])

    by_ts = labels.set_index("ts")["target_2"]
    assert np.isnan(by_ts[ts[0]])  # two sessions later is the missing one
    assert by_ts[ts[1]] == pytest.approx(np.log(103 / 101))
    assert np.isnan(by_ts[ts[4]])


def test_adjusted_prices_make_a_split_no_return() -> None:
    ts = closes("2024-01-02", 3)
    frame = pd.DataFrame(
        {"ticker": "AAA", "ts": ts, "close": [100.0, 50.0, 51.0], "adj_close": [50.0, 50.0, 51.0]}
    )

    labels = forward_returns(frame, horizons=[1])

    assert labels["target_1"].iloc[0] == pytest.approx(0.0)


def test_bars_without_adj_close_after_adjusted_ones_keep_the_last_factor() -> None:
    # A source with adjusted closes (factor 0.25 after a later 4:1 split), then one without.
    ts = closes("2024-01-02", 4)
    frame = pd.DataFrame(
        {
            "ticker": ["AAA", "AAA", "AAA", "BBB"],
            "ts": [ts[0], ts[1], ts[2], ts[0]],
            "close": [400.0, 404.0, 408.0, 10.0],
            "adj_close": [100.0, np.nan, np.nan, np.nan],
        }
    )

    labels = forward_returns(frame, horizons=[1]).set_index(["ticker", "ts"])["target_1"]
    prepared = prepare_bars(frame.assign(open=1.0, high=1.0, low=1.0, volume=1.0))

    assert labels[("AAA", ts[0])] == pytest.approx(np.log(404 / 400))
    assert labels[("AAA", ts[1])] == pytest.approx(np.log(408 / 404))
    np.testing.assert_allclose(prepared["close"], [100.0, 101.0, 102.0, 10.0])


def test_labels_of_two_tickers_never_mix() -> None:
    ts = closes("2024-01-02", 4)
    frame = pd.concat(
        [bars("AAA", ts, np.array([1.0, 2, 3, 4])), bars("BBB", ts, np.array([10.0, 10, 10, 10]))]
    )

    labels = forward_returns(frame, horizons=[1]).set_index(["ticker", "ts"])

    assert labels.loc[("BBB", ts[0]), "target_1"] == 0.0
    assert np.isnan(labels.loc[("AAA", ts[3]), "target_1"])


def test_folds_purge_the_horizon_and_embargo_before_each_test_block() -> None:
    dates = closes("2020-01-02", 300)
    spec = WalkForward(horizon=5, min_train=100, test_size=50, embargo=3)

    folds = spec.folds(dates)

    assert len(folds) == 4  # tests start at 108, 158, 208, 258
    for fold in folds:
        last_train = dates.get_loc(fold.train[-1])
        first_test = dates.get_loc(fold.test[0])
        assert first_test - last_train == 5 + 3 + 1
        assert fold.train[0] == dates[0]  # expanding
    assert folds[-1].test[-1] == dates[-1]
    tested = np.concatenate([f.test.to_numpy() for f in folds])
    assert len(tested) == len(set(tested))


def test_rolling_folds_keep_the_window_length() -> None:
    dates = closes("2020-01-02", 300)

    folds = WalkForward(horizon=1, min_train=100, test_size=50, embargo=0, window=80).folds(dates)

    assert all(len(f.train) == 80 for f in folds)


def test_too_few_dates_for_a_walk_forward_is_a_clear_error() -> None:
    with pytest.raises(ModelError, match="too few"):
        WalkForward(horizon=5, min_train=100).folds(closes("2020-01-02", 50))


def test_inner_split_holds_out_the_tail_after_a_gap() -> None:
    dates = closes("2020-01-02", 100)

    fit, held = inner_split(dates, holdout=20, gap=6)

    assert len(held) == 20
    assert held[-1] == dates[-1]
    assert dates.get_loc(held[0]) - dates.get_loc(fit[-1]) == 7
