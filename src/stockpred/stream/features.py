"""A feature set's rows, one session close at a time, equal to the batch panel's.

``SessionFeatures`` keeps, for every ticker, the incremental state of each indicator of the set
(the same compiled steps as the batch kernels, ``features/incremental.py``), its last price
adjustment factor and a short window of its recent closes; for the index, a window of its bars.
At each session close it updates the states with the session's bars and computes the rest of the
row with the panel's own functions on those windows (``features/panel.py``: ``date_context``,
``ticker_context``, and ``percentile_ranks`` as ``add_ranks`` uses it): market return,
volatility and beta, macro as released, sentiment, calendar, and the ranks across the universe
at that date. So a row equals the one ``features build`` computes over the whole history
(``tests/integration/test_stream_parity.py``).

Bars are taken once each: a bar at or before its ticker's last one is a redelivery and is
skipped, so a replay of the bus (at-least-once) never counts a bar twice.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockpred.domain.errors import FeatureError
from stockpred.domain.frames import bars_of
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.domain.records import Bar
from stockpred.features.panel import (
    context_outputs,
    date_context,
    last_context_rows,
    percentile_ranks,
    sentiment_rows,
    ticker_outputs,
)
from stockpred.features.sets import FeatureSet
from stockpred.features.stacked import FRESH, StackedStates

__all__ = ["SessionFeatures"]

_PRICES = ("open", "high", "low", "close")
# Index bars kept beyond the tickers' windows, so a ticker whose last bars are a little older
# than the others' still finds the index at its dates.
_INDEX_SLACK = 260


@dataclass(eq=False)
class _Ticker:
    row: int  # its indicator states' row of the stacked states (FRESH: none yet)
    ts: deque[int]
    close: deque[float]
    factor: float = 1.0
    last: int | None = None
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    # ``last`` as a timestamp, made when first asked after a change.
    stamp: pd.Timestamp | None = None
    # ``ts`` and ``close`` as arrays, made when first asked after a change (for the peeks).
    arrays: tuple[np.ndarray, np.ndarray] | None = None

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        if self.arrays is None:
            self.arrays = (
                np.fromiter(self.ts, dtype=np.int64, count=len(self.ts)),
                np.fromiter(self.close, dtype=np.float64, count=len(self.close)),
            )
        return self.arrays


class SessionFeatures:
    """The streaming state of ``feature_set`` over the instruments the ``universe`` models (and
    the set's index, read as context)."""

    def __init__(
        self,
        feature_set: FeatureSet,
        *,
        universe: Universe = STOCKS,
        macro: pd.DataFrame | None = None,
        sentiment: pd.DataFrame | None = None,
    ) -> None:
        self.feature_set = feature_set
        self._universe = universe
        self._macro = macro
        self._sentiment = _daily_sentiment(sentiment, feature_set)
        self._context_names = context_outputs(feature_set)
        self._indicator_names = ticker_outputs(feature_set)[
            : len(ticker_outputs(feature_set)) - len(self._context_names)
        ]
        ctx = feature_set.context
        # A row's values: the indicators', the context's, then the ranks of some of them;
        # which of those each output is.
        computed = [*self._indicator_names, *self._context_names]
        self._ranked = [computed.index(name) for name in ctx.ranks]
        computed += [f"rank_{name}" for name in ctx.ranks]
        self._output_order = [computed.index(name) for name in feature_set.outputs]
        # The rows a context value reads: the beta's returns and the bar before them.
        self._window = ctx.beta_window + 2 if ctx.market_outputs else 2
        index_window = max(self._window, ctx.index_volatility_window + 2) + _INDEX_SLACK
        self._index = ctx.index_ticker
        self._index_ts: deque[int] = deque(maxlen=index_window)
        self._index_close: deque[float] = deque(maxlen=index_window)
        self._index_factor = 1.0
        self._tickers: dict[str, _Ticker] = {}
        # ``models`` per ticker, asked for every bar of every peek.
        self._modelled: dict[str, bool] = {}
        self._stacked = StackedStates(feature_set.built)

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.feature_set.outputs

    def tickers(self) -> list[str]:
        """The instruments with a state, sorted."""
        return sorted(self._tickers)

    def set_macro(self, macro: pd.DataFrame | None) -> None:
        """The macro points held (series_id, period, released_at, value), as the store has them;
        each session reads those released by its close."""
        self._macro = macro

    def set_sentiment(self, sentiment: pd.DataFrame | None) -> None:
        """The daily sentiment aggregates held (the store's ``read_sentiment`` frame)."""
        self._sentiment = _daily_sentiment(sentiment, self.feature_set)

    def last_ts(self, ticker: str) -> pd.Timestamp | None:
        """The close of ``ticker``'s last bar taken (the index's too), or None."""
        if ticker == self._index:
            return pd.Timestamp(self._index_ts[-1], tz="UTC") if self._index_ts else None
        state = self._tickers.get(ticker)
        if state is None or state.last is None:
            return None
        if state.stamp is None or state.stamp.value != state.last:
            state.stamp = pd.Timestamp(state.last, tz="UTC")  # asked once per bar taken
        return state.stamp

    def last_session_tickers(self) -> list[str]:
        """The instruments (the index included) whose last bar taken is the newest close."""
        stamps = {t: s.last for t, s in self._tickers.items() if s.last is not None}
        if self._index_ts:
            stamps[str(self._index)] = self._index_ts[-1]
        if not stamps:
            return []
        newest = max(stamps.values())
        return sorted(t for t, stamp in stamps.items() if stamp == newest)

    def models(self, ticker: str) -> bool:
        """Whether ``ticker`` gets feature rows (the universe models it)."""
        known = self._modelled.get(ticker)
        if known is None:
            known = self._modelled[ticker] = ticker != self._index and self._universe.includes(
                ticker
            )
        return known

    def untaken(self, bars: Iterable[Bar]) -> list[Bar]:
        """The bars of modelled tickers that the state has not taken yet."""
        fresh = []
        for bar in bars:
            if not self.models(bar.ticker):
                continue
            state = self._tickers.get(bar.ticker)
            stamp = pd.Timestamp(bar.ts).tz_convert("UTC").as_unit("ns").value
            if state is None or state.last is None or stamp > state.last:
                fresh.append(bar)
        return fresh

    def warm(self, bars: pd.DataFrame) -> None:
        """Take a stored history (the bars contract, any order) without computing rows: the
        state a restarted stream continues from."""
        if bars.empty:
            return
        ordered = bars.sort_values(["ts", "ticker"], kind="stable")
        for _, session in ordered.groupby("ts", sort=True):
            self._take(bars_of(session))

    def close_session(self, bars: Iterable[Bar]) -> pd.DataFrame:
        """Take the session bars of one close (``ts`` equal; the index's among them when held)
        and return the feature rows of the modelled tickers that had one: columns ticker, ts,
        then the set's outputs, sorted by ticker. Bars already taken are skipped."""
        taken = self._take(list(bars))
        if not taken:
            return pd.DataFrame(columns=["ticker", "ts", *self.outputs])
        stamps = {self._tickers[t].last for t in taken}
        if len(stamps) != 1:
            raise FeatureError(
                f"a session close takes bars of one time; got {len(stamps)} different ones"
            )
        (stamp,) = stamps
        assert stamp is not None
        return self._rows(taken, stamp)

    # -- internals ---------------------------------------------------------------------------

    def _fresh(self, row: int = FRESH) -> _Ticker:
        return _Ticker(row=row, ts=deque(maxlen=self._window), close=deque(maxlen=self._window))

    def _state(self, ticker: str) -> _Ticker:
        state = self._tickers.get(ticker)
        if state is None:
            state = self._tickers[ticker] = self._fresh(self._stacked.add(ticker))
        return state

    def _take(self, bars: Sequence[Bar]) -> list[str]:
        """Update the states with ``bars`` (index first); the modelled tickers updated. The
        indicator states take the bars as one stacked update (or one per bar of a ticker when
        a ticker has several)."""
        taken: list[str] = []
        pending: dict[int, tuple[_Ticker, dict[str, float]]] = {}
        for bar in sorted(bars, key=lambda b: (b.ticker != self._index, b.ticker)):
            if bar.interval != "1d":
                self._update_states(pending)  # the bars before it are taken, as they were
                raise FeatureError(
                    f"a session close takes daily bars; got a {bar.interval} bar of {bar.ticker}"
                )
            stamp = pd.Timestamp(bar.ts).tz_convert("UTC").as_unit("ns").value
            if bar.ticker == self._index:
                self._take_index(bar, stamp)
                continue
            if not self._universe.includes(bar.ticker):
                continue
            state = self._state(bar.ticker)
            if state.last is not None and stamp <= state.last:
                continue  # taken before: a redelivery
            if state.row in pending:
                self._update_states(pending)  # a later bar of a ticker steps after its first
            state.factor = _factor(bar, state.factor)
            inputs = _inputs(bar, state.factor)
            pending[state.row] = (state, inputs)
            state.ts.append(stamp)
            state.close.append(inputs["close"])
            state.arrays = None
            state.last = stamp
            taken.append(bar.ticker)
        self._update_states(pending)
        return taken

    def _update_states(self, pending: dict[int, tuple[_Ticker, dict[str, float]]]) -> None:
        """Step the indicator states of ``pending``'s rows (one bar's inputs each) in one update,
        keep each ticker's values, and empty ``pending``."""
        if not pending:
            return
        rows = np.fromiter(pending, dtype=np.int64, count=len(pending))
        values = self._stacked.update(rows, _columns([inputs for _, inputs in pending.values()]))
        for (state, _), row in zip(pending.values(), values, strict=True):
            state.values = row
        pending.clear()

    def _take_index(self, bar: Bar, stamp: int) -> None:
        if self._index_ts and stamp <= self._index_ts[-1]:
            return
        self._index_factor = _factor(bar, self._index_factor)
        self._index_ts.append(stamp)
        self._index_close.append(float(bar.close) * self._index_factor)

    def _rows(self, tickers: list[str], stamp: int) -> pd.DataFrame:
        ordered = sorted(tickers)
        states = [self._tickers[ticker] for ticker in ordered]
        windows = [
            _Windows(
                positions,
                np.array([states[i].ts for i in positions], dtype=np.int64),
                np.array([states[i].close for i in positions], dtype=np.float64),
            )
            for positions in _by_width(len(state.ts) for state in states).values()
        ]
        values = np.stack([state.values for state in states])
        index_ts = np.fromiter(self._index_ts, dtype=np.int64)
        index_close = np.fromiter(self._index_close, dtype=np.float64)
        return self._assemble(
            ordered, values, windows, stamp=stamp, index_ts=index_ts, index_close=index_close
        )

    def peek(self, partials: Iterable[Bar]) -> pd.DataFrame:
        """Provisional rows, "if the session closed now": each bar is a session so far (open
        to the last trade), of one close ``ts`` (the latest intraday bar's), for tickers the
        state has not taken that session for. The state is left as it is; the index's partial
        bar, when among them, stands for the index. Ranks are across the tickers peeked."""
        bars = list(partials)
        if not bars:
            return pd.DataFrame(columns=["ticker", "ts", *self.outputs])
        stamp = pd.Timestamp(max(b.ts for b in bars)).tz_convert("UTC").as_unit("ns").value
        index_ts = np.fromiter(self._index_ts, dtype=np.int64)
        index_close = np.fromiter(self._index_close, dtype=np.float64)
        tickers: list[str] = []
        held: list[tuple[np.ndarray, np.ndarray]] = []
        rows: list[int] = []
        peeked: list[dict[str, float]] = []
        for bar in sorted(bars, key=lambda b: b.ticker):
            if bar.ticker == self._index:
                if not len(index_ts) or stamp > index_ts[-1]:
                    factor = _factor(bar, self._index_factor)
                    index_ts = np.append(index_ts, stamp)
                    index_close = np.append(index_close, float(bar.close) * factor)
                continue
            if not self.models(bar.ticker):
                continue
            state = self._tickers.get(bar.ticker) or self._fresh()
            if state.last is not None and stamp <= state.last:
                continue  # its session is taken already
            tickers.append(bar.ticker)
            held.append(state.window())
            rows.append(state.row)
            peeked.append(_inputs(bar, _factor(bar, state.factor)))
        if not tickers:
            return pd.DataFrame(columns=["ticker", "ts", *self.outputs])
        inputs = _columns(peeked)
        values = self._stacked.peek(np.asarray(rows, dtype=np.int64), inputs)
        # Each window with the session so far after it (the oldest bar out once it is full),
        # the tickers with equally long windows at once.
        windows = []
        for width, positions in _by_width(len(ts) for ts, _ in held).items():
            ts = np.empty((len(positions), width + 1), dtype=np.int64)
            close = np.empty((len(positions), width + 1), dtype=np.float64)
            for j, i in enumerate(positions):
                ts[j, :width], close[j, :width] = held[i]
            ts[:, width] = stamp
            close[:, width] = inputs["close"][positions]
            keep = min(width + 1, self._window)
            windows.append(
                _Windows(
                    positions,
                    np.ascontiguousarray(ts[:, -keep:]),
                    np.ascontiguousarray(close[:, -keep:]),
                )
            )
        return self._assemble(
            tickers, values, windows, stamp=stamp, index_ts=index_ts, index_close=index_close
        )

    def _assemble(
        self,
        tickers: list[str],
        indicators: np.ndarray,
        windows: list[_Windows],
        *,
        stamp: int,
        index_ts: np.ndarray,
        index_close: np.ndarray,
    ) -> pd.DataFrame:
        """The rows of ``tickers`` at ``stamp``: their ``indicators`` values (a row each), the
        context from the panel's functions on their recent ``windows``, then the ranks across
        them."""
        dates = np.unique(np.concatenate([*(w.ts.ravel() for w in windows), [stamp]]))
        index_bars = None
        if self._index is not None and len(index_ts):
            # A session closed late (its bars came after the index's next ones) sees the index
            # as it was at its close.
            known = index_ts <= stamp
            index_bars = pd.DataFrame(
                {"ts": pd.to_datetime(index_ts[known], utc=True), "close": index_close[known]}
            )
        context = date_context(
            dates,
            self.feature_set,
            index_bars=index_bars,
            macro=self._macro,
            as_of=pd.Timestamp(stamp, tz="UTC"),
        )
        names = (*self._indicator_names, *self._context_names)
        values = np.empty((len(tickers), len(names)), dtype=np.float64)
        n_indicators = len(self._indicator_names)
        values[:, :n_indicators] = indicators
        if self._context_names:
            for window in windows:
                values[window.positions, n_indicators:] = last_context_rows(
                    window.ts,
                    window.close,
                    self.feature_set,
                    context,
                    sentiment=[self._sentiment.get(tickers[i]) for i in window.positions],
                )
        # The ranks across the tickers, as ``features.panel.add_ranks`` gives them for one
        # date: index symbols left out.
        ranked = np.full((len(tickers), len(self._ranked)), np.nan)
        if self._ranked:
            universe = np.array([not t.startswith("^") for t in tickers], dtype=bool)
            ranked[universe] = percentile_ranks(values[universe][:, self._ranked])
        block = np.concatenate([values, ranked], axis=1)[:, self._output_order]
        frame = pd.DataFrame(block, columns=list(self.outputs))
        frame.insert(0, "ts", pd.Timestamp(stamp, tz="UTC"))
        frame.insert(0, "ticker", tickers)
        return frame


@dataclass(frozen=True, slots=True)
class _Windows:
    """The recent windows of some of a session's tickers, all equally long: their positions
    among the session's tickers, and their bars' closes (ns) and adjusted close prices, one
    row per ticker, oldest first."""

    positions: list[int]
    ts: np.ndarray
    close: np.ndarray


def _by_width(widths: Iterable[int]) -> dict[int, list[int]]:
    """The positions of each width among ``widths``."""
    groups: dict[int, list[int]] = {}
    for i, width in enumerate(widths):
        groups.setdefault(width, []).append(i)
    return groups


def _inputs(bar: Bar, factor: float) -> dict[str, float]:
    """What the indicators read of ``bar``: its prices adjusted by ``factor``, its volume."""
    inputs = {name: float(getattr(bar, name)) * factor for name in _PRICES}
    inputs["volume"] = float(bar.volume)
    return inputs


def _columns(inputs: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
    """Bars' inputs (``_inputs``) as one float64 array per name, bar for bar."""
    return {
        name: np.fromiter((x[name] for x in inputs), dtype=np.float64, count=len(inputs))
        for name in (*_PRICES, "volume")
    }


def _factor(bar: Bar, last: float) -> float:
    """The bar's ``adj_close / close`` factor, or the ticker's last one (as ``prepare_bars``)."""
    if bar.adj_close is None:
        return last
    factor = float(bar.adj_close) / float(bar.close) if bar.close else math.nan
    return factor if math.isfinite(factor) else last


def _daily_sentiment(
    sentiment: pd.DataFrame | None, feature_set: FeatureSet
) -> Mapping[str, pd.DataFrame]:
    daily, _ = sentiment_rows(sentiment, feature_set.context)
    return daily or {}
