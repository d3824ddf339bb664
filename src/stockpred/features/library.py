"""The feature library: every indicator declared as data, with its inputs, lookback, batch kernel
and incremental state, so feature sets can name indicators and parameters without code.

The catalogue of indicator kinds is an explicit table in ``features/catalog.py``
(``CATALOG: dict[str, Callable[..., Indicator]]``), not filled by import side effects.

This module is the contract between the kernels (``features/kernels.py``, batch over arrays,
``features/incremental.py``, one bar at a time) and everything that builds features from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = ["INPUTS", "IncrementalState", "Indicator"]

# Input series an indicator may read, as float64 arrays of shape (n,), oldest first.
INPUTS = ("open", "high", "low", "close", "volume")


class IncrementalState(Protocol):
    """One indicator, updated one bar at a time in O(1); after the same history its ``value``
    equals the batch kernel's last output (to 1e-9 relative)."""

    def update(self, bar: Mapping[str, float]) -> None:
        """Take the next bar (keys: the indicator's inputs)."""
        ...

    def peek(self, bar: Mapping[str, float]) -> Mapping[str, float]:
        """What ``update(bar)`` would make ``value``, leaving the state as it is."""
        ...

    @property
    def value(self) -> Mapping[str, float]:
        """Current output(s) by output name; NaN until ``ready``."""
        ...

    @property
    def ready(self) -> bool:
        """Whether enough bars were seen for the outputs to be defined (the lookback)."""
        ...

    def reset(self) -> None:
        """Forget all history."""
        ...


@dataclass(frozen=True, slots=True)
class Indicator:
    """An indicator with fixed parameters.

    ``outputs``: output names (feature column names), e.g. ("rsi_14",) or ("macd_12_26_9",
    "macd_signal_12_26_9", "macd_hist_12_26_9"). ``batch(inputs)`` returns one float64 array per
    output, shape (n,), NaN during warm-up; it must be point in time (the value at i uses only
    inputs[:i+1]). ``lookback``: bars needed before the first defined value (warm-up), used for
    incremental recomputation. ``incremental()`` returns a fresh state object.
    """

    name: str
    params: Mapping[str, int | float]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    lookback: int
    batch: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]
    incremental: Callable[[], IncrementalState]
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
