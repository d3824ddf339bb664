"""``POST /v1/token``: access tokens for registered clients (OAuth2 client credentials,
RFC 6749 §4.4)."""

from __future__ import annotations

import binascii
from base64 import b64decode
from functools import partial
from typing import Annotated, Literal
from urllib.parse import unquote_plus

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from stockpred.api.deps import Services, source_address
from stockpred.api.principals import SCOPES
from stockpred.api.services import ApiServices
from stockpred.domain.errors import (
    AuthError,
    ForbiddenError,
    InvalidInputError,
    RateLimitedError,
)

__all__ = ["TokenResponse", "router"]

router = APIRouter(tags=["auth"])

GRANT_TYPE = "client_credentials"
_MAX_FIELD = 256
# base64 of two fields of _MAX_FIELD characters, percent-encoded at worst, and a colon.
_MAX_BASIC = 4 * 6 * _MAX_FIELD


class TokenResponse(BaseModel):
    """An access token (RFC 6749 §5.1)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjbF8uLi4i..."
                    "c2lnbmF0dXJl",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "scope": "predictions:read stream:read",
                }
            ]
        }
    )

    access_token: str = Field(description="send it as 'Authorization: Bearer <access_token>'")
    token_type: Literal["bearer"] = Field(description="always 'bearer'")
    expires_in: int = Field(description="seconds until the token expires; then ask again")
    scope: str = Field(description="the granted scopes, space-separated")


class _ClientBasic(HTTPBasic):
    """HTTP Basic client authentication (RFC 6749 §2.3.1): ``client_id:client_secret``, each
    form-urlencoded first. A malformed header is our ``AuthError``, not FastAPI's bare 401."""

    async def __call__(  # type: ignore[override]
        self, request: HTTPConnection
    ) -> HTTPBasicCredentials | None:
        authorization = request.headers.get("Authorization")
        if not authorization:
            return None
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise AuthError(
                "POST /v1/token takes client credentials, as HTTP Basic or as the form fields "
                f"client_id and client_secret, not an Authorization: {scheme[:16]} header"
            )
        decoded = ""
        if len(encoded) <= _MAX_BASIC:
            try:
                decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
        client_id, separator, secret = decoded.partition(":")
        if not separator:
            raise AuthError(
                "the Basic Authorization header must carry base64(client_id:client_secret)"
            )
        return HTTPBasicCredentials(username=unquote_plus(client_id), password=unquote_plus(secret))


_basic = _ClientBasic(
    scheme_name="ClientCredentials",
    auto_error=False,
    description="client_id and client_secret (RFC 6749 §2.3.1), for POST /v1/token only",
)


class _DocumentedBasic(_ClientBasic):
    """Declares the HTTP Basic scheme in the OpenAPI document; reads nothing (the route reads
    the header itself, so a malformed one gets an RFC 6749 error body)."""

    async def __call__(self, request: HTTPConnection) -> None:
        return None


_basic_documented = _DocumentedBasic(
    scheme_name="ClientCredentials",
    auto_error=False,
    description="client_id and client_secret (RFC 6749 §2.3.1), for POST /v1/token only",
)

_DESCRIPTION = f"""
Exchange a client's credentials for a short-lived signed access token (OAuth2 client
credentials grant, RFC 6749 §4.4). Send the credentials either as HTTP Basic
(`client_id:client_secret`) or as the form fields `client_id` and `client_secret`, never both.

`scope` (optional, space-separated) narrows the token to some of the client's scopes; by
default it carries all of them. Scopes: {", ".join(f"`{s}`" for s in SCOPES)} (`admin`
implies all the others).

Send the token on every other call as `Authorization: Bearer <access_token>`; when it expires
(`expires_in` seconds), ask again. Clients are registered by an operator with
`stockpred clients create --name NAME --scopes predictions:read`.

```
curl -s -X POST http://localhost:8000/v1/token \\
  -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials
```
"""


def _error_example(error: str, description: str) -> dict[str, object]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "example": {
                    "error": error,
                    "error_description": description,
                    "code": error,
                    "message": description,
                }
            }
        },
    }


class _OAuthError(Exception):
    """A refusal in RFC 6749 §5.2's terms: ``error`` code, HTTP status, description."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        # RFC 6749's two fields, and the API's own code/message beside them.
        body = {
            "error": self.error,
            "error_description": self.description,
            "code": self.error,
            "message": self.description,
        }
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **self.headers}
        return JSONResponse(body, status_code=self.status, headers=headers)


def _field(name: str, value: str | None) -> str | None:
    if value is not None and len(value) > _MAX_FIELD:
        raise _OAuthError("invalid_request", f"{name} is longer than {_MAX_FIELD} characters")
    return value


@router.post(
    "/v1/token",
    response_model=TokenResponse,
    summary="Get an access token (OAuth2 client credentials)",
    description=_DESCRIPTION,
    dependencies=[Depends(_basic_documented)],
    responses={
        200: {
            "description": "a token; the answer is never cached (Cache-Control: no-store)",
        },
        400: _error_example(
            "unsupported_grant_type",
            "unsupported grant_type 'password'; this endpoint takes grant_type=client_credentials",
        ),
        401: _error_example("invalid_client", "invalid client credentials"),
        429: _error_example(
            "slow_down", "too many failed authentications for client 'cl_...'; retry in 12 s"
        ),
    },
)
async def issue_token(
    *,
    services: Services,
    request: Request,
    grant_type: Annotated[
        str | None,
        Form(description="must be client_credentials", examples=[GRANT_TYPE]),
    ] = None,
    client_id: Annotated[str | None, Form(description="unless sent as HTTP Basic")] = None,
    client_secret: Annotated[str | None, Form(description="unless sent as HTTP Basic")] = None,
    scope: Annotated[
        str | None,
        Form(
            description="space-separated scopes to narrow the token to (default: all of the "
            "client's)",
            examples=["predictions:read"],
        ),
    ] = None,
) -> Response:
    """Authenticate the client, then sign a token with the scopes asked for. Every refusal is
    an RFC 6749 §5.2 error body, so standard OAuth2 client libraries read it."""
    basic_sent = "authorization" in request.headers
    try:
        token = await _issue(
            services,
            request,
            grant_type=_field("grant_type", grant_type),
            client_id=_field("client_id", client_id),
            client_secret=_field("client_secret", client_secret),
            scope=_field("scope", scope),
        )
    except _OAuthError as refusal:
        return refusal.response()
    except RateLimitedError as exc:
        retry = {"Retry-After": str(max(1, exc.retry_after))}
        return _OAuthError("slow_down", str(exc), status=429, headers=retry).response()
    except ForbiddenError as exc:  # an AuthError too: first
        return _OAuthError("invalid_scope", str(exc)).response()
    except AuthError as exc:
        # RFC 6749 §5.2: a client that tried HTTP Basic is told which scheme to use.
        challenge = {"WWW-Authenticate": 'Basic realm="stockpred"'} if basic_sent else {}
        return _OAuthError("invalid_client", str(exc), status=401, headers=challenge).response()
    except InvalidInputError as exc:
        return _OAuthError("invalid_request", str(exc)).response()
    return JSONResponse(
        token.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


async def _issue(
    services: ApiServices,
    request: Request,
    *,
    grant_type: str | None,
    client_id: str | None,
    client_secret: str | None,
    scope: str | None,
) -> TokenResponse:
    if not grant_type:
        raise _OAuthError("invalid_request", f"grant_type is missing; send grant_type={GRANT_TYPE}")
    if grant_type != GRANT_TYPE:
        raise _OAuthError(
            "unsupported_grant_type",
            f"unsupported grant_type {grant_type[:64]!r}; this endpoint takes "
            f"grant_type={GRANT_TYPE}",
        )
    issuer = services.issuer
    if issuer is None:
        raise _OAuthError(
            "unauthorized_client",
            "this API does not issue tokens: they come from the identity provider it is "
            "configured with; ask that provider for a token with this API's audience "
            f"({services.settings.api_audience!r})",
        )
    address = source_address(request)
    throttle = services.auth_throttle
    try:
        basic = await _basic(request)
        identity, secret = _credentials(basic, client_id, client_secret)
    except AuthError:
        await throttle.failed(address=address)
        raise
    # Refused before any hashing: a guesser over its budget costs a lookup, not an argon2id.
    await throttle.attempt(address=address, client_id=identity)
    await services.limiter.hit(f"token:{identity}")
    try:
        client = await services.hash_pool.run(
            partial(services.clients.authenticate, identity, secret)
        )
    except AuthError:
        await throttle.failed(client_id=identity)
        raise
    granted = _granted_scopes(client.scopes, scope)
    token = issuer.issue(client_id=client.client_id, scopes=granted)
    return TokenResponse(
        access_token=token.access_token,
        token_type="bearer",
        expires_in=token.expires_in,
        scope=token.scope,
    )


def _credentials(
    basic: HTTPBasicCredentials | None, client_id: str | None, client_secret: str | None
) -> tuple[str, str]:
    in_form = client_id is not None or client_secret is not None
    if basic is not None:
        if in_form:
            # RFC 6749 §2.3: a client uses one authentication method per request.
            raise _OAuthError(
                "invalid_request",
                "send the client credentials once: either HTTP Basic or the form fields "
                "client_id and client_secret, not both",
            )
        return basic.username, basic.password
    if not client_id or not client_secret:
        raise AuthError(
            "POST /v1/token needs the client's credentials: HTTP Basic "
            "(client_id:client_secret) or the form fields client_id and client_secret"
        )
    return client_id, client_secret


def _granted_scopes(allowed: tuple[str, ...], requested: str | None) -> tuple[str, ...]:
    """The scopes asked for (all the client's by default); ``admin`` may ask for any."""
    wanted = requested.split() if requested else []
    if not wanted:
        return allowed
    unknown = [name for name in wanted if name not in SCOPES]
    if unknown:
        raise _OAuthError(
            "invalid_scope", f"unknown scope {unknown[0][:64]!r}; valid scopes: {', '.join(SCOPES)}"
        )
    if "admin" in allowed:
        return tuple(wanted)
    refused = [name for name in wanted if name not in allowed]
    if refused:
        raise ForbiddenError(
            f"scope {refused[0]!r} is not granted to this client; it has: {' '.join(allowed)}"
        )
    return tuple(wanted)
