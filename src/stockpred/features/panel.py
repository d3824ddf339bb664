"""The point-in-time feature panel: one row per (ticker, ts), one column per feature.

Every value at (ticker, t) uses only what was known at t: bars up to the close at t, macro points
by their release time (``released_at``, never their reference period), sentiment aggregates by
their release time, and other tickers' values at t (cross-sectional ranks). Pure: frames in,
frames out, no clock; ``as_of`` cuts every input at a moment the caller passes in.

Prices are split- and dividend-adjusted with the bar's own ``adj_close / close`` factor (when
``adj_close`` is present), so returns do not jump at splits; the factor of a bar is part of that
bar, so adjusting never reads a later row. A bar without ``adj_close`` (a source that has none,
after bars from one that has) takes the ticker's last known factor, which is what it would be
if nothing happened since: taking 1 instead would make the seam between sources a false return.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import FeatureError
from stockpred.features.kernels.regression import compute_rolling_beta, last_rolling_betas
from stockpred.features.sets import ContextSpec, FeatureSet

__all__ = [
    "DateContext",
    "Panel",
    "add_ranks",
    "build_panel",
    "context_outputs",
    "date_context",
    "last_context_rows",
    "panel_to_long",
    "prepare_bars",
    "sentiment_rows",
    "ticker_context",
    "ticker_features",
    "ticker_outputs",
]

_BAR_COLUMNS = ("ticker", "ts", "open", "high", "low", "close", "volume")
_SENTIMENT_COLUMNS = ("mean", "count", "share_positive", "share_negative")


@dataclass(frozen=True, slots=True)
class Panel:
    """``frame``: columns ticker, ts, then ``feature_set.outputs``; sorted by ticker and ts.
    ``warnings``: context that was missing (its columns are NaN)."""

    frame: pd.DataFrame
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DateContext:
    """What every ticker of a build shares, per date: computed once, then looked up by each
    ticker's timestamps. This is what an engine broadcasts to the workers that compute tickers.

    ``ts``: the sorted distinct bar closes of the build (ns since the epoch). ``columns``:
    per-date features (index return and volatility, macro values as of release, calendar
    parts) aligned with ``ts``. ``index_log``: the index's log close at each date (NaN where
    it has no bar), for betas. ``session``: each date's position in the exchange calendar,
    for ``sessions_since_last_bar``.
    """

    ts: np.ndarray
    columns: Mapping[str, np.ndarray]
    index_log: np.ndarray | None
    session: np.ndarray | None
    warnings: tuple[str, ...]


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

    The work is split the way a distributed engine splits it: :func:`date_context` once,
    :func:`ticker_features` per ticker, :func:`add_ranks` per date.
    """
    prepared = prepare_bars(bars, as_of=as_of)
    if as_of is not None:
        cut = _utc(as_of)
        sentiment = None if sentiment is None else sentiment[sentiment["released_at"] <= cut]
    outputs = feature_set.outputs
    if prepared.empty:
        return Panel(pd.DataFrame(columns=["ticker", "ts", *outputs]), ())
    index = feature_set.context.index_ticker
    context = date_context(
        _nanos(prepared["ts"]),
        feature_set,
        index_bars=prepared[prepared["ticker"] == index] if index is not None else None,
        macro=macro,
        as_of=as_of,
    )
    daily, sentiment_warning = sentiment_rows(sentiment, feature_set.context)
    per_ticker = ticker_outputs(feature_set)
    # Column-major: the frame below takes it without a copy, and each output is contiguous.
    values = np.empty((len(per_ticker), len(prepared)), dtype=np.float64).T
    tickers = prepared["ticker"].to_numpy()
    stamps = _nanos(prepared["ts"])
    arrays = {name: prepared[name].to_numpy(dtype="float64") for name in _PRICE_COLUMNS}
    # prepared is sorted by ticker: each ticker is one slice.
    starts = np.flatnonzero(np.r_[True, tickers[1:] != tickers[:-1]])
    ends = np.r_[starts[1:], len(tickers)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        ticker = str(tickers[a])
        ticker_features(
            stamps[a:b],
            {name: column[a:b] for name, column in arrays.items()},
            feature_set,
            context,
            sentiment=None if daily is None else daily.get(ticker),
            out=values[a:b],
        )
        if on_ticker is not None:
            on_ticker(ticker)
    frame = pd.DataFrame(values, columns=list(per_ticker), copy=False)
    frame.insert(0, "ts", prepared["ts"].array)
    frame.insert(0, "ticker", prepared["ticker"].array)
    frame = add_ranks(frame, feature_set.context.ranks)
    warnings = [*context.warnings, *([sentiment_warning] if sentiment_warning else [])]
    if list(frame.columns) != ["ticker", "ts", *outputs]:
        frame = frame.loc[:, ["ticker", "ts", *outputs]]
    return Panel(frame, tuple(warnings))


def ticker_outputs(feature_set: FeatureSet) -> tuple[str, ...]:
    """The outputs :func:`ticker_features` computes (every output but the ranks), in order."""
    ranks = len(feature_set.context.ranks)
    outputs = feature_set.outputs
    return outputs[: len(outputs) - ranks] if ranks else outputs


def panel_to_long(frame: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    """The wide panel as long rows: ticker, ts, feature_set, name, value (NaN kept), for
    tools that want one row per value."""
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


# -- inputs ---------------------------------------------------------------------------------

_PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        raise FeatureError(f"as_of {stamp} has no time zone; pass a UTC-aware timestamp")
    return stamp.tz_convert("UTC")


def _nanos(values: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds since the epoch, without a per-value conversion."""
    return pd.DatetimeIndex(values).as_unit("ns").asi8


def _utc_column(values: pd.Series) -> pd.Series:
    """UTC timestamps in one resolution (ns), so as-of joins can compare any two inputs."""
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def prepare_bars(bars: pd.DataFrame, *, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Bars ready for the indicators: contract columns checked, UTC ns timestamps, cut at
    ``as_of``, sorted by ticker and ts without repeats, prices adjusted by each bar's own
    ``adj_close / close`` factor (which never reads a later row)."""
    missing = [c for c in _BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise FeatureError(
            f"bars lack column(s) {', '.join(missing)}; expected the bars contract "
            f"({', '.join(_BAR_COLUMNS)}, adj_close)"
        )
    frame = bars.loc[:, [c for c in (*_BAR_COLUMNS, "adj_close") if c in bars.columns]].copy()
    frame["ts"] = _utc_column(frame["ts"])
    if as_of is not None:
        frame = frame[frame["ts"] <= _utc(as_of)]
    ordered = frame["ticker"].is_monotonic_increasing and bool(
        (frame.groupby("ticker", sort=False)["ts"].diff().dropna() > pd.Timedelta(0)).all()
    )
    if not ordered:
        frame = frame.sort_values(["ticker", "ts"], kind="stable").drop_duplicates(
            ["ticker", "ts"], keep="last"
        )
    prices = ["open", "high", "low", "close"]
    frame[[*prices, "volume"]] = frame[[*prices, "volume"]].astype("float64")
    if "adj_close" in frame.columns:
        factor = price_factor(frame["ticker"], frame["close"], frame["adj_close"])
        frame[prices] = frame[prices].mul(factor, axis=0)
        frame = frame.drop(columns=["adj_close"])
    return frame.reset_index(drop=True)


def price_factor(ticker: pd.Series, close: pd.Series, adj_close: pd.Series) -> pd.Series:
    """Each bar's adjustment factor ``adj_close / close``; a bar without one takes its ticker's
    last known factor (earlier rows only: point in time), and 1 before any. Rows must be sorted
    by ticker and ts."""
    factor = adj_close.astype("float64") / close.astype("float64")
    factor = factor.where(np.isfinite(factor))
    return factor.groupby(ticker.to_numpy(), sort=False).ffill().fillna(1.0)


# -- per ticker -----------------------------------------------------------------------------


def ticker_features(
    ts: np.ndarray,
    arrays: Mapping[str, np.ndarray],
    feature_set: FeatureSet,
    context: DateContext,
    *,
    sentiment: pd.DataFrame | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Every output of :func:`ticker_outputs` for one ticker, shape (bars, outputs), written
    into ``out`` when given (best column-major, so each output is contiguous).

    ``ts``: the ticker's bar closes (ns since the epoch, increasing), all among
    ``context.ts``; ``arrays``: its prepared open, high, low, close, volume; ``sentiment``:
    its daily aggregates (released_at ns, mean, count, share_positive, share_negative).
    """
    n = len(ts)
    names = ticker_outputs(feature_set)
    if out is None:
        out = np.empty((len(names), n), dtype=np.float64).T
    elif out.shape != (n, len(names)):
        raise FeatureError(f"out has shape {out.shape}, expected ({n}, {len(names)})")
    col = 0
    for indicator in feature_set.built:
        inputs = {k: arrays[k] for k in indicator.inputs}
        result = indicator.batch(inputs)
        for output in indicator.outputs:
            values = np.asarray(result[output], dtype="float64")
            if values.shape != (n,):
                raise FeatureError(
                    f"indicator {indicator.name} returned {values.shape} values for "
                    f"{output!r}, expected ({n},)"
                )
            out[:, col] = values
            col += 1
    ticker_context(ts, arrays["close"], feature_set, context, sentiment=sentiment, out=out[:, col:])
    return out


def context_outputs(feature_set: FeatureSet) -> tuple[str, ...]:
    """The outputs :func:`ticker_context` computes: the per-ticker ones after the indicators'
    (market, macro, sentiment, calendar), in order."""
    indicators = sum(len(indicator.outputs) for indicator in feature_set.built)
    return ticker_outputs(feature_set)[indicators:]


def ticker_context(
    ts: np.ndarray,
    close: np.ndarray,
    feature_set: FeatureSet,
    context: DateContext,
    *,
    sentiment: pd.DataFrame | None = None,
    out: np.ndarray,
) -> np.ndarray:
    """The :func:`context_outputs` of one ticker at its bar closes ``ts`` (prepared ``close``),
    written into ``out`` (shape (bars, outputs)). A row reads only its own bar and the bars
    before it: market return and volatility at its date, its beta over the last
    ``beta_window`` returns, macro and sentiment as released, and the calendar (sessions since
    the previous bar); so the stream processor computes the newest row from a short window."""
    ctx = feature_set.context
    at = np.searchsorted(context.ts, ts)
    col = 0
    if ctx.market_outputs:
        mkt_return, mkt_vol, _ = ctx.market_outputs
        out[:, col] = context.columns[mkt_return][at]
        out[:, col + 1] = context.columns[mkt_vol][at]
        out[:, col + 2] = _beta(close, context, at, ctx.beta_window)
        col += 3
    for name in ctx.macro_outputs:
        out[:, col] = context.columns[name][at]
        col += 1
    if ctx.sentiment_outputs:
        out[:, col : col + 4] = _sentiment(ts, sentiment, ctx.sentiment_max_age_days)
        col += 4
    if ctx.calendar_outputs:
        for name in ctx.calendar_outputs[:-1]:
            out[:, col] = context.columns[name][at]
            col += 1
        assert context.session is not None
        sessions = context.session[at].astype("float64")
        out[0, col] = np.nan
        out[1:, col] = np.diff(sessions)
        col += 1
    return out


def last_context_rows(
    ts: np.ndarray,
    close: np.ndarray,
    feature_set: FeatureSet,
    context: DateContext,
    *,
    sentiment: Sequence[pd.DataFrame | None],
) -> np.ndarray:
    """:func:`ticker_context`'s last row for many tickers at once: ``ts`` and ``close`` are
    (tickers, bars), each row a ticker's last bars (equally many for all), ``sentiment`` each
    one's daily rows. The same numbers, without a Python call per ticker (a stream's close)."""
    ctx = feature_set.context
    n, width = ts.shape
    out = np.empty((n, len(context_outputs(feature_set))))
    at = np.searchsorted(context.ts, ts)
    last = at[:, -1]
    col = 0
    if ctx.market_outputs:
        mkt_return, mkt_vol, _ = ctx.market_outputs
        out[:, col] = context.columns[mkt_return][last]
        out[:, col + 1] = context.columns[mkt_vol][last]
        if context.index_log is None:
            out[:, col + 2] = np.nan
        else:
            stock = np.full((n, width), np.nan)
            market = np.full((n, width), np.nan)
            np.subtract(np.log(close[:, 1:]), np.log(close[:, :-1]), out=stock[:, 1:])
            index_log = context.index_log[at]
            np.subtract(index_log[:, 1:], index_log[:, :-1], out=market[:, 1:])
            out[:, col + 2] = last_rolling_betas(stock, market, ctx.beta_window)
        col += 3
    for name in ctx.macro_outputs:
        out[:, col] = context.columns[name][last]
        col += 1
    if ctx.sentiment_outputs:
        out[:, col : col + 4] = np.nan
        for i, daily in enumerate(sentiment):
            if daily is not None:
                out[i, col : col + 4] = _sentiment(ts[i, -1:], daily, ctx.sentiment_max_age_days)[0]
        col += 4
    if ctx.calendar_outputs:
        for name in ctx.calendar_outputs[:-1]:
            out[:, col] = context.columns[name][last]
            col += 1
        assert context.session is not None
        if width < 2:
            out[:, col] = np.nan
        else:
            sessions = context.session.astype("float64")
            out[:, col] = sessions[last] - sessions[at[:, -2]]
        col += 1
    return out


def _beta(close: np.ndarray, context: DateContext, at: np.ndarray, window: int) -> np.ndarray:
    """Rolling beta of the stock's log returns to the index's over the same intervals (a gap in
    the stock's bars is compared with the index over the same gap, not one day of it)."""
    if context.index_log is None:
        return np.full(len(close), np.nan)
    stock = np.empty(len(close))
    market = np.empty(len(close))
    stock[:1] = np.nan
    market[:1] = np.nan
    np.subtract(np.log(close[1:]), np.log(close[:-1]), out=stock[1:])
    index_log = context.index_log[at]
    np.subtract(index_log[1:], index_log[:-1], out=market[1:])
    return compute_rolling_beta(stock, market, window)


def sentiment_rows(
    sentiment: pd.DataFrame | None, ctx: ContextSpec
) -> tuple[dict[str, pd.DataFrame] | None, str]:
    """Each ticker's daily aggregates of the set's scorer, sorted by release (what
    :func:`ticker_context` reads); or a warning."""
    if not ctx.sentiment_outputs:
        return None, ""
    daily = sentiment
    if daily is not None and "scorer" in daily.columns:
        daily = daily[daily["scorer"] == ctx.sentiment_scorer]
    if daily is None or daily.empty:
        names = ", ".join(ctx.sentiment_outputs)
        return None, f"no daily sentiment ({ctx.sentiment_scorer}) held; {names} are NaN"
    rows = daily.loc[:, ["ticker", "released_at", *_SENTIMENT_COLUMNS]].copy()
    rows["released_at"] = _utc_column(rows["released_at"])
    rows[list(_SENTIMENT_COLUMNS)] = rows[list(_SENTIMENT_COLUMNS)].astype("float64")
    rows = rows.sort_values(["ticker", "released_at"], kind="stable")
    return {str(t): group.drop(columns="ticker") for t, group in rows.groupby("ticker")}, ""


def _sentiment(ts: np.ndarray, daily: pd.DataFrame | None, max_age_days: int) -> np.ndarray:
    """The latest aggregate released at or before each bar close and at most ``max_age_days``
    old, as (bars, 4): mean, count, share positive, share negative; NaN where none."""
    out = np.full((len(ts), len(_SENTIMENT_COLUMNS)), np.nan)
    if daily is None or daily.empty:
        return out
    released = _nanos(daily["released_at"])
    latest = np.searchsorted(released, ts, side="right") - 1
    found = latest >= 0
    fresh = found.copy()
    age = pd.Timedelta(days=max_age_days).value
    fresh[found] = ts[found] - released[latest[found]] <= age
    values = daily.loc[:, list(_SENTIMENT_COLUMNS)].to_numpy(dtype="float64")
    out[fresh] = values[latest[fresh]]
    return out


# -- across tickers, per date ---------------------------------------------------------------


def add_ranks(frame: pd.DataFrame, ranks: Sequence[str]) -> pd.DataFrame:
    """``rank_<name>`` for each of ``ranks``: the percentile rank (average ties, in (0, 1]) of
    the value among the tickers at the same ts, index symbols (``^``) left out and NaN for them
    and for missing values. Works on any rows holding whole dates (all tickers of each ts)."""
    if not ranks:
        return frame
    universe = ~frame["ticker"].astype(str).str.startswith("^").to_numpy()
    codes, dates = pd.factorize(_nanos(frame["ts"]), sort=True)
    ticker_codes, tickers = pd.factorize(frame["ticker"])
    rows = codes[universe]
    cols = ticker_codes[universe]
    result: dict[str, np.ndarray] = {}
    if len(dates) == 1:
        # One date (a stream's session): every column's average ranks by one sort, the new
        # columns added at once.
        columns = frame[list(ranks)].to_numpy(dtype="float64")[universe]
        ranked = np.full((len(frame), len(ranks)), np.nan)
        ranked[universe] = percentile_ranks(columns)
        names = [f"rank_{name}" for name in ranks]
        kept = frame.drop(columns=[n for n in names if n in frame.columns])
        return pd.concat([kept, pd.DataFrame(ranked, columns=names, index=frame.index)], axis=1)
    for name in ranks:
        grid = np.full((len(dates), len(tickers)), np.nan)
        grid[rows, cols] = frame[name].to_numpy(dtype="float64")[universe]
        ranked = rankdata(grid, axis=1, nan_policy="omit")
        counts = np.sum(~np.isnan(grid), axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = ranked / counts
        values = np.full(len(frame), np.nan)
        values[universe] = pct[rows, cols]
        result[f"rank_{name}"] = values
    return frame.assign(**result)


def percentile_ranks(x: np.ndarray) -> np.ndarray:
    """Each column's ``rankdata(column, nan_policy="omit") / count``: average ranks of ties
    (exact halves), NaN kept NaN, divided by the column's number of values."""
    n = len(x)
    out = np.full(x.shape, np.nan)
    if not n:
        return out
    order = np.argsort(x, axis=0, kind="stable")  # NaN last
    ordered = np.take_along_axis(x, order, axis=0)
    count = np.sum(~np.isnan(x), axis=0)
    position = np.arange(n)[:, None]
    # A tie's first position (0-based) and the position after its last, for every position.
    begins = np.ones(x.shape, dtype=bool)
    begins[1:] = ordered[1:] != ordered[:-1]
    starts = np.maximum.accumulate(np.where(begins, position, 0), axis=0)
    following = np.full(x.shape, n)
    following[:-1] = np.where(begins[1:], position[1:], n)
    ends = np.minimum.accumulate(following[::-1], axis=0)[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ranks = (starts + 1 + ends) / 2.0 / count  # 1-based first and last, averaged
    ranks[position >= count] = np.nan
    np.put_along_axis(out, order, ranks, axis=0)
    return out


# -- per date, shared by every ticker --------------------------------------------------------


def date_context(
    ts: np.ndarray,
    feature_set: FeatureSet,
    *,
    index_bars: pd.DataFrame | None = None,
    macro: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> DateContext:
    """The per-date context of a build over the bar closes ``ts`` (ns since the epoch; any
    order, repeats allowed). ``index_bars``: the prepared bars of the context's index ticker
    (see :func:`prepare_bars`); ``macro`` is cut at ``as_of`` by release time."""
    ctx = feature_set.context
    dates = np.unique(np.asarray(ts, dtype="int64"))
    stamps = pd.DatetimeIndex(pd.to_datetime(dates, utc=True))
    columns: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    index_log = None
    if ctx.market_outputs:
        index_log = _market(dates, index_bars, ctx, columns, warnings)
    if ctx.macro_outputs:
        if macro is not None and as_of is not None:
            macro = macro[macro["released_at"] <= _utc(as_of)]
        _macro(stamps, macro, ctx, columns, warnings)
    session = _calendar(stamps, ctx, columns) if ctx.calendar_outputs else None
    return DateContext(dates, columns, index_log, session, tuple(warnings))


def _market(
    dates: np.ndarray,
    index: pd.DataFrame | None,
    ctx: ContextSpec,
    columns: dict[str, np.ndarray],
    warnings: list[str],
) -> np.ndarray | None:
    """Index return and volatility per date (over the index's own bars); returns the index
    log close per date for betas, or None when the index has no bars."""
    mkt_return, vol_name, _ = ctx.market_outputs
    if index is None or index.empty:
        warnings.append(
            f"index {ctx.index_ticker} has no bars; {', '.join(ctx.market_outputs)} are NaN"
        )
        columns[mkt_return] = np.full(len(dates), np.nan)
        columns[vol_name] = np.full(len(dates), np.nan)
        return None
    index = index.sort_values("ts", kind="stable")
    log_close = pd.Series(np.log(index["close"].to_numpy(dtype="float64")))
    index_return = log_close.diff()
    # Annualised like the ``volatility`` indicator: sample std of daily log returns x sqrt(252).
    window = ctx.index_volatility_window
    volatility = index_return.rolling(window, min_periods=window).std() * np.sqrt(252.0)
    at = np.searchsorted(dates, _nanos(index["ts"]))
    for name, values in (
        (mkt_return, index_return),
        (vol_name, volatility),
        ("_index_log", log_close),
    ):
        column = np.full(len(dates), np.nan)
        column[at] = values.to_numpy(dtype="float64")
        columns[name] = column
    return columns.pop("_index_log")


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


def _as_of(stamps: pd.DatetimeIndex, events: pd.DataFrame, column: str) -> np.ndarray:
    """``events[column]`` of the latest event released at or before each of ``stamps``
    (sorted)."""
    left = pd.DataFrame({"ts": stamps})
    right = events.loc[:, ["released_at", column]].sort_values("released_at", kind="stable")
    joined = pd.merge_asof(left, right, left_on="ts", right_on="released_at", direction="backward")
    return joined[column].to_numpy(dtype="float64")


def _macro(
    stamps: pd.DatetimeIndex,
    macro: pd.DataFrame | None,
    ctx: ContextSpec,
    columns: dict[str, np.ndarray],
    warnings: list[str],
) -> None:
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
            columns[feature.name] = np.full(len(stamps), np.nan)
            continue
        value = events["value"]
        if feature.transform == "change":
            value = value - value.shift(feature.periods)
        elif feature.transform == "pct_change":
            value = value / value.shift(feature.periods) - 1.0
        columns[feature.name] = _as_of(stamps, events.assign(_v=value), "_v")
    for spread in ctx.spreads:
        long, short = releases(spread.long), releases(spread.short)
        if long is None or short is None:
            absent.extend(s for s, e in ((spread.long, long), (spread.short, short)) if e is None)
            columns[spread.name] = np.full(len(stamps), np.nan)
            continue
        columns[spread.name] = _as_of(stamps, long, "value") - _as_of(stamps, short, "value")
    if absent:
        names = ", ".join(sorted(set(absent)))
        warnings.append(f"macro series {names} not held; the features built on them are NaN")


# -- calendar --------------------------------------------------------------------------------


def _calendar(
    stamps: pd.DatetimeIndex, ctx: ContextSpec, columns: dict[str, np.ndarray]
) -> np.ndarray:
    """The calendar parts of each date; returns each date's session position (a bar off the
    calendar gets the position of the next session)."""
    assert ctx.calendar is not None
    first = stamps.min().tz_convert(None).normalize() - pd.Timedelta(days=15)
    last = stamps.max().tz_convert(None).normalize() + pd.Timedelta(days=40)
    cal = get_trading_calendar(ctx.calendar, first, last)
    dates = cal.session_dates(pd.Series(stamps))
    sessions = cal.sessions_between(first, last)
    position = sessions.searchsorted(dates, side="left")
    previous = sessions[np.clip(position - 1, 0, len(sessions) - 1)]
    month_end = dates + pd.offsets.MonthEnd(0)
    columns["day_of_week"] = dates.day_of_week.to_numpy(dtype="float64")
    columns["days_to_month_end"] = (month_end - dates).days.to_numpy(dtype="float64")
    remaining = sessions.searchsorted(month_end, side="right") - position
    # A bar on a session counts itself in ``remaining``; a bar off the calendar does not.
    on_session = sessions[np.clip(position, 0, len(sessions) - 1)] == dates
    columns["sessions_to_month_end"] = (remaining - on_session.astype(int)).astype("float64")
    columns["days_since_last_session"] = (dates - previous).days.to_numpy(dtype="float64")
    return np.asarray(position, dtype="int64")
