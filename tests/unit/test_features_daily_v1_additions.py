"""daily_v1's rolling drawdowns and its rates and labour-market context: the 10-year yield, the
term spread (10y - 3m Treasury) and the monthly change of the unemployment rate, each joined as
of its release."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.features.panel import build_panel
from stockpred.features.sets import (
    ContextSpec,
    FeatureSet,
    IndicatorSpec,
    MacroFeature,
    MacroSpread,
    get_feature_set,
)

NEW_MACRO = ("yield_10y", "unemployment_change")
NEW_SPREAD = "term_spread_10y_3m"


def daily_v1_rates_only() -> FeatureSet:
    """A set with daily_v1's declarations of the new macro features and nothing else of its
    context, so the panel needs no index, sentiment or calendar."""
    ctx = get_feature_set("daily_v1").context
    return FeatureSet(
        name="rates",
        version="1",
        indicators=(IndicatorSpec("log_return", {"period": 1}),),
        context=ContextSpec(
            index_ticker=None,
            sentiment_scorer=None,
            calendar=None,
            macro=tuple(m for m in ctx.macro if m.name in NEW_MACRO),
            spreads=tuple(s for s in ctx.spreads if s.name == NEW_SPREAD),
        ),
    )


def test_daily_v1_has_101_features_and_a_504_bar_lookback() -> None:
    fs = get_feature_set("daily_v1")
    assert len(fs.outputs) == 101
    # log_return_504 reads 505 closes; the set recomputes from its lookback on each build.
    assert fs.lookback == 504
    outputs = set(fs.outputs)
    for name in ("max_drawdown_60", "max_drawdown_252", *NEW_MACRO, NEW_SPREAD):
        assert name in outputs, name


def test_daily_v1_declares_the_10y_yield_term_spread_and_unemployment_change() -> None:
    ctx = get_feature_set("daily_v1").context
    macro = {m.name: m for m in ctx.macro}
    spreads = {s.name: s for s in ctx.spreads}
    assert macro["yield_10y"] == MacroFeature("yield_10y", "DGS10", "level")
    assert macro["unemployment_change"] == MacroFeature(
        "unemployment_change", "UNRATE", "change", 1
    )
    assert spreads["term_spread_10y_3m"] == MacroSpread("term_spread_10y_3m", "DGS10", "DGS3MO")
    assert spreads["credit_spread"] == MacroSpread("credit_spread", "BAA", "AAA")


def test_term_spread_and_unemployment_change_by_hand() -> None:
    first = pd.Timestamp("2019-08-26")
    cal = get_trading_calendar("XNYS", first, first + pd.Timedelta(days=10))
    ts = cal.session_closes(cal.sessions_between(first, first + pd.Timedelta(days=10))[:4])
    close = np.array([10.0, 10.5, 10.2, 10.4])
    bars = pd.DataFrame(
        {
            "ticker": "AAA",
            "ts": ts,
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": 1e6,
        }
    )
    rows = [
        # 10y and 3m of Friday 23 August, known on Monday 26th
        ("DGS10", "2019-08-23", "2019-08-26 12:00", 1.52),
        ("DGS3MO", "2019-08-23", "2019-08-26 12:00", 1.97),
        # Monday's 10y is known on Tuesday before the close, its 3m only after it
        ("DGS10", "2019-08-26", "2019-08-27 12:00", 1.54),
        ("DGS3MO", "2019-08-26", "2019-08-27 23:00", 2.01),
        # made-up unemployment releases, one of them between the bars
        ("UNRATE", "2019-06-01", "2019-07-05 12:30", 3.6),
        ("UNRATE", "2019-07-01", "2019-08-02 12:30", 3.7),
        ("UNRATE", "2019-08-01", "2019-08-28 12:30", 3.5),
        ("UNRATE", "2019-09-01", "2019-10-04 12:30", 3.9),  # after the last bar
    ]
    macro = pd.DataFrame(
        {
            "series_id": [r[0] for r in rows],
            "period": pd.to_datetime([r[1] for r in rows]).date,
            "released_at": pd.to_datetime([r[2] for r in rows], utc=True),
            "value": [r[3] for r in rows],
            "source": "test",
        }
    )
    frame = build_panel(bars, daily_v1_rates_only(), macro=macro).frame

    np.testing.assert_allclose(frame["yield_10y"], [1.52, 1.54, 1.54, 1.54])
    # Each leg is its latest value known at the bar: on Tuesday the new 10y and the old 3m.
    np.testing.assert_allclose(
        frame[NEW_SPREAD], [1.52 - 1.97, 1.54 - 1.97, 1.54 - 2.01, 1.54 - 2.01]
    )
    np.testing.assert_allclose(
        frame["unemployment_change"], [0.1, 0.1, -0.2, -0.2], rtol=0, atol=1e-12
    )


def test_missing_treasury_and_unemployment_series_are_nan_with_a_warning() -> None:
    first = pd.Timestamp("2019-08-26")
    cal = get_trading_calendar("XNYS", first, first + pd.Timedelta(days=10))
    ts = cal.session_closes(cal.sessions_between(first, first + pd.Timedelta(days=10))[:3])
    bars = pd.DataFrame(
        {
            "ticker": "AAA",
            "ts": ts,
            **dict.fromkeys(("open", "high", "low", "close"), 10.0),
            "volume": 1e6,
        }
    )
    panel = build_panel(bars, daily_v1_rates_only(), macro=None)
    assert panel.frame[[*NEW_MACRO, NEW_SPREAD]].isna().all().all()
    assert any(all(series in w for series in ("DGS10", "DGS3MO", "UNRATE")) for w in panel.warnings)
