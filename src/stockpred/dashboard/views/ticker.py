"""Ticker: one ticker's price with the forecasts made for it as price targets (and what
happened), its latest forecast and what drove it, its indicators and its news."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from stockpred.dashboard.charts import contributions_chart, forecast_targets, price_chart
from stockpred.dashboard.client import ApiClient
from stockpred.dashboard.context import current
from stockpred.dashboard.present import (
    attempt,
    choose_horizon,
    format_percent,
    format_price,
    format_time,
    in_percent,
    percent_column,
)
from stockpred.dashboard.records import Forecast

__all__ = ["render"]

_BARS = 500
# Chart windows, in sessions.
_WINDOWS = {"3M": 63, "6M": 126, "1Y": 252, "2Y": 504}
# Indicators shown by default when the feature set has them (else its first few columns).
_DEFAULT_INDICATORS = ("rsi_14", "macd_hist_12_26_9", "atr_14", "close_to_sma_20")


def _headline(forecast: Forecast) -> None:
    columns = st.columns(5)
    columns[0].metric("Last close", format_price(forecast.last_close))
    columns[1].metric(
        f"Target in {forecast.horizon} sessions",
        format_price(forecast.price),
        delta=format_percent(forecast.log_return),
    )
    coverage = "" if forecast.coverage is None else f" {forecast.coverage:.0%}"
    columns[2].metric(f"Interval{coverage} low", format_price(forecast.price_low))
    columns[3].metric(f"Interval{coverage} high", format_price(forecast.price_high))
    columns[4].metric("P(up)", format_percent(forecast.direction_prob, digits=0, signed=False))
    model = f"{forecast.model_kind} v{forecast.model_version}"
    if forecast.family == "baseline":
        model += " (a baseline: no model beat it)"
    freshness = f"stale: {forecast.sessions_behind} sessions behind" if forecast.stale else "fresh"
    kind = "provisional nowcast of a session still open" if forecast.provisional else "forecast"
    st.caption(
        f"Model {model} · {kind} from features as of "
        f"{forecast.as_of.strftime('%Y-%m-%d %H:%M')} UTC ({freshness})"
    )


def _price_section(api: ApiClient, ticker: str, horizon: int) -> None:
    st.subheader("Price and forecast targets")
    window = st.radio(
        "Window",
        list(_WINDOWS),
        index=1,
        horizontal=True,
        key="ticker_window",
        label_visibility="collapsed",
    )
    bars = attempt(lambda: api.bars(ticker, limit=_WINDOWS[window or "6M"]), what="bars")
    if bars is None or bars.empty:
        st.info(f"No bars stored for {ticker}.")
        return
    history = attempt(lambda: api.history(ticker, horizon=horizon, limit=_BARS), what="history")
    targets = forecast_targets(
        bars, history if history is not None else pd.DataFrame(), horizon=horizon
    )
    targets = targets[targets["date"] >= bars["ts"].min()]
    st.altair_chart(price_chart(bars, targets), width="stretch")
    matured = targets[targets["inside"] != "pending"]
    if targets.empty:
        st.caption(f"No stored {horizon}-session forecasts for {ticker} yet.")
        return
    hits = int((matured["inside"] == "inside").sum())
    rate = f"{hits / len(matured):.0%}" if len(matured) else "-"
    st.caption(
        f"{len(targets)} stored forecasts, each drawn at the session it is for: orange dot "
        f"the price target, orange bar its interval; {len(matured)} matured, the realised "
        f"close (diamond) inside the interval {rate} of the time."
    )
    if history is not None and not history.empty:
        recent = history.sort_values("as_of", ascending=False).head(12).copy()
        recent["hit"] = ((recent["realised"] > 0) == (recent["log_return"] > 0)).where(
            recent["realised"].notna()
        )
        percents = ["log_return", "lower", "upper", "direction_prob", "realised"]
        st.dataframe(
            in_percent(recent, percents).loc[
                :,
                [
                    "as_of",
                    "log_return",
                    "lower",
                    "upper",
                    "direction_prob",
                    "realised",
                    "hit",
                    "model_version",
                ],
            ],
            hide_index=True,
            height=35 * (len(recent) + 1) + 3,
            column_config={
                "as_of": st.column_config.DatetimeColumn("as of", format="YYYY-MM-DD"),
                "log_return": percent_column("forecast"),
                "lower": percent_column("lower"),
                "upper": percent_column("upper"),
                "direction_prob": percent_column("P(up)", signed=False),
                "realised": percent_column("realised"),
                "hit": st.column_config.CheckboxColumn("direction right"),
                "model_version": "version",
            },
        )


def _drivers_section(forecast: Forecast | None) -> None:
    st.subheader("What drove the latest forecast")
    if forecast is None or not forecast.contributions:
        st.info("The latest forecast carries no contributions.")
        return
    st.altair_chart(contributions_chart(forecast.contributions), width="stretch")


def _news_section(api: ApiClient, ticker: str) -> None:
    st.subheader("News")
    news = attempt(lambda: api.news(ticker, limit=15), what="news")
    if news is None:
        return
    if news.empty:
        st.info(f"No headlines stored for {ticker}.")
        return
    st.dataframe(
        news.loc[:, ["published_at", "sentiment", "title", "source", "url"]],
        hide_index=True,
        column_config={
            "published_at": st.column_config.DatetimeColumn("published", format="YYYY-MM-DD HH:mm"),
            "sentiment": st.column_config.ProgressColumn(
                "sentiment", min_value=-1.0, max_value=1.0, format="%+.2f"
            ),
            "title": st.column_config.TextColumn("headline", width="large"),
            "url": st.column_config.LinkColumn("link", display_text="open"),
        },
    )


def _indicators_section(api: ApiClient, ticker: str) -> None:
    st.subheader("Indicators")
    features = attempt(lambda: api.features(ticker, limit=250), what="indicators")
    if features is None or features.empty:
        st.info(f"No stored features for {ticker}.")
        return
    names = [
        c for c in features.columns if c != "ts" and pd.api.types.is_numeric_dtype(features[c])
    ]
    default = [n for n in _DEFAULT_INDICATORS if n in names] or names[:3]
    chosen = st.multiselect(
        "Indicators to plot (each on its own scale)",
        names,
        default=default,
        max_selections=6,
        key="ticker_indicators",
    )
    series = features.set_index("ts")
    columns = st.columns(2)
    for position, name in enumerate(chosen):
        with columns[position % 2]:
            st.markdown(f"**{name}**")
            st.line_chart(series[[name]], height=180)
    latest = features.iloc[-1]
    table = pd.DataFrame({"indicator": names, "latest": [float(latest[n]) for n in names]})
    st.caption(f"Latest values ({format_time(latest['ts'].to_pydatetime())}):")
    st.dataframe(
        table,
        hide_index=True,
        height=min(420, 36 * (len(table) + 1)),
        column_config={"latest": st.column_config.NumberColumn(format="%.4f")},
    )


def render() -> None:
    st.title("Ticker")
    dashboard = current()
    if dashboard is None:
        return
    api = dashboard.api
    tickers = attempt(api.served_tickers, what="tickers")
    if not tickers:
        if tickers is not None:
            st.warning("The API serves no ticker yet: train a model (`stockpred train`).")
        return
    left, right, _ = st.columns([2, 1, 3])
    ticker = left.selectbox("Ticker", tickers, key="ticker")
    horizon = choose_horizon(api, into=right, key="ticker_horizon")
    assert ticker is not None
    forecast = attempt(lambda: api.forecast(ticker, horizon=horizon), what="forecast")
    if forecast is not None:
        _headline(forecast)
    _price_section(api, ticker, horizon)
    drivers, news = st.columns([2, 3])
    with drivers:
        _drivers_section(forecast)
    with news:
        _news_section(api, ticker)
    _indicators_section(api, ticker)


if __name__ == "__main__":
    render()
