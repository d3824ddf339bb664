"""Oscillators and returns: RSI (Wilder), momentum / rate of change, log returns, 12-1 momentum.

Each indicator is a step function (one bar, state updated in place) and a batch kernel that
loops the step over float64 arrays of shape (n,). See ``_window`` for the gap rule.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stockpred.features.kernels._window import FloatArray

__all__ = [
    "LAG_SLOTS",
    "RSI_SLOTS",
    "compute_log_return",
    "compute_momentum",
    "compute_momentum_skip",
    "compute_rsi",
    "lag_step",
    "log_return_step",
    "momentum_skip_step",
    "momentum_step",
    "rsi_step",
]

RSI_SLOTS = 4
# A lag buffer: consecutive valid values seen, ring position.
LAG_SLOTS = 2


@njit(cache=True, error_model="numpy")
def rsi_step(period: int, state: FloatArray, close: float) -> float:
    """Wilder's RSI: 100 * avg gain / (avg gain + avg loss), smoothed as
    avg = (avg * (period - 1) + x) / period, computed as avg * ((period - 1) / period) +
    x * (1 / period): the same number up to the last bits (TA-Lib divides), with no division on
    the bar-to-bar dependency chain (faster).

    Seeding is TA-Lib's (with its default unstable period of 0): the first value, on bar
    ``period``, uses the simple means of the first ``period`` gains and losses, so the values
    agree with ``talib.RSI`` from the first one. One deliberate difference: when the average gain
    and loss are both zero (a flat window) the RSI is 50 (no direction), where TA-Lib returns 0
    (and TA-Lib treats sums below 1e-8 as zero; we test exact zero).

    ``state``: [consecutive valid closes, previous close, average gain, average loss].
    """
    if not math.isfinite(close):
        for j in range(RSI_SLOTS):
            state[j] = 0.0
        return math.nan
    run = state[0] + 1.0
    state[0] = run
    previous = state[1]
    state[1] = close
    if run == 1.0:
        return math.nan
    change = close - previous
    gain = change if change > 0.0 else 0.0
    loss = -change if change < 0.0 else 0.0
    if run <= period:
        state[2] += gain
        state[3] += loss
        return math.nan
    if run == period + 1.0:
        state[2] = (state[2] + gain) / period
        state[3] = (state[3] + loss) / period
    else:
        decay = (period - 1.0) / period
        weight = 1.0 / period
        state[2] = state[2] * decay + gain * weight
        state[3] = state[3] * decay + loss * weight
    total = state[2] + state[3]
    if total == 0.0:
        return 50.0
    return float(100.0 * (state[2] / total))


@njit(cache=True, error_model="numpy")
def compute_rsi(close: FloatArray, period: int) -> FloatArray:
    """RSI(period) of ``close`` (float64, shape (n,)), 0..100; NaN for the first ``period``
    bars."""
    n = close.shape[0]
    out = np.empty(n)
    decay = (period - 1.0) / period
    weight = 1.0 / period
    run = 0
    previous = 0.0
    gain_average = 0.0
    loss_average = 0.0
    for i in range(n):
        x = close[i]
        if not math.isfinite(x):
            run = 0
            previous = gain_average = loss_average = 0.0
            out[i] = math.nan
            continue
        run += 1
        last = previous
        previous = x
        if run == 1:
            out[i] = math.nan
            continue
        change = x - last
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        if run <= period:
            gain_average += gain
            loss_average += loss
            out[i] = math.nan
            continue
        if run == period + 1:
            gain_average = (gain_average + gain) / period
            loss_average = (loss_average + loss) / period
        else:
            gain_average = gain_average * decay + gain * weight
            loss_average = loss_average * decay + loss * weight
        total = gain_average + loss_average
        out[i] = 50.0 if total == 0.0 else 100.0 * (gain_average / total)
    return out


@njit(cache=True, error_model="numpy")
def lag_step(lag: int, state: FloatArray, ring: FloatArray, x: float) -> float:
    """Push ``x`` and return the value ``lag`` bars before it (NaN until there is one, or on a
    gap). ``ring``: float64 array of ``lag``."""
    if not math.isfinite(x):
        state[0] = 0.0
        state[1] = 0.0
        return math.nan
    position = int(state[1])
    earlier = ring[position] if state[0] >= lag else math.nan
    ring[position] = x
    position += 1
    if position == lag:
        position = 0
    state[1] = position
    state[0] += 1.0
    return earlier


@njit(cache=True, error_model="numpy")
def momentum_step(
    period: int, state: FloatArray, ring: FloatArray, close: float
) -> tuple[float, float]:
    """Momentum (close - close ``period`` bars ago, TA-Lib's MOM) and rate of change as a
    fraction (close / close ``period`` bars ago - 1; TA-Lib's ROC is 100 times this)."""
    earlier = lag_step(period, state, ring, close)
    if math.isnan(earlier):
        return math.nan, math.nan
    return close - earlier, close / earlier - 1.0


@njit(cache=True, error_model="numpy")
def compute_momentum(close: FloatArray, period: int) -> tuple[FloatArray, FloatArray]:
    """Momentum and fractional rate of change over ``period`` bars (float64, shape (n,))."""
    n = close.shape[0]
    momentum = np.empty(n)
    rate = np.empty(n)
    run = 0
    for i in range(n):
        x = close[i]
        if not math.isfinite(x):
            run = 0
            momentum[i] = rate[i] = math.nan
            continue
        if run >= period:
            earlier = close[i - period]
            momentum[i] = x - earlier
            rate[i] = x / earlier - 1.0
        else:
            momentum[i] = rate[i] = math.nan
        run += 1
    return momentum, rate


@njit(cache=True, error_model="numpy")
def log_return_step(period: int, state: FloatArray, ring: FloatArray, close: float) -> float:
    """Log return over ``period`` bars: ln(close / close ``period`` bars ago)."""
    earlier = lag_step(period, state, ring, close)
    return math.log(close / earlier)


@njit(cache=True, error_model="numpy")
def compute_log_return(close: FloatArray, period: int) -> FloatArray:
    """ln(close[i] / close[i - period]) (float64, shape (n,))."""
    out = np.empty(close.shape[0])
    state = np.zeros(LAG_SLOTS)
    ring = np.zeros(period)
    for i in range(close.shape[0]):
        out[i] = log_return_step(period, state, ring, close[i])
    return out


@njit(cache=True, error_model="numpy")
def momentum_skip_step(
    period: int, skip: int, state: FloatArray, ring: FloatArray, close: float
) -> float:
    """Momentum that skips the most recent bars, e.g. 12-1 momentum (period 252, skip 21):
    close ``skip`` bars ago / close ``period`` bars ago - 1. ``ring``: float64 array of
    ``period``."""
    earlier = lag_step(period, state, ring, close)
    if math.isnan(earlier):
        return math.nan
    # The newest value sits just before the ring position; step back ``skip`` from it.
    position = int(state[1]) - 1 - skip
    if position < 0:
        position += period
    return float(ring[position] / earlier - 1.0)


@njit(cache=True, error_model="numpy")
def compute_momentum_skip(close: FloatArray, period: int, skip: int) -> FloatArray:
    """close[i - skip] / close[i - period] - 1 (float64, shape (n,))."""
    out = np.empty(close.shape[0])
    state = np.zeros(LAG_SLOTS)
    ring = np.zeros(period)
    for i in range(close.shape[0]):
        out[i] = momentum_skip_step(period, skip, state, ring, close[i])
    return out
