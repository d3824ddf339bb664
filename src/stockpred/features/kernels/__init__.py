"""Batch indicator kernels: numba-compiled loops over float64 arrays of shape (n,), NaN during
warm-up, strictly point in time. Each kernel loops a per-bar *step* function that the incremental
states in ``features/incremental.py`` reuse, so online equals offline by construction.

Gap rule: a non-finite input resets the indicator; outputs are NaN until it has seen
``lookback + 1`` consecutive valid bars again (see ``_window``).
"""

from __future__ import annotations

from stockpred.features.kernels.averages import (
    compute_ema,
    compute_ema_distance,
    compute_macd,
    compute_sma,
    compute_sma_distance,
)
from stockpred.features.kernels.drawdown import compute_max_drawdown
from stockpred.features.kernels.extremes import compute_high_low_distance
from stockpred.features.kernels.oscillators import (
    compute_log_return,
    compute_momentum,
    compute_momentum_skip,
    compute_rsi,
)
from stockpred.features.kernels.volatility import (
    compute_atr,
    compute_bollinger,
    compute_garman_klass,
    compute_parkinson,
    compute_volatility,
)
from stockpred.features.kernels.volume import compute_obv_slope, compute_volume_zscore

__all__ = [
    "compute_atr",
    "compute_bollinger",
    "compute_ema",
    "compute_ema_distance",
    "compute_garman_klass",
    "compute_high_low_distance",
    "compute_log_return",
    "compute_macd",
    "compute_max_drawdown",
    "compute_momentum",
    "compute_momentum_skip",
    "compute_obv_slope",
    "compute_parkinson",
    "compute_rsi",
    "compute_sma",
    "compute_sma_distance",
    "compute_volatility",
    "compute_volume_zscore",
]
