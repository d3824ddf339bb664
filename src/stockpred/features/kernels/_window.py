"""Shared per-bar building blocks for the kernels: a rolling sum over a ring buffer.

Every kernel in this package is written as a *step* function that takes its parameters, its
state (float64 arrays, all zeros when fresh) and one bar, updates the state in place and returns
the output(s) for that bar. The batch kernel loops the step over an array; the incremental state
(``features/incremental.py``) calls the very same compiled step once per bar. Online therefore
equals offline by construction, and every output is point in time because a step only ever sees
the bars already fed to it.

Gap rule (shared by every kernel): a non-finite input (NaN or ±inf) is a gap. A gap resets the
indicator: its outputs are NaN on that bar and stay NaN until it has seen ``lookback + 1``
consecutive valid bars again, exactly as at the start of a series. Nothing before a gap leaks
past it, so a gap never poisons the rest of the history.

Running sums drift by rounding as values enter and leave the window; each rolling sum is
recomputed exactly from its window (oldest to newest) every ``RECOMPUTE_EVERY`` bars, which
keeps the error bounded (far below 1e-9 relative) at O(1) amortised cost per bar.

The batch kernels of the benchmark set (SMA, EMA, RSI, MACD, Bollinger, ATR, volatility,
momentum) inline their step as a loop over local variables, reading trailing values from the
input array instead of a ring buffer, because state kept in arrays costs a memory round trip per
bar; some move branch-free arithmetic into a separate pass that vectorises. They perform the
same floating-point operations in the same order as their step function, so the two agree bit
for bit, with one exception: batch volatility takes its log returns from numpy's vectorised log,
which can differ from the step's scalar log in the last bit (agreement ~1e-15 relative). The
online-equals-offline tests hold every kernel to 1e-9 relative.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["RECOMPUTE_EVERY", "ROLLING_SLOTS", "FloatArray", "rolling_sum_step"]

FloatArray = npt.NDArray[np.float64]

# State slots of a rolling sum: consecutive valid values seen, ring position, running sum,
# updates since the last exact recomputation.
ROLLING_SLOTS = 4
# Bars between exact recomputations of a running sum.
RECOMPUTE_EVERY = 512


@njit(cache=True, error_model="numpy")
def rolling_sum_step(period: int, state: FloatArray, ring: FloatArray, x: float) -> float:
    """Sum of the last ``period`` values (NaN until ``period`` consecutive finite values).

    ``state``: float64 array of ``ROLLING_SLOTS``; ``ring``: float64 array of ``period``.
    A non-finite ``x`` resets the sum and returns NaN.
    """
    if not math.isfinite(x):
        state[0] = 0.0
        state[1] = 0.0
        state[2] = 0.0
        state[3] = 0.0
        return math.nan
    run = state[0]
    position = int(state[1])
    if run >= period:
        state[2] -= ring[position]
    ring[position] = x
    state[2] += x
    position += 1
    if position == period:
        position = 0
    state[1] = position
    run += 1.0
    state[0] = run
    if run < period:
        return math.nan
    state[3] += 1.0
    if state[3] >= RECOMPUTE_EVERY:
        # ``position`` now points at the oldest value: sum oldest to newest, as the batch does.
        total = 0.0
        for _ in range(period):
            total += ring[position]
            position += 1
            if position == period:
                position = 0
        state[2] = total
        state[3] = 0.0
    return float(state[2])
