"""How current the stored bars of the served tickers are, for the health page (``GET
/v1/status``): each ticker's latest bar against the sessions of the exchange calendar closed by
now, measured as a forecast's freshness is (``pipeline/serving.py``, ``freshness_of``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from stockpred.pipeline.serving import Freshness
from stockpred.store.base import Store

__all__ = ["BarFreshness", "bar_freshness"]


@dataclass(frozen=True, slots=True)
class BarFreshness:
    """A ticker's latest stored bar close and its freshness; both None without a bar (which
    counts as stale: nothing can be forecast from it)."""

    ticker: str
    last_bar: pd.Timestamp | None
    freshness: Freshness | None

    @property
    def stale(self) -> bool:
        return self.freshness is None or self.freshness.stale


def bar_freshness(
    store: Store, *, tickers: Sequence[str], freshness_of: Callable[[pd.Timestamp], Freshness]
) -> list[BarFreshness]:
    """The freshness of each of ``tickers``' latest stored bar, in the order given."""
    coverage = store.bar_coverage()
    latest = {
        str(ticker): pd.Timestamp(last)
        for ticker, last in zip(coverage["ticker"], coverage["last"], strict=True)
    }
    out = []
    for ticker in tickers:
        last = latest.get(ticker)
        out.append(BarFreshness(ticker, last, None if last is None else freshness_of(last)))
    return out
