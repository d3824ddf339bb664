"""The point-in-time panel: market context, macro as of release, sentiment, calendar, ranks,
and the invariant that perturbing anything after t never changes a value at t."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockpred.domain.calendar import get_trading_calendar
from stockpred.features.panel import build_panel, panel_to_long
from stockpred.features.sets import (
    ContextSpec,
    FeatureSet,
    IndicatorSpec,
    MacroFeature,
    MacroSpread,
    get_feature_set,
)

INDEX = "^GSPC"


def session_closes(start: str, n: int) -> pd.DatetimeIndex:
    """The UTC closes of ``n`` consecutive XNYS sessions from ``start``."""
    first = pd.Timestamp(start)
    cal = get_trading_calendar("XNYS", first, first + pd.Timedelta(days=2 * n + 30))
    sessions = cal.sessions_between(first, first + pd.Timedelta(days=2 * n + 30))[:n]
    return cal.session_closes(sessions)


def bars_from_closes(ticker: str, ts: pd.DatetimeIndex, close: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ticker,
            "ts": ts,
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": 1_000_000.0,
        }
    )


def small_set(context: ContextSpec) -> FeatureSet:
    return FeatureSet(
        name="test", version="1", indicators=(IndicatorSpec("sma", {"period": 5}),), context=context
    )


def macro_rows(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": [r[0] for r in rows],
            "period": pd.to_datetime([r[1] for r in rows]).date,
            "released_at": pd.to_datetime([r[2] for r in rows], utc=True, format="ISO8601"),
            "value": [r[3] for r in rows],
            "source": "test",
        }
    )


# -- market context --------------------------------------------------------------------------


def test_beta_of_a_stock_moving_one_and_a_half_times_the_index_is_one_and_a_half() -> None:
    n = 120
    ts = session_closes("2015-01-02", n)
    rng = np.random.default_rng(7)
    index_returns = rng.normal(0, 0.01, n)
    index_returns[0] = 0.0
    index_close = 100 * np.exp(np.cumsum(index_returns))
    stock_close = 50 * np.exp(np.cumsum(1.5 * index_returns))
    bars = pd.concat(
        [bars_from_closes(INDEX, ts, index_close), bars_from_closes("AAA", ts, stock_close)]
    )
    ctx = ContextSpec(
        index_ticker=INDEX,
        beta_window=60,
        index_volatility_window=20,
        sentiment_scorer=None,
        calendar=None,
    )
    panel = build_panel(bars, small_set(ctx)).frame
    stock = panel[panel["ticker"] == "AAA"].reset_index(drop=True)
    assert stock["beta_60"].iloc[:60].isna().all()  # 60 returns need 61 bars
    np.testing.assert_allclose(stock["beta_60"].iloc[60:], 1.5, rtol=1e-9)
    np.testing.assert_allclose(stock["mkt_return"].iloc[1:], index_returns[1:], rtol=1e-9)
    expected_vol = pd.Series(index_returns).where(lambda s: s.index > 0).rolling(
        20
    ).std() * np.sqrt(252)
    np.testing.assert_allclose(stock["mkt_vol_20"], expected_vol, rtol=1e-9, equal_nan=True)


def test_beta_compares_returns_over_the_same_interval_when_the_stock_skips_a_day() -> None:
    n = 100
    ts = session_closes("2015-01-02", n)
    rng = np.random.default_rng(3)
    index_returns = np.r_[0.0, rng.normal(0, 0.01, n - 1)]
    index_close = 100 * np.exp(np.cumsum(index_returns))
    stock_close = 50 * np.exp(np.cumsum(2.0 * index_returns))
    stock = bars_from_closes("AAA", ts, stock_close).drop(index=[30])  # a missing bar
    bars = pd.concat([bars_from_closes(INDEX, ts, index_close), stock])
    ctx = ContextSpec(index_ticker=INDEX, beta_window=40, sentiment_scorer=None, calendar=None)
    frame = build_panel(bars, small_set(ctx)).frame
    beta = frame.loc[frame["ticker"] == "AAA", "beta_40"].dropna()
    assert len(beta) > 0
    np.testing.assert_allclose(beta, 2.0, rtol=1e-9)


def test_missing_index_gives_nan_market_columns_and_a_warning() -> None:
    ts = session_closes("2015-01-02", 30)
    bars = bars_from_closes("AAA", ts, np.linspace(10, 20, 30))
    ctx = ContextSpec(index_ticker=INDEX, sentiment_scorer=None, calendar=None)
    panel = build_panel(bars, small_set(ctx))
    assert panel.frame[["mkt_return", "mkt_vol_20", "beta_60"]].isna().all().all()
    assert any(INDEX in w for w in panel.warnings)


def test_prices_are_adjusted_so_a_split_is_not_a_return() -> None:
    ts = session_closes("2015-01-02", 10)
    close = np.array([100.0] * 5 + [50.0] * 5)  # a 2:1 split on day 5, unadjusted
    bars = bars_from_closes("AAA", ts, close)
    bars["adj_close"] = 50.0
    fs = FeatureSet(
        name="t",
        version="1",
        indicators=(IndicatorSpec("log_return", {"period": 1}),),
        context=ContextSpec(index_ticker=None, sentiment_scorer=None, calendar=None),
    )
    frame = build_panel(bars, fs).frame
    np.testing.assert_allclose(frame[fs.indicator_outputs[0]].iloc[1:], 0.0, atol=1e-12)


# -- macro and sentiment as of release ---------------------------------------------------------


def test_macro_is_joined_by_release_time_not_reference_period() -> None:
    ts = session_closes("2018-03-01", 40)
    bars = bars_from_closes("AAA", ts, np.linspace(10, 20, 40))
    t = ts[20]
    macro = macro_rows(
        [
            # period long before t, released well before t: visible
            ("CPILFESL", "2017-12-01", "2018-01-12 13:30", 250.0),
            # period before t, but released one hour after the close at t: NOT visible at t
            ("CPILFESL", "2018-01-01", str(t.tz_convert(None) + pd.Timedelta(hours=1)), 999.0),
        ]
    )
    ctx = ContextSpec(
        index_ticker=None,
        sentiment_scorer=None,
        calendar=None,
        macro=(MacroFeature("cpi", "CPILFESL"),),
    )
    frame = build_panel(bars, small_set(ctx), macro=macro).frame.set_index("ts")
    assert frame.loc[t, "cpi"] == 250.0
    assert frame.loc[ts[21], "cpi"] == 999.0
    assert (frame.loc[:t, "cpi"] == 250.0).all()


def test_macro_release_at_the_close_is_visible_at_that_bar() -> None:
    ts = session_closes("2018-03-01", 5)
    bars = bars_from_closes("AAA", ts, np.linspace(10, 20, 5))
    macro = macro_rows([("VIXCLS", "2018-03-02", str(ts[1].tz_convert(None)), 20.0)])
    ctx = ContextSpec(
        index_ticker=None,
        sentiment_scorer=None,
        calendar=None,
        macro=(MacroFeature("vix", "VIXCLS"),),
    )
    frame = build_panel(bars, small_set(ctx), macro=macro).frame
    assert frame["vix"].isna().tolist() == [True, False, False, False, False]


def test_macro_changes_and_spreads_by_hand() -> None:
    ts = session_closes("2018-06-01", 5)
    bars = bars_from_closes("AAA", ts, np.linspace(10, 20, 5))
    macro = macro_rows(
        [
            (("CPILFESL", f"2017-{m:02d}-01", f"2017-{m:02d}-20 12:30", 100.0 + m))
            for m in range(1, 13)
        ]
        + [("CPILFESL", "2018-01-01", "2018-02-14 13:30", 120.0)]
        + [
            ("AAA", "2018-05-01", "2018-05-02 21:00", 3.9),
            ("BAA", "2018-05-01", "2018-05-02 21:00", 4.8),
        ]
        # a revision of an old period does not change the latest level
        + [("CPILFESL", "2017-06-01", "2018-05-30 12:30", 50.0)]
    )
    ctx = ContextSpec(
        index_ticker=None,
        sentiment_scorer=None,
        calendar=None,
        macro=(
            MacroFeature("cpi", "CPILFESL"),
            MacroFeature("cpi_yoy", "CPILFESL", "pct_change", 12),
            MacroFeature("cpi_mom", "CPILFESL", "change", 1),
        ),
        spreads=(MacroSpread("credit_spread", "BAA", "AAA"),),
    )
    frame = build_panel(bars, small_set(ctx), macro=macro).frame
    assert (frame["cpi"] == 120.0).all()
    np.testing.assert_allclose(frame["cpi_yoy"], 120.0 / 101.0 - 1.0)
    np.testing.assert_allclose(frame["cpi_mom"], 120.0 - 112.0)
    np.testing.assert_allclose(frame["credit_spread"], 0.9)


def test_missing_macro_series_are_nan_with_a_warning() -> None:
    ts = session_closes("2018-06-01", 5)
    bars = bars_from_closes("AAA", ts, np.linspace(10, 20, 5))
    ctx = ContextSpec(
        index_ticker=None,
        sentiment_scorer=None,
        calendar=None,
        macro=(MacroFeature("vix", "VIXCLS"),),
        spreads=(MacroSpread("credit_spread", "BAA", "AAA"),),
    )
    panel = build_panel(bars, small_set(ctx), macro=None)
    assert panel.frame[["vix", "credit_spread"]].isna().all().all()
    assert any("VIXCLS" in w and "BAA" in w for w in panel.warnings)


def test_sentiment_is_joined_by_release_time_and_goes_stale() -> None:
    ts = session_closes("2018-06-04", 10)  # Monday 4 June onwards
    bars = bars_from_closes("AAA", ts, np.linspace(10, 20, 10))
    daily = pd.DataFrame(
        {
            "ticker": ["AAA", "AAA"],
            "day": pd.to_datetime(["2018-06-04", "2018-06-05"], utc=True),
            "scorer": "loughran_mcdonald",
            "mean": [0.5, -0.5],
            "count": [3, 2],
            "share_positive": [1.0, 0.0],
            "share_negative": [0.0, 1.0],
            # the first day's last item came after that day's close
            "released_at": pd.to_datetime(["2018-06-04 22:00", "2018-06-05 19:00"], utc=True),
        }
    )
    ctx = ContextSpec(index_ticker=None, calendar=None, sentiment_max_age_days=3)
    frame = build_panel(bars, small_set(ctx), sentiment=daily).frame
    assert np.isnan(frame["sentiment_mean"].iloc[0])
    assert frame["sentiment_mean"].iloc[1] == -0.5
    assert frame["sentiment_count"].iloc[1] == 2
    assert frame["sentiment_mean"].iloc[2:4].tolist() == [-0.5, -0.5]
    assert frame["sentiment_mean"].iloc[5:].isna().all()  # older than three days


# -- calendar and ranks -------------------------------------------------------------------------


def test_calendar_features_count_weekends_and_holidays() -> None:
    # 2017-12-29 (Fri), 2018-01-02 (Tue, after the New Year holiday), 2018-01-03 (Wed)
    ts = session_closes("2017-12-28", 4)
    bars = bars_from_closes("AAA", ts, np.linspace(10, 20, 4)).drop(index=[2])  # skip 2 Jan
    ctx = ContextSpec(index_ticker=None, sentiment_scorer=None, calendar="XNYS")
    frame = build_panel(bars, small_set(ctx)).frame
    assert frame["day_of_week"].tolist() == [3.0, 4.0, 2.0]
    assert frame["days_since_last_session"].tolist() == [1.0, 1.0, 1.0]
    assert frame["days_to_month_end"].tolist() == [3.0, 2.0, 28.0]
    assert frame["sessions_to_month_end"].tolist() == [1.0, 0.0, 19.0]
    assert frame["sessions_since_last_bar"].iloc[1:].tolist() == [1.0, 2.0]
    ts2 = session_closes("2018-01-02", 1)
    one = build_panel(bars_from_closes("AAA", ts2, np.array([10.0])), small_set(ctx)).frame
    assert one["days_since_last_session"].tolist() == [4.0]  # Fri 29 Dec -> Tue 2 Jan


def test_ranks_are_per_date_across_the_universe_without_indices() -> None:
    ts = session_closes("2018-01-02", 8)
    bars = pd.concat(
        [
            bars_from_closes("AAA", ts, np.full(8, 10.0)),
            bars_from_closes("BBB", ts, np.full(8, 30.0)),
            bars_from_closes("CCC", ts, np.full(8, 20.0)),
            bars_from_closes(INDEX, ts, np.full(8, 99.0)),
        ]
    )
    ctx = ContextSpec(index_ticker=None, sentiment_scorer=None, calendar=None, ranks=("sma_5",))
    fs = small_set(ctx)
    assert "sma_5" in fs.outputs, fs.outputs
    frame = build_panel(bars, fs).frame
    last = frame[frame["ts"] == ts[-1]].set_index("ticker")["rank_sma_5"]
    assert last["AAA"] == pytest.approx(1 / 3)
    assert last["CCC"] == pytest.approx(2 / 3)
    assert last["BBB"] == pytest.approx(1.0)
    assert np.isnan(last[INDEX])


def test_panel_to_long_keeps_every_value_and_nans() -> None:
    ts = session_closes("2018-01-02", 6)
    ctx = ContextSpec(index_ticker=None, sentiment_scorer=None, calendar=None)
    frame = build_panel(bars_from_closes("AAA", ts, np.arange(1.0, 7.0)), small_set(ctx)).frame
    long = panel_to_long(frame, "test@1")
    assert list(long.columns) == ["ticker", "ts", "feature_set", "name", "value"]
    assert len(long) == 6 * (len(frame.columns) - 2)
    sma = long[long["name"] == "sma_5"]["value"]
    assert sma.isna().sum() == 4
    assert sma.iloc[-1] == pytest.approx(4.0)


# -- point in time, over generated data ----------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(min_value=70, max_value=160))
    tickers = draw(st.integers(min_value=1, max_value=3))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    cut = draw(st.integers(min_value=1, max_value=n - 2))
    return {"n": n, "tickers": tickers, "seed": seed, "cut": cut}


def generated(n: int, tickers: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ts = session_closes("2016-01-04", n)
    frames = []
    for name in [INDEX, *[f"T{i}" for i in range(tickers)]]:
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        high = close * (1 + rng.uniform(0, 0.02, n))
        low = close * (1 - rng.uniform(0, 0.02, n))
        frame = pd.DataFrame(
            {
                "ticker": name,
                "ts": ts,
                "open": np.clip(close * (1 + rng.normal(0, 0.005, n)), low, high),
                "high": high,
                "low": low,
                "close": close,
                "adj_close": close * rng.choice([1.0, 0.5], n),
                "volume": rng.integers(1_000, 1_000_000, n).astype(float),
            }
        )
        keep = rng.uniform(size=n) > 0.05  # a few missing bars
        frames.append(frame[keep])
    bars = pd.concat(frames, ignore_index=True)
    rows = []
    days = pd.date_range("2015-01-01", ts[-1].tz_convert(None), freq="D")
    for series in ("VIXCLS", "AAA", "BAA"):
        for day in days[:: rng.integers(1, 4)]:
            lag = pd.Timedelta(hours=float(rng.uniform(0, 60)))
            rows.append((series, day.date(), day + pd.Timedelta(hours=21) + lag, rng.normal(5, 2)))
    for month in pd.date_range("2014-01-01", ts[-1].tz_convert(None), freq="MS"):
        lag = pd.Timedelta(days=float(rng.uniform(10, 45)))
        rows.append(("CPILFESL", month.date(), month + lag, 200 + rng.normal(0, 5)))
    macro = pd.DataFrame(rows, columns=["series_id", "period", "released_at", "value"])
    macro["released_at"] = pd.to_datetime(macro["released_at"]).dt.tz_localize("UTC")
    senti = []
    for name in [f"T{i}" for i in range(tickers)]:
        for day in pd.date_range(ts[0].tz_convert(None), ts[-1].tz_convert(None), freq="D"):
            if rng.uniform() < 0.6:
                senti.append(
                    (
                        name,
                        day,
                        "loughran_mcdonald",
                        rng.uniform(-1, 1),
                        int(rng.integers(1, 9)),
                        rng.uniform(),
                        rng.uniform(),
                        day + pd.Timedelta(hours=float(rng.uniform(1, 30))),
                    )
                )
    sentiment = pd.DataFrame(
        senti,
        columns=[
            "ticker",
            "day",
            "scorer",
            "mean",
            "count",
            "share_positive",
            "share_negative",
            "released_at",
        ],
    )
    sentiment["released_at"] = pd.to_datetime(sentiment["released_at"]).dt.tz_localize("UTC")
    return bars, macro, sentiment


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_perturbing_any_input_after_t_leaves_every_value_at_t_unchanged(
    case: dict[str, int],
) -> None:
    fs = get_feature_set("daily_v1")
    bars, macro, sentiment = generated(case["n"], case["tickers"], case["seed"])
    t = pd.Timestamp(sorted(bars["ts"].unique())[case["cut"]])
    rng = np.random.default_rng(case["seed"] + 1)

    later = bars["ts"] > t
    changed = bars.copy()
    factor = rng.uniform(0.5, 2.0, int(later.sum()))
    for column in ("open", "high", "low", "close", "adj_close"):
        changed.loc[later, column] = changed.loc[later, column] * factor
    changed.loc[later, "volume"] = changed.loc[later, "volume"] * rng.uniform(
        0, 3, int(later.sum())
    )
    # a new ticker appearing after t, and a bar dropped after t
    extra = changed[changed["ticker"] == INDEX].copy()
    extra = extra[extra["ts"] > t].assign(ticker="NEW")
    changed = pd.concat([changed, extra], ignore_index=True)
    dropped = changed.index[(changed["ts"] > t) & (rng.uniform(size=len(changed)) < 0.3)]
    changed = changed.drop(index=dropped)

    macro_later = macro["released_at"] > t
    changed_macro = macro.copy()
    changed_macro.loc[macro_later, "value"] = rng.normal(0, 100, int(macro_later.sum()))
    # a revision of an old period, released after t
    revision = pd.DataFrame(
        {
            "series_id": ["CPILFESL", "VIXCLS"],
            "period": [pd.Timestamp("2014-06-01").date()] * 2,
            "released_at": [t + pd.Timedelta(minutes=1)] * 2,
            "value": [-1e6, -1e6],
        }
    )
    changed_macro = pd.concat([changed_macro, revision], ignore_index=True)

    senti_later = sentiment["released_at"] > t
    changed_sentiment = sentiment.copy()
    changed_sentiment.loc[senti_later, "mean"] = rng.uniform(-1, 1, int(senti_later.sum()))
    changed_sentiment.loc[senti_later, "count"] = 99

    before = build_panel(bars, fs, macro=macro, sentiment=sentiment).frame
    after = build_panel(changed, fs, macro=changed_macro, sentiment=changed_sentiment).frame
    old = before[before["ts"] <= t].reset_index(drop=True)
    new = after[(after["ts"] <= t) & (after["ticker"] != "NEW")].reset_index(drop=True)
    pd.testing.assert_frame_equal(old[["ticker", "ts"]], new[["ticker", "ts"]])
    for column in fs.outputs:
        np.testing.assert_allclose(
            new[column].to_numpy(),
            old[column].to_numpy(),
            rtol=1e-12,
            atol=0,
            equal_nan=True,
            err_msg=column,
        )
