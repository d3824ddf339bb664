"""Forecasts: one ticker, a batch, and the stored history with realised outcomes."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stockpred.api.background import schedule_stale_refresh
from stockpred.api.deps import Services, authorize, require
from stockpred.api.principals import Principal
from stockpred.api.schemas import (
    BatchError,
    BatchRequest,
    BatchResponse,
    ErrorOut,
    PredictionOut,
    prediction_out,
)
from stockpred.api.services import ApiServices
from stockpred.domain.errors import PayloadTooLargeError, StockpredError
from stockpred.pipeline.history import prediction_history as load_history
from stockpred.pipeline.serving import ServedForecast

__all__ = ["router"]

router = APIRouter(tags=["predictions"])
Reader = Annotated[Principal, Depends(require("predictions:read"))]
TickerPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9^][A-Za-z0-9.\-^=]*$",
        description="ticker symbol, e.g. AAPL",
        examples=["AAPL"],
    ),
]
Horizon = Annotated[int, Query(ge=1, le=252, description="sessions ahead")]
_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "no valid token"},
    403: {"model": ErrorOut, "description": "the token lacks predictions:read"},
    404: {"model": ErrorOut, "description": "unknown ticker or horizon without a champion"},
    429: {"model": ErrorOut, "description": "over the client's rate limit (see Retry-After)"},
}


def _json(model: BaseModel) -> Response:
    # Serialised once by pydantic; returning a Response skips FastAPI's second validation.
    return Response(model.model_dump_json(), media_type="application/json")


def _rendered(served: ServedForecast) -> bytes:
    return prediction_out(served).model_dump_json().encode()


def _answer(services: ApiServices, ticker: str, horizon: int) -> tuple[bytes, str]:
    """The forecast's JSON (rendered once per forecast and refresh) and its model version;
    when it is stale, asks for the ticker to be brought up to date."""
    served = services.serving.forecast(ticker, horizon)
    services.served_log.record(served.forecast)
    if served.freshness.stale:
        schedule_stale_refresh(services, served.forecast.ticker)
    return services.renders.body(served, _rendered), served.forecast.model_version


@router.get(
    "/v1/predictions/{ticker}",
    response_model=PredictionOut,
    responses=_ERRORS,
    summary="The champion's forecast for one ticker",
    openapi_extra={"security": [{"oauth2": ["predictions:read"]}]},
)
async def get_prediction(ticker: TickerPath, request: Request, horizon: Horizon = 5) -> Response:
    """The forward log return over ``horizon`` sessions with its conformal interval, the
    probability it is positive, the model version, the feature timestamp it used, how fresh
    that is, and the features that moved it most."""
    # The hottest route: no dependencies at all (FastAPI's work per dependency was a tenth of
    # the request, benchmarks/api.py); the token is checked here, the scope declared above.
    await authorize(request, "predictions:read")
    services: ApiServices = request.app.state.services
    body, version = _answer(services, ticker, horizon)
    services.metrics.record_prediction(horizon=horizon, model_version=version)
    return Response(body, media_type="application/json")


@router.post(
    "/v1/predictions:batch",
    response_model=BatchResponse,
    responses={**_ERRORS, 413: {"model": ErrorOut, "description": "too many tickers"}},
    summary="Forecasts for many tickers in one call",
)
async def batch_predictions(request: BatchRequest, services: Services, caller: Reader) -> Response:
    """Each ticker's forecast; a ticker that cannot be forecast is listed under ``errors``
    with the reason, and the others are still answered."""
    limit = services.settings.api_max_batch
    if len(request.tickers) > limit:
        raise PayloadTooLargeError(
            f"{len(request.tickers)} tickers in one batch; at most {limit} "
            "(STOCKPRED_API_MAX_BATCH): split the request"
        )
    services.serving.check_horizon(request.horizon)
    predictions: list[bytes] = []
    errors: list[BatchError] = []
    versions: Counter[str] = Counter()
    for ticker in dict.fromkeys(t.strip().upper() for t in request.tickers):
        try:
            body, version = _answer(services, ticker, request.horizon)
        except StockpredError as exc:
            errors.append(BatchError(ticker=ticker, code=exc.code, message=str(exc)))
        else:
            predictions.append(body)
            versions[version] += 1
    for version, count in versions.items():
        services.metrics.record_prediction(
            horizon=request.horizon, model_version=version, count=count
        )
    # Joined from each forecast's rendered JSON: the shape of BatchResponse, built without
    # serialising a hundred models again.
    failed = b",".join(e.model_dump_json().encode() for e in errors)
    body = b'{"predictions":[' + b",".join(predictions) + b'],"errors":[' + failed + b"]}"
    return Response(body, media_type="application/json")


class HistoryRow(BaseModel):
    as_of: str = Field(description="feature timestamp the forecast used (ISO 8601, UTC)")
    horizon: int
    log_return: float
    lower: float | None
    upper: float | None
    direction_prob: float | None
    model: str
    model_version: str
    created_at: str
    realised: float | None = Field(
        description="the realised log return over the horizon, once known (null before)"
    )


class HistoryOut(BaseModel):
    ticker: str
    rows: list[HistoryRow]


def _history(services: ApiServices, ticker: str, horizon: int | None, limit: int) -> HistoryOut:
    with services.open_store() as store:
        stored = load_history(
            store, ticker, horizon=horizon, limit=limit, calendar=services.settings.calendar
        )

    def number(value: object) -> float | None:
        x = float(value)  # type: ignore[arg-type]
        return x if np.isfinite(x) else None

    records: list[dict[str, object]] = stored.to_dict("records")  # type: ignore[assignment]
    rows = [
        HistoryRow(
            as_of=pd.Timestamp(str(r["as_of"])).isoformat(),
            horizon=int(str(r["horizon"])),
            log_return=float(str(r["value"])),
            lower=number(r["lower"]),
            upper=number(r["upper"]),
            direction_prob=number(r["direction_prob"]),
            model=str(r["model"]),
            model_version=str(r["model_version"]),
            created_at=pd.Timestamp(str(r["created_at"])).isoformat(),
            realised=number(r["realised"]),
        )
        for r in records
    ]
    return HistoryOut(ticker=ticker, rows=rows)


@router.get(
    "/v1/predictions/{ticker}/history",
    response_model=HistoryOut,
    responses=_ERRORS,
    summary="Stored forecasts with their realised outcome",
)
async def prediction_history(
    ticker: TickerPath,
    services: Services,
    caller: Reader,
    horizon: Annotated[int | None, Query(ge=1, le=252)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    """Every stored forecast for the ticker (newest ``limit``), each with the log return that
    followed once the horizon has passed."""
    history = await run_in_threadpool(_history, services, ticker.upper(), horizon, limit)
    return _json(history)
