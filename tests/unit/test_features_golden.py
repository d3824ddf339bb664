"""Golden values: small hand-computed cases for the kernels, and the catalogue's contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stockpred.domain.errors import FeatureError
from stockpred.features.catalog import CATALOG, make_indicator
from stockpred.features.library import INPUTS

NAN = math.nan


def close_only(*values: float) -> dict[str, np.ndarray]:
    return {"close": np.array(values, dtype=np.float64)}


def test_rsi_with_only_rising_closes_is_100() -> None:
    rsi = CATALOG["rsi"](period=14).batch(close_only(*range(1, 41)))["rsi_14"]
    assert np.isnan(rsi[:14]).all()
    np.testing.assert_array_equal(rsi[14:], 100.0)


def test_rsi_with_only_falling_closes_is_0() -> None:
    rsi = CATALOG["rsi"](period=14).batch(close_only(*range(40, 0, -1)))["rsi_14"]
    np.testing.assert_array_equal(rsi[14:], 0.0)


def test_rsi_of_alternating_equal_moves_is_50_at_the_seed() -> None:
    # Changes +1, -1, +1, -1: two gains of 1 and two losses of 1 over 4 changes.
    rsi = CATALOG["rsi"](period=4).batch(close_only(10, 11, 10, 11, 10))["rsi_4"]
    assert rsi[4] == 50.0


def test_rsi_applies_wilder_smoothing_after_the_seed() -> None:
    # Seed (period 2): changes +2, -1 -> gain 1.0, loss 0.5 -> RSI 66.67; next change +3:
    # gain (1.0 * 1 + 3) / 2 = 2.0, loss (0.5 * 1 + 0) / 2 = 0.25 -> RSI 100 * 2 / 2.25.
    rsi = CATALOG["rsi"](period=2).batch(close_only(10, 12, 11, 14))["rsi_2"]
    assert rsi[2] == pytest.approx(100.0 * 1.0 / 1.5)
    assert rsi[3] == pytest.approx(100.0 * 2.0 / 2.25)


def test_sma_of_one_to_five_over_three_bars() -> None:
    sma = CATALOG["sma"](period=3).batch(close_only(1, 2, 3, 4, 5))["sma_3"]
    np.testing.assert_array_equal(sma, [NAN, NAN, 2.0, 3.0, 4.0])


def test_ema_starts_from_the_sma_then_weights_the_close_by_two_over_n_plus_one() -> None:
    # period 3: k = 0.5; seed mean(1, 2, 3) = 2; then (4 - 2) * 0.5 + 2 = 3; (10 - 3) * 0.5 + 3.
    ema = CATALOG["ema"](period=3).batch(close_only(1, 2, 3, 4, 10))["ema_3"]
    np.testing.assert_array_equal(ema, [NAN, NAN, 2.0, 3.0, 6.5])


def test_momentum_and_rate_of_change_over_two_bars() -> None:
    out = CATALOG["momentum"](period=2).batch(close_only(10, 11, 12, 9))
    np.testing.assert_array_equal(out["momentum_2"], [NAN, NAN, 2.0, -2.0])
    np.testing.assert_allclose(out["roc_2"], [NAN, NAN, 0.2, 9 / 11 - 1], equal_nan=True)


def test_atr_of_bars_with_a_constant_range_and_no_gaps_is_that_range() -> None:
    close = np.linspace(100.0, 101.0, 30)
    bars = {"high": close + 1.0, "low": close - 1.0, "close": close}
    out = CATALOG["atr"](period=14).batch(bars)
    np.testing.assert_allclose(out["atr_14"][14:], 2.0, rtol=1e-12)
    np.testing.assert_allclose(out["atr_ratio_14"][14:], 2.0 / close[14:], rtol=1e-12)


def test_true_range_counts_a_gap_from_the_previous_close() -> None:
    # Bar 2 trades 20..21 after a close of 10: its true range is 21 - 10 = 11.
    bars = {
        "high": np.array([11.0, 11.0, 21.0]),
        "low": np.array([9.0, 9.0, 20.0]),
        "close": np.array([10.0, 10.0, 20.5]),
    }
    out = CATALOG["atr"](period=2).batch(bars)
    assert out["atr_2"][2] == (2.0 + 11.0) / 2


def test_bollinger_of_a_flat_window_is_mid_band_with_zero_bandwidth() -> None:
    out = CATALOG["bollinger"](period=5, width=2).batch(close_only(*[7.0] * 8))
    np.testing.assert_array_equal(out["bollinger_pctb_5_2"][4:], 0.5)
    np.testing.assert_array_equal(out["bollinger_bandwidth_5_2"][4:], 0.0)


def test_bollinger_percent_b_is_one_on_the_upper_band() -> None:
    # Window 0, 0, 0, 4 (period 4): mean 1, population std sqrt(3); width 3 / sqrt(3) puts the
    # upper band at 1 + 3 = 4, the close.
    out = CATALOG["bollinger"](period=4, width=math.sqrt(3.0)).batch(close_only(0, 0, 0, 4))
    (percent_b, bandwidth) = out.values()
    assert percent_b[3] == pytest.approx(1.0)
    assert bandwidth[3] == pytest.approx(6.0)


def test_volatility_of_a_constant_growth_rate_is_zero() -> None:
    close = 100.0 * 1.01 ** np.arange(30)
    vol = CATALOG["volatility"](period=5).batch({"close": close})["volatility_5"]
    assert np.isnan(vol[:5]).all()
    np.testing.assert_allclose(vol[5:], 0.0, atol=1e-12)


def test_volatility_of_alternating_returns_is_their_annualised_sample_std() -> None:
    returns = np.tile([0.01, -0.01], 10)
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    vol = CATALOG["volatility"](period=4).batch({"close": close})["volatility_4"]
    expected = np.std([0.01, -0.01, 0.01, -0.01], ddof=1) * math.sqrt(252.0)
    np.testing.assert_allclose(vol[4:], expected, rtol=1e-9)


def test_parkinson_of_a_constant_range_is_its_closed_form() -> None:
    bars = {"high": np.full(10, 101.0), "low": np.full(10, 99.0)}
    vol = CATALOG["parkinson"](period=5).batch(bars)["parkinson_5"]
    expected = math.sqrt(math.log(101.0 / 99.0) ** 2 / (4.0 * math.log(2.0)) * 252.0)
    np.testing.assert_allclose(vol[4:], expected, rtol=1e-12)


def test_volume_zscore_of_a_spike_after_a_flat_window() -> None:
    volume = np.array([10.0, 10.0, 10.0, 40.0])
    z = CATALOG["volume_zscore"](period=4).batch({"volume": volume})["volume_zscore_4"]
    # Window 10, 10, 10, 40: mean 17.5, sample std 15.
    assert z[3] == pytest.approx((40.0 - 17.5) / 15.0)


def test_a_gap_in_the_close_makes_sma_nan_until_the_window_is_whole_again() -> None:
    sma = CATALOG["sma"](period=2).batch(close_only(1, 2, NAN, 4, 6, 8))["sma_2"]
    np.testing.assert_array_equal(sma, [NAN, 1.5, NAN, NAN, 5.0, 7.0])


def test_running_sums_are_recomputed_exactly_so_rounding_does_not_drift() -> None:
    # Huge values leave rounding residue in a running sum once they drop out of the window;
    # the periodic exact recomputation (every RECOMPUTE_EVERY bars) clears it.
    from stockpred.features.kernels._window import RECOMPUTE_EVERY

    close = np.concatenate([np.full(50, 1e12) + np.arange(50), np.linspace(1.0, 2.0, 2000)])
    sma = CATALOG["sma"](period=5).batch({"close": close})["sma_5"]
    exact = np.convolve(close, np.ones(5) / 5, mode="valid")
    later = 50 + RECOMPUTE_EVERY + 5
    np.testing.assert_allclose(sma[later:], exact[later - 4 :], rtol=1e-12)


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_catalog_indicator_is_fully_described(kind: str) -> None:
    indicator = CATALOG[kind]()
    assert indicator.name
    assert indicator.outputs
    assert indicator.name.replace("_", "").isalnum()
    assert set(indicator.inputs) <= set(INPUTS)
    assert indicator.lookback >= 0
    assert indicator.description
    assert len(set(indicator.outputs)) == len(indicator.outputs)


def test_output_names_carry_the_parameters() -> None:
    assert CATALOG["rsi"](period=14).outputs == ("rsi_14",)
    assert CATALOG["macd"]().outputs == (
        "macd_12_26_9",
        "macd_signal_12_26_9",
        "macd_hist_12_26_9",
    )
    assert CATALOG["bollinger"](period=20, width=2.5).outputs == (
        "bollinger_pctb_20_2p5",
        "bollinger_bandwidth_20_2p5",
    )


def test_no_two_kinds_share_an_output_name() -> None:
    names = [name for factory in CATALOG.values() for name in factory().outputs]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_different_parameters_give_different_output_names(kind: str) -> None:
    default = CATALOG[kind]()
    changed = {
        name: value + 1 if isinstance(value, int) else value * 1.5
        for name, value in default.params.items()
    }
    if kind == "macd":
        changed["slow"] += 1
    other = CATALOG[kind](**changed)
    assert not set(default.outputs) & set(other.outputs)


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(FeatureError, match=r"known kinds: .*rsi"):
        make_indicator("rsj", period=14)


def test_bad_period_says_what_to_pass() -> None:
    with pytest.raises(FeatureError, match="period must be an integer of at least 1, got 0"):
        make_indicator("sma", period=0)


def test_unknown_parameter_is_a_feature_error() -> None:
    with pytest.raises(FeatureError, match="bad parameters"):
        make_indicator("sma", window=3)


def test_macd_needs_slow_above_fast() -> None:
    with pytest.raises(FeatureError, match="slow must be an integer of at least 27"):
        make_indicator("macd", fast=26, slow=12)
