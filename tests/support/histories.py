"""Price histories for the feature tests: a real one (Apple, from bokeh-sampledata) and generated
ones with gaps, as dicts of float64 arrays keyed by input name (open, high, low, close, volume).
"""

from __future__ import annotations

import numpy as np
from bokeh_sampledata import stocks

from stockpred.features.library import INPUTS

History = dict[str, np.ndarray]


def apple_history() -> History:
    """Apple's daily bars 2000-03 .. 2013 (3,270 bars, unadjusted), oldest first."""
    return {name: np.asarray(stocks.AAPL[name], dtype=np.float64) for name in INPUTS}


def generated_history(n: int, *, seed: int, gaps: bool = True) -> History:
    """A geometric random walk with consistent open/high/low/close; with ``gaps``, single NaN
    bars, a NaN run of five bars and one NaN only in the volume."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.005, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    volume = rng.lognormal(13.0, 0.4, n)
    history = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    if gaps and n > 40:
        for name in INPUTS:
            history[name][n // 4] = np.nan
            history[name][n // 2 : n // 2 + 5] = np.nan
        history["volume"][3 * n // 4] = np.nan
        history["close"][n // 3] = np.nan
    return history
