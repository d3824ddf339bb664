"""Typed dependencies of the routes: the services, and the verified caller with a scope.

Every dependency here is ``async`` so FastAPI runs it on the event loop rather than in its thread
pool; token checks cost microseconds and a thread hop would cost more than the check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from stockpred.api.services import ApiServices, Principal
from stockpred.domain.errors import AuthError, ForbiddenError

__all__ = ["Caller", "Services", "authenticate", "get_services", "require"]


async def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="a token from POST /v1/token")


async def authenticate(
    services: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of this request; 401 without a valid bearer token, 429 over its rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthError(
            "this route needs a bearer token: get one from POST /v1/token and send it as "
            "'Authorization: Bearer <token>'"
        )
    caller = services.verifier.verify(credentials.credentials)
    await services.limiter.hit(caller.client_id)
    return caller


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only callers whose token carries ``scope`` (or ``admin``)."""

    async def dependency(caller: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not caller.allows(scope):
            raise ForbiddenError(
                f"this route needs the scope {scope!r}; the token carries "
                f"{sorted(caller.scopes) or 'none'}; ask an administrator for a client with it "
                f"(`stockpred clients create --scopes {scope}`)"
            )
        return caller

    return dependency


Caller = Annotated[Principal, Depends(authenticate)]
