"""Incremental (streaming) indicator state: one bar at a time, O(1) per bar.

Each class wraps the *same* compiled step function its batch kernel loops over (see
``features/kernels``), holding the step's state arrays between bars. After any history, a state's
``value`` therefore equals the batch kernel's output on the last bar of that history, bit for
bit, gaps included. This is what the stream processor and the API use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockpred.features.kernels import averages, drawdown, extremes, oscillators, volatility, volume

__all__ = [
    "ATRState",
    "BollingerState",
    "EMADistanceState",
    "EMAState",
    "GarmanKlassState",
    "HighLowDistanceState",
    "KernelState",
    "LogReturnState",
    "MACDState",
    "MaxDrawdownState",
    "MomentumSkipState",
    "MomentumState",
    "OBVSlopeState",
    "ParkinsonState",
    "RSIState",
    "SMADistanceState",
    "SMAState",
    "StepSpec",
    "VolatilityState",
    "VolumeZScoreState",
]


@dataclass(frozen=True, slots=True)
class StepSpec:
    """What a :class:`KernelState` steps: the compiled ``step``, its ``params``, the length of
    each state array (``array_sizes``) and the names of its ``inputs`` and ``outputs``, in the
    order ``step`` takes and returns them."""

    step: Callable[..., Any]
    params: tuple[int | float, ...]
    array_sizes: tuple[int, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


class KernelState:
    """A step function's state between bars.

    ``step(*params, *arrays, *inputs)`` updates ``arrays`` in place and returns one float or a
    tuple of floats (one per output). ``array_sizes``: the length of each state array (all
    zeros when fresh).
    """

    def __init__(
        self,
        *,
        step: Callable[..., Any],
        params: tuple[int | float, ...],
        array_sizes: tuple[int, ...],
        inputs: tuple[str, ...],
        outputs: tuple[str, ...],
    ) -> None:
        self._step = step
        self._params = params
        self._array_sizes = array_sizes
        self._inputs = inputs
        self._outputs = outputs
        self._arrays: tuple[np.ndarray, ...] = ()
        self._value: dict[str, float] = {}
        self.reset()

    def update(self, bar: Mapping[str, float]) -> None:
        """Take the next bar (keys: the indicator's inputs; a missing key counts as a gap)."""
        self._value = self._step_on(self._arrays, bar)

    def peek(self, bar: Mapping[str, float]) -> Mapping[str, float]:
        """The output(s) ``update(bar)`` would give, without taking the bar: a provisional
        value (a session still open) read from a copy of the state."""
        return self._step_on(tuple(array.copy() for array in self._arrays), bar)

    def _step_on(
        self, arrays: tuple[np.ndarray, ...], bar: Mapping[str, float]
    ) -> dict[str, float]:
        """The step on ``arrays`` (updated in place) and ``bar``'s inputs: the outputs by name."""
        values = [float(bar.get(name, math.nan)) for name in self._inputs]
        result = self._step(*self._params, *arrays, *values)
        if isinstance(result, tuple):
            return {name: float(x) for name, x in zip(self._outputs, result, strict=True)}
        return {self._outputs[0]: float(result)}

    @property
    def spec(self) -> StepSpec:
        """The step and its layout, for code that holds the same state for many instruments
        (``features/stacked.py``)."""
        return StepSpec(
            step=self._step,
            params=self._params,
            array_sizes=self._array_sizes,
            inputs=self._inputs,
            outputs=self._outputs,
        )

    @property
    def value(self) -> Mapping[str, float]:
        """Current output(s) by output name; NaN until ``ready``."""
        return dict(self._value)

    @property
    def ready(self) -> bool:
        """Whether every output is defined (enough consecutive valid bars since the start or the
        last gap)."""
        return all(not math.isnan(x) for x in self._value.values())

    def reset(self) -> None:
        """Forget all history."""
        self._arrays = tuple(np.zeros(size) for size in self._array_sizes)
        self._value = dict.fromkeys(self._outputs, math.nan)


class SMAState(KernelState):
    """SMA(period) of the close, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=averages.sma_step,
            params=(period,),
            array_sizes=(averages.SMA_SLOTS, period),
            inputs=("close",),
            outputs=outputs,
        )


class EMAState(KernelState):
    """EMA(period) of the close, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=averages.ema_step,
            params=(period,),
            array_sizes=(averages.EMA_SLOTS,),
            inputs=("close",),
            outputs=outputs,
        )


class SMADistanceState(KernelState):
    """close / SMA(period) - 1, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=averages.sma_distance_step,
            params=(period,),
            array_sizes=(averages.SMA_SLOTS, period),
            inputs=("close",),
            outputs=outputs,
        )


class EMADistanceState(KernelState):
    """close / EMA(period) - 1, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=averages.ema_distance_step,
            params=(period,),
            array_sizes=(averages.EMA_SLOTS,),
            inputs=("close",),
            outputs=outputs,
        )


class MACDState(KernelState):
    """MACD(fast, slow, signal) line, signal and histogram, one bar at a time."""

    def __init__(self, *, fast: int, slow: int, signal: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=averages.macd_step,
            params=(fast, slow, signal),
            array_sizes=(averages.MACD_SLOTS,),
            inputs=("close",),
            outputs=outputs,
        )


class RSIState(KernelState):
    """Wilder's RSI(period), one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=oscillators.rsi_step,
            params=(period,),
            array_sizes=(oscillators.RSI_SLOTS,),
            inputs=("close",),
            outputs=outputs,
        )


class MomentumState(KernelState):
    """Momentum and fractional rate of change over ``period`` bars, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=oscillators.momentum_step,
            params=(period,),
            array_sizes=(oscillators.LAG_SLOTS, period),
            inputs=("close",),
            outputs=outputs,
        )


class LogReturnState(KernelState):
    """Log return over ``period`` bars, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=oscillators.log_return_step,
            params=(period,),
            array_sizes=(oscillators.LAG_SLOTS, period),
            inputs=("close",),
            outputs=outputs,
        )


class MomentumSkipState(KernelState):
    """Momentum over ``period`` bars skipping the last ``skip`` (12-1 momentum)."""

    def __init__(self, *, period: int, skip: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=oscillators.momentum_skip_step,
            params=(period, skip),
            array_sizes=(oscillators.LAG_SLOTS, period),
            inputs=("close",),
            outputs=outputs,
        )


class BollingerState(KernelState):
    """Bollinger %b and bandwidth, one bar at a time."""

    def __init__(self, *, period: int, width: float, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=volatility.bollinger_step,
            params=(period, float(width)),
            array_sizes=volatility.bollinger_sizes(period),
            inputs=("close",),
            outputs=outputs,
        )


class ATRState(KernelState):
    """Wilder's ATR(period) and ATR / close, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=volatility.atr_step,
            params=(period,),
            array_sizes=(volatility.ATR_SLOTS,),
            inputs=("high", "low", "close"),
            outputs=outputs,
        )


class VolatilityState(KernelState):
    """Annualised realised volatility of log returns over ``period`` bars."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=volatility.volatility_step,
            params=(period,),
            array_sizes=volatility.volatility_sizes(period),
            inputs=("close",),
            outputs=outputs,
        )


class ParkinsonState(KernelState):
    """Annualised Parkinson range volatility over ``period`` bars."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=volatility.parkinson_step,
            params=(period,),
            array_sizes=volatility.range_sizes(period),
            inputs=("high", "low"),
            outputs=outputs,
        )


class GarmanKlassState(KernelState):
    """Annualised Garman-Klass range volatility over ``period`` bars."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=volatility.garman_klass_step,
            params=(period,),
            array_sizes=volatility.range_sizes(period),
            inputs=("open", "high", "low", "close"),
            outputs=outputs,
        )


class VolumeZScoreState(KernelState):
    """Z-score of the volume against its last ``period`` bars."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=volume.volume_zscore_step,
            params=(period,),
            array_sizes=volume.zscore_sizes(period),
            inputs=("volume",),
            outputs=outputs,
        )


class OBVSlopeState(KernelState):
    """OBV slope per unit of volume over ``period`` bars, one bar at a time."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=volume.obv_slope_step,
            params=(period,),
            array_sizes=volume.obv_sizes(period),
            inputs=("close", "volume"),
            outputs=outputs,
        )


class HighLowDistanceState(KernelState):
    """The close's distance from its ``period``-bar high and low, one bar at a time
    (amortised O(1): a monotonic deque)."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=extremes.high_low_distance_step,
            params=(period,),
            array_sizes=extremes.high_low_sizes(period),
            inputs=("high", "low", "close"),
            outputs=outputs,
        )


class MaxDrawdownState(KernelState):
    """Maximum drawdown of the last ``period`` closes, one bar at a time (amortised O(1), at most
    O(period) on the bar that refills the window's front stack; 4 arrays of ``period``)."""

    def __init__(self, *, period: int, outputs: tuple[str, ...]) -> None:
        super().__init__(
            step=drawdown.max_drawdown_step,
            params=(period,),
            array_sizes=drawdown.drawdown_sizes(period),
            inputs=("close",),
            outputs=outputs,
        )
