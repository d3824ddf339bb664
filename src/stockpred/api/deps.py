"""Typed dependencies of the routes: the services, and the verified caller with a scope.

Each is one ``async`` function reading the request directly: FastAPI runs ``async``
dependencies on the event loop (no thread hop), and every extra layer of sub-dependencies
costs measurable time per request (benchmarks/api.py). The OAuth2 scheme and each route's
scope are declared in the OpenAPI document instead (``api/app.py``, from :func:`scope_of`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from stockpred.api.principals import Principal
from stockpred.api.services import ApiServices
from stockpred.domain.errors import AuthError, ForbiddenError

__all__ = [
    "Services",
    "authorize",
    "get_services",
    "require",
    "scope_of",
    "source_address",
    "verify_token",
]

_SCOPE_ATTRIBUTE = "__stockpred_scope__"


async def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None:
        raise AuthError(
            "this route needs a bearer token: get one from POST /v1/token and send it as "
            "'Authorization: Bearer <token>'"
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


async def verify_token(services: ApiServices, token: str) -> Principal:
    """The token's caller; ``AuthError`` when it is not valid."""
    verifier = services.verifier
    if getattr(verifier, "may_block", False):
        # An identity provider's key set is fetched now and then (seconds at worst): off the
        # event loop, so other requests go on meanwhile.
        return await run_in_threadpool(verifier.verify, token)
    return verifier.verify(token)


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits only callers with a valid token carrying ``scope`` (or
    ``admin``): 401 without one, 403 without the scope, 429 over the client's rate limit."""

    async def dependency(request: Request) -> Principal:
        return await authorize(request, scope)

    setattr(dependency, _SCOPE_ATTRIBUTE, scope)
    return dependency


def source_address(request: HTTPConnection) -> str:
    """The caller's address as the server saw it (behind a proxy, uvicorn's
    ``--forwarded-allow-ips`` makes it the client's); "unknown" when the transport has none."""
    client = request.client
    return client.host if client is not None and client.host else "unknown"


async def authorize(request: Request, scope: str) -> Principal:
    """What :func:`require` checks, callable from a handler: the hottest route does so to save
    FastAPI's per-dependency work (its OpenAPI entry declares the scope itself). A bad token
    counts against its source address; once that is over budget the answer is 429."""
    services: ApiServices = request.app.state.services
    try:
        caller = await verify_token(services, _bearer_token(request))
    except AuthError:
        await services.auth_throttle.failed(address=source_address(request))
        raise
    await services.limiter.hit(caller.client_id)
    if not caller.allows(scope):
        raise ForbiddenError(
            f"this route needs the scope {scope!r}; the token carries "
            f"{sorted(caller.scopes) or 'none'}; ask an administrator for a client with it "
            f"(`stockpred clients create --scopes {scope}`)"
        )
    return caller


def scope_of(dependency: Callable[..., object]) -> str | None:
    """The scope a :func:`require` dependency demands; None for any other callable."""
    scope = getattr(dependency, _SCOPE_ATTRIBUTE, None)
    return scope if isinstance(scope, str) else None
