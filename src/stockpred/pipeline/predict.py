"""``stockpred predict``: the champion's forecast for a ticker from its latest stored features,
with the interval, the direction probability, the model version, the feature timestamp used and
the features that moved the forecast most. Each forecast is stored (``predictions`` table), so
every served number can be traced (DESIGN.md, invariant 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from stockpred.domain.errors import ModelError, NotFoundError
from stockpred.models.base import Model
from stockpred.models.catalog import load_model
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name
from stockpred.store.base import Store

__all__ = ["Forecast", "load_champion", "predict_ticker"]

_TOP = 5


@dataclass(frozen=True, slots=True)
class Forecast:
    """One served forecast. ``value``: forward log return over ``horizon`` sessions; ``price``:
    last close x exp(value); ``direction_prob``: P(return > 0) under a normal error whose
    spread matches the conformal interval (an approximation, stated with it)."""

    ticker: str
    horizon: int
    as_of: pd.Timestamp
    value: float
    lower: float
    upper: float
    coverage: float
    last_close: float
    price: float
    direction_prob: float
    model: str
    model_version: int
    registered_name: str
    contributions: tuple[tuple[str, float], ...]


def load_champion(
    registry: ModelRegistry, *, horizon: int, cache: Path
) -> tuple[ModelVersion, Model]:
    """The champion of ``horizon`` and its model, downloaded once into ``cache``."""
    name = model_name(horizon)
    try:
        champion = registry.champion(name)
    except NotFoundError:
        champion = None
    if champion is None:
        raise NotFoundError(
            f"no champion model for horizon {horizon}; run `stockpred train --horizon {horizon}`"
        )
    folder = cache / name / str(champion.version)
    if not (folder / "model").is_dir():
        registry.download(name, champion.version, folder)
    return champion, load_model(folder / "model")


def predict_ticker(
    store: Store,
    registry: ModelRegistry,
    *,
    ticker: str,
    horizon: int,
    cache: Path,
    now: datetime,
) -> Forecast:
    """The champion's forecast for ``ticker`` from its latest features; stored and returned."""
    symbol = ticker.strip().upper()
    champion, model = load_champion(registry, horizon=horizon, cache=cache)
    feature_set = champion.metadata.get("feature_set", "")
    rows = store.read_features(feature_set=feature_set, tickers=[symbol])
    if rows.empty:
        raise NotFoundError(
            f"no {feature_set} features stored for {symbol}; `stockpred data list` shows the "
            f"tickers held, `stockpred features build` computes their features"
        )
    latest = rows.iloc[[-1]].reset_index(drop=True)
    as_of = pd.Timestamp(latest["ts"].iloc[0])
    value = float(model.predict(latest)[0])
    half = float(champion.metadata.get("interval_half_width", "nan"))
    coverage = float(champion.metadata.get("interval_coverage", "nan"))
    bars = store.read_bars(tickers=[symbol], end=as_of)
    if bars.empty:
        raise NotFoundError(f"no bars stored for {symbol} up to {as_of}")
    last_close = float(bars["close"].iloc[-1])
    sigma = half / float(norm.ppf(0.5 + coverage / 2)) if math.isfinite(half) else math.nan
    direction = float(norm.cdf(value / sigma)) if sigma > 0 else math.nan
    contributions: tuple[tuple[str, float], ...] = ()
    parts = model.contributions(latest)
    if parts is not None:
        ranked = parts.drop(columns=["bias"], errors="ignore").iloc[0].astype("float64")
        top = ranked.reindex(ranked.abs().sort_values(ascending=False).index)[:_TOP]
        contributions = tuple((str(k), float(v)) for k, v in top.items())
    forecast = Forecast(
        ticker=symbol,
        horizon=horizon,
        as_of=as_of,
        value=value,
        lower=value - half,
        upper=value + half,
        coverage=coverage,
        last_close=last_close,
        price=last_close * math.exp(value),
        direction_prob=direction,
        model=champion.metadata.get("model_kind", "unknown"),
        model_version=champion.version,
        registered_name=champion.name,
        contributions=contributions,
    )
    if not np.isfinite(value):
        raise ModelError(f"the champion returned {value} for {symbol}; retrain it")
    store.write_predictions(
        pd.DataFrame(
            {
                "ticker": [symbol],
                "as_of": [as_of],
                "horizon": [horizon],
                "target": ["log_return"],
                "value": [value],
                "lower": [forecast.lower],
                "upper": [forecast.upper],
                "direction_prob": [direction],
                "model": [f"{champion.name}/{forecast.model}"],
                "model_version": [str(champion.version)],
                "created_at": [pd.Timestamp(now).tz_convert("UTC")],
            }
        )
    )
    return forecast
