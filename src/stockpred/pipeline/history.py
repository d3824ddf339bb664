"""The forecasts stored for a ticker beside what happened: the ``/history`` use case."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockpred.domain.errors import NotFoundError
from stockpred.models.targets import forward_returns, target_column
from stockpred.store.base import Store

__all__ = ["prediction_history"]


def prediction_history(
    store: Store, ticker: str, *, horizon: int | None, limit: int, calendar: str
) -> pd.DataFrame:
    """The last ``limit`` stored forecasts of ``ticker`` (by creation time; of ``horizon``
    only, when given), with ``realised``: the log return over the horizon from the bars, NaN
    until it is known. Empty when none is stored; NotFoundError for a ticker with no bars."""
    stored = store.read_predictions(tickers=[ticker])
    if stored.empty and not store.has_ticker(ticker):
        raise NotFoundError(f"unknown ticker {ticker!r}; GET /v1/tickers lists the tickers held")
    if horizon is not None:
        stored = stored[stored["horizon"] == horizon]
    if stored.empty:
        return stored.assign(realised=pd.Series(dtype="float64"))
    stored = stored.sort_values("created_at").tail(limit)
    bars = store.read_bars(tickers=[ticker], start=stored["as_of"].min())
    realised = pd.Series(np.nan, index=stored.index)
    horizons = sorted({int(h) for h in stored["horizon"]})
    if not bars.empty:
        labels = forward_returns(bars, horizons=horizons, calendar=calendar)
        for h in horizons:
            lookup = pd.Series(labels[target_column(h)].to_numpy(), index=labels["ts"])
            mask = stored["horizon"] == h
            realised[mask] = lookup.reindex(pd.DatetimeIndex(stored.loc[mask, "as_of"])).to_numpy()
    return stored.assign(realised=realised)
