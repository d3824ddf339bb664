"""Feature sets as data: loading, validation messages, lookback and the built-in daily_v1."""

from __future__ import annotations

import pytest

from stockpred.domain.errors import FeatureError
from stockpred.features.catalog import CATALOG
from stockpred.features.sets import (
    ContextSpec,
    FeatureSet,
    IndicatorSpec,
    default_feature_sets,
    feature_set_from_dict,
    feature_set_from_toml,
    get_feature_set,
)

TOML = """
name = "mine"
version = "3"
description = "a small set"

[[indicators]]
kind = "sma_distance"
period = 20

[[indicators]]
kind = "rsi"
params = { period = 14 }

[[indicators]]
kind = "macd"
fast = 12
slow = 26
signal = 9

[context]
index_ticker = "^GSPC"
beta_window = 30
ranks = ["rsi_14"]
macro = [{ name = "vix", series = "VIXCLS" }]
spreads = [{ name = "credit_spread", long = "BAA", short = "AAA" }]
"""


def test_a_set_loads_from_toml_with_its_parameters_and_context() -> None:
    fs = feature_set_from_toml(TOML)
    assert fs.key == "mine@3"
    assert [s.kind for s in fs.indicators] == ["sma_distance", "rsi", "macd"]
    assert fs.indicators[1].params == {"period": 14}
    assert fs.context.beta_window == 30
    assert fs.context.macro[0].series == "VIXCLS"
    assert fs.indicator_outputs == (
        "close_to_sma_20",
        "rsi_14",
        "macd_12_26_9",
        "macd_signal_12_26_9",
        "macd_hist_12_26_9",
    )
    assert "beta_30" in fs.outputs
    assert "rank_rsi_14" in fs.outputs
    assert "credit_spread" in fs.outputs


def test_lookback_is_the_largest_of_the_indicators_and_the_market_windows() -> None:
    quiet = ContextSpec(index_ticker=None)
    fs = FeatureSet(
        name="a",
        version="1",
        indicators=(IndicatorSpec("sma", {"period": 50}), IndicatorSpec("rsi", {"period": 14})),
        context=quiet,
    )
    assert fs.lookback == 49
    with_market = FeatureSet(
        name="a", version="1", indicators=fs.indicators, context=ContextSpec(beta_window=60)
    )
    assert with_market.lookback == 61


def test_an_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(FeatureError, match="indicator #2 has unknown kind 'smaa'") as info:
        feature_set_from_dict(
            {"name": "x", "version": "1", "indicators": [{"kind": "sma"}, {"kind": "smaa"}]}
        )
    for kind in CATALOG:
        assert kind in str(info.value)


def test_bad_parameters_name_the_indicator() -> None:
    with pytest.raises(FeatureError, match=r"indicator #1 \(rsi \{'period': 0\}\)"):
        feature_set_from_dict(
            {"name": "x", "version": "1", "indicators": [{"kind": "rsi", "period": 0}]}
        )
    with pytest.raises(FeatureError, match=r"indicator #1 \(sma \{'window': 5\}\)"):
        feature_set_from_dict(
            {"name": "x", "version": "1", "indicators": [{"kind": "sma", "window": 5}]}
        )
    with pytest.raises(FeatureError, match="period='20' must be a number"):
        feature_set_from_dict(
            {"name": "x", "version": "1", "indicators": [{"kind": "sma", "period": "20"}]}
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": "1", "indicators": [{"kind": "sma"}]}, "'name' is required"),
        ({"name": "x", "indicators": [{"kind": "sma"}]}, "'version' is required"),
        ({"name": "x", "version": "1", "indicators": []}, "declares no indicators"),
        ({"name": "x", "version": "1", "indicators": [{"period": 3}]}, "has no 'kind'"),
        (
            {"name": "x", "version": "1", "indicators": [{"kind": "sma"}], "colour": "red"},
            "unknown field",
        ),
        (
            {
                "name": "x",
                "version": "1",
                "indicators": [{"kind": "sma", "period": 5}, {"kind": "sma", "period": 5}],
            },
            "'sma_5' of sma .* is also produced",
        ),
        (
            {
                "name": "x",
                "version": "1",
                "indicators": [{"kind": "sma"}],
                "context": {"ranks": ["rsi_14"]},
            },
            "cannot rank 'rsi_14'",
        ),
        (
            {
                "name": "x",
                "version": "1",
                "indicators": [{"kind": "sma"}],
                "context": {"macro": [{"name": "v", "series": "VIXCLS", "transform": "log"}]},
            },
            "transform 'log'",
        ),
        (
            {
                "name": "x",
                "version": "1",
                "indicators": [{"kind": "sma"}],
                "context": {"beta_window": 0},
            },
            "beta_window must be >= 1",
        ),
    ],
)
def test_invalid_sets_fail_with_a_message_that_says_what(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(FeatureError, match=message):
        feature_set_from_dict(data)


def test_broken_toml_is_a_feature_error() -> None:
    with pytest.raises(FeatureError, match="does not parse"):
        feature_set_from_toml("name = ")


def test_daily_v1_covers_the_library_and_the_context() -> None:
    fs = get_feature_set("daily_v1")
    assert fs.key == "daily_v1@3"
    outputs = set(fs.outputs)
    for name in (
        "log_return_1",
        "log_return_60",
        "close_to_sma_200",
        "close_to_ema_20",
        "rsi_14",
        "macd_hist_12_26_9",
        "bollinger_pctb_20_2",
        "atr_ratio_14",
        "volatility_5",
        "volatility_20",
        "volatility_60",
        "roc_120",
        "momentum_252_skip_21",
        "mkt_return",
        "mkt_vol_20",
        "beta_60",
        "vix",
        "vix_change_5",
        "cpi_core_yoy",
        "credit_spread",
        "sentiment_mean",
        "day_of_week",
        "days_since_last_session",
        "rank_rsi_14",
    ):
        assert name in outputs, name
    assert fs.lookback == 504
    assert len(set(fs.outputs)) == len(fs.outputs)


def test_get_feature_set_accepts_a_version_and_lists_known_sets_otherwise() -> None:
    assert get_feature_set("daily_v1@3") is not None
    with pytest.raises(FeatureError, match="known sets: daily_v1@3"):
        get_feature_set("daily_v9")
    with pytest.raises(FeatureError, match="unknown feature set 'daily_v1@1'"):
        get_feature_set("daily_v1@1")
    assert set(default_feature_sets()) == {"daily_v1"}
