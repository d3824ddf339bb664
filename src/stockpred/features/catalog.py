"""The catalogue of indicator kinds: an explicit table from a kind ("sma", "rsi", ...) to a
factory that takes the parameters as keywords and returns a fully filled ``Indicator``.

Nothing registers itself at import time; adding a kind means adding a row to ``CATALOG``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from stockpred.domain.errors import FeatureError
from stockpred.features import incremental
from stockpred.features.kernels import (
    compute_atr,
    compute_bollinger,
    compute_ema,
    compute_ema_distance,
    compute_garman_klass,
    compute_high_low_distance,
    compute_log_return,
    compute_macd,
    compute_max_drawdown,
    compute_momentum,
    compute_momentum_skip,
    compute_obv_slope,
    compute_parkinson,
    compute_rsi,
    compute_sma,
    compute_sma_distance,
    compute_volatility,
    compute_volume_zscore,
)
from stockpred.features.library import Indicator

__all__ = ["CATALOG", "make_indicator"]

Arrays = Mapping[str, np.ndarray]


def _series(inputs: Arrays, name: str) -> np.ndarray:
    """One input as a contiguous float64 array (the kernels compile for exactly that)."""
    return np.ascontiguousarray(inputs[name], dtype=np.float64)


def _check_period(kind: str, name: str, value: int, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FeatureError(
            f"{kind}: {name} must be an integer of at least {minimum}, got {value!r}; "
            f"pass e.g. {name}={max(minimum, 14)}"
        )
    return value


def _format(value: float) -> str:
    return f"{value:g}".replace(".", "p")


def sma(*, period: int = 20) -> Indicator:
    """Simple moving average of the close over ``period`` bars."""
    period = _check_period("sma", "period", period)
    output = f"sma_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period - 1,
        batch=lambda x: {output: compute_sma(_series(x, "close"), period)},
        incremental=lambda: incremental.SMAState(period=period, outputs=(output,)),
        description=f"Simple moving average of the close over {period} bars.",
        tags=("trend",),
    )


def ema(*, period: int = 20) -> Indicator:
    """Exponential moving average of the close, k = 2 / (period + 1), seeded like TA-Lib."""
    period = _check_period("ema", "period", period)
    output = f"ema_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period - 1,
        batch=lambda x: {output: compute_ema(_series(x, "close"), period)},
        incremental=lambda: incremental.EMAState(period=period, outputs=(output,)),
        description=f"Exponential moving average of the close, {period} bars, SMA-seeded.",
        tags=("trend",),
    )


def sma_distance(*, period: int = 20) -> Indicator:
    """The close's relative distance from its SMA: close / SMA - 1."""
    period = _check_period("sma_distance", "period", period)
    output = f"close_to_sma_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period - 1,
        batch=lambda x: {output: compute_sma_distance(_series(x, "close"), period)},
        incremental=lambda: incremental.SMADistanceState(period=period, outputs=(output,)),
        description=f"close / SMA({period}) - 1.",
        tags=("trend",),
    )


def ema_distance(*, period: int = 20) -> Indicator:
    """The close's relative distance from its EMA: close / EMA - 1."""
    period = _check_period("ema_distance", "period", period)
    output = f"close_to_ema_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period - 1,
        batch=lambda x: {output: compute_ema_distance(_series(x, "close"), period)},
        incremental=lambda: incremental.EMADistanceState(period=period, outputs=(output,)),
        description=f"close / EMA({period}) - 1.",
        tags=("trend",),
    )


def macd(*, fast: int = 12, slow: int = 26, signal: int = 9) -> Indicator:
    """MACD line, signal and histogram, seeded like TA-Lib."""
    fast = _check_period("macd", "fast", fast)
    slow = _check_period("macd", "slow", slow, minimum=fast + 1)
    signal = _check_period("macd", "signal", signal)
    suffix = f"{fast}_{slow}_{signal}"
    outputs = (f"macd_{suffix}", f"macd_signal_{suffix}", f"macd_hist_{suffix}")

    def batch(x: Arrays) -> dict[str, np.ndarray]:
        return dict(
            zip(outputs, compute_macd(_series(x, "close"), fast, slow, signal), strict=True)
        )

    return Indicator(
        name=f"macd_{suffix}",
        params={"fast": fast, "slow": slow, "signal": signal},
        inputs=("close",),
        outputs=outputs,
        lookback=slow + signal - 2,
        batch=batch,
        incremental=lambda: incremental.MACDState(
            fast=fast, slow=slow, signal=signal, outputs=outputs
        ),
        description=f"MACD({fast}, {slow}, {signal}): line, signal and histogram.",
        tags=("trend", "momentum"),
    )


def rsi(*, period: int = 14) -> Indicator:
    """Wilder's relative strength index, 0..100."""
    period = _check_period("rsi", "period", period)
    output = f"rsi_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period,
        batch=lambda x: {output: compute_rsi(_series(x, "close"), period)},
        incremental=lambda: incremental.RSIState(period=period, outputs=(output,)),
        description=f"Wilder's RSI over {period} bars (0..100; 50 on a flat window).",
        tags=("momentum",),
    )


def momentum(*, period: int = 10) -> Indicator:
    """Momentum (close difference) and rate of change (fraction) over ``period`` bars."""
    period = _check_period("momentum", "period", period)
    outputs = (f"momentum_{period}", f"roc_{period}")

    def batch(x: Arrays) -> dict[str, np.ndarray]:
        return dict(zip(outputs, compute_momentum(_series(x, "close"), period), strict=True))

    return Indicator(
        name=f"momentum_{period}",
        params={"period": period},
        inputs=("close",),
        outputs=outputs,
        lookback=period,
        batch=batch,
        incremental=lambda: incremental.MomentumState(period=period, outputs=outputs),
        description=f"close - close {period} bars ago, and close / close {period} ago - 1.",
        tags=("momentum",),
    )


def log_return(*, period: int = 1) -> Indicator:
    """Log return of the close over ``period`` bars."""
    period = _check_period("log_return", "period", period)
    output = f"log_return_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period,
        batch=lambda x: {output: compute_log_return(_series(x, "close"), period)},
        incremental=lambda: incremental.LogReturnState(period=period, outputs=(output,)),
        description=f"ln(close / close {period} bars ago).",
        tags=("return",),
    )


def momentum_skip(*, period: int = 252, skip: int = 21) -> Indicator:
    """Momentum that skips the latest bars: 12-1 momentum is period 252, skip 21."""
    period = _check_period("momentum_skip", "period", period, minimum=2)
    skip = _check_period("momentum_skip", "skip", skip)
    if skip >= period:
        raise FeatureError(
            f"momentum_skip: skip must be below period, got skip={skip}, period={period}"
        )
    output = f"momentum_{period}_skip_{skip}"
    return Indicator(
        name=output,
        params={"period": period, "skip": skip},
        inputs=("close",),
        outputs=(output,),
        lookback=period,
        batch=lambda x: {output: compute_momentum_skip(_series(x, "close"), period, skip)},
        incremental=lambda: incremental.MomentumSkipState(
            period=period, skip=skip, outputs=(output,)
        ),
        description=f"close {skip} bars ago / close {period} bars ago - 1.",
        tags=("momentum",),
    )


def bollinger(*, period: int = 20, width: float = 2.0) -> Indicator:
    """Bollinger %b and bandwidth (SMA ± ``width`` population standard deviations)."""
    period = _check_period("bollinger", "period", period)
    if not width > 0:
        raise FeatureError(f"bollinger: width must be positive, got {width!r}; pass width=2")
    width = float(width)
    suffix = f"{period}_{_format(width)}"
    outputs = (f"bollinger_pctb_{suffix}", f"bollinger_bandwidth_{suffix}")

    def batch(x: Arrays) -> dict[str, np.ndarray]:
        return dict(
            zip(outputs, compute_bollinger(_series(x, "close"), period, width), strict=True)
        )

    return Indicator(
        name=f"bollinger_{suffix}",
        params={"period": period, "width": width},
        inputs=("close",),
        outputs=outputs,
        lookback=period - 1,
        batch=batch,
        incremental=lambda: incremental.BollingerState(period=period, width=width, outputs=outputs),
        description=f"Bollinger({period}, {width:g}) %b and bandwidth.",
        tags=("volatility",),
    )


def atr(*, period: int = 14) -> Indicator:
    """Wilder's average true range and ATR / close."""
    period = _check_period("atr", "period", period)
    outputs = (f"atr_{period}", f"atr_ratio_{period}")

    def batch(x: Arrays) -> dict[str, np.ndarray]:
        high, low, close = (_series(x, k) for k in ("high", "low", "close"))
        return dict(zip(outputs, compute_atr(high, low, close, period), strict=True))

    return Indicator(
        name=f"atr_{period}",
        params={"period": period},
        inputs=("high", "low", "close"),
        outputs=outputs,
        lookback=period,
        batch=batch,
        incremental=lambda: incremental.ATRState(period=period, outputs=outputs),
        description=f"Wilder's ATR over {period} bars, and ATR / close.",
        tags=("volatility",),
    )


def volatility(*, period: int = 20) -> Indicator:
    """Realised volatility: sample std of daily log returns over ``period``, times sqrt(252)."""
    period = _check_period("volatility", "period", period, minimum=2)
    output = f"volatility_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period,
        batch=lambda x: {output: compute_volatility(_series(x, "close"), period)},
        incremental=lambda: incremental.VolatilityState(period=period, outputs=(output,)),
        description=f"Annualised std of {period} daily log returns (ddof 1, sqrt(252)).",
        tags=("volatility",),
    )


def parkinson(*, period: int = 20) -> Indicator:
    """Parkinson high-low range volatility, annualised."""
    period = _check_period("parkinson", "period", period)
    output = f"parkinson_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("high", "low"),
        outputs=(output,),
        lookback=period - 1,
        batch=lambda x: {output: compute_parkinson(_series(x, "high"), _series(x, "low"), period)},
        incremental=lambda: incremental.ParkinsonState(period=period, outputs=(output,)),
        description=f"Parkinson range volatility over {period} bars, annualised (sqrt(252)).",
        tags=("volatility",),
    )


def garman_klass(*, period: int = 20) -> Indicator:
    """Garman-Klass open-high-low-close volatility, annualised."""
    period = _check_period("garman_klass", "period", period)
    output = f"garman_klass_{period}"

    def batch(x: Arrays) -> dict[str, np.ndarray]:
        open_, high, low, close = (_series(x, k) for k in ("open", "high", "low", "close"))
        return {output: compute_garman_klass(open_, high, low, close, period)}

    return Indicator(
        name=output,
        params={"period": period},
        inputs=("open", "high", "low", "close"),
        outputs=(output,),
        lookback=period - 1,
        batch=batch,
        incremental=lambda: incremental.GarmanKlassState(period=period, outputs=(output,)),
        description=f"Garman-Klass volatility over {period} bars, annualised (sqrt(252)).",
        tags=("volatility",),
    )


def volume_zscore(*, period: int = 20) -> Indicator:
    """Z-score of the volume against its last ``period`` bars (today included)."""
    period = _check_period("volume_zscore", "period", period, minimum=2)
    output = f"volume_zscore_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("volume",),
        outputs=(output,),
        lookback=period - 1,
        batch=lambda x: {output: compute_volume_zscore(_series(x, "volume"), period)},
        incremental=lambda: incremental.VolumeZScoreState(period=period, outputs=(output,)),
        description=f"(volume - mean) / std over {period} bars.",
        tags=("volume",),
    )


def obv_slope(*, period: int = 20) -> Indicator:
    """On-balance-volume slope over ``period`` bars per unit of volume traded, in [-1, 1]."""
    period = _check_period("obv_slope", "period", period)
    output = f"obv_slope_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close", "volume"),
        outputs=(output,),
        lookback=period,
        batch=lambda x: {
            output: compute_obv_slope(_series(x, "close"), _series(x, "volume"), period)
        },
        incremental=lambda: incremental.OBVSlopeState(period=period, outputs=(output,)),
        description=f"(OBV - OBV {period} bars ago) / volume traded over those bars.",
        tags=("volume",),
    )


def high_low_distance(*, period: int = 252) -> Indicator:
    """The close's distance from its ``period``-bar high and low (52-week at 252)."""
    period = _check_period("high_low_distance", "period", period)
    outputs = (f"close_to_high_{period}", f"close_to_low_{period}")

    def batch(x: Arrays) -> dict[str, np.ndarray]:
        high, low, close = (_series(x, k) for k in ("high", "low", "close"))
        return dict(zip(outputs, compute_high_low_distance(high, low, close, period), strict=True))

    return Indicator(
        name=f"high_low_distance_{period}",
        params={"period": period},
        inputs=("high", "low", "close"),
        outputs=outputs,
        lookback=period - 1,
        batch=batch,
        incremental=lambda: incremental.HighLowDistanceState(period=period, outputs=outputs),
        description=(
            f"close / highest high of {period} bars - 1, and close / lowest low of {period} "
            "bars - 1."
        ),
        tags=("trend",),
    )


def max_drawdown(*, period: int = 60) -> Indicator:
    """The largest peak-to-trough fall of the close within the last ``period`` bars, as a
    positive fraction (0.25: the close fell 25% from an earlier close of the window)."""
    period = _check_period("max_drawdown", "period", period, minimum=2)
    output = f"max_drawdown_{period}"
    return Indicator(
        name=output,
        params={"period": period},
        inputs=("close",),
        outputs=(output,),
        lookback=period - 1,
        batch=lambda x: {output: compute_max_drawdown(_series(x, "close"), period)},
        incremental=lambda: incremental.MaxDrawdownState(period=period, outputs=(output,)),
        description=(
            f"max over j <= k of 1 - close_k / close_j within the last {period} closes "
            "(>= 0; today included)."
        ),
        tags=("risk",),
    )


CATALOG: dict[str, Callable[..., Indicator]] = {
    "sma": sma,
    "ema": ema,
    "sma_distance": sma_distance,
    "ema_distance": ema_distance,
    "macd": macd,
    "rsi": rsi,
    "momentum": momentum,
    "log_return": log_return,
    "momentum_skip": momentum_skip,
    "bollinger": bollinger,
    "atr": atr,
    "volatility": volatility,
    "parkinson": parkinson,
    "garman_klass": garman_klass,
    "volume_zscore": volume_zscore,
    "obv_slope": obv_slope,
    "high_low_distance": high_low_distance,
    "max_drawdown": max_drawdown,
}


def make_indicator(kind: str, **params: int | float) -> Indicator:
    """The indicator of ``kind`` with ``params``; a FeatureError names the known kinds."""
    try:
        factory = CATALOG[kind]
    except KeyError as exc:
        raise FeatureError(
            f"unknown indicator kind {kind!r}; known kinds: {', '.join(sorted(CATALOG))}"
        ) from exc
    try:
        return factory(**params)
    except TypeError as exc:
        raise FeatureError(f"{kind}: bad parameters {params!r}: {exc}") from exc
