"""Volume: the z-score of today's volume against its recent window, and the OBV slope.

A step function (one bar, state updated in place) and a batch kernel that loops it over float64
arrays of shape (n,). See ``_window`` for the gap rule.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from stockpred.features.kernels._window import ROLLING_SLOTS, FloatArray, rolling_sum_step

__all__ = [
    "compute_obv_slope",
    "compute_volume_zscore",
    "obv_sizes",
    "obv_slope_step",
    "volume_zscore_step",
    "zscore_sizes",
]


def zscore_sizes(period: int) -> tuple[int, ...]:
    """Sizes of the z-score state: rolling sums of the volume and of its square."""
    return (ROLLING_SLOTS, period, ROLLING_SLOTS, period)


@njit(cache=True, error_model="numpy")
def volume_zscore_step(  # noqa: PLR0917 - numba steps are called positionally
    period: int,
    sum_state: FloatArray,
    sum_ring: FloatArray,
    square_state: FloatArray,
    square_ring: FloatArray,
    volume: float,
) -> float:
    """(volume - mean) / sample standard deviation over the last ``period`` bars, today
    included; 0 when the window is flat."""
    total = rolling_sum_step(period, sum_state, sum_ring, volume)
    squares = rolling_sum_step(period, square_state, square_ring, volume * volume)
    if math.isnan(total) or math.isnan(squares):
        return math.nan
    mean = total / period
    variance = (squares - total * mean) / (period - 1)
    if variance <= 0.0:
        return 0.0
    return (volume - mean) / math.sqrt(variance)


@njit(cache=True, error_model="numpy")
def compute_volume_zscore(volume: FloatArray, period: int) -> FloatArray:
    """Volume z-score over ``period`` bars (float64, shape (n,))."""
    out = np.empty(volume.shape[0])
    sum_state = np.zeros(ROLLING_SLOTS)
    sum_ring = np.zeros(period)
    square_state = np.zeros(ROLLING_SLOTS)
    square_ring = np.zeros(period)
    for i in range(volume.shape[0]):
        out[i] = volume_zscore_step(
            period, sum_state, sum_ring, square_state, square_ring, volume[i]
        )
    return out


def obv_sizes(period: int) -> tuple[int, ...]:
    """Sizes of the OBV-slope state: [has previous close, previous close], then rolling sums of
    the signed volume and of the volume."""
    return (2, ROLLING_SLOTS, period, ROLLING_SLOTS, period)


@njit(cache=True, error_model="numpy")
def obv_slope_step(  # noqa: PLR0917 - numba steps are called positionally
    period: int,
    previous: FloatArray,
    signed_state: FloatArray,
    signed_ring: FloatArray,
    volume_state: FloatArray,
    volume_ring: FloatArray,
    close: float,
    volume: float,
) -> float:
    """Slope of on-balance volume over the last ``period`` bars per unit of volume traded:
    (OBV[t] - OBV[t - period]) / (volume of bars t - period + 1 .. t), in [-1, 1]. OBV adds the
    volume on an up close, subtracts it on a down close; its arbitrary starting level cancels,
    so the value does not depend on where the history starts. 0 when nothing traded."""
    if not (math.isfinite(close) and math.isfinite(volume)):
        previous[0] = 0.0
        previous[1] = 0.0
        rolling_sum_step(period, signed_state, signed_ring, math.nan)
        rolling_sum_step(period, volume_state, volume_ring, math.nan)
        return math.nan
    if previous[0] == 0.0:
        previous[0] = 1.0
        previous[1] = close
        return math.nan
    direction = 1.0 if close > previous[1] else (-1.0 if close < previous[1] else 0.0)
    previous[1] = close
    signed = rolling_sum_step(period, signed_state, signed_ring, direction * volume)
    traded = rolling_sum_step(period, volume_state, volume_ring, volume)
    if math.isnan(signed):
        return math.nan
    if traded == 0.0:
        return 0.0
    return float(signed / traded)


@njit(cache=True, error_model="numpy")
def compute_obv_slope(close: FloatArray, volume: FloatArray, period: int) -> FloatArray:
    """OBV slope per unit of volume over ``period`` bars (float64, shape (n,))."""
    out = np.empty(close.shape[0])
    previous = np.zeros(2)
    signed_state = np.zeros(ROLLING_SLOTS)
    signed_ring = np.zeros(period)
    volume_state = np.zeros(ROLLING_SLOTS)
    volume_ring = np.zeros(period)
    for i in range(close.shape[0]):
        out[i] = obv_slope_step(
            period,
            previous,
            signed_state,
            signed_ring,
            volume_state,
            volume_ring,
            close[i],
            volume[i],
        )
    return out
