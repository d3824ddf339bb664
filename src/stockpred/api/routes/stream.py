"""``WS /v1/stream``: every new forecast for the tickers asked for, as it is made.

The token travels in the websocket subprotocol (``Sec-WebSocket-Protocol: bearer, <token>``, the
way browsers can send it) or in the first message (``{"type": "auth", "token": ...}`` within
10 s); never in the URL, where proxies and logs would keep it. On connecting, the client gets
the current forecast of each ticker (``"type": "snapshot"``), then each new one as the bus
delivers it: ``"type": "prediction"`` for a session's committed forecast, ``"provisional"`` for a
nowcast while the session is open (``"provisional": true``; never stored).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from stockpred.api.background import PREDICTIONS_TOPIC
from stockpred.api.deps import source_address, verify_token
from stockpred.api.principals import Principal
from stockpred.api.schemas import prediction_out
from stockpred.api.services import ApiServices
from stockpred.domain.errors import (
    AuthError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    StockpredError,
)
from stockpred.pipeline.serving import ServedForecast

__all__ = ["router"]

router = APIRouter(tags=["stream"])
_LOG = logging.getLogger("stockpred.api")
_AUTH_SECONDS = 10.0
_MAX_TICKERS = 500
# Application close codes (4000-4999): 4400 bad request, 4401 unauthenticated, 4403 forbidden,
# 4404 unknown ticker or horizon, 4429 rate limited.
_CLOSE = {
    "invalid_input": 4400,
    "auth_error": 4401,
    "insufficient_scope": 4403,
    "not_found": 4404,
}


async def _authenticate(websocket: WebSocket, services: ApiServices) -> Principal:
    offered = [p.strip() for p in websocket.scope.get("subprotocols", [])]
    if len(offered) >= 2 and offered[0].lower() == "bearer":
        caller = await verify_token(services, offered[1])
        await websocket.accept(subprotocol="bearer")
        return caller
    await websocket.accept()
    try:
        first = await asyncio.wait_for(websocket.receive_text(), timeout=_AUTH_SECONDS)
    except TimeoutError as exc:
        raise AuthError(f"no auth message within {_AUTH_SECONDS:g} s") from exc
    try:
        message = json.loads(first)
        token = message["token"] if message.get("type") == "auth" else None
    except (ValueError, TypeError, KeyError, AttributeError):
        token = None
    if not isinstance(token, str):
        raise AuthError(
            'the first message must be {"type": "auth", "token": "<token from POST /v1/token>"}'
        )
    return await verify_token(services, token)


@router.websocket("/v1/stream")
async def stream(
    websocket: WebSocket,
    tickers: Annotated[str, Query(max_length=6000, description="comma-separated: AAPL,MSFT")],
    horizon: Annotated[int | None, Query(ge=1, le=252)] = None,
) -> None:
    services: ApiServices = websocket.app.state.services
    wanted = {t.strip().upper() for t in tickers.split(",") if t.strip()}
    try:
        try:
            caller = await _authenticate(websocket, services)
        except AuthError:
            # A bad token counts against its address; over budget, the close is 4429.
            await services.auth_throttle.failed(address=source_address(websocket))
            raise
        if not caller.allows("stream:read"):
            raise ForbiddenError(
                "this stream needs the scope 'stream:read'; ask for a client with it"
            )
        await services.limiter.hit(caller.client_id)
        if not wanted or len(wanted) > _MAX_TICKERS:
            raise InvalidInputError(f"name 1 to {_MAX_TICKERS} tickers: ?tickers=AAPL,MSFT")
        if horizon is not None:
            services.serving.check_horizon(horizon)  # NotFoundError naming the served ones
        unknown = sorted(wanted - set(services.serving.tickers()))
        if unknown:
            shown = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            raise NotFoundError(
                f"no forecast is served for {shown}; GET /v1/tickers lists the served tickers"
            )
    except WebSocketDisconnect:
        # Gone before it authenticated or subscribed: one line, no traceback.
        _LOG.info("websocket client %s left before subscribing", source_address(websocket))
        return
    except RateLimitedError as exc:
        await _refuse(websocket, exc, 4429)
        return
    except StockpredError as exc:
        code = _CLOSE.get(exc.code, 4401)
        await _refuse(websocket, exc, code)
        return
    services.metrics.websocket_opened()
    try:
        async with services.fanout.subscription(PREDICTIONS_TOPIC) as subscription:
            for ticker in sorted(wanted):
                for h in sorted(services.serving.models):
                    if horizon not in (None, h):
                        continue
                    try:
                        served = services.serving.forecast(ticker, h)
                    except StockpredError:
                        continue
                    services.served_log.record(served.forecast)
                    await websocket.send_text(_message("snapshot", served))
            receiver = asyncio.create_task(_until_closed(websocket))
            while not receiver.done():
                getter = asyncio.create_task(subscription.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, return_when=asyncio.FIRST_COMPLETED
                )
                if getter not in done:
                    getter.cancel()
                    break
                message = getter.result()
                if message.get("ticker") in wanted and horizon in (None, message.get("horizon")):
                    kind = "provisional" if message.get("provisional") else "prediction"
                    await websocket.send_text(json.dumps({**message, "type": kind}))
    except WebSocketDisconnect:
        pass
    finally:
        services.metrics.websocket_closed()


async def _until_closed(websocket: WebSocket) -> None:
    """Reads (and ignores) client messages until the client goes away."""
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        return


async def _refuse(websocket: WebSocket, error: StockpredError, code: int) -> None:
    if websocket.client_state.name == "CONNECTING":
        await websocket.accept()
    await websocket.send_json({"type": "error", "code": error.code, "message": str(error)})
    await websocket.close(code=code, reason=error.code)


def _message(kind: str, served: ServedForecast) -> str:
    body = prediction_out(served).model_dump(mode="json")
    return json.dumps({"type": kind, **body})
