"""Rolling extremes: the close's distance from its n-bar high and low (52-week high/low at 252).

A rolling maximum cannot be kept in O(1) worst case per bar, but a monotonic deque (a ring
buffer of the values that can still become the maximum, decreasing from head to tail) takes
amortised O(1): every bar enters once and leaves once. The minimum is minus the maximum of the
negated values (negation is exact). See ``_window`` for the gap rule.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stockpred.features.kernels._window import FloatArray

__all__ = [
    "EXTREME_SLOTS",
    "compute_high_low_distance",
    "high_low_distance_step",
    "high_low_sizes",
    "rolling_max_step",
]

# State of a rolling maximum: consecutive valid values seen, deque head, deque length, clock.
EXTREME_SLOTS = 4


@njit(cache=True, error_model="numpy")
def rolling_max_step(
    period: int, state: FloatArray, values: FloatArray, stamps: FloatArray, x: float
) -> float:
    """Maximum of the last ``period`` values (NaN until ``period`` consecutive finite values).

    ``values``, ``stamps``: float64 arrays of ``period`` (the deque's values and bar numbers).
    """
    if not math.isfinite(x):
        for j in range(EXTREME_SLOTS):
            state[j] = 0.0
        return math.nan
    clock = state[3]
    state[3] = clock + 1.0
    head = int(state[1])
    length = int(state[2])
    while length > 0 and stamps[head] <= clock - period:
        head += 1
        if head == period:
            head = 0
        length -= 1
    while length > 0:
        tail = head + length - 1
        if tail >= period:
            tail -= period
        if values[tail] > x:
            break
        length -= 1
    position = head + length
    if position >= period:
        position -= period
    values[position] = x
    stamps[position] = clock
    state[1] = head
    state[2] = length + 1
    run = state[0] + 1.0
    state[0] = run
    if run < period:
        return math.nan
    return float(values[head])


def high_low_sizes(period: int) -> tuple[int, ...]:
    """Sizes of the state arrays: a rolling maximum of highs and one of negated lows."""
    return (EXTREME_SLOTS, period, period, EXTREME_SLOTS, period, period)


@njit(cache=True, error_model="numpy")
def high_low_distance_step(  # noqa: PLR0917 - numba steps are called positionally
    period: int,
    top_state: FloatArray,
    top_values: FloatArray,
    top_stamps: FloatArray,
    bottom_state: FloatArray,
    bottom_values: FloatArray,
    bottom_stamps: FloatArray,
    high: float,
    low: float,
    close: float,
) -> tuple[float, float]:
    """close / (highest high of the last ``period`` bars) - 1 (at most 0), and
    close / (lowest low of the last ``period`` bars) - 1 (at least 0), today included."""
    if not (math.isfinite(high) and math.isfinite(low) and math.isfinite(close)):
        rolling_max_step(period, top_state, top_values, top_stamps, math.nan)
        rolling_max_step(period, bottom_state, bottom_values, bottom_stamps, math.nan)
        return math.nan, math.nan
    top = rolling_max_step(period, top_state, top_values, top_stamps, high)
    bottom = -rolling_max_step(period, bottom_state, bottom_values, bottom_stamps, -low)
    return close / top - 1.0, close / bottom - 1.0


@njit(cache=True, error_model="numpy")
def compute_high_low_distance(
    high: FloatArray, low: FloatArray, close: FloatArray, period: int
) -> tuple[FloatArray, FloatArray]:
    """Distance of the close from the ``period``-bar high and low (float64, shape (n,))."""
    n = close.shape[0]
    to_high = np.empty(n)
    to_low = np.empty(n)
    top_state = np.zeros(EXTREME_SLOTS)
    top_values = np.zeros(period)
    top_stamps = np.zeros(period)
    bottom_state = np.zeros(EXTREME_SLOTS)
    bottom_values = np.zeros(period)
    bottom_stamps = np.zeros(period)
    for i in range(n):
        to_high[i], to_low[i] = high_low_distance_step(
            period,
            top_state,
            top_values,
            top_stamps,
            bottom_state,
            bottom_values,
            bottom_stamps,
            high[i],
            low[i],
            close[i],
        )
    return to_high, to_low
