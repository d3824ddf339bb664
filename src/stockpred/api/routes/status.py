"""What the health page shows: the data providers' last calls, how current each served
ticker's bars are, the last alerts received and the notices parked undelivered."""

from __future__ import annotations

from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stockpred.api.deps import Services, require
from stockpred.api.principals import Principal
from stockpred.api.routes.predictions import _ERRORS
from stockpred.api.services import ApiServices
from stockpred.pipeline.status import BarFreshness, bar_freshness

__all__ = ["router"]

router = APIRouter(tags=["status"])
Reader = Annotated[Principal, Depends(require("predictions:read"))]
_ALERTS = 50


class SourceOut(BaseModel):
    source: str
    last_success: str | None
    last_failure: str | None
    last_error: str | None


class TickerFreshnessOut(BaseModel):
    ticker: str
    last_bar: str | None = Field(description="date of the latest stored bar, YYYY-MM-DD")
    expected: str | None = Field(description="date of the latest session closed by now")
    sessions_behind: int = Field(description="sessions closed after the latest bar")
    stale: bool


class AlertOut(BaseModel):
    received_at: str
    status: Literal["firing", "resolved"]
    alertname: str
    severity: str | None
    summary: str
    ticker: str | None


class StatusOut(BaseModel):
    checked_at: str
    sources: list[SourceOut] = Field(description="each data provider's last success and failure")
    freshness: list[TickerFreshnessOut] = Field(description="each served ticker's bars")
    alerts: list[AlertOut] = Field(description=f"the last {_ALERTS} alerts received, newest first")
    dead_letters: int = Field(description="notices parked undelivered (Slack, email)")


def _day(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.tz_convert("UTC").date().isoformat()


def _freshness_out(row: BarFreshness) -> TickerFreshnessOut:
    found = row.freshness
    expected = None if found is None else found.expected_ts
    return TickerFreshnessOut(
        ticker=row.ticker,
        last_bar=_day(row.last_bar),
        expected=_day(expected),
        sessions_behind=0 if found is None else found.sessions_behind,
        stale=row.stale,
    )


def _status(services: ApiServices) -> StatusOut:
    checked = services.clock()
    providers = services.provider_status.read() if services.provider_status else {}
    with services.open_store() as store:
        freshness = bar_freshness(
            store, tickers=services.serving.tickers(), freshness_of=services.serving.freshness
        )
    notifier = services.notifier
    return StatusOut(
        checked_at=checked.isoformat(),
        sources=[
            SourceOut(
                source=name,
                last_success=entry.get("last_success"),
                last_failure=entry.get("last_failure"),
                last_error=entry.get("last_error"),
            )
            for name, entry in sorted(providers.items())
        ],
        freshness=[_freshness_out(row) for row in freshness],
        alerts=[
            AlertOut(
                received_at=alert.received_at.isoformat(),
                status=alert.status,
                alertname=alert.alertname,
                severity=alert.severity,
                summary=alert.summary,
                ticker=alert.ticker,
            )
            for alert in services.alerts.recent(limit=_ALERTS)
        ],
        dead_letters=0 if notifier is None else notifier.dead_letter_count(),
    )


@router.get("/v1/status", response_model=StatusOut, responses=_ERRORS, summary="Service status")
async def service_status(services: Services, caller: Reader) -> Response:
    """What the health page needs in one call: each data provider's last success and failure
    (with its last error), how many sessions each served ticker's latest bar is behind the
    exchange calendar, the last alerts Alertmanager sent and how many notices are parked."""
    body = await run_in_threadpool(_status, services)
    return Response(body.model_dump_json(), media_type="application/json")
