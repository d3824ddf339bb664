"""Request and response bodies of the API (separate from storage records and domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from stockpred.domain.records import Prediction
from stockpred.models.catalog import model_family
from stockpred.pipeline.serving import Freshness, ServedForecast, finite_or_none

__all__ = [
    "BatchError",
    "BatchRequest",
    "BatchResponse",
    "ContributionOut",
    "ErrorOut",
    "FreshnessOut",
    "ModelRef",
    "PredictionOut",
    "prediction_out",
]

_TICKER = r"^[A-Za-z0-9^][A-Za-z0-9.\-^=]{0,19}$"


class ErrorOut(BaseModel):
    """Every error answer."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no forecast for ticker 'ZZZZ' ..."])


class ContributionOut(BaseModel):
    feature: str
    value: float = Field(description="the feature's share of the forecast, in log-return units")


class ModelRef(BaseModel):
    name: str = Field(examples=["stockpred-h5"])
    version: str = Field(
        examples=["3"], description="registry version; a string, as in /history and webhooks"
    )
    kind: str = Field(examples=["ensemble"])
    family: str = Field(
        examples=["ensemble"],
        description="baseline (a naive rule serves: no model beat it), model or ensemble",
    )


class FreshnessOut(BaseModel):
    feature_ts: datetime = Field(description="bar close of the features the forecast used")
    expected_ts: datetime | None = Field(
        description="the latest session close that had passed when last checked"
    )
    sessions_behind: int = Field(description="sessions closed after feature_ts")
    stale: bool
    checked_at: datetime


class PredictionOut(BaseModel):
    """One forecast of the forward log return over ``horizon`` sessions."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticker": "AAPL",
                    "horizon": 5,
                    "as_of": "2013-03-01T21:00:00Z",
                    "target": "log_return",
                    "log_return": 0.0042,
                    "lower": -0.051,
                    "upper": 0.0594,
                    "coverage": 0.9,
                    "last_close": 430.47,
                    "price": 432.28,
                    "direction_prob": 0.55,
                    "model": {
                        "name": "stockpred-h5",
                        "version": "3",
                        "kind": "ensemble",
                        "family": "ensemble",
                    },
                    "freshness": {
                        "feature_ts": "2013-03-01T21:00:00Z",
                        "expected_ts": "2013-03-01T21:00:00Z",
                        "sessions_behind": 0,
                        "stale": False,
                        "checked_at": "2013-03-02T08:00:00Z",
                    },
                    "contributions": [{"feature": "rsi_14", "value": 0.0011}],
                }
            ]
        }
    )

    ticker: str
    horizon: int
    as_of: datetime = Field(description="feature timestamp (bar close) the forecast used")
    target: Literal["log_return"] = "log_return"
    log_return: float
    lower: float | None = Field(description="lower end of the conformal interval")
    upper: float | None
    coverage: float | None = Field(description="nominal coverage of [lower, upper]")
    last_close: float | None
    price: float | None = Field(description="last_close x exp(log_return)")
    direction_prob: float | None = Field(
        description="P(log_return > 0) under a normal error matching the interval's width"
    )
    model: ModelRef
    freshness: FreshnessOut
    contributions: list[ContributionOut]
    provisional: bool = Field(
        default=False,
        description="a nowcast from a session still open (if it closed now); the session's "
        "close gives the committed forecast",
    )
    degraded: bool = Field(
        default=False,
        description="its ticker's live feed had a hole then (reconnecting, failed polls), "
        "filled later from the provider's history: bars may be missing from it",
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tickers: list[str] = Field(min_length=1, examples=[["AAPL", "MSFT"]])
    horizon: int = Field(default=5, ge=1, le=252)


class BatchError(BaseModel):
    ticker: str
    code: str
    message: str


class BatchResponse(BaseModel):
    predictions: list[PredictionOut]
    errors: list[BatchError]


def _freshness_out(freshness: Freshness) -> FreshnessOut:
    return FreshnessOut(
        feature_ts=freshness.feature_ts.to_pydatetime(),
        expected_ts=freshness.expected_ts.to_pydatetime()
        if freshness.expected_ts is not None
        else None,
        sessions_behind=freshness.sessions_behind,
        stale=freshness.stale,
        checked_at=freshness.checked_at,
    )


def prediction_out(served: ServedForecast) -> PredictionOut:
    forecast: Prediction = served.forecast
    return PredictionOut(
        ticker=forecast.ticker,
        horizon=forecast.horizon,
        as_of=pd.Timestamp(forecast.as_of).to_pydatetime(),
        log_return=forecast.value,
        lower=finite_or_none(forecast.lower),
        upper=finite_or_none(forecast.upper),
        coverage=finite_or_none(forecast.coverage),
        last_close=finite_or_none(forecast.last_close),
        price=finite_or_none(forecast.price),
        direction_prob=finite_or_none(forecast.direction_prob),
        model=ModelRef(
            name=forecast.registered_name,
            version=str(forecast.model_version),
            kind=forecast.model,
            family=model_family(forecast.model),
        ),
        freshness=_freshness_out(served.freshness),
        contributions=[ContributionOut(feature=k, value=v) for k, v in forecast.contributions],
        provisional=forecast.provisional,
        degraded=forecast.degraded,
    )
