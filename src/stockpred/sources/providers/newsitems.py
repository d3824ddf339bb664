"""The raw news-item frame every news adapter returns, and the small helpers they share."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pandas as pd

from stockpred.sources.providers.base import NEWS_ITEM_COLUMNS

__all__ = ["news_frame", "url_id", "utc_bound"]


def url_id(url: str) -> str:
    """A stable id for an item the provider gives no id of its own: a hash of its URL."""
    return "url:" + hashlib.sha256(url.strip().encode()).hexdigest()[:32]


def utc_bound(value: pd.Timestamp | None) -> pd.Timestamp | None:
    """``value`` as a UTC-aware timestamp (a naive one is read as UTC)."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def news_frame(
    rows: Sequence[Mapping[str, object]],
    *,
    query: str,
    tickers: Sequence[str],
    since: pd.Timestamp | None,
    until: pd.Timestamp | None,
) -> pd.DataFrame:
    """Rows (id, published_at, source, title, url, text) as the raw frame, in ``[since, until]``,
    oldest first, each carrying the query and tickers it answered."""
    frame = pd.DataFrame(list(rows), columns=list(NEWS_ITEM_COLUMNS[:6]))
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    frame["text"] = frame["text"].fillna("").astype(str)
    frame["query"] = query
    frame["tickers"] = [tuple(t.upper() for t in tickers)] * len(frame)
    low, high = utc_bound(since), utc_bound(until)
    keep = pd.Series(True, index=frame.index)
    if low is not None:
        keep &= frame["published_at"] >= low
    if high is not None:
        keep &= frame["published_at"] <= high
    frame = frame[keep].sort_values(["published_at", "id"], kind="stable")
    return frame.reset_index(drop=True)[list(NEWS_ITEM_COLUMNS)]
