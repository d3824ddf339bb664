"""Rolling regression of one return series on another (a stock's beta to its index)."""

from __future__ import annotations

import numpy as np
from numba import njit

from stockpred.features.kernels._window import FloatArray

__all__ = ["compute_rolling_beta", "last_rolling_betas"]


@njit(cache=True, nogil=True)
def compute_rolling_beta(stock: FloatArray, market: FloatArray, window: int) -> FloatArray:
    """Beta of ``stock`` on ``market`` over the last ``window`` bars: cov / var of the pairs,
    both population moments (the ratio is the same either way).

    Defined only where all ``window`` pairs are present (a NaN in either series at a bar makes
    the window incomplete) and the market varies. Each window is summed afresh, oldest to
    newest, so there is no running-sum drift; O(n * window).
    """
    n = stock.shape[0]
    out = np.full(n, np.nan)
    run = 0
    for i in range(n):
        if np.isfinite(stock[i]) and np.isfinite(market[i]):
            run += 1
        else:
            run = 0
        if run < window:
            continue
        s = 0.0
        m = 0.0
        sm = 0.0
        mm = 0.0
        for j in range(i - window + 1, i + 1):
            s += stock[j]
            m += market[j]
            sm += stock[j] * market[j]
            mm += market[j] * market[j]
        mean_s = s / window
        mean_m = m / window
        variance = mm / window - mean_m * mean_m
        if variance > 0.0:
            out[i] = (sm / window - mean_s * mean_m) / variance
    return out


@njit(cache=True, nogil=True)
def last_rolling_betas(stock: FloatArray, market: FloatArray, window: int) -> FloatArray:
    """Each row's last :func:`compute_rolling_beta` (rows: tickers, columns: their last bars),
    the same arithmetic: one call for a session's tickers."""
    rows = stock.shape[0]
    out = np.full(rows, np.nan)
    for r in range(rows):
        out[r] = compute_rolling_beta(stock[r], market[r], window)[-1]
    return out
