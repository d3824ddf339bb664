"""Signed access tokens: the API's own (HS256, issued by ``POST /v1/token``) or an external
identity provider's (RS256/ES256, keys from its JWKS URL).

Verification runs on every request, so it decodes each token once with one prepared decoder and
checks the time claims against the injected clock (tests move time without sleeping). Every
refusal is an ``AuthError`` whose message says what was wrong and what to do, and never quotes the
token or a key.
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import (
    DecodeError,
    InvalidAlgorithmError,
    InvalidSignatureError,
    InvalidTokenError,
    PyJWKClientConnectionError,
    PyJWKClientError,
    PyJWTError,
)

from stockpred.api.principals import SCOPES, Principal, TokenVerifier
from stockpred.domain.errors import AuthError, ConfigurationError, InvalidInputError
from stockpred.settings import Settings

__all__ = [
    "LOCAL_ALGORITHM",
    "MIN_SECRET_LENGTH",
    "IssuedToken",
    "JWKSTokenVerifier",
    "LocalTokenVerifier",
    "TokenIssuer",
    "api_secret",
    "build_token_services",
]

_LOG = logging.getLogger("stockpred.api.security")

LOCAL_ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
SECRET_FILE = "api-secret"
SECRET_SETTING = "STOCKPRED_API_SECRET_KEY"
_SECRET_HINT = (
    "set STOCKPRED_API_SECRET_KEY to 32+ random characters, e.g. "
    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
)
_KNOWN_SCOPES = frozenset(SCOPES)
_REQUIRED_CLAIMS = ("sub", "exp", "iss", "aud")
# Claim values quoted in messages come from the caller: keep them short.
_SHOWN_CHARACTERS = 64
# Seconds the identity provider's key set is trusted before it is fetched again, and the most a
# fetch may take (it runs on the request that finds the cache stale).
_JWKS_LIFESPAN_SECONDS = 300.0
_JWKS_TIMEOUT_SECONDS = 5.0


def _signature_only_decoder() -> jwt.PyJWT:
    """A decoder that checks the header, algorithm and signature only: the claims are checked
    here, against the injected clock, with messages of our own."""
    return jwt.PyJWT(
        options={
            "verify_signature": True,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "verify_aud": False,
            "verify_iss": False,
            "verify_sub": False,
            "verify_jti": False,
            "require": [],
        }
    )


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else text[: _SHOWN_CHARACTERS - 3] + "..."


def _unverified_algorithm(token: str) -> object:
    """The ``alg`` a token claims, for the message that refuses it (None when unreadable)."""
    try:
        return jwt.get_unverified_header(token).get("alg")
    except PyJWTError:
        return None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token as ``POST /v1/token`` returns it (RFC 6749 §5.1)."""

    access_token: str
    token_type: str
    # Seconds from issue until the token expires.
    expires_in: int
    # Granted scopes, space-separated (the OAuth2 convention).
    scope: str


class TokenIssuer:
    """Signs the API's own access tokens (HS256) for authenticated clients."""

    def __init__(
        self,
        *,
        secret: str,
        issuer: str,
        audience: str,
        ttl: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"the token signing key is {len(secret)} characters long; it needs "
                f"{MIN_SECRET_LENGTH}+: {_SECRET_HINT}"
            )
        seconds = int(ttl.total_seconds())
        if seconds <= 0:
            raise ConfigurationError(
                f"the token lifetime must be positive, got {ttl}; set STOCKPRED_API_TOKEN_MINUTES"
            )
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._seconds = seconds
        self._clock = clock

    @property
    def ttl_seconds(self) -> int:
        """How long an issued token lives, in seconds."""
        return self._seconds

    def issue(self, *, client_id: str, scopes: Iterable[str]) -> IssuedToken:
        """A token for ``client_id`` carrying ``scopes`` (known scopes only, at least one)."""
        wanted = set(scopes)
        unknown = sorted(wanted - _KNOWN_SCOPES)
        if unknown:
            raise InvalidInputError(
                f"unknown scope {unknown[0]!r}; valid scopes: {', '.join(SCOPES)}"
            )
        if not wanted:
            raise InvalidInputError(f"a token needs at least one scope of: {', '.join(SCOPES)}")
        scope = " ".join(s for s in SCOPES if s in wanted)
        now = int(self._clock().timestamp())
        claims = {
            "sub": client_id,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._seconds,
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
        }
        token = jwt.encode(claims, self._secret, algorithm=LOCAL_ALGORITHM)
        return IssuedToken(
            access_token=token, token_type="bearer", expires_in=self._seconds, scope=scope
        )


class _ClaimRules:
    """The checks every token's claims pass, whoever signed it: required claims, time window
    (against the injected clock, with ``leeway`` seconds of clock skew), issuer and audience."""

    __slots__ = ("_audience", "_clock", "_issuer", "_leeway", "_remedy")

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        clock: Callable[[], datetime],
        leeway_seconds: int,
        remedy: str,
    ) -> None:
        if leeway_seconds < 0:
            raise ConfigurationError(f"token leeway must be >= 0 seconds, got {leeway_seconds}")
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._leeway = leeway_seconds
        self._remedy = remedy

    def now(self) -> float:
        """The injected clock, as Unix seconds."""
        return self._clock().timestamp()

    def valid_until(self, claims: Mapping[str, Any]) -> float:
        """Unix seconds after which claims that pass today stop passing (expiry + leeway)."""
        return self._number(claims, "exp") + self._leeway

    def principal_of(self, claims: Mapping[str, Any]) -> Principal:
        for name in _REQUIRED_CLAIMS:
            if claims.get(name) is None:
                raise AuthError(f"the token lacks the {name!r} claim; {self._remedy}")
        now = self._clock().timestamp()
        if self._number(claims, "exp") <= now - self._leeway:
            raise AuthError(f"the token has expired; {self._remedy}")
        for name in ("nbf", "iat"):
            if name in claims and self._number(claims, name) > now + self._leeway:
                raise AuthError(
                    f"the token is not valid yet (its {name!r} is in the future); check the "
                    "clocks of the issuer and this server"
                )
        issuer = claims["iss"]
        if issuer != self._issuer:
            raise AuthError(
                f"the token was issued by {_shown(issuer)}, not {self._issuer!r}; {self._remedy}"
            )
        audience = claims["aud"]
        if not (
            audience == self._audience
            or (isinstance(audience, list) and self._audience in audience)
        ):
            raise AuthError(
                f"the token is for audience {_shown(audience)}, not this API "
                f"({self._audience!r}); {self._remedy}"
            )
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise AuthError(f"the token's 'sub' claim is not a client id; {self._remedy}")
        return Principal(client_id=subject, scopes=_scopes_of(claims))

    @staticmethod
    def _number(claims: Mapping[str, Any], name: str) -> float:
        value = claims[name]
        # bool is an int to Python, not a time to anyone.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AuthError(f"the token's {name!r} claim is not a number of seconds")
        return float(value)


def _scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """Known scopes from ``scope`` (space-separated, RFC 8693) or ``scp`` (a list, as some
    identity providers send); unknown ones are dropped, not refused, so a provider may add its
    own."""
    raw = claims.get("scope")
    if raw is None:
        raw = claims.get("scp")
    if isinstance(raw, str):
        names: Iterable[object] = raw.split()
    elif isinstance(raw, list):
        names = raw
    else:
        return frozenset()
    return _KNOWN_SCOPES.intersection(names)


class LocalTokenVerifier:
    """Verifies the API's own tokens: HS256 only (``alg: none``, RS256 and HS512 are refused),
    signed with the API's secret, then the claims of :class:`_ClaimRules`."""

    __slots__ = ("_algorithms", "_decoder", "_rules", "_secret", "_verified")

    # Tokens verified lately and when each stops being valid. A client sends the same token
    # for its whole lifetime, and PyJWT's decode costs most of a request's budget; a hit is
    # the very same signed string, so it needs no second check but its expiry.
    _VERIFIED_MAX = 10_000

    def __init__(
        self,
        *,
        secret: str,
        issuer: str,
        audience: str,
        clock: Callable[[], datetime],
        leeway_seconds: int = 0,
    ) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"the token signing key is {len(secret)} characters long; it needs "
                f"{MIN_SECRET_LENGTH}+: {_SECRET_HINT}"
            )
        self._secret = secret.encode()
        self._algorithms = [LOCAL_ALGORITHM]
        self._decoder = _signature_only_decoder()
        self._rules = _ClaimRules(
            issuer=issuer,
            audience=audience,
            clock=clock,
            leeway_seconds=leeway_seconds,
            remedy="get a new one from POST /v1/token",
        )
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        """The caller the token names; ``AuthError`` when anything about it is wrong."""
        known = self._verified.get(token)
        if known is not None:
            if self._rules.now() < known[1]:
                return known[0]
            del self._verified[token]
        try:
            claims = self._decoder.decode(token, self._secret, algorithms=self._algorithms)
        except InvalidAlgorithmError:
            algorithm = _unverified_algorithm(token)
            shown = "none" if algorithm in (None, "none") else _shown(algorithm)
            raise AuthError(f"tokens must be signed with {LOCAL_ALGORITHM}; got {shown}") from None
        except InvalidSignatureError:
            raise AuthError(
                "the token's signature does not verify; get a new one from POST /v1/token"
            ) from None
        except (DecodeError, InvalidTokenError):
            raise AuthError(
                "the bearer token is not a JWT (header.payload.signature, base64url); get one "
                "from POST /v1/token"
            ) from None
        principal = self._rules.principal_of(claims)
        if len(self._verified) >= self._VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (principal, self._rules.valid_until(claims))
        return principal


class JWKSTokenVerifier:
    """Verifies an external identity provider's tokens against the keys it publishes.

    The key is picked by the token's ``kid`` from the provider's JWKS, fetched and cached by
    :class:`jwt.PyJWKClient` (the whole set for five minutes; an unknown ``kid`` forces one
    re-fetch at most every 30 seconds, so random ``kid`` values cannot hammer the provider). The
    per-``kid`` LRU cache of PyJWKClient is left off: it never expires, so a key the provider
    withdrew would keep verifying. Fetches block the calling request (five seconds at most).
    """

    __slots__ = ("_algorithms", "_client", "_decoder", "_rules", "_where")

    # verify() may fetch the provider's key set: the API runs it in a worker thread.
    may_block = True

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        clock: Callable[[], datetime],
        algorithms: tuple[str, ...] = ("RS256", "ES256"),
        leeway_seconds: int = 0,
    ) -> None:
        symmetric = [name for name in algorithms if name.upper().startswith("HS")]
        if not algorithms or symmetric or "none" in (name.lower() for name in algorithms):
            # An HS* algorithm next to RS*/ES* is the key-confusion attack: the public key
            # would be accepted as an HMAC secret.
            raise ConfigurationError(
                f"an identity provider's tokens must use asymmetric algorithms (RS256, ES256, "
                f"...); got {list(algorithms)}"
            )
        parts = urlsplit(jwks_url)
        self._where = f"{parts.scheme}://{parts.hostname or '?'}{parts.path}"
        try:
            self._client = jwt.PyJWKClient(
                jwks_url,
                cache_jwk_set=True,
                lifespan=_JWKS_LIFESPAN_SECONDS,
                timeout=_JWKS_TIMEOUT_SECONDS,
            )
        except PyJWKClientError as exc:
            raise ConfigurationError(
                f"the JWKS URL {self._where!r} is not usable ({exc}); set "
                "STOCKPRED_API_JWKS_URL to the identity provider's https:// JWKS address"
            ) from exc
        self._algorithms = list(algorithms)
        self._decoder = _signature_only_decoder()
        self._rules = _ClaimRules(
            issuer=issuer,
            audience=audience,
            clock=clock,
            leeway_seconds=leeway_seconds,
            remedy="get a new one from the identity provider",
        )

    def verify(self, token: str) -> Principal:
        """The caller the token names; ``AuthError`` when anything about it is wrong or the
        provider's keys cannot be fetched."""
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise AuthError(
                "the bearer token is not a JWT (header.payload.signature, base64url); get one "
                "from the identity provider"
            ) from None
        # The algorithm is checked before any key is looked up, so junk tokens cost no fetch.
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            shown = "none" if algorithm in (None, "none") else _shown(algorithm)
            raise AuthError(
                f"tokens must be signed with {' or '.join(self._algorithms)}; got {shown}"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError(
                "the token names no signing key ('kid' header); get one from the identity provider"
            )
        key = self._signing_key(kid)
        try:
            claims = self._decoder.decode(token, key, algorithms=self._algorithms)
        except InvalidAlgorithmError:
            raise AuthError(
                f"the token's algorithm {_shown(algorithm)} does not match the identity "
                f"provider's key {_shown(kid)}"
            ) from None
        except InvalidSignatureError:
            raise AuthError(
                "the token's signature does not verify with the identity provider's key "
                f"{_shown(kid)}; get a new one from the identity provider"
            ) from None
        except (DecodeError, InvalidTokenError):
            raise AuthError(
                "the bearer token is not a JWT (header.payload.signature, base64url); get one "
                "from the identity provider"
            ) from None
        return self._rules.principal_of(claims)

    def _signing_key(self, kid: str) -> jwt.PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except PyJWKClientConnectionError as exc:
            _LOG.warning("cannot fetch the identity provider's keys from %s: %s", self._where, exc)
            raise AuthError(
                "cannot check the token now: the identity provider's signing keys cannot be "
                "fetched; try again shortly"
            ) from None
        except PyJWKClientError as exc:
            if "Unable to find a signing key" in str(exc):
                raise AuthError(
                    f"the token's signing key {_shown(kid)} is not one the identity provider "
                    "publishes; get a new token from the identity provider"
                ) from None
            _LOG.warning("the identity provider's keys at %s are unusable: %s", self._where, exc)
            raise AuthError(
                "cannot check the token now: the identity provider's key set is unusable; "
                "try again shortly"
            ) from None
        except (PyJWTError, ValueError) as exc:
            # A key set that is not JSON, or whose keys cannot be read.
            _LOG.warning("the identity provider's keys at %s are unusable: %s", self._where, exc)
            raise AuthError(
                "cannot check the token now: the identity provider's key set is unusable; "
                "try again shortly"
            ) from None


def api_secret(settings: Settings) -> str:
    """The key that signs the API's tokens: ``STOCKPRED_API_SECRET_KEY`` when set (required in
    production), otherwise one generated once into ``HOME/state/api-secret`` (mode 0600) so
    tokens survive a restart on a laptop."""
    configured = settings.api_secret_key.get_secret_value() if settings.api_secret_key else ""
    if configured:
        if len(configured) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"{SECRET_SETTING} is {len(configured)} characters long; it needs "
                f"{MIN_SECRET_LENGTH}+: {_SECRET_HINT}"
            )
        return configured
    if settings.environment == "production":
        raise ConfigurationError(f"in production the API needs its own signing key: {_SECRET_HINT}")
    return _stored_secret(settings.state_path / SECRET_FILE)


def _stored_secret(path: Path) -> str:
    if not path.exists():
        _create_secret_file(path)
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the API signing key file {path} ({exc.strerror}); fix its permissions "
            f"or {_SECRET_HINT}"
        ) from exc
    if len(stored) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"the API signing key file {path} holds {len(stored)} characters, fewer than "
            f"{MIN_SECRET_LENGTH}; delete it to have a new key generated, or {_SECRET_HINT}"
        )
    if os.name == "posix" and path.stat().st_mode & 0o077:
        _LOG.warning("the API signing key file %s is readable by others; chmod 600 it", path)
    return stored


def _create_secret_file(path: Path) -> None:
    """Write a new key beside ``path`` and link it into place: readers never see a half-written
    file, and of two processes starting at once, one key wins and both use it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".api-secret-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o600)
            try:
                os.link(temporary, path)
            except FileExistsError:
                return
            _LOG.info("generated the API signing key into %s", path)
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the API signing key file {path} ({exc.strerror}); make "
            f"{path.parent} writable or {_SECRET_HINT}"
        ) from exc


def build_token_services(
    settings: Settings, *, clock: Callable[[], datetime]
) -> tuple[TokenVerifier, TokenIssuer | None]:
    """The verifier every route uses and the issuer of ``POST /v1/token``: the external
    identity provider's (no issuer) when ``api_jwks_url`` is set, else the API's own."""
    if settings.api_jwks_url:
        if settings.environment == "production" and settings.api_jwks_url.startswith("http:"):
            _LOG.warning(
                "STOCKPRED_API_JWKS_URL is plain http: whoever can alter that traffic can sign "
                "tokens this API accepts; use https"
            )
        verifier = JWKSTokenVerifier(
            jwks_url=settings.api_jwks_url,
            issuer=settings.api_issuer,
            audience=settings.api_audience,
            clock=clock,
        )
        return verifier, None
    secret = api_secret(settings)
    local = LocalTokenVerifier(
        secret=secret, issuer=settings.api_issuer, audience=settings.api_audience, clock=clock
    )
    issuer = TokenIssuer(
        secret=secret,
        issuer=settings.api_issuer,
        audience=settings.api_audience,
        ttl=timedelta(minutes=settings.api_token_minutes),
        clock=clock,
    )
    return local, issuer
