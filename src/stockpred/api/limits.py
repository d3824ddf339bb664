"""A cap on request bodies, enforced before any route parses one; and the security headers of
every response.

A body whose ``Content-Length`` is over the limit is refused with 413 from the headers alone; a
body without one (chunked) is counted while it streams and refused the moment it passes the
limit, so the route never holds more than ``max_bytes`` of it. Websockets and lifespan events
pass through. Pure ASGI, so the hot prediction routes pay one header lookup per request.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "SecurityHeadersMiddleware", "send_error"]


class _TooLargeError(Exception):
    """The body passed the limit while streaming (raised out of the wrapped ``receive``)."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"the request body is {declared} bytes")
            return
        received = 0
        started = False
        exceeded = False
        refused = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLargeError
            return message

        async def refuse_streamed() -> None:
            nonlocal refused
            if not refused:
                refused = True
                await self._refuse(send, f"the request body passed {self.max_bytes} bytes")

        async def watched_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                # The app caught the refusal and answers instead (FastAPI turns a failed read
                # of a body for a model into its 400): the limit's answer wins, the app's is
                # dropped.
                await refuse_streamed()
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _TooLargeError:
            if started:
                raise
            await refuse_streamed()

    async def _refuse(self, send: Send, what: str) -> None:
        message = f"{what}; the limit is {self.max_bytes} bytes (setting api_max_body_bytes)"
        await send_error(send, 413, "payload_too_large", message, [(b"connection", b"close")])


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    oauth_error: str | None = None,
) -> None:
    """Answer with the API's error body ``{"code", "message"}`` straight from ASGI (for the
    middlewares that refuse a request before any route runs); with ``oauth_error``, also
    RFC 6749's ``error`` and ``error_description``, as the token endpoint answers."""
    fields = {"code": code, "message": message}
    if oauth_error is not None:
        fields = {"error": oauth_error, "error_description": message, **fields}
    body = json.dumps(fields).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeadersMiddleware:
    """The usual response headers of an API: no MIME sniffing, no framing, no referrer, and
    HSTS when the request came over TLS (``https``, or behind a proxy that said so and that
    uvicorn trusts). Headers a route set itself are kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = (*_SECURITY_HEADERS, _HSTS) if scope.get("scheme") == "https" else _SECURITY_HEADERS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                added = [(n, v) for n, v in extra if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, with_headers)
