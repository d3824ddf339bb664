"""Rolling maximum drawdown: hand-computed values, the window sliding past an old peak, the gap
rule, and agreement with the brute-force definition on real and generated histories.

(Online equals offline, point in time and the lookback are covered for every catalogue kind,
this one included, by the parametrised tests in test_features_online_offline.py and
test_features_point_in_time.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

from stockpred.domain.errors import FeatureError
from stockpred.features.catalog import CATALOG, make_indicator
from support.histories import History, apple_history, generated_history

NAN = np.nan


def drawdown(period: int, *closes: float) -> np.ndarray:
    close = np.array(closes, dtype=np.float64)
    return CATALOG["max_drawdown"](period=period).batch({"close": close})[f"max_drawdown_{period}"]


def brute_force(close: np.ndarray, period: int) -> np.ndarray:
    """max over j <= k in each window of 1 - close_k / close_j, window by window (NaN where the
    window holds a non-finite close)."""
    out = np.full(close.shape[0], np.nan)
    for i in range(period - 1, close.shape[0]):
        window = close[i - period + 1 : i + 1]
        if np.isfinite(window).all():
            out[i] = np.max(1.0 - window / np.maximum.accumulate(window))
    return out


def test_max_drawdown_of_a_small_series_is_the_hand_computed_fall() -> None:
    values = drawdown(4, 100, 110, 99, 105, 88, 120, 90)

    assert np.isnan(values[:3]).all()
    # [100 110 99 105]: 110 -> 99; [110 99 105 88]: 110 -> 88;
    # [99 105 88 120]: 105 -> 88; [105 88 120 90]: 120 -> 90.
    np.testing.assert_allclose(values[3:], [0.1, 0.2, 17 / 105, 0.25], rtol=1e-15)


def test_max_drawdown_is_zero_when_the_close_only_rises() -> None:
    values = drawdown(3, 1, 2, 3, 4, 5)
    np.testing.assert_array_equal(values, [NAN, NAN, 0.0, 0.0, 0.0])


def test_a_rise_from_a_trough_is_not_a_drawdown() -> None:
    # 50 -> 100 is a rise; only 60 -> 50 is a fall.
    values = drawdown(3, 60, 50, 100)
    np.testing.assert_allclose(values[2], 1 - 50 / 60, rtol=1e-15)


def test_a_peak_that_leaves_the_window_no_longer_counts() -> None:
    values = drawdown(3, 200, 100, 100, 100, 90)
    np.testing.assert_allclose(values[2:], [0.5, 0.0, 0.1], rtol=1e-15)


def test_a_gap_resets_the_window() -> None:
    values = drawdown(2, 100, 50, NAN, 80, 40, 60)
    np.testing.assert_allclose(values, [NAN, 0.5, NAN, NAN, 0.5, 0.0], rtol=1e-15)


@pytest.mark.parametrize("period", [2, 3, 5, 60, 252])
@pytest.mark.parametrize(
    "history", [apple_history(), generated_history(1500, seed=13)], ids=["apple", "generated"]
)
def test_max_drawdown_equals_the_brute_force_definition(history: History, period: int) -> None:
    ours = drawdown(period, *history["close"])
    reference = brute_force(history["close"], period)
    # Every candidate is one pair's 1 - close_k / close_j and rounded division is monotone,
    # so the sliding summary picks the very same number.
    np.testing.assert_array_equal(ours, reference)


def test_max_drawdown_is_a_fraction_between_zero_and_one_on_real_prices() -> None:
    values = drawdown(252, *apple_history()["close"])
    defined = values[~np.isnan(values)]
    assert defined.size > 2000
    assert (defined >= 0.0).all()
    assert (defined < 1.0).all()
    # Apple's 2000-2001 crash: more than 70% below its peak within a year.
    assert defined.max() > 0.7


def test_incremental_state_gives_the_batch_value_after_each_bar() -> None:
    closes = (100.0, 110.0, 99.0, 105.0, 88.0, 120.0, 90.0, NAN, 95.0, 97.0, 80.0, 85.0)
    indicator = make_indicator("max_drawdown", period=3)
    batch = indicator.batch({"close": np.array(closes)})["max_drawdown_3"]
    state = indicator.incremental()
    online = []
    for close in closes:
        state.update({"close": close})
        online.append(state.value["max_drawdown_3"])
    np.testing.assert_array_equal(online, batch)
    assert state.ready


def test_default_period_is_60_and_a_one_bar_window_is_refused() -> None:
    assert CATALOG["max_drawdown"]().outputs == ("max_drawdown_60",)
    assert CATALOG["max_drawdown"]().lookback == 59
    with pytest.raises(FeatureError, match="period must be an integer of at least 2"):
        make_indicator("max_drawdown", period=1)
