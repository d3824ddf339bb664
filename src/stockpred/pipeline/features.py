"""Materialise a feature set into the store, recomputing only new dates on later runs.

For each ticker the last stored feature timestamp of the set is found; the panel is rebuilt from
that point minus the set's lookback (so every indicator is warmed up again) and only rows after
the last stored one are written. A second build with no new bars computes and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd

from stockpred.domain.errors import NotFoundError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.domain.records import FeaturesWritten
from stockpred.features.panel import Panel, build_panel
from stockpred.features.sets import FeatureSet
from stockpred.store.base import Store, WriteResult

__all__ = ["FeatureBuild", "PanelEngine", "build_features"]


class PanelEngine(Protocol):
    """What computes a panel: :func:`build_panel` in process, or ``SparkEngine.build_panel``."""

    def __call__(
        self,
        bars: pd.DataFrame,
        feature_set: FeatureSet,
        *,
        macro: pd.DataFrame | None = None,
        sentiment: pd.DataFrame | None = None,
        as_of: pd.Timestamp | None = None,
        on_ticker: Callable[[str], None] | None = None,
    ) -> Panel: ...


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


# Feature values per store write: about 160 MB of floats at a time, so a large universe is
# written in a few transactions without holding a second copy of the whole panel.
_VALUES_PER_WRITE = 20_000_000


def _slices(symbols: np.ndarray) -> tuple[list[int], list[int]]:
    """Where each ticker's rows start and end in rows sorted by ticker."""
    if len(symbols) == 0:
        return [], []
    starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]]).tolist()
    return starts, [*starts[1:], len(symbols)]


def _windows(
    bars: pd.DataFrame, last_stored: dict[str, pd.Timestamp], *, stale: set[str], lookback: int
) -> pd.DataFrame:
    """The bars each ticker needs: a stale ticker with stored features from its last stored
    bar minus the lookback (so every indicator is warmed up again at the first new bar), a
    new one whole; a ticker read only as context (index, rank peers) from the earliest such
    start on, minus the lookback."""
    symbols = bars["ticker"].to_numpy()
    starts, ends = _slices(symbols)
    nanos = pd.DatetimeIndex(bars["ts"]).as_unit("ns").asi8
    first: dict[str, int] = {}
    earliest = None
    for a, b in zip(starts, ends, strict=True):
        ticker = str(symbols[a])
        if ticker not in stale:
            continue
        start = 0
        if ticker in last_stored:
            done = int(np.searchsorted(nanos[a:b], last_stored[ticker].value, side="right"))
            start = max(0, done - lookback - 1)
        first[ticker] = a + start
        stamp = int(nanos[a + start])
        earliest = stamp if earliest is None else min(earliest, stamp)
    keep = np.zeros(len(symbols), dtype=bool)
    for a, b in zip(starts, ends, strict=True):
        ticker = str(symbols[a])
        if ticker in first:
            keep[first[ticker] : b] = True
        elif earliest is not None:
            begin = int(np.searchsorted(nanos[a:b], earliest, side="left"))
            keep[a + max(0, begin - lookback - 1) : b] = True
    return bars[keep].reset_index(drop=True)


def build_features(
    store: Store,
    feature_set: FeatureSet,
    *,
    tickers: Sequence[str] | None = None,
    now: datetime,
    on_ticker: Callable[[str], None] | None = None,
    engine: PanelEngine = build_panel,
    universe: Universe = STOCKS,
    announce: Callable[[FeaturesWritten], None] | None = None,
) -> FeatureBuild:
    """Compute ``feature_set`` for ``tickers`` (default: every stored instrument the
    ``universe`` models; indices are read as market context only) with everything known at
    ``now`` and upsert the new rows into the set's table, a few tickers per write.

    ``on_ticker`` is called after each ticker's indicators are computed (progress); ``engine``
    computes the panel (in process by default; ``SparkEngine(session).build_panel`` on Spark).
    ``announce`` is told of each committed write (which tickers), for servers to follow.
    """
    key = feature_set.key
    as_of = pd.Timestamp(now).tz_convert("UTC")
    coverage = store.bar_coverage()
    held = set(coverage["ticker"])
    wanted = (
        universe.select(sorted(held)) if tickers is None else [t.strip().upper() for t in tickers]
    )
    unknown = [t for t in wanted if t not in held]
    if unknown:
        raise NotFoundError(
            f"no bars stored for {', '.join(unknown)}; `stockpred data list` shows every ticker"
        )
    if not wanted:
        return FeatureBuild(key, 0, {}, WriteResult())
    stored = store.feature_coverage(key).set_index("ticker")["last"]
    chosen = set(wanted)
    last_stored = {str(t): pd.Timestamp(ts) for t, ts in stored.items() if t in chosen}
    last_bar = coverage.set_index("ticker")["last"]
    stale = [
        t for t in wanted if t not in last_stored or pd.Timestamp(last_bar[t]) > last_stored[t]
    ]
    if not stale:
        return FeatureBuild(key, len(wanted), dict.fromkeys(wanted, 0), WriteResult())

    context = feature_set.context
    index = context.index_ticker
    read = set(stale) | ({index} if index is not None and index in held else set())
    if context.ranks:
        # A rank is across the whole universe held at each date, not across the tickers
        # that happen to be rebuilt: every held ticker takes part.
        read |= set(universe.select(held))
    window_bars = _windows(
        store.read_bars(tickers=sorted(read), as_of=as_of),
        last_stored,
        stale=set(stale),
        lookback=feature_set.lookback,
    )

    macro = store.read_macro(as_of=as_of)
    scorer = feature_set.context.sentiment_scorer
    sentiment = (
        store.read_sentiment(scorer=scorer, tickers=stale, as_of=as_of)
        if scorer is not None
        else None
    )
    panel = engine(
        window_bars,
        feature_set,
        macro=macro,
        sentiment=sentiment,
        as_of=as_of,
        on_ticker=on_ticker,
    )
    frame = panel.frame
    if not frame["ticker"].isin(stale).all():
        frame = frame[frame["ticker"].isin(stale)]
    # Nanoseconds since the epoch; a ticker with nothing stored yet keeps every row.
    stamps = {t: float(ts.value) for t, ts in last_stored.items()}
    cutoff = frame["ticker"].map(stamps).fillna(-np.inf).to_numpy(dtype="float64")
    nanos = pd.DatetimeIndex(frame["ts"]).as_unit("ns").asi8
    keep = nanos > cutoff
    fresh = frame if keep.all() else frame[keep]
    new_rows = dict.fromkeys(wanted, 0)
    new_rows.update({str(t): int(n) for t, n in fresh.groupby("ticker").size().items()})
    written = WriteResult()
    # Rows are sorted by ticker: write whole tickers, a few million values per transaction.
    # A rerun after a crash resumes per ticker from what is stored.
    symbols = fresh["ticker"].to_numpy()
    starts, _ = _slices(symbols)
    per_write = max(1, _VALUES_PER_WRITE // max(1, fresh.shape[1] - 2))
    begin = 0
    for cut in [*starts[1:], len(symbols)]:
        if cut - begin >= per_write or cut == len(symbols):
            batch = fresh.iloc[begin:cut]
            written = written + store.write_features(key, batch)
            begin = cut
            if announce is not None and len(batch):
                announce(
                    FeaturesWritten(
                        feature_set=key,
                        tickers=tuple(sorted(map(str, pd.unique(batch["ticker"])))),
                        last_ts=pd.Timestamp(batch["ts"].max()).to_pydatetime(),
                        written_at=as_of.to_pydatetime(),
                    )
                )
    return FeatureBuild(key, len(wanted), new_rows, written, panel.warnings)
