"""Credentials never travel in, or get logged from, a URL.

- :class:`CredentialsInQueryMiddleware` refuses any request whose query string names a
  credential (``client_secret``, ``access_token``, ...) with 400, saying where credentials go;
  a websocket handshake carrying one is closed before it is accepted.
- :class:`QueryRedactionFilter` rewrites every query value in the access log (and any other
  log record it is attached to) to ``***``, keeping the names, so a secret sent by mistake, or
  by a client that ignored the 400, is not written to disk.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from stockpred.api.limits import send_error
from stockpred.settings import CREDENTIAL_PARAMETERS

__all__ = [
    "CredentialsInQueryMiddleware",
    "QueryRedactionFilter",
    "install_log_redaction",
    "redact_query",
]

_WHERE = (
    "credentials never go in the URL, where logs and proxies keep them: send a token as "
    "'Authorization: Bearer <token>', and client credentials to POST /v1/token in the form "
    "body or as HTTP Basic"
)
# A query string inside a logged path or message: from '?' to whitespace or a quote.
_QUERY = re.compile(r"\?([^\s\"']*)")


def redact_query(text: str) -> str:
    """``text`` with every query value after a ``?`` replaced by ``***`` (names kept)."""

    def hide(match: re.Match[str]) -> str:
        parts = []
        for piece in match.group(1).split("&"):
            name, separator, _ = piece.partition("=")
            parts.append(f"{name}=***" if separator else name)
        return "?" + "&".join(parts)

    return _QUERY.sub(hide, text)


class QueryRedactionFilter(logging.Filter):
    """Redacts query strings in a record's message and its string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = redact_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


def install_log_redaction() -> None:
    """Attach the filter to uvicorn's loggers (idempotent); each worker process calls it."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryRedactionFilter) for f in logger.filters):
            logger.addFilter(QueryRedactionFilter())


class CredentialsInQueryMiddleware:
    """400 for an HTTP request, a refused handshake for a websocket, when the query string
    names a credential parameter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] in ("http", "websocket") else b""
        named = _credential_in(query) if query else None
        if named is None:
            await self.app(scope, receive, send)
            return
        message = f"the query string carries {named!r}; {_WHERE}"
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4400, "reason": "credentials_in_query"})
            return
        await send_error(
            send,
            400,
            "credentials_in_query",
            message,
            [(b"cache-control", b"no-store")],
            oauth_error="invalid_request" if scope.get("path") == TOKEN_PATH else None,
        )


# Its answers follow RFC 6749 section 5.2 (routes/auth.py), this refusal too.
TOKEN_PATH = "/v1/token"


def _credential_in(query: bytes) -> str | None:
    for name, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name.strip().lower() in CREDENTIAL_PARAMETERS:
            return name[:32]
    return None
