"""Tickers held, their bars, their stored features and their news."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stockpred.api.deps import Services, require
from stockpred.api.principals import Principal
from stockpred.api.routes.predictions import _ERRORS, TickerPath
from stockpred.api.services import ApiServices
from stockpred.domain.errors import InvalidInputError, NotFoundError
from stockpred.pipeline.serving import finite_or_none
from stockpred.store.base import Store

__all__ = ["router"]

router = APIRouter(tags=["tickers"])
Reader = Annotated[Principal, Depends(require("predictions:read"))]
Limit = Annotated[int, Query(ge=1, le=5000, description="newest rows to return")]
Since = Annotated[str | None, Query(description="first date, YYYY-MM-DD or ISO 8601")]


class TickerOut(BaseModel):
    ticker: str
    first: str
    last: str
    bars: int
    kind: str = Field(description="stock, index, currency or future")
    served: bool = Field(description="a forecast is available for it (modelled kinds only)")


class TickersOut(BaseModel):
    tickers: list[TickerOut]


class HeadlineOut(BaseModel):
    published_at: str = Field(description="when it was published, ISO 8601 UTC")
    source: str
    title: str
    url: str | None
    sentiment: float | None = Field(description="the scorer's score, when one was stored")


class NewsOut(BaseModel):
    ticker: str
    rows: list[HeadlineOut] = Field(description="newest first")


class TableOut(BaseModel):
    """Rows as records: ``columns`` names them in order; missing values are null."""

    ticker: str
    columns: list[str]
    rows: list[list[float | str | None]]


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json")


def _since(value: str | None) -> pd.Timestamp | None:
    if value is None:
        return None
    if not value.strip():
        raise InvalidInputError("start is empty; give a date (YYYY-MM-DD) or leave it out")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, OverflowError) as exc:
        raise InvalidInputError(f"start {value[:40]!r} is not a date; use YYYY-MM-DD") from exc
    if pd.isna(stamp):
        raise InvalidInputError(f"start {value[:40]!r} is not a date; use YYYY-MM-DD")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _known(store: Store, ticker: str) -> None:
    if not store.has_ticker(ticker):
        raise NotFoundError(f"unknown ticker {ticker!r}; GET /v1/tickers lists the tickers held")


def _records(frame: pd.DataFrame, ticker: str) -> TableOut:
    frame = frame.drop(columns=["ticker"], errors="ignore")
    columns = [str(c) for c in frame.columns]
    rows: list[list[float | str | None]] = []
    for values in frame.itertuples(index=False):
        row: list[float | str | None] = []
        for v in values:
            if isinstance(v, pd.Timestamp):
                row.append(v.isoformat())
            elif isinstance(v, (int, float, np.integer, np.floating)):
                x = float(v)
                row.append(x if np.isfinite(x) else None)
            else:
                row.append(None if v is None or v is pd.NA else str(v))
        rows.append(row)
    return TableOut(ticker=ticker, columns=columns, rows=rows)


def _tickers(services: ApiServices) -> TickersOut:
    with services.open_store() as store:
        coverage = store.bar_coverage()
    served = set(services.serving.tickers())
    return TickersOut(
        tickers=[
            TickerOut(
                ticker=str(ticker),
                first=pd.Timestamp(first).isoformat(),
                last=pd.Timestamp(last).isoformat(),
                bars=int(rows),
                kind=services.universe.kind(str(ticker)),
                served=str(ticker) in served,
            )
            for ticker, first, last, rows in zip(
                coverage["ticker"].tolist(),
                coverage["first"].tolist(),
                coverage["last"].tolist(),
                coverage["rows"].tolist(),
                strict=True,
            )
        ]
    )


@router.get("/v1/tickers", response_model=TickersOut, responses=_ERRORS, summary="Tickers held")
async def list_tickers(services: Services, caller: Reader) -> Response:
    """Every ticker with stored bars: their range, count and whether a forecast is served."""
    return _json(await run_in_threadpool(_tickers, services))


def _bars(services: ApiServices, ticker: str, start: pd.Timestamp | None, limit: int) -> TableOut:
    with services.open_store() as store:
        _known(store, ticker)
        bars = store.read_bars(tickers=[ticker], start=start)
    columns = ["ts", "open", "high", "low", "close", "adj_close", "volume", "source"]
    return _records(bars.loc[:, [c for c in columns if c in bars.columns]].tail(limit), ticker)


@router.get(
    "/v1/tickers/{ticker}/bars", response_model=TableOut, responses=_ERRORS, summary="Daily bars"
)
async def ticker_bars(
    ticker: TickerPath, services: Services, caller: Reader, start: Since = None, limit: Limit = 500
) -> Response:
    """The ticker's stored bars from ``start`` (newest ``limit``)."""
    return _json(await run_in_threadpool(_bars, services, ticker.upper(), _since(start), limit))


def _features(
    services: ApiServices,
    ticker: str,
    feature_set: str | None,
    start: pd.Timestamp | None,
    limit: int,
) -> TableOut:
    with services.open_store() as store:
        _known(store, ticker)
        held = store.feature_sets()
        if feature_set is None:
            # The set the served champions read, else the only one stored.
            served = sorted({m.feature_set for m in services.serving.models.values()})
            feature_set = served[0] if served else (next(iter(held)) if len(held) == 1 else "")
            if not feature_set:
                raise InvalidInputError(
                    f"name a feature set: ?feature_set= one of {sorted(held) or 'none stored'}"
                )
        if feature_set not in held:
            raise NotFoundError(
                f"no feature set {feature_set!r} stored; stored: {sorted(held) or 'none'}"
            )
        rows = store.read_features(feature_set=feature_set, tickers=[ticker], start=start)
    return _records(rows.tail(limit), ticker)


@router.get(
    "/v1/tickers/{ticker}/features",
    response_model=TableOut,
    responses=_ERRORS,
    summary="Stored features",
)
async def ticker_features(
    ticker: TickerPath,
    services: Services,
    caller: Reader,
    feature_set: Annotated[
        str | None,
        Query(max_length=100, description="default: the set the champion reads, e.g. daily_v1@3"),
    ] = None,
    start: Since = None,
    limit: Limit = 100,
) -> Response:
    """The ticker's stored feature rows of one set (newest ``limit``)."""
    rows = await run_in_threadpool(
        _features, services, ticker.upper(), feature_set, _since(start), limit
    )
    return _json(rows)


def _text_or_none(value: object) -> str | None:
    """A stored text, None where it is missing (read back as None or NaN)."""
    return value if isinstance(value, str) else None


def _news(services: ApiServices, ticker: str, limit: int) -> NewsOut:
    with services.open_store() as store:
        _known(store, ticker)
        rows = store.latest_headlines(ticker=ticker, limit=limit)
    return NewsOut(
        ticker=ticker,
        rows=[
            HeadlineOut(
                published_at=pd.Timestamp(published).tz_convert("UTC").isoformat(),
                source=str(source),
                title=str(title),
                url=_text_or_none(url),
                sentiment=finite_or_none(float(sentiment)) if sentiment is not None else None,
            )
            for published, source, title, url, sentiment in zip(
                rows["published_at"].tolist(),
                rows["source"].tolist(),
                rows["title"].tolist(),
                rows["url"].tolist(),
                rows["sentiment"].tolist(),
                strict=True,
            )
        ],
    )


@router.get(
    "/v1/tickers/{ticker}/news",
    response_model=NewsOut,
    responses=_ERRORS,
    summary="Stored headlines",
)
async def ticker_news(
    ticker: TickerPath,
    services: Services,
    caller: Reader,
    limit: Annotated[int, Query(ge=1, le=500, description="newest headlines to return")] = 50,
) -> Response:
    """The ticker's newest stored headlines (``stockpred ingest news``), newest first, with
    their source, link and sentiment score when one was stored; none yet is an empty list."""
    return _json(await run_in_threadpool(_news, services, ticker.upper(), limit))
