"""Labels: what a forecast made at a bar close is judged against.

For a bar of ticker T at the close of session s, ``target_{h}`` is the forward log return of the
adjusted close from s to the close of session s + h of the exchange calendar (not h rows
later: a missing bar never stretches the horizon). It is defined only when T has a bar at that
session, and it becomes known at that close (``known_at_{h}``): a training window that ends
before that moment must not use it. ``next_return`` is the simple return to the next session's
close, for backtests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import ModelError
from stockpred.features.panel import price_factor

__all__ = ["forward_returns", "target_column"]


def target_column(horizon: int) -> str:
    return f"target_{horizon}"


def forward_returns(
    bars: pd.DataFrame, *, horizons: Sequence[int], calendar: str = "XNYS"
) -> pd.DataFrame:
    """Per bar: ticker, ts, ``target_{h}`` and ``known_at_{h}`` for each horizon, and
    ``next_return``; sorted by ticker and ts.

    ``bars``: the bars contract (ticker, ts UTC close, close, optional adj_close). Prices are
    adjusted by ``adj_close`` where present, so splits and dividends are not returns; a bar
    without one keeps its ticker's last factor (features/panel.py, ``price_factor``).
    """
    bad = [h for h in horizons if isinstance(h, bool) or not isinstance(h, int) or h < 1]
    if bad or not horizons:
        raise ModelError(f"horizons must be whole numbers of sessions >= 1, got {list(horizons)}")
    missing = [c for c in ("ticker", "ts", "close") if c not in bars.columns]
    if missing:
        raise ModelError(f"bars lack column(s) {', '.join(missing)} needed for labels")
    frame = bars.loc[:, [c for c in ("ticker", "ts", "close", "adj_close") if c in bars.columns]]
    frame = frame.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    price = frame["close"].astype("float64")
    if "adj_close" in frame.columns:
        price = price * price_factor(frame["ticker"], frame["close"], frame["adj_close"])
    ts = pd.DatetimeIndex(frame["ts"]).tz_convert("UTC")
    out = pd.DataFrame({"ticker": frame["ticker"].to_numpy(), "ts": ts})
    if frame.empty:
        for h in horizons:
            out[target_column(h)] = pd.Series(dtype="float64")
            out[f"known_at_{h}"] = pd.Series(dtype="datetime64[ns, UTC]")
        out["next_return"] = pd.Series(dtype="float64")
        return out
    cal = get_trading_calendar(
        calendar,
        ts.min().tz_convert(None) - pd.Timedelta(days=10),
        ts.max().tz_convert(None) + pd.Timedelta(days=10 + 2 * max(horizons)),
    )
    dates = cal.session_dates(pd.Series(ts))
    sessions = cal.sessions_between(dates.min(), dates.max() + pd.Timedelta(days=10))
    position = sessions.searchsorted(dates)
    on_session = (position < len(sessions)) & (
        sessions[np.clip(position, 0, len(sessions) - 1)] == dates
    )
    # A bar off the calendar (should not happen after ingest checks) gets no label.
    codes = pd.factorize(out["ticker"])[0].astype("int64")
    key = codes * (len(sessions) + 1) + position
    key = np.where(on_session, key, -1)
    lookup = pd.Series(np.arange(len(out)), index=key)
    lookup = lookup[lookup.index >= 0]
    log_price = np.log(price.to_numpy())

    def ahead(steps: int) -> np.ndarray:
        """Row of the same ticker ``steps`` sessions later, or -1."""
        wanted = np.where(on_session, key + steps, -2)
        found = lookup.reindex(wanted).to_numpy(dtype="float64")
        return np.where(np.isnan(found), -1, found).astype("int64")

    for h in horizons:
        later = ahead(h)
        has = later >= 0
        target = np.full(len(out), np.nan)
        target[has] = log_price[later[has]] - log_price[has]
        known = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
        known[has] = ts.as_unit("ns")[later[has]]
        out[target_column(h)] = target
        out[f"known_at_{h}"] = known
    following = ahead(1)
    has = following >= 0
    nxt = np.full(len(out), np.nan)
    nxt[has] = np.exp(log_price[following[has]] - log_price[has]) - 1.0
    out["next_return"] = nxt
    return out
