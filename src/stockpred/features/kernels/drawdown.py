"""Rolling maximum drawdown: the largest peak-to-trough fall of the close within the last n bars.

Over the window of the last ``period`` closes ending at bar i (today included) the maximum
drawdown is max over j <= k in the window of 1 - close_k / close_j: a positive fraction, 0 when
the close never fell below an earlier close of the window, 0.25 for a fall of 25% from a peak.
It is reported as a magnitude (>= 0, below 1 for positive prices) so that larger means riskier.

The window slides with a queue made of two stacks, each entry carrying the summary (highest
close, lowest close, maximum drawdown) of a run of consecutive closes. Summaries combine:
an older run A followed by a newer run B has max(dd_A, dd_B, 1 - low_B / high_A), because a
peak in A and a trough in B are the only pairs neither run sees alone. New closes are pushed
on the *back* stack, whose summary is kept as a running one; the oldest close leaves from the
*front* stack, whose entries hold the summary from themselves to its newest entry. When the
front is empty, the back is moved onto it in one pass. Every close is moved once, so a bar
costs amortised O(1) and at most O(period) (the bar that moves the back).

The result is the same number as the brute-force definition, bit for bit: every candidate is
1 - close_k / close_j for one pair, and rounded division is monotone, so taking the maximum in
another order picks the same pair's value. Closes are prices (positive). See ``_window`` for the
gap rule: a non-finite close resets the window.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stockpred.features.kernels._window import FloatArray

__all__ = ["DRAWDOWN_SLOTS", "compute_max_drawdown", "drawdown_sizes", "max_drawdown_step"]

# State slots: consecutive valid closes seen, entries on the back stack, entries on the front
# stack, and the back stack's summary (highest close, lowest close, maximum drawdown).
DRAWDOWN_SLOTS = 6


def drawdown_sizes(period: int) -> tuple[int, ...]:
    """Sizes of the state arrays: the slots, the back stack's closes, and the front stack's
    highest closes and maximum drawdowns (``period`` each)."""
    return (DRAWDOWN_SLOTS, period, period, period)


@njit(cache=True, error_model="numpy")
def max_drawdown_step(  # noqa: PLR0917 - numba steps are called positionally
    period: int,
    state: FloatArray,
    back: FloatArray,
    front_high: FloatArray,
    front_drawdown: FloatArray,
    close: float,
) -> float:
    """Maximum drawdown of the last ``period`` closes, today included, as a fraction >= 0 (NaN
    until ``period`` consecutive finite closes).

    ``state``: float64 array of ``DRAWDOWN_SLOTS``; ``back``, ``front_high``,
    ``front_drawdown``: float64 arrays of ``period``. A front entry's lowest close is only needed
    while the front is filled, so it is not kept.
    """
    if not math.isfinite(close):
        for j in range(DRAWDOWN_SLOTS):
            state[j] = 0.0
        return math.nan
    run = state[0] + 1.0
    state[0] = run
    back_count = int(state[1])
    front_count = int(state[2])
    if back_count + front_count == period:
        # The window is full: the oldest close leaves from the front stack.
        if front_count == 0:
            # Move the back stack onto the front, newest first, so the oldest ends on top and
            # every entry summarises itself and everything newer on the front.
            high = back[back_count - 1]
            low = high
            drawdown = 0.0
            front_high[0] = high
            front_drawdown[0] = drawdown
            for position in range(1, back_count):
                x = back[back_count - 1 - position]
                fall = 1.0 - low / x
                drawdown = max(drawdown, fall)
                high = max(high, x)
                low = min(low, x)
                front_high[position] = high
                front_drawdown[position] = drawdown
            front_count = back_count
            back_count = 0
        front_count -= 1
    # Push today's close on the back stack and extend its running summary.
    back[back_count] = close
    if back_count == 0:
        state[3] = close
        state[4] = close
        state[5] = 0.0
    else:
        fall = 1.0 - close / state[3]
        state[5] = max(state[5], fall)
        state[3] = max(state[3], close)
        state[4] = min(state[4], close)
    back_count += 1
    state[1] = back_count
    state[2] = front_count
    if run < period:
        return math.nan
    if front_count == 0:
        return float(state[5])
    top = front_count - 1
    drawdown = max(front_drawdown[top], state[5])
    fall = 1.0 - state[4] / front_high[top]
    drawdown = max(drawdown, fall)
    return float(drawdown)


@njit(cache=True, error_model="numpy")
def compute_max_drawdown(close: FloatArray, period: int) -> FloatArray:
    """Maximum drawdown of the last ``period`` closes at every bar (float64, shape (n,)), a
    fraction >= 0; NaN for the first ``period - 1`` bars."""
    n = close.shape[0]
    out = np.empty(n)
    state = np.zeros(DRAWDOWN_SLOTS)
    back = np.zeros(period)
    front_high = np.zeros(period)
    front_drawdown = np.zeros(period)
    for i in range(n):
        out[i] = max_drawdown_step(period, state, back, front_high, front_drawdown, close[i])
    return out
