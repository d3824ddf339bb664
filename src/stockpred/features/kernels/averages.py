"""Moving averages: SMA, EMA (seeded like TA-Lib), MACD, and the close's distance from them.

Each indicator is a step function (one bar, state updated in place) and a batch kernel that
loops the step over float64 arrays of shape (n,). See ``_window`` for the gap rule.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stockpred.features.kernels._window import (
    RECOMPUTE_EVERY,
    ROLLING_SLOTS,
    FloatArray,
    rolling_sum_step,
)

__all__ = [
    "EMA_SLOTS",
    "MACD_SLOTS",
    "compute_ema",
    "compute_ema_distance",
    "compute_macd",
    "compute_sma",
    "compute_sma_distance",
    "ema_distance_step",
    "ema_step",
    "macd_step",
    "sma_distance_step",
    "sma_step",
]

SMA_SLOTS = ROLLING_SLOTS
EMA_SLOTS = 3
MACD_SLOTS = 7


@njit(cache=True, error_model="numpy")
def sma_step(period: int, state: FloatArray, ring: FloatArray, close: float) -> float:
    """Simple moving average of the last ``period`` closes."""
    total = rolling_sum_step(period, state, ring, close)
    return total / period


@njit(cache=True, error_model="numpy")
def compute_sma(close: FloatArray, period: int) -> FloatArray:
    """SMA(period) of ``close`` (float64, shape (n,)); NaN for the first ``period - 1`` bars."""
    n = close.shape[0]
    out = np.empty(n)
    run = 0
    total = 0.0
    since = 0
    for i in range(n):
        x = close[i]
        if not math.isfinite(x):
            run = 0
            total = 0.0
            since = 0
            out[i] = math.nan
            continue
        if run >= period:
            total -= close[i - period]
        total += x
        run += 1
        if run < period:
            out[i] = math.nan
            continue
        since += 1
        if since >= RECOMPUTE_EVERY:
            total = 0.0
            for j in range(i - period + 1, i + 1):
                total += close[j]
            since = 0
        out[i] = total / period
    return out


@njit(cache=True, error_model="numpy")
def ema_step(period: int, state: FloatArray, close: float) -> float:
    """Exponential moving average with k = 2 / (period + 1), seeded like TA-Lib: the first value
    (bar ``period - 1``) is the SMA of the first ``period`` closes. Written ema * (1 - k) +
    close * k rather than TA-Lib's (close - ema) * k + ema: the same number up to the last bits,
    with a shorter dependency chain from bar to bar (faster).

    ``state``: [consecutive valid bars, seed sum, ema].
    """
    if not math.isfinite(close):
        state[0] = 0.0
        state[1] = 0.0
        state[2] = 0.0
        return math.nan
    run = state[0] + 1.0
    state[0] = run
    if run < period:
        state[1] += close
        return math.nan
    if run == period:
        state[2] = (state[1] + close) / period
        return float(state[2])
    k = 2.0 / (period + 1.0)
    state[2] = state[2] * (1.0 - k) + close * k
    return float(state[2])


@njit(cache=True, error_model="numpy")
def compute_ema(close: FloatArray, period: int) -> FloatArray:
    """EMA(period) of ``close`` (float64, shape (n,)); NaN for the first ``period - 1`` bars."""
    n = close.shape[0]
    out = np.empty(n)
    k = 2.0 / (period + 1.0)
    run = 0
    seed = 0.0
    value = 0.0
    for i in range(n):
        x = close[i]
        if not math.isfinite(x):
            run = 0
            seed = 0.0
            value = 0.0
            out[i] = math.nan
            continue
        run += 1
        if run < period:
            seed += x
            out[i] = math.nan
        elif run == period:
            value = (seed + x) / period
            out[i] = value
        else:
            value = value * (1.0 - k) + x * k
            out[i] = value
    return out


@njit(cache=True, error_model="numpy")
def sma_distance_step(period: int, state: FloatArray, ring: FloatArray, close: float) -> float:
    """The close's relative distance from its SMA: close / SMA - 1."""
    average = sma_step(period, state, ring, close)
    return close / average - 1.0


@njit(cache=True, error_model="numpy")
def compute_sma_distance(close: FloatArray, period: int) -> FloatArray:
    """close / SMA(period) - 1 (float64, shape (n,))."""
    out = np.empty(close.shape[0])
    state = np.zeros(SMA_SLOTS)
    ring = np.zeros(period)
    for i in range(close.shape[0]):
        out[i] = sma_distance_step(period, state, ring, close[i])
    return out


@njit(cache=True, error_model="numpy")
def ema_distance_step(period: int, state: FloatArray, close: float) -> float:
    """The close's relative distance from its EMA: close / EMA - 1."""
    average = ema_step(period, state, close)
    return close / average - 1.0


@njit(cache=True, error_model="numpy")
def compute_ema_distance(close: FloatArray, period: int) -> FloatArray:
    """close / EMA(period) - 1 (float64, shape (n,))."""
    out = np.empty(close.shape[0])
    state = np.zeros(EMA_SLOTS)
    for i in range(close.shape[0]):
        out[i] = ema_distance_step(period, state, close[i])
    return out


@njit(cache=True, error_model="numpy")
def macd_step(
    fast: int, slow: int, signal: int, state: FloatArray, close: float
) -> tuple[float, float, float]:
    """MACD line (EMA fast - EMA slow), signal (EMA of the line) and histogram (line - signal).

    Seeded exactly like TA-Lib's MACD: both EMAs start on bar ``slow - 1``, the slow one from the
    SMA of the first ``slow`` closes and the fast one from the SMA of the ``fast`` closes ending
    on that bar (so the fast EMA inside MACD differs from a standalone EMA(fast) for a while);
    the signal starts ``signal - 1`` bars later from the SMA of the first ``signal`` line values.
    All three outputs are NaN until bar ``slow + signal - 2`` (33 for 12/26/9), as in TA-Lib.

    ``state``: [run, fast seed sum, slow seed sum, fast ema, slow ema, signal seed sum, signal].
    """
    nan = math.nan
    if not math.isfinite(close):
        for j in range(MACD_SLOTS):
            state[j] = 0.0
        return nan, nan, nan
    run = state[0] + 1.0
    state[0] = run
    if run <= slow:
        state[2] += close
        if run > slow - fast:
            state[1] += close
        if run < slow:
            return nan, nan, nan
        state[3] = state[1] / fast
        state[4] = state[2] / slow
    else:
        k_fast = 2.0 / (fast + 1.0)
        k_slow = 2.0 / (slow + 1.0)
        state[3] = state[3] * (1.0 - k_fast) + close * k_fast
        state[4] = state[4] * (1.0 - k_slow) + close * k_slow
    line = state[3] - state[4]
    first_signal = slow + signal - 1
    if run < first_signal:
        state[5] += line
        return nan, nan, nan
    if run == first_signal:
        state[6] = (state[5] + line) / signal
    else:
        k_signal = 2.0 / (signal + 1.0)
        state[6] = state[6] * (1.0 - k_signal) + line * k_signal
    return line, state[6], line - state[6]


@njit(cache=True, error_model="numpy")
def compute_macd(
    close: FloatArray, fast: int, slow: int, signal: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD(fast, slow, signal) of ``close`` (float64, shape (n,)): line, signal, histogram."""
    n = close.shape[0]
    line_out = np.empty(n)
    signal_out = np.empty(n)
    histogram_out = np.empty(n)
    k_fast = 2.0 / (fast + 1.0)
    k_slow = 2.0 / (slow + 1.0)
    k_signal = 2.0 / (signal + 1.0)
    first_signal = slow + signal - 1
    run = 0
    fast_sum = slow_sum = fast_ema = slow_ema = signal_sum = signal_value = 0.0
    for i in range(n):
        x = close[i]
        if not math.isfinite(x):
            run = 0
            fast_sum = slow_sum = fast_ema = slow_ema = signal_sum = signal_value = 0.0
            line_out[i] = signal_out[i] = histogram_out[i] = math.nan
            continue
        run += 1
        if run <= slow:
            slow_sum += x
            if run > slow - fast:
                fast_sum += x
            if run < slow:
                line_out[i] = signal_out[i] = histogram_out[i] = math.nan
                continue
            fast_ema = fast_sum / fast
            slow_ema = slow_sum / slow
        else:
            fast_ema = fast_ema * (1.0 - k_fast) + x * k_fast
            slow_ema = slow_ema * (1.0 - k_slow) + x * k_slow
        line = fast_ema - slow_ema
        if run < first_signal:
            signal_sum += line
            line_out[i] = signal_out[i] = histogram_out[i] = math.nan
            continue
        if run == first_signal:
            signal_value = (signal_sum + line) / signal
        else:
            signal_value = signal_value * (1.0 - k_signal) + line * k_signal
        line_out[i] = line
        signal_out[i] = signal_value
        histogram_out[i] = line - signal_value
    return line_out, signal_out, histogram_out
