"""Webhooks for trading platforms: register a URL with its tickers and signing secret, list and
delete them, and see the events that could not be delivered.

Every route needs the ``webhooks:write`` scope. A caller sees and deletes only its own webhooks;
a token with ``admin`` sees and deletes all of them. The signing secret is accepted on creation
and never returned. The storage calls are short but blocking, so they run in the thread pool.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from starlette.concurrency import run_in_threadpool

from stockpred.api.deps import Services, require
from stockpred.api.principals import Principal
from stockpred.notify.signing import EVENT_ID_HEADER, SIGNATURE_HEADER
from stockpred.notify.webhook_store import (
    MAX_SECRET_LENGTH,
    MAX_TICKERS,
    MAX_URL_LENGTH,
    MIN_SECRET_LENGTH,
    DeadLetter,
    Webhook,
)

__all__ = ["DeadLetterResponse", "WebhookCreate", "WebhookResponse", "router"]

_SCOPE = "webhooks:write"


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["a webhook URL must not carry credentials (user:password@host)"])


_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "no token, or a bad or expired one"},
    403: {"model": ErrorBody, "description": f"the token lacks the scope {_SCOPE!r}"},
    422: {"model": ErrorBody, "description": "the request is not valid; the message says why"},
    429: {"model": ErrorBody, "description": "over the client's rate limit; see Retry-After"},
    503: {"model": ErrorBody, "description": "the webhook store is unavailable"},
}

_WebhookCaller = Annotated[Principal, Depends(require(_SCOPE))]


class WebhookCreate(BaseModel):
    """A webhook to register."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://platform.example.com/hooks/stockpred",
                    "tickers": ["AAPL", "MSFT"],
                    "secret": "REPLACE-with-secrets.token_urlsafe-32",
                }
            ]
        },
    )

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description=(
            "public http(s) URL that receives the POSTs; no user:password@ in it, no "
            "redirects, and in production no localhost, private or link-local address"
        ),
    )
    tickers: list[Annotated[str, Field(max_length=40)]] = Field(
        default_factory=list,
        max_length=MAX_TICKERS,
        description="symbols whose events are sent (upper-cased); empty for every ticker",
    )
    secret: str = Field(
        min_length=MIN_SECRET_LENGTH,
        max_length=MAX_SECRET_LENGTH,
        repr=False,
        description=(
            f"key of the HMAC-SHA256 in the {SIGNATURE_HEADER} header; stored to sign, never "
            "returned. Generate it with secrets.token_urlsafe(32)"
        ),
        json_schema_extra={"format": "password", "writeOnly": True},
    )


class WebhookResponse(BaseModel):
    """A registered webhook (its secret is never shown)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "wh_Xy3kP0q9LmZ1cA",
                    "owner": "desk-alpha",
                    "url": "https://platform.example.com/hooks/stockpred",
                    "tickers": ["AAPL", "MSFT"],
                    "created_at": "2026-01-05T14:30:00Z",
                    "active": True,
                }
            ]
        }
    )

    id: str
    owner: str = Field(description="client id that registered it")
    url: str
    tickers: list[str] = Field(description="empty: every ticker")
    created_at: datetime
    active: bool

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookResponse:
        return cls(
            id=webhook.id,
            owner=webhook.owner,
            url=webhook.url,
            tickers=list(webhook.tickers),
            created_at=webhook.created_at,
            active=webhook.active,
        )


class DeadLetterResponse(BaseModel):
    """An event not delivered after the last try."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "dl_T8sQwE2rY6uI0o",
                    "webhook_id": "wh_Xy3kP0q9LmZ1cA",
                    "event_id": "evt_b7Hc2dK9sLq0Wm4x",
                    "payload": {"ticker": "AAPL", "horizon": "1d", "value": 0.0042},
                    "attempts": 5,
                    "last_error": "HTTP 503",
                    "first_attempt_at": "2026-01-05T14:30:00Z",
                    "parked_at": "2026-01-05T14:30:31Z",
                }
            ]
        }
    )

    id: str
    webhook_id: str
    event_id: str = Field(description=f"the {EVENT_ID_HEADER} header that was sent")
    payload: JsonValue = Field(description="the event that was sent")
    attempts: int = Field(description="tries made, the last one included")
    last_error: str = Field(description="status code or error class of the last try")
    first_attempt_at: datetime
    parked_at: datetime

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterResponse:
        try:
            payload: JsonValue = json.loads(letter.payload)
        except ValueError:
            payload = letter.payload
        return cls(
            id=letter.id,
            webhook_id=letter.webhook_id,
            event_id=letter.event_id,
            payload=payload,
            attempts=letter.attempts,
            last_error=letter.last_error,
            first_attempt_at=letter.first_attempt_at,
            parked_at=letter.parked_at,
        )


def _owner_filter(caller: Principal) -> str | None:
    """The owner whose webhooks the caller may see: itself, or everyone (None) for admin."""
    return None if "admin" in caller.scopes else caller.client_id


router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=_ERRORS)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookResponse,
    summary="Register a webhook",
)
async def create_webhook(
    body: WebhookCreate, caller: _WebhookCaller, services: Services
) -> WebhookResponse:
    """Events about the given tickers are POSTed to ``url`` as JSON, signed with the secret:
    ``X-Stockpred-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>``. Failed
    deliveries are retried with backoff, then listed under ``/v1/webhooks/dead-letters``."""
    webhook = await run_in_threadpool(
        services.webhooks.register,
        owner=caller.client_id,
        url=body.url,
        tickers=body.tickers,
        secret=body.secret,
    )
    return WebhookResponse.of(webhook)


@router.get("", response_model=list[WebhookResponse], summary="List webhooks")
async def list_webhooks(caller: _WebhookCaller, services: Services) -> list[WebhookResponse]:
    """The caller's webhooks, oldest first (an admin token sees every client's)."""
    webhooks = await run_in_threadpool(services.webhooks.list, owner=_owner_filter(caller))
    return [WebhookResponse.of(webhook) for webhook in webhooks]


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterResponse],
    summary="Events that could not be delivered",
)
async def list_dead_letters(
    caller: _WebhookCaller,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=1000, description="most recent first")] = 100,
) -> list[DeadLetterResponse]:
    """Events parked after the last try to the caller's webhooks, most recently parked first."""
    letters = await run_in_threadpool(
        services.webhooks.dead_letters, owner=_owner_filter(caller), limit=limit
    )
    return [DeadLetterResponse.of(letter) for letter in letters]


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a webhook",
    responses={404: {"model": ErrorBody, "description": "no such webhook of this client"}},
)
async def delete_webhook(
    webhook_id: Annotated[str, Path(min_length=1, max_length=64)],
    caller: _WebhookCaller,
    services: Services,
) -> Response:
    """Stop deliveries to this webhook and forget its secret and dead letters."""
    await run_in_threadpool(services.webhooks.delete, webhook_id, owner=_owner_filter(caller))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
