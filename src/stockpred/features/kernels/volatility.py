"""Volatility: Bollinger %b and bandwidth, Wilder's ATR, realised volatility of log returns, and
Parkinson and Garman-Klass range volatility.

Each indicator is a step function (one bar, state updated in place) and a batch kernel that
loops the step over float64 arrays of shape (n,). See ``_window`` for the gap rule.
Annualised volatilities assume 252 trading days a year: sqrt(252) times the daily figure.
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
    "ATR_SLOTS",
    "TRADING_DAYS",
    "atr_step",
    "bollinger_sizes",
    "bollinger_step",
    "compute_atr",
    "compute_bollinger",
    "compute_garman_klass",
    "compute_parkinson",
    "compute_volatility",
    "garman_klass_step",
    "parkinson_step",
    "range_sizes",
    "volatility_sizes",
    "volatility_step",
]

TRADING_DAYS = 252.0
ATR_SLOTS = 4
_LN2 = math.log(2.0)


def bollinger_sizes(period: int) -> tuple[int, ...]:
    """Sizes of the Bollinger state arrays: a rolling sum of closes and one of squared closes."""
    return (ROLLING_SLOTS, period, ROLLING_SLOTS, period)


@njit(cache=True, error_model="numpy")
def bollinger_step(  # noqa: PLR0917 - numba steps are called positionally
    period: int,
    width: float,
    sum_state: FloatArray,
    sum_ring: FloatArray,
    square_state: FloatArray,
    square_ring: FloatArray,
    close: float,
) -> tuple[float, float]:
    """Bollinger %b and bandwidth, bands = SMA ± ``width`` population standard deviations (as
    TA-Lib's BBANDS): %b = (close - lower) / (upper - lower), bandwidth = (upper - lower) / SMA.
    When the bands collapse (a flat window) %b is 0.5 and bandwidth 0."""
    total = rolling_sum_step(period, sum_state, sum_ring, close)
    squares = rolling_sum_step(period, square_state, square_ring, close * close)
    if math.isnan(total) or math.isnan(squares):
        return math.nan, math.nan
    mean = total / period
    variance = squares / period - mean * mean
    deviation = math.sqrt(variance) if variance > 0.0 else 0.0
    spread = width * deviation
    upper = mean + spread
    lower = mean - spread
    band = upper - lower
    if band == 0.0:
        return 0.5, 0.0
    return (close - lower) / band, band / mean


@njit(cache=True, error_model="numpy")
def compute_bollinger(
    close: FloatArray, period: int, width: float
) -> tuple[FloatArray, FloatArray]:
    """Bollinger %b and bandwidth of ``close`` (float64, shape (n,))."""
    n = close.shape[0]
    percent_b = np.empty(n)
    bandwidth = np.empty(n)
    run = 0
    total = 0.0
    squares = 0.0
    since = 0
    for i in range(n):
        x = close[i]
        if not math.isfinite(x):
            run = 0
            total = squares = 0.0
            since = 0
            percent_b[i] = bandwidth[i] = math.nan
            continue
        if run >= period:
            old = close[i - period]
            total -= old
            squares -= old * old
        total += x
        squares += x * x
        run += 1
        if run < period:
            percent_b[i] = bandwidth[i] = math.nan
            continue
        since += 1
        if since >= RECOMPUTE_EVERY:
            total = squares = 0.0
            for j in range(i - period + 1, i + 1):
                total += close[j]
            for j in range(i - period + 1, i + 1):
                squares += close[j] * close[j]
            since = 0
        # The divider is the bottleneck: one division here runs alongside the additions the
        # loop waits on; the rest (a division, the square root and the two output quotients) go
        # to a second, branch-free pass that vectorises. The mean and the sum of squares wait
        # in the outputs meanwhile (NaN in the warm-up carries through that pass).
        percent_b[i] = total / period
        bandwidth[i] = squares
    for i in range(n):
        mean = percent_b[i]
        variance = bandwidth[i] / period - mean * mean
        deviation = math.sqrt(variance) if variance > 0.0 else 0.0
        spread = width * deviation
        upper = mean + spread
        lower = mean - spread
        band = upper - lower
        percent_b[i] = 0.5 if band == 0.0 else (close[i] - lower) / band
        bandwidth[i] = 0.0 if band == 0.0 else band / mean
    return percent_b, bandwidth


@njit(cache=True, error_model="numpy")
def atr_step(
    period: int, state: FloatArray, high: float, low: float, close: float
) -> tuple[float, float]:
    """Wilder's average true range and ATR / close.

    True range = max(high - low, |high - previous close|, |low - previous close|), defined from
    the second bar. Seeded like TA-Lib (default unstable period 0): the first ATR, on bar
    ``period``, is the mean of the first ``period`` true ranges; then
    atr = (atr * (period - 1) + tr) / period, computed as atr * ((period - 1) / period) +
    tr * (1 / period): the same number up to the last bits, with no division on the bar-to-bar
    dependency chain.

    ``state``: [consecutive valid bars, previous close, seed sum, atr].
    """
    if not (math.isfinite(high) and math.isfinite(low) and math.isfinite(close)):
        for j in range(ATR_SLOTS):
            state[j] = 0.0
        return math.nan, math.nan
    run = state[0] + 1.0
    state[0] = run
    previous = state[1]
    state[1] = close
    if run == 1.0:
        return math.nan, math.nan
    true_range = high - low
    up = abs(previous - high)
    down = abs(low - previous)
    true_range = max(true_range, up)
    true_range = max(true_range, down)
    if run <= period:
        state[2] += true_range
        return math.nan, math.nan
    if run == period + 1.0:
        state[3] = (state[2] + true_range) / period
    else:
        state[3] = state[3] * ((period - 1.0) / period) + true_range * (1.0 / period)
    return state[3], state[3] / close


@njit(cache=True, error_model="numpy")
def compute_atr(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> tuple[FloatArray, FloatArray]:
    """ATR(period) and ATR / close (float64, shape (n,)); NaN for the first ``period`` bars.

    One loop does the true range, the smoothing and the ratio: the loop is bound by the
    multiply-add chain from bar to bar, and the true range and the division fit beside it.
    """
    n = close.shape[0]
    atr = np.empty(n)
    ratio = np.empty(n)
    decay = (period - 1.0) / period
    weight = 1.0 / period
    run = 0
    seed = 0.0
    value = 0.0
    last = 0.0
    for i in range(n):
        top = high[i]
        bottom = low[i]
        x = close[i]
        if not (math.isfinite(top) and math.isfinite(bottom) and math.isfinite(x)):
            run = 0
            seed = value = 0.0
            atr[i] = ratio[i] = math.nan
            continue
        run += 1
        previous = last
        last = x
        if run == 1:
            atr[i] = ratio[i] = math.nan
            continue
        true_range = max(top - bottom, abs(previous - top), abs(bottom - previous))
        if run <= period:
            seed += true_range
            atr[i] = ratio[i] = math.nan
            continue
        if run == period + 1:
            value = (seed + true_range) / period
        else:
            value = value * decay + true_range * weight
        atr[i] = value
        ratio[i] = value / x
    return atr, ratio


def volatility_sizes(period: int) -> tuple[int, ...]:
    """Sizes of the realised-volatility state arrays: [has previous close, previous close], then
    rolling sums of log returns and of their squares."""
    return (2, ROLLING_SLOTS, period, ROLLING_SLOTS, period)


@njit(cache=True, error_model="numpy")
def volatility_step(  # noqa: PLR0917 - numba steps are called positionally
    period: int,
    previous: FloatArray,
    sum_state: FloatArray,
    sum_ring: FloatArray,
    square_state: FloatArray,
    square_ring: FloatArray,
    close: float,
) -> float:
    """Realised volatility: the sample standard deviation (ddof = 1) of the last ``period`` daily
    log returns, annualised by sqrt(252). First defined on bar ``period``."""
    if not (math.isfinite(close) and close > 0.0):
        previous[0] = 0.0
        previous[1] = 0.0
        rolling_sum_step(period, sum_state, sum_ring, math.nan)
        rolling_sum_step(period, square_state, square_ring, math.nan)
        return math.nan
    if previous[0] == 0.0:
        previous[0] = 1.0
        previous[1] = close
        return math.nan
    change = math.log(close / previous[1])
    previous[1] = close
    total = rolling_sum_step(period, sum_state, sum_ring, change)
    squares = rolling_sum_step(period, square_state, square_ring, change * change)
    if math.isnan(total):
        return math.nan
    variance = (squares - total * total / period) / (period - 1)
    if variance <= 0.0:
        return 0.0
    return math.sqrt(variance * TRADING_DAYS)


def compute_volatility(close: FloatArray, period: int) -> FloatArray:
    """Annualised realised volatility over ``period`` log returns (float64, shape (n,)).

    The log returns come from numpy's vectorised log in one pass (the scalar log in the loop
    would be most of the cost); it can differ from the scalar ``math.log`` of the step by one
    unit in the last place, so the stream agrees with this to ~1e-15 relative, not bit for bit.
    """
    ratios, all_positive = _close_ratios(close)
    if all_positive:
        np.log(ratios, out=ratios)
    else:
        # A gap or a close at or below zero: log warns on those ratios, which the loop skips.
        with np.errstate(divide="ignore", invalid="ignore"):
            np.log(ratios, out=ratios)
    return _volatility_from_log_returns(close, ratios, period)


@njit(cache=True, error_model="numpy")
def _close_ratios(close: FloatArray) -> tuple[FloatArray, bool]:
    """close[i] / close[i - 1], and whether every one of them is above zero (then their log
    cannot warn). Bar 0 has no previous close: its ratio is 1, and it is never read."""
    n = close.shape[0]
    ratios = np.empty(n)
    all_positive = True
    if n > 0:
        ratios[0] = 1.0
    for i in range(1, n):
        ratio = close[i] / close[i - 1]
        ratios[i] = ratio
        all_positive &= ratio > 0.0
    return ratios, all_positive


@njit(cache=True, error_model="numpy")
def _volatility_from_log_returns(
    close: FloatArray, log_returns: FloatArray, period: int
) -> FloatArray:
    """The volatility loop of ``volatility_step`` over precomputed ln(close[i] / close[i-1])."""
    n = close.shape[0]
    out = np.empty(n)
    has_previous = False
    run = 0
    total = 0.0
    squares = 0.0
    since = 0
    for i in range(n):
        x = close[i]
        if not (math.isfinite(x) and x > 0.0):
            has_previous = False
            run = 0
            total = squares = 0.0
            since = 0
            out[i] = math.nan
            continue
        if not has_previous:
            has_previous = True
            out[i] = math.nan
            continue
        change = log_returns[i]
        if run >= period:
            old = log_returns[i - period]
            total -= old
            squares -= old * old
        total += change
        squares += change * change
        run += 1
        if run < period:
            out[i] = math.nan
            continue
        since += 1
        if since >= RECOMPUTE_EVERY:
            total = squares = 0.0
            for j in range(i - period + 1, i + 1):
                total += log_returns[j]
            for j in range(i - period + 1, i + 1):
                squares += log_returns[j] * log_returns[j]
            since = 0
        variance = (squares - total * total / period) / (period - 1)
        # The variance (0 when not positive, NaN included) waits in the output; the square root
        # goes to a second pass that vectorises, and keeps the warm-up's NaN.
        out[i] = variance if variance > 0.0 else 0.0
    for i in range(n):
        out[i] = math.sqrt(out[i] * TRADING_DAYS)
    return out


def range_sizes(period: int) -> tuple[int, ...]:
    """Sizes of a range-volatility state: one rolling sum of the per-bar variance term."""
    return (ROLLING_SLOTS, period)


@njit(cache=True, error_model="numpy")
def parkinson_step(
    period: int, state: FloatArray, ring: FloatArray, high: float, low: float
) -> float:
    """Parkinson volatility: sqrt(mean(ln(high / low)^2) / (4 ln 2)), annualised by
    sqrt(252), over the last ``period`` bars."""
    spread = math.log(high / low)
    total = rolling_sum_step(period, state, ring, spread * spread)
    variance = total / (period * 4.0 * _LN2)
    return math.sqrt(variance * TRADING_DAYS)


@njit(cache=True, error_model="numpy")
def compute_parkinson(high: FloatArray, low: FloatArray, period: int) -> FloatArray:
    """Annualised Parkinson volatility over ``period`` bars (float64, shape (n,))."""
    out = np.empty(high.shape[0])
    state = np.zeros(ROLLING_SLOTS)
    ring = np.zeros(period)
    for i in range(high.shape[0]):
        out[i] = parkinson_step(period, state, ring, high[i], low[i])
    return out


@njit(cache=True, error_model="numpy")
def garman_klass_step(  # noqa: PLR0917 - numba steps are called positionally
    period: int,
    state: FloatArray,
    ring: FloatArray,
    open_: float,
    high: float,
    low: float,
    close: float,
) -> float:
    """Garman-Klass volatility: sqrt(mean(0.5 ln(high/low)^2 - (2 ln 2 - 1) ln(close/open)^2)),
    annualised by sqrt(252), over the last ``period`` bars (0 if the mean is not positive)."""
    spread = math.log(high / low)
    body = math.log(close / open_)
    term = 0.5 * spread * spread - (2.0 * _LN2 - 1.0) * body * body
    total = rolling_sum_step(period, state, ring, term)
    if math.isnan(total):
        return math.nan
    variance = total / period
    if variance <= 0.0:
        return 0.0
    return math.sqrt(variance * TRADING_DAYS)


@njit(cache=True, error_model="numpy")
def compute_garman_klass(
    open_: FloatArray, high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> FloatArray:
    """Annualised Garman-Klass volatility over ``period`` bars (float64, shape (n,))."""
    out = np.empty(close.shape[0])
    state = np.zeros(ROLLING_SLOTS)
    ring = np.zeros(period)
    for i in range(close.shape[0]):
        out[i] = garman_klass_step(period, state, ring, open_[i], high[i], low[i], close[i])
    return out
