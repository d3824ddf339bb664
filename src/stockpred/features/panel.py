"""The point-in-time feature panel: one row per (ticker, ts), one column per feature.

Every value at (ticker, t) uses only what was known at t: bars up to the close at t, macro points
by their release time (``released_at``, never their reference period), sentiment aggregates by
their release time, and other tickers' values at t (cross-sectional ranks). Pure: frames in,
frames out, no clock; ``as_of`` cuts every input at a moment the caller passes in.

Prices are split- and dividend-adjusted with the bar's own ``adj_close / close`` factor (when
``adj_close`` is present), so returns do not jump at splits; the factor of a bar is part of that
bar, so adjusting never reads a later row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import FeatureError
from stockpred.features.sets import ContextSpec, FeatureSet

__all__ = ["Panel", "build_panel", "panel_to_long"]

_BAR_COLUMNS = ("ticker", "ts", "open", "high", "low", "close", "volume")
_SENTIMENT_COLUMNS = ("mean", "count", "share_positive", "share_negative")


@dataclass(frozen=True, slots=True)
class Panel:
    """``frame``: columns ticker, ts, then ``feature_set.outputs``; sorted by ticker and ts.
    ``warnings``: context that was missing (its columns are NaN)."""

    frame: pd.DataFrame
    warnings: tuple[str, ...] = ()


def build_panel(
    bars: pd.DataFrame,
    feature_set: FeatureSet,
    *,
    macro: pd.DataFrame | None = None,
    sentiment: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
    on_ticker: Callable[[str], None] | None = None,
) -> Panel:
    """Compute every feature of ``feature_set`` for every ticker of ``bars``.

    ``bars``: the bars contract (ticker, ts UTC, open, high, low, close, volume, optional
    adj_close), any order; the index ticker of the context must be among them for market
    features. ``macro``: series_id, period, released_at, value. ``sentiment``: ticker, day,
    mean, count, share_positive, share_negative, released_at (and optionally scorer).
    ``as_of``: ignore bars with ts, and macro or sentiment released, after it. ``on_ticker``
    is called with each ticker once its indicators are computed (progress).
    """
    missing = [c for c in _BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise FeatureError(
            f"bars lack column(s) {', '.join(missing)}; expected the bars contract "
            f"({', '.join(_BAR_COLUMNS)}, adj_close)"
        )
    warnings: list[str] = []
    prepared = _prepare_bars(bars, as_of=as_of)
    if as_of is not None:
        cut = _utc(as_of)
        macro = None if macro is None else macro[macro["released_at"] <= cut]
        sentiment = None if sentiment is None else sentiment[sentiment["released_at"] <= cut]
    outputs = feature_set.outputs
    if prepared.empty:
        return Panel(pd.DataFrame(columns=["ticker", "ts", *outputs]), ())

    pieces = []
    for ticker, group in prepared.groupby("ticker", sort=True):
        pieces.append(_indicators(group, feature_set))
        if on_ticker is not None:
            on_ticker(str(ticker))
    frame = pd.concat(pieces, ignore_index=True)
    ctx = feature_set.context
    if ctx.market_outputs:
        frame = _market(frame, prepared, ctx, warnings)
    if ctx.macro_outputs:
        frame = _macro(frame, macro, ctx, warnings)
    if ctx.sentiment_outputs:
        frame = _sentiment(frame, sentiment, ctx, warnings)
    if ctx.calendar_outputs:
        frame = _calendar(frame, ctx)
    for name in ctx.ranks:
        universe = ~frame["ticker"].str.startswith("^")
        ranks = frame.loc[universe].groupby("ts")[name].rank(pct=True)
        frame[f"rank_{name}"] = ranks.reindex(frame.index)
    frame = frame.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    result = frame.loc[:, ["ticker", "ts", *outputs]]
    return Panel(result, tuple(warnings))


def panel_to_long(frame: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    """The wide panel as the store's long ``features`` rows: ticker, ts, feature_set, name,
    value (NaN kept: a feature undefined at a date is stored as null)."""
    names = [c for c in frame.columns if c not in ("ticker", "ts")]
    n = len(frame)
    values = frame[names].to_numpy(dtype="float64")
    long = pd.DataFrame(
        {
            "ticker": np.repeat(frame["ticker"].to_numpy(), len(names)),
            "ts": np.repeat(pd.DatetimeIndex(frame["ts"]), len(names)),
            "feature_set": feature_set,
            "name": np.tile(np.asarray(names, dtype=object), n),
            "value": values.reshape(-1),
        }
    )
    return long


# -- per ticker -----------------------------------------------------------------------------


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise FeatureError(f"as_of {stamp} has no time zone; pass a UTC-aware timestamp")
    return stamp.tz_convert("UTC")


def _utc_column(values: pd.Series) -> pd.Series:
    """UTC timestamps in one resolution (ns), so as-of joins can compare any two inputs."""
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def _prepare_bars(bars: pd.DataFrame, *, as_of: pd.Timestamp | None) -> pd.DataFrame:
    frame = bars.loc[:, [c for c in (*_BAR_COLUMNS, "adj_close") if c in bars.columns]].copy()
    frame["ts"] = _utc_column(frame["ts"])
    if as_of is not None:
        frame = frame[frame["ts"] <= _utc(as_of)]
    frame = frame.sort_values(["ticker", "ts"], kind="stable").drop_duplicates(
        ["ticker", "ts"], keep="last"
    )
    prices = ["open", "high", "low", "close"]
    frame[[*prices, "volume"]] = frame[[*prices, "volume"]].astype("float64")
    if "adj_close" in frame.columns:
        factor = (frame["adj_close"].astype("float64") / frame["close"]).fillna(1.0)
        frame[prices] = frame[prices].mul(factor, axis=0)
        frame = frame.drop(columns=["adj_close"])
    return frame.reset_index(drop=True)


def _indicators(group: pd.DataFrame, feature_set: FeatureSet) -> pd.DataFrame:
    arrays: dict[str, np.ndarray] = {
        name: group[name].to_numpy(dtype="float64", copy=True)
        for name in ("open", "high", "low", "close", "volume")
    }
    columns: dict[str, np.ndarray] = {}
    for indicator in feature_set.built:
        inputs: Mapping[str, np.ndarray] = {k: arrays[k] for k in indicator.inputs}
        result = indicator.batch(inputs)
        for output in indicator.outputs:
            values = np.asarray(result[output], dtype="float64")
            if values.shape != (len(group),):
                raise FeatureError(
                    f"indicator {indicator.name} returned {values.shape} values for "
                    f"{output!r}, expected ({len(group)},)"
                )
            columns[output] = values
    out = pd.DataFrame(columns, index=group.index)
    out.insert(0, "ts", group["ts"])
    out.insert(0, "ticker", group["ticker"])
    out["_log_close"] = np.log(arrays["close"])
    return out.reset_index(drop=True)


# -- market context -------------------------------------------------------------------------


def _market(
    frame: pd.DataFrame, bars: pd.DataFrame, ctx: ContextSpec, warnings: list[str]
) -> pd.DataFrame:
    vol_name, beta_name = ctx.market_outputs[1], ctx.market_outputs[2]
    index = bars[bars["ticker"] == ctx.index_ticker]
    if index.empty:
        warnings.append(
            f"index {ctx.index_ticker} has no bars; {', '.join(ctx.market_outputs)} are NaN"
        )
        return frame.assign(**dict.fromkeys(ctx.market_outputs, np.nan))
    market = pd.DataFrame(
        {"ts": index["ts"].to_numpy(), "_index_log": np.log(index["close"].to_numpy())}
    )
    index_return = market["_index_log"].diff()
    market["mkt_return"] = index_return
    # Annualised like the ``volatility`` indicator: sample std of daily log returns x sqrt(252).
    market[vol_name] = index_return.rolling(
        ctx.index_volatility_window, min_periods=ctx.index_volatility_window
    ).std() * np.sqrt(252.0)
    frame = frame.merge(market, on="ts", how="left")
    # Returns over the same interval for both, so a gap in the stock's bars is not compared
    # with one day of the index.
    by_ticker = frame.groupby("ticker", sort=False)
    stock = by_ticker["_log_close"].diff()
    idx = by_ticker["_index_log"].diff()
    window = ctx.beta_window
    both = stock.notna() & idx.notna()
    s = stock.where(both)
    m = idx.where(both)
    keys = frame["ticker"]
    mean_s = s.groupby(keys).rolling(window, min_periods=window).mean().droplevel(0)
    mean_m = m.groupby(keys).rolling(window, min_periods=window).mean().droplevel(0)
    mean_sm = (s * m).groupby(keys).rolling(window, min_periods=window).mean().droplevel(0)
    mean_mm = (m * m).groupby(keys).rolling(window, min_periods=window).mean().droplevel(0)
    variance = mean_mm - mean_m**2
    beta = (mean_sm - mean_s * mean_m) / variance.where(variance > 0)
    frame[beta_name] = beta.sort_index()
    return frame.drop(columns=["_index_log"])


# -- macro, as of release --------------------------------------------------------------------


def _first_releases(macro: pd.DataFrame, series: str) -> pd.DataFrame:
    """The series as it became known: one row per new reference period, at its release time.

    A revision of a period already released is left out (values are as first released), so a
    row never depends on anything released after it.
    """
    rows = macro[macro["series_id"] == series].loc[:, ["period", "released_at", "value"]]
    rows = rows.assign(released_at=_utc_column(rows["released_at"]))
    rows = rows.assign(period=pd.to_datetime(rows["period"]))
    rows = rows.sort_values(["released_at", "period"], kind="stable")
    newest_before = rows["period"].cummax().shift(1)
    rows = rows[newest_before.isna() | (rows["period"] > newest_before)]
    return rows.reset_index(drop=True)


def _as_of(frame: pd.DataFrame, events: pd.DataFrame, column: str) -> pd.Series:
    """``events[column]`` of the latest event released at or before each row's ts."""
    left = frame.loc[:, ["ts"]].assign(_row=np.arange(len(frame))).sort_values("ts")
    right = events.loc[:, ["released_at", column]].sort_values("released_at")
    joined = pd.merge_asof(left, right, left_on="ts", right_on="released_at", direction="backward")
    return pd.Series(
        joined.sort_values("_row")[column].to_numpy(dtype="float64"), index=frame.index
    )


def _macro(
    frame: pd.DataFrame,
    macro: pd.DataFrame | None,
    ctx: ContextSpec,
    warnings: list[str],
) -> pd.DataFrame:
    held = set() if macro is None or macro.empty else set(macro["series_id"])
    cache: dict[str, pd.DataFrame] = {}

    def releases(series: str) -> pd.DataFrame | None:
        if series not in held or macro is None:
            return None
        if series not in cache:
            cache[series] = _first_releases(macro, series)
        return cache[series]

    absent: list[str] = []
    for feature in ctx.macro:
        events = releases(feature.series)
        if events is None:
            absent.append(feature.series)
            frame[feature.name] = np.nan
            continue
        value = events["value"]
        if feature.transform == "change":
            value = value - value.shift(feature.periods)
        elif feature.transform == "pct_change":
            value = value / value.shift(feature.periods) - 1.0
        frame[feature.name] = _as_of(frame, events.assign(_v=value), "_v")
    for spread in ctx.spreads:
        long, short = releases(spread.long), releases(spread.short)
        if long is None or short is None:
            absent.extend(s for s, e in ((spread.long, long), (spread.short, short)) if e is None)
            frame[spread.name] = np.nan
            continue
        frame[spread.name] = _as_of(frame, long, "value") - _as_of(frame, short, "value")
    if absent:
        names = ", ".join(sorted(set(absent)))
        warnings.append(f"macro series {names} not held; the features built on them are NaN")
    return frame


# -- sentiment, as of release ----------------------------------------------------------------


def _sentiment(
    frame: pd.DataFrame,
    sentiment: pd.DataFrame | None,
    ctx: ContextSpec,
    warnings: list[str],
) -> pd.DataFrame:
    names = ctx.sentiment_outputs
    daily = sentiment
    if daily is not None and "scorer" in daily.columns:
        daily = daily[daily["scorer"] == ctx.sentiment_scorer]
    if daily is None or daily.empty:
        warnings.append(
            f"no daily sentiment ({ctx.sentiment_scorer}) held; {', '.join(names)} are NaN"
        )
        return frame.assign(**dict.fromkeys(names, np.nan))
    right = daily.loc[:, ["ticker", "released_at", *_SENTIMENT_COLUMNS]].copy()
    right["released_at"] = _utc_column(right["released_at"])
    right[list(_SENTIMENT_COLUMNS)] = right[list(_SENTIMENT_COLUMNS)].astype("float64")
    right = right.rename(columns={c: f"sentiment_{c}" for c in _SENTIMENT_COLUMNS})
    left = frame.loc[:, ["ticker", "ts"]].assign(_row=np.arange(len(frame))).sort_values("ts")
    joined = pd.merge_asof(
        left,
        right.sort_values("released_at"),
        left_on="ts",
        right_on="released_at",
        by="ticker",
        direction="backward",
        tolerance=pd.Timedelta(days=ctx.sentiment_max_age_days),
    ).sort_values("_row")
    for name in names:
        frame[name] = joined[name].to_numpy(dtype="float64")
    return frame


# -- calendar --------------------------------------------------------------------------------


def _calendar(frame: pd.DataFrame, ctx: ContextSpec) -> pd.DataFrame:
    assert ctx.calendar is not None
    ts = pd.DatetimeIndex(frame["ts"])
    first = ts.min().tz_convert(None).normalize() - pd.Timedelta(days=15)
    last = ts.max().tz_convert(None).normalize() + pd.Timedelta(days=40)
    cal = get_trading_calendar(ctx.calendar, first, last)
    dates = cal.session_dates(frame["ts"])
    sessions = cal.sessions_between(first, last)
    position = sessions.searchsorted(dates, side="left")
    previous = sessions[np.clip(position - 1, 0, len(sessions) - 1)]
    month_end = dates + pd.offsets.MonthEnd(0)
    frame["day_of_week"] = dates.day_of_week.to_numpy(dtype="float64")
    frame["days_to_month_end"] = (month_end - dates).days.to_numpy(dtype="float64")
    remaining = sessions.searchsorted(month_end, side="right") - position
    # A bar on a session counts itself in ``remaining``; a bar off the calendar does not.
    on_session = sessions[np.clip(position, 0, len(sessions) - 1)] == dates
    frame["sessions_to_month_end"] = (remaining - on_session.astype(int)).astype("float64")
    frame["days_since_last_session"] = (dates - previous).days.to_numpy(dtype="float64")
    bar_position = pd.Series(position, index=frame.index, dtype="float64")
    frame["sessions_since_last_bar"] = bar_position.groupby(frame["ticker"]).diff()
    return frame
