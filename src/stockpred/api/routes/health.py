"""Liveness, readiness and metrics: the only routes without a token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from stockpred.api.deps import get_services
from stockpred.api.metrics import metrics_response
from stockpred.api.services import ApiServices

__all__ = ["router"]

router = APIRouter(tags=["health"])
Services = Annotated[ApiServices, Depends(get_services)]
_CHECK_SECONDS = 3.0


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _store_check(services: ApiServices) -> str:
    with services.open_store() as store:
        return f"{len(store.bar_coverage())} tickers held"


async def _run(name: str, check: Awaitable[object]) -> Check:
    try:
        detail = await asyncio.wait_for(check, timeout=_CHECK_SECONDS)
    except TimeoutError:
        return Check(name=name, ok=False, detail=f"no answer within {_CHECK_SECONDS:g} s")
    except LookupError as exc:  # ours: says what is missing, nothing internal
        return Check(name=name, ok=False, detail=str(exc))
    except Exception as exc:  # a readiness probe reports any failure, it does not raise
        # Only the kind of failure: this route needs no token, so no internal message.
        return Check(name=name, ok=False, detail=type(exc).__name__)
    return Check(name=name, ok=True, detail=str(detail or "ok"))


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is not ready"}},
    summary="The service can answer: store, model, database and (when configured) Redis",
)
async def readyz(services: Services) -> Response:
    async def model() -> str:
        if not services.serving.models:
            raise LookupError("no champion loaded")
        return ", ".join(f"h{h} v{m.version.version}" for h, m in services.serving.models.items())

    async def limiter() -> str:
        await services.limiter.check()
        return "ok"

    checks = [
        await _run("store", run_in_threadpool(_store_check, services)),
        await _run("model", model()),
        await _run("api_database", run_in_threadpool(services.clients.check)),
        await _run("rate_limiter", limiter()),
    ]
    body = Readiness(ready=all(c.ok for c in checks), checks=checks)
    return Response(
        body.model_dump_json(),
        media_type="application/json",
        status_code=200 if body.ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(services: Services) -> Response:
    return metrics_response(services.metrics)
