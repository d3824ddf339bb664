"""Who calls the API: the scopes a token may carry, the verified caller of a request, and the
protocol that turns a bearer token into one (api/security.py implements it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["SCOPES", "Principal", "TokenVerifier"]

# Every scope a token may carry; `admin` implies all others.
SCOPES: tuple[str, ...] = (
    "predictions:read",
    "stream:read",
    "webhooks:write",
    "models:write",
    "admin",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of one request: the client id (JWT ``sub``) and its scopes."""

    client_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


class TokenVerifier(Protocol):
    """Checks a bearer token (signature, pinned algorithm, expiry, issuer, audience) and returns
    its caller; raises ``AuthError`` with a message safe to show the client. A verifier whose
    ``verify`` may wait on the network sets a class attribute ``may_block = True``; the API
    then calls it in a worker thread."""

    def verify(self, token: str) -> Principal: ...
