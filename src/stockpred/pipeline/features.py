"""Materialise a feature set into the store, recomputing only new dates on later runs.

For each ticker the last stored feature timestamp of the set is found; the panel is rebuilt from
that point minus the set's lookback (so every indicator is warmed up again) and only rows after
the last stored one are written. A second build with no new bars computes and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from stockpred.domain.errors import NotFoundError
from stockpred.features.panel import build_panel, panel_to_long
from stockpred.features.sets import FeatureSet
from stockpred.store.base import Store, WriteResult

__all__ = ["FeatureBuild", "build_features"]

# How far before a ticker's last bar to look for its last stored feature row first; tickers
# with nothing in that window are looked up over their whole history.
_PROBE = pd.Timedelta(days=15)


@dataclass(frozen=True, slots=True)
class FeatureBuild:
    """The outcome of one build: the set (``name@version``), per ticker the new rows computed,
    what the store write did, and context that was missing."""

    feature_set: str
    tickers: int
    new_rows: dict[str, int]
    written: WriteResult
    warnings: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """New (ticker, ts) rows computed."""
        return sum(self.new_rows.values())


def _last_stored(
    store: Store, key: str, coverage: pd.DataFrame, tickers: Sequence[str]
) -> dict[str, pd.Timestamp]:
    """The last stored feature ts of each ticker that has any."""
    found: dict[str, pd.Timestamp] = {}
    last_bar = coverage.set_index("ticker")["last"]
    groups: dict[pd.Timestamp, list[str]] = {}
    for ticker in tickers:
        groups.setdefault(pd.Timestamp(last_bar[ticker]), []).append(ticker)
    unresolved: list[str] = []
    for last, members in groups.items():
        rows = store.read_features(feature_set=key, tickers=members, start=last - _PROBE)
        latest = rows.groupby("ticker")["ts"].max()
        found.update({str(t): pd.Timestamp(ts) for t, ts in latest.items()})
        unresolved.extend(t for t in members if t not in latest.index)
    if unresolved:
        rows = store.read_features(feature_set=key, tickers=unresolved)
        latest = rows.groupby("ticker")["ts"].max()
        found.update({str(t): pd.Timestamp(ts) for t, ts in latest.items()})
    return found


# Feature values per store write (long rows): about 0.5 GB of frames at a time.
_VALUES_PER_WRITE = 4_000_000


def build_features(
    store: Store,
    feature_set: FeatureSet,
    *,
    tickers: Sequence[str] | None = None,
    now: datetime,
    on_ticker: Callable[[str], None] | None = None,
) -> FeatureBuild:
    """Compute ``feature_set`` for ``tickers`` (default: every stored ticker) with everything
    known at ``now`` and upsert the new rows to the ``features`` table in one write.

    ``on_ticker`` is called after each ticker's indicators are computed (progress).
    """
    key = feature_set.key
    as_of = pd.Timestamp(now).tz_convert("UTC")
    coverage = store.bar_coverage()
    held = set(coverage["ticker"])
    wanted = sorted(held) if tickers is None else [t.strip().upper() for t in tickers]
    unknown = [t for t in wanted if t not in held]
    if unknown:
        raise NotFoundError(
            f"no bars stored for {', '.join(unknown)}; `stockpred data list` shows every ticker"
        )
    if not wanted:
        return FeatureBuild(key, 0, {}, WriteResult())
    last_stored = _last_stored(store, key, coverage, wanted)
    last_bar = coverage.set_index("ticker")["last"]
    stale = [
        t for t in wanted if t not in last_stored or pd.Timestamp(last_bar[t]) > last_stored[t]
    ]
    if not stale:
        return FeatureBuild(key, len(wanted), dict.fromkeys(wanted, 0), WriteResult())

    index = feature_set.context.index_ticker
    read = sorted(set(stale) | ({index} if index is not None and index in held else set()))
    bars = store.read_bars(tickers=read, as_of=as_of)
    windows = []
    for ticker, group in bars.groupby("ticker", sort=True):
        start = 0
        if ticker in last_stored and ticker in stale:
            # Recompute from the last stored bar minus the lookback, so every indicator is
            # warmed up again at the first new bar.
            done = int((group["ts"] <= last_stored[str(ticker)]).sum())
            start = max(0, done - feature_set.lookback - 1)
        windows.append(group.iloc[start:])
    window_bars = pd.concat(windows, ignore_index=True)

    macro = store.read_macro(as_of=as_of)
    scorer = feature_set.context.sentiment_scorer
    sentiment = (
        store.read_sentiment(scorer=scorer, tickers=stale, as_of=as_of)
        if scorer is not None
        else None
    )
    panel = build_panel(
        window_bars,
        feature_set,
        macro=macro,
        sentiment=sentiment,
        as_of=as_of,
        on_ticker=on_ticker,
    )
    frame = panel.frame[panel.frame["ticker"].isin(stale)]
    # Nanoseconds since the epoch; a ticker with nothing stored yet keeps every row.
    stamps = {t: float(ts.value) for t, ts in last_stored.items()}
    cutoff = frame["ticker"].map(stamps).fillna(-np.inf).to_numpy(dtype="float64")
    nanos = frame["ts"].to_numpy(dtype="datetime64[ns]").astype("int64")
    fresh = frame[nanos > cutoff]
    new_rows = dict.fromkeys(wanted, 0)
    new_rows.update({str(t): int(n) for t, n in fresh.groupby("ticker").size().items()})
    written = WriteResult()
    # The long table holds one row per value: write a few tickers at a time so memory stays
    # bounded on a large universe. Each chunk is one transaction; a rerun after a crash resumes
    # per ticker from what is stored.
    width = max(1, fresh.shape[1] - 2)
    chunk: list[pd.DataFrame] = []
    values = 0
    for _, rows in fresh.groupby("ticker", sort=True):
        chunk.append(rows)
        values += len(rows) * width
        if values >= _VALUES_PER_WRITE:
            written = written + store.write_features(panel_to_long(pd.concat(chunk), key))
            chunk, values = [], 0
    if chunk:
        written = written + store.write_features(panel_to_long(pd.concat(chunk), key))
    return FeatureBuild(key, len(wanted), new_rows, written, panel.warnings)
