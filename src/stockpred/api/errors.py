"""One place maps stockpred's error families to HTTP status codes. Every error body is
``{"code", "message"}``; an unexpected exception answers 500 with a fixed message and is logged
server-side, so no traceback or internal message ever reaches a client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockpred.domain.errors import (
    AuthError,
    BusError,
    ConfigurationError,
    DataSourceError,
    ForbiddenError,
    InvalidInputError,
    ModelError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    StockpredError,
    StoreError,
)

__all__ = ["error_response", "install_error_handlers", "status_of"]

_LOG = logging.getLogger("stockpred.api")

# Most specific first: the first family an error belongs to decides its status.
_STATUS: tuple[tuple[type[StockpredError], int], ...] = (
    (ForbiddenError, 403),
    (AuthError, 401),
    (RateLimitedError, 429),
    (PayloadTooLargeError, 413),
    (NotFoundError, 404),
    (InvalidInputError, 422),
    (ModelError, 503),
    (StoreError, 503),
    (BusError, 503),
    (DataSourceError, 502),
    (ConfigurationError, 500),
)


def status_of(error: StockpredError) -> int:
    """The HTTP status for an error family (500 for one not listed)."""
    for family, status in _STATUS:
        if isinstance(error, family):
            return status
    return 500


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


async def _stockpred_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StockpredError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, exc.retry_after))
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif status == 403:
        headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
    if status >= 500:
        # Configuration and model failures are ours to fix: the message may name internals.
        _LOG.error("%s %s failed: %s", request.method, request.url.path, exc)
        message = "the service cannot answer this now; the operators have the details"
        return error_response(status, exc.code, message, headers)
    return error_response(status, exc.code, str(exc), headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for item in exc.errors()[:5]:
        where = ".".join(str(x) for x in item.get("loc", ()) if x != "body")
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return error_response(422, "invalid_input", "; ".join(parts) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8, say): the same family as
        # malformed JSON, which it reports as 422.
        return error_response(
            422, "invalid_input", "the request body could not be read; send JSON in UTF-8"
        )
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; the API is described at /docs"
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        message,
        dict(exc.headers) if exc.headers else None,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _LOG.exception("%s %s failed unexpectedly", request.method, request.url.path)
    return error_response(500, "internal_error", "an internal error occurred; it was logged")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the mapping above."""
    app.add_exception_handler(StockpredError, _stockpred_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
