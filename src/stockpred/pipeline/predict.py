"""``stockpred predict``: the champion's forecast for a ticker from its latest stored features,
with the interval, the direction probability, the model version, the feature timestamp used and
the features that moved the forecast most. Each forecast is stored (``predictions`` table), so
every served number can be traced (DESIGN.md, invariant 5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from stockpred.domain.errors import ModelError, NotFoundError, StockpredError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.domain.records import Prediction
from stockpred.features.sets import get_feature_set
from stockpred.models.base import Model
from stockpred.models.catalog import load_model
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name
from stockpred.store.base import Store

__all__ = [
    "context_rows",
    "forecast_records",
    "forecasts_from_rows",
    "latest_rows",
    "load_champion",
    "not_modelled",
    "predict_ticker",
]

_TOP = 5


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


def forecasts_from_rows(
    champion: ModelVersion,
    model: Model,
    rows: pd.DataFrame,
    *,
    horizon: int,
    last_close: Mapping[str, float],
    now: datetime,
) -> list[Prediction]:
    """Predictions of ``model`` for each ticker's last row of ``rows`` (a design frame: ticker,
    ts, features, sorted by ticker and ts), in one vectorised call. ``rows`` carries
    :func:`context_rows` rows per ticker, so a sequence model sees the history its forecast
    is made from. ``last_close``: each ticker's close at its last row's ts; ``now``: when the
    forecasts are made (their ``created_at``). Raises ModelError
    when the model returns a non-finite value."""
    if rows.empty:
        return []
    every = np.asarray(model.predict(rows), dtype=np.float64)
    last = rows.groupby("ticker", sort=False).tail(1).index
    values = every[rows.index.get_indexer(last)]
    rows = rows.loc[last].reset_index(drop=True)
    bad = ~np.isfinite(values)
    if bad.any():
        tickers = list(rows["ticker"].to_numpy()[bad][:5])
        raise ModelError(
            f"the champion {champion.name} v{champion.version} returned a non-finite forecast "
            f"for {tickers}; retrain it (`stockpred retrain`)"
        )
    half = float(champion.metadata.get("interval_half_width", "nan"))
    coverage = float(champion.metadata.get("interval_coverage", "nan"))
    sigma = half / float(norm.ppf(0.5 + coverage / 2)) if math.isfinite(half) else math.nan
    directions = norm.cdf(values / sigma) if sigma > 0 else np.full(len(values), math.nan)
    parts = model.contributions(rows)
    kind = champion.metadata.get("model_kind", "unknown")
    created = pd.Timestamp(now).tz_convert("UTC")
    forecasts = []
    for i, (ticker, ts) in enumerate(zip(rows["ticker"], rows["ts"], strict=True)):
        contributions: tuple[tuple[str, float], ...] = ()
        if parts is not None:
            ranked = parts.drop(columns=["bias"], errors="ignore").iloc[i].astype("float64")
            top = ranked.reindex(ranked.abs().sort_values(ascending=False).index)[:_TOP]
            contributions = tuple((str(k), float(v)) for k, v in top.items())
        value = float(values[i])
        close = float(last_close.get(str(ticker), math.nan))
        forecasts.append(
            Prediction(
                ticker=str(ticker),
                horizon=horizon,
                as_of=pd.Timestamp(ts),
                target="log_return",
                value=value,
                lower=value - half,
                upper=value + half,
                coverage=coverage,
                last_close=close,
                price=close * math.exp(value),
                direction_prob=float(directions[i]),
                model=kind,
                model_version=str(champion.version),
                created_at=created,
                registered_name=champion.name,
                contributions=contributions,
            )
        )
    return forecasts


def context_rows(model: Model) -> int:
    """Rows per ticker a forecast needs: the sequence length of a sequence model (the LSTM
    reads the row and its predecessors), 1 for a model of one row."""
    return max(1, int(getattr(model, "sequence_length", 1)))


def latest_rows(rows: pd.DataFrame, model: Model) -> pd.DataFrame:
    """Each ticker's last :func:`context_rows` rows of ``rows`` (sorted by ticker and ts)."""
    return rows.groupby("ticker", sort=False).tail(context_rows(model)).reset_index(drop=True)


def forecast_records(forecasts: Sequence[Prediction]) -> pd.DataFrame:
    """Predictions as rows of the ``predictions`` table (DESIGN.md, data contracts)."""
    return pd.DataFrame(
        {
            "ticker": [f.ticker for f in forecasts],
            "as_of": pd.to_datetime([f.as_of for f in forecasts], utc=True),
            "horizon": [f.horizon for f in forecasts],
            "target": [f.target for f in forecasts],
            "value": [f.value for f in forecasts],
            "lower": [f.lower for f in forecasts],
            "upper": [f.upper for f in forecasts],
            "direction_prob": [f.direction_prob for f in forecasts],
            "model": [f"{f.registered_name}/{f.model}" for f in forecasts],
            "model_version": [f.model_version for f in forecasts],
            "created_at": pd.to_datetime([f.created_at for f in forecasts], utc=True),
        }
    )


def predict_ticker(
    store: Store,
    registry: ModelRegistry,
    *,
    ticker: str,
    horizon: int,
    cache: Path,
    now: datetime,
    universe: Universe = STOCKS,
) -> Prediction:
    """The champion's forecast for ``ticker`` from its latest features; stored and returned.
    An instrument of a kind the ``universe`` does not model is refused: the champion never saw
    one in training."""
    symbol = ticker.strip().upper()
    if not universe.includes(symbol):
        raise NotFoundError(not_modelled(symbol, universe))
    champion, model = load_champion(registry, horizon=horizon, cache=cache)
    feature_set = champion.metadata.get("feature_set", "")
    rows = store.read_features(feature_set=feature_set, tickers=[symbol])
    if rows.empty:
        raise NotFoundError(_why_no_features(store, symbol, feature_set))
    latest = latest_rows(rows, model)
    as_of = pd.Timestamp(latest["ts"].iloc[-1])
    bars = store.read_bars(tickers=[symbol], end=as_of)
    if bars.empty:
        raise NotFoundError(f"no bars stored for {symbol} up to {as_of}")
    last_close = {symbol: float(bars["close"].iloc[-1])}
    (forecast,) = forecasts_from_rows(
        champion, model, latest, horizon=horizon, last_close=last_close, now=now
    )
    store.write_predictions(forecast_records([forecast]))
    return forecast


def not_modelled(symbol: str, universe: Universe) -> str:
    """Why ``symbol`` gets no forecast when its kind is not modelled, and how to change that."""
    kind = universe.kind(symbol)
    return (
        f"{symbol} is an instrument of kind {kind}, which is market context only (modelled: "
        f"{universe.describe()}); to forecast it, add {kind!r} to the setting modelled_kinds "
        f'(STOCKPRED_MODELLED_KINDS=\'["stock", "{kind}"]\'), then build features and train'
    )


def _why_no_features(store: Store, symbol: str, feature_set: str) -> str:
    """What to do when ``symbol`` has no feature rows: unknown, too short, or not built."""
    held = store.read_bars(tickers=[symbol])
    if held.empty:
        return (
            f"no bars stored for {symbol}; `stockpred data list` shows the tickers held, "
            f"`stockpred ingest prices --tickers {symbol}` fetches them"
        )
    try:
        needed = get_feature_set(feature_set).lookback
    except StockpredError:
        needed = 0
    if len(held) <= needed:
        return (
            f"{symbol} has {len(held)} bars and {feature_set} needs more than {needed} "
            f"(its lookback) before its first feature row; ingest a longer history, e.g. "
            f"`stockpred ingest prices --tickers {symbol} --start "
            f"{(pd.Timestamp(held['ts'].min()) - pd.Timedelta(days=2 * needed)):%Y-%m-%d}`"
        )
    return (
        f"no {feature_set} features stored for {symbol} ({len(held)} bars held); "
        f"`stockpred features build` computes them"
    )
