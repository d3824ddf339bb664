"""Real daily market data that installed packages ship, so stockpred works offline, keyless.

* ``bokeh-sampledata``: AAPL, FB, GOOG, IBM, MSFT daily OHLCV and adjusted close, 2000-2013
  (Quandl WIKI prices; raw prices, so splits are visible and detected).
* ``arch``: S&P 500 (^GSPC) and NASDAQ Composite (^IXIC) daily OHLCV 1999-2018; the VIX close,
  core CPI (CPILFESL) and Moody's AAA/BAA yields as macro series.

Macro release times are not in these files. ``released_at`` is set by a conservative rule per
series (never earlier than the real publication in modern history), so point-in-time joins
never see a value before it could have been known; see :data:`RELEASE_RULES`.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

__all__ = ["RELEASE_RULES", "SAMPLE_SOURCE", "load_sample_bars", "load_sample_macro"]

SAMPLE_SOURCE = "sample"
_EXCHANGE_TZ = "America/New_York"


def load_sample_bars() -> pd.DataFrame:
    """Raw sample bars in canonical columns plus ``file`` and ``row``, ready for validation."""
    from bokeh_sampledata.stocks import data as stocks

    frames = []
    stock = stocks.loc[:, ["ticker", "date", "open", "high", "low", "close", "adj_close", "volume"]]
    stock = stock.copy()
    stock.insert(0, "file", "bokeh-sampledata:stocks")
    stock["row"] = range(1, len(stock) + 1)
    frames.append(stock)

    from arch.data import nasdaq, sp500

    for ticker, module in (("^GSPC", sp500), ("^IXIC", nasdaq)):
        index = module.load().reset_index()
        index.columns = ["date", "open", "high", "low", "close", "adj_close", "volume"]
        index.insert(0, "ticker", ticker)
        index.insert(0, "file", f"arch:{module.__name__.rsplit('.', 1)[-1]}")
        index["row"] = range(1, len(index) + 1)
        frames.append(index)
    return pd.concat(frames, ignore_index=True)


def _at(days: pd.DatetimeIndex, hour: int, minute: int) -> pd.DatetimeIndex:
    local = (days + pd.Timedelta(hours=hour, minutes=minute)).tz_localize(_EXCHANGE_TZ)
    return local.tz_convert("UTC")


def _same_day_close(period: pd.DatetimeIndex) -> pd.DatetimeIndex:
    # The VIX close is final at 16:15 New York time on the day itself.
    return _at(period, 16, 15)


def _end_of_next_month(period: pd.DatetimeIndex) -> pd.DatetimeIndex:
    # BLS publishes CPI for month M in mid M+1 (08:30 ET); the 2013 shutdown pushed September's
    # release to 30 October. The last day of M+1 is never early.
    return _at(period + pd.offsets.MonthEnd(2), 8, 30)


def _seventh_of_next_month(period: pd.DatetimeIndex) -> pd.DatetimeIndex:
    # Moody's monthly yield averages are complete at month end and published in the Fed's H.15
    # within the first days of M+1.
    return _at(period + pd.offsets.MonthBegin(1) + pd.Timedelta(days=6), 16, 0)


RELEASE_RULES: dict[str, Callable[[pd.DatetimeIndex], pd.DatetimeIndex]] = {
    "VIXCLS": _same_day_close,
    "CPILFESL": _end_of_next_month,
    "AAA": _seventh_of_next_month,
    "BAA": _seventh_of_next_month,
}


def load_sample_macro() -> pd.DataFrame:
    """Macro points: series_id, period (date), released_at (UTC), value, source.

    Days without a value (the VIX on holidays) are left out rather than filled.
    """
    from arch.data import core_cpi, default, vix

    series = {
        "VIXCLS": vix.load()["vix"],
        "CPILFESL": core_cpi.load()["CPILFESL"],
        "AAA": default.load()["AAA"],
        "BAA": default.load()["BAA"],
    }
    frames = []
    for series_id, raw in series.items():
        values = raw.dropna()
        period = pd.DatetimeIndex(pd.DatetimeIndex(values.index).astype("datetime64[ns]"))
        frames.append(
            pd.DataFrame(
                {
                    "series_id": series_id,
                    "period": period.date,
                    "released_at": RELEASE_RULES[series_id](period),
                    "value": values.to_numpy(dtype=float),
                    "source": SAMPLE_SOURCE,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
