"""Right values: stockpred's kernels against TA-Lib (the C library traders use) and against
plain numpy/pandas references for indicators TA-Lib does not have.

Where a definition matches TA-Lib's, values agree to 1e-9 relative from TA-Lib's first value on
(the warm-ups are the same length). Where they differ on purpose, the test name says so and
asserts the documented relation. Histories are gap-free: TA-Lib lets one NaN poison every later
value of a recursive indicator, where stockpred restarts after the gap (tested elsewhere).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockpred.features.catalog import CATALOG
from support.histories import History, apple_history, generated_history

talib = pytest.importorskip(
    "talib", reason="TA-Lib is not installed: pip install 'stockpred[dev]' (ta-lib wheel)"
)

HISTORIES = {
    "apple": apple_history,
    "generated": lambda: generated_history(2000, seed=21, gaps=False),
}
RTOL = 1e-9


def assert_agrees(ours: np.ndarray, reference: np.ndarray, *, atol: float = 0.0) -> None:
    """Same warm-up (NaN on the same bars) and equal values after it."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours, reference, rtol=RTOL, atol=atol, equal_nan=True)


@pytest.fixture(params=sorted(HISTORIES))
def history(request: pytest.FixtureRequest) -> History:
    return HISTORIES[request.param]()


@pytest.mark.parametrize("period", [5, 20, 50])
def test_sma_matches_talib(history: History, period: int) -> None:
    ours = CATALOG["sma"](period=period).batch(history)[f"sma_{period}"]
    assert_agrees(ours, talib.SMA(history["close"], timeperiod=period))


@pytest.mark.parametrize("period", [5, 20, 50])
def test_ema_seeded_with_the_sma_matches_talib(history: History, period: int) -> None:
    ours = CATALOG["ema"](period=period).batch(history)[f"ema_{period}"]
    assert_agrees(ours, talib.EMA(history["close"], timeperiod=period))


@pytest.mark.parametrize("period", [2, 14, 30])
def test_wilder_rsi_seeded_with_simple_means_matches_talib(history: History, period: int) -> None:
    ours = CATALOG["rsi"](period=period).batch(history)[f"rsi_{period}"]
    assert_agrees(ours, talib.RSI(history["close"], timeperiod=period))


def test_rsi_of_a_flat_window_is_50_where_talib_says_0() -> None:
    """Deliberate difference: with no gains and no losses the RSI is undefined; stockpred says
    50 (no direction), TA-Lib says 0."""
    close = np.full(40, 10.0)
    ours = CATALOG["rsi"](period=14).batch({"close": close})["rsi_14"]
    theirs = talib.RSI(close, timeperiod=14)
    np.testing.assert_array_equal(ours[14:], 50.0)
    np.testing.assert_array_equal(theirs[14:], 0.0)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5)])
def test_macd_line_signal_and_histogram_match_talib(
    history: History, fast: int, slow: int, signal: int
) -> None:
    ours = CATALOG["macd"](fast=fast, slow=slow, signal=signal).batch(history)
    line, signal_line, histogram = talib.MACD(
        history["close"], fastperiod=fast, slowperiod=slow, signalperiod=signal
    )
    suffix = f"{fast}_{slow}_{signal}"
    # The line and histogram cross zero; near zero a relative bound is meaningless, so allow an
    # absolute 1e-9 of the price level there (rounding of a difference of two EMAs).
    scale = 1e-9 * float(np.nanmean(history["close"]))
    assert_agrees(ours[f"macd_{suffix}"], line, atol=scale)
    assert_agrees(ours[f"macd_signal_{suffix}"], signal_line, atol=scale)
    assert_agrees(ours[f"macd_hist_{suffix}"], histogram, atol=scale)


@pytest.mark.parametrize(("period", "width"), [(20, 2.0), (10, 1.5)])
def test_bollinger_percent_b_and_bandwidth_follow_talib_bbands(
    history: History, period: int, width: float
) -> None:
    close = history["close"]
    upper, middle, lower = talib.BBANDS(
        close, timeperiod=period, nbdevup=width, nbdevdn=width, matype=0
    )
    indicator = CATALOG["bollinger"](period=period, width=width)
    percent_b, bandwidth = (indicator.batch(history)[name] for name in indicator.outputs)
    # %b is a ratio of differences of close-sized numbers: allow 1e-9 of the close's scale.
    assert_agrees(percent_b, (close - lower) / (upper - lower), atol=1e-9)
    assert_agrees(bandwidth, (upper - lower) / middle)


@pytest.mark.parametrize("period", [5, 14, 30])
def test_wilder_atr_and_atr_ratio_match_talib(history: History, period: int) -> None:
    ours = CATALOG["atr"](period=period).batch(history)
    theirs = talib.ATR(history["high"], history["low"], history["close"], timeperiod=period)
    assert_agrees(ours[f"atr_{period}"], theirs)
    assert_agrees(ours[f"atr_ratio_{period}"], theirs / history["close"])


@pytest.mark.parametrize("period", [1, 10, 60])
def test_momentum_matches_talib_mom_and_roc_is_talib_roc_over_100(
    history: History, period: int
) -> None:
    """stockpred's rate of change is a fraction; TA-Lib's ROC is a percentage."""
    ours = CATALOG["momentum"](period=period).batch(history)
    close = history["close"]
    assert_agrees(ours[f"momentum_{period}"], talib.MOM(close, timeperiod=period), atol=1e-12)
    assert_agrees(100.0 * ours[f"roc_{period}"], talib.ROC(close, timeperiod=period), atol=1e-12)


# Indicators TA-Lib lacks: against numpy/pandas written from the textbook definition.


@pytest.mark.parametrize("period", [5, 20, 60])
def test_volatility_is_annualised_sample_std_of_log_returns(history: History, period: int) -> None:
    ours = CATALOG["volatility"](period=period).batch(history)[f"volatility_{period}"]
    returns = np.log(pd.Series(history["close"])).diff()
    reference = returns.rolling(period).std(ddof=1).to_numpy() * np.sqrt(252.0)
    assert_agrees(ours, reference, atol=1e-12)


@pytest.mark.parametrize("period", [1, 5, 60])
def test_log_return_is_log_of_close_ratio(history: History, period: int) -> None:
    close = pd.Series(history["close"])
    ours = CATALOG["log_return"](period=period).batch(history)[f"log_return_{period}"]
    assert_agrees(ours, np.log(close / close.shift(period)).to_numpy(), atol=1e-15)


def test_twelve_one_momentum_is_close_a_month_ago_over_close_a_year_ago(history: History) -> None:
    close = pd.Series(history["close"])
    ours = CATALOG["momentum_skip"](period=252, skip=21).batch(history)
    reference = (close.shift(21) / close.shift(252) - 1.0).to_numpy()
    assert_agrees(ours["momentum_252_skip_21"], reference, atol=1e-15)


@pytest.mark.parametrize("kind", ["sma_distance", "ema_distance"])
def test_distance_is_close_over_average_minus_one(history: History, kind: str) -> None:
    average = {"sma_distance": talib.SMA, "ema_distance": talib.EMA}[kind]
    indicator = CATALOG[kind](period=20)
    ours = indicator.batch(history)[indicator.outputs[0]]
    close = history["close"]
    assert_agrees(ours, close / average(close, timeperiod=20) - 1.0, atol=1e-12)


def test_parkinson_volatility_matches_its_formula(history: History) -> None:
    spread = pd.Series(np.log(history["high"] / history["low"]) ** 2)
    reference = np.sqrt(spread.rolling(20).mean() / (4.0 * np.log(2.0)) * 252.0).to_numpy()
    ours = CATALOG["parkinson"](period=20).batch(history)["parkinson_20"]
    assert_agrees(ours, reference, atol=1e-12)


def test_garman_klass_volatility_matches_its_formula(history: History) -> None:
    spread = np.log(history["high"] / history["low"])
    body = np.log(history["close"] / history["open"])
    term = pd.Series(0.5 * spread**2 - (2.0 * np.log(2.0) - 1.0) * body**2)
    reference = np.sqrt(term.rolling(20).mean().clip(lower=0.0) * 252.0).to_numpy()
    ours = CATALOG["garman_klass"](period=20).batch(history)["garman_klass_20"]
    assert_agrees(ours, reference, atol=1e-12)


def test_volume_zscore_uses_the_sample_std_of_the_window(history: History) -> None:
    volume = pd.Series(history["volume"])
    rolling = volume.rolling(20)
    reference = ((volume - rolling.mean()) / rolling.std(ddof=1)).to_numpy()
    ours = CATALOG["volume_zscore"](period=20).batch(history)["volume_zscore_20"]
    assert_agrees(ours, reference, atol=1e-9)


@pytest.mark.parametrize("period", [5, 20])
def test_obv_slope_is_the_change_of_talib_obv_per_unit_of_volume(
    history: History, period: int
) -> None:
    """TA-Lib's OBV starts from the first bar's volume; the change over ``period`` bars does not
    depend on that start."""
    obv = pd.Series(talib.OBV(history["close"], history["volume"]))
    traded = pd.Series(history["volume"]).rolling(period).sum()
    reference = (obv.diff(period) / traded).to_numpy()
    ours = CATALOG["obv_slope"](period=period).batch(history)[f"obv_slope_{period}"]
    assert_agrees(ours, reference, atol=1e-12)


@pytest.mark.parametrize("period", [20, 252])
def test_high_low_distance_uses_talib_max_of_highs_and_min_of_lows(
    history: History, period: int
) -> None:
    close = history["close"]
    top = talib.MAX(history["high"], timeperiod=period)
    bottom = talib.MIN(history["low"], timeperiod=period)
    ours = CATALOG["high_low_distance"](period=period).batch(history)
    assert_agrees(ours[f"close_to_high_{period}"], close / top - 1.0)
    assert_agrees(ours[f"close_to_low_{period}"], close / bottom - 1.0)
