"""Tokens of an external identity provider, checked against the keys it publishes: a real HTTP
server on loopback serves a JWKS of keys generated here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from stockpred.api.security import JWKSTokenVerifier
from stockpred.domain.errors import AuthError
from support.identity_provider import IdentityProvider, jwk_of
from support.identity_provider import rsa_key as new_rsa_key

pytestmark = pytest.mark.integration

ISSUER = "https://idp.example/realms/desk"
AUDIENCE = "stockpred-api"
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _claims(**changes: object) -> dict[str, object]:
    now = int(T0.timestamp())
    claims: dict[str, object] = {
        "sub": "desk-service",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "scope": "predictions:read openid profile",
    }
    claims.update(changes)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def provider(rsa_key: rsa.RSAPrivateKey) -> Iterator[IdentityProvider]:
    served = IdentityProvider()
    served.publish(jwk_of(rsa_key.public_key(), kid="k1", algorithm="RS256"))
    yield served
    served.stop()


@pytest.fixture
def verifier(provider: IdentityProvider) -> JWKSTokenVerifier:
    return JWKSTokenVerifier(
        jwks_url=provider.url, issuer=ISSUER, audience=AUDIENCE, clock=FakeClock(T0)
    )


def _refusal(verifier: JWKSTokenVerifier, token: str) -> str:
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    message = str(caught.value)
    assert token not in message
    return message


def test_an_rs256_token_of_the_provider_verifies(
    verifier: JWKSTokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})

    caller = verifier.verify(token)

    assert caller.client_id == "desk-service"
    # openid and profile are the provider's own scopes: dropped.
    assert caller.scopes == frozenset({"predictions:read"})


def test_scopes_may_come_as_an_scp_list(
    verifier: JWKSTokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    claims = _claims(scp=["stream:read", "webhooks:write", "email"])
    del claims["scope"]
    token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "k1"})

    assert verifier.verify(token).scopes == frozenset({"stream:read", "webhooks:write"})


def test_the_key_set_is_fetched_once_for_many_tokens(
    verifier: JWKSTokenVerifier, provider: IdentityProvider, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})

    for _ in range(5):
        verifier.verify(token)

    assert provider.requests == 1


def test_an_es256_token_verifies(provider: IdentityProvider, rsa_key: rsa.RSAPrivateKey) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    provider.publish(
        jwk_of(rsa_key.public_key(), kid="k1", algorithm="RS256"),
        jwk_of(ec_key.public_key(), kid="e1", algorithm="ES256"),
    )
    verifier = JWKSTokenVerifier(
        jwks_url=provider.url, issuer=ISSUER, audience=AUDIENCE, clock=FakeClock(T0)
    )
    token = jwt.encode(_claims(), ec_key, algorithm="ES256", headers={"kid": "e1"})

    assert verifier.verify(token).client_id == "desk-service"


def test_a_token_signed_by_another_key_under_the_same_kid_is_refused(
    verifier: JWKSTokenVerifier,
) -> None:
    impostor = new_rsa_key()
    token = jwt.encode(_claims(), impostor, algorithm="RS256", headers={"kid": "k1"})

    message = _refusal(verifier, token)

    assert message.startswith("the token's signature does not verify")


def test_a_token_naming_an_unknown_kid_is_refused(
    verifier: JWKSTokenVerifier, provider: IdentityProvider
) -> None:
    stranger = new_rsa_key()
    token = jwt.encode(_claims(), stranger, algorithm="RS256", headers={"kid": "k-unknown"})

    message = _refusal(verifier, token)

    assert "'k-unknown' is not one the identity provider publishes" in message
    # Random kids do not each cost a fetch: a refresh at most every 30 seconds.
    for index in range(5):
        other = jwt.encode(_claims(), stranger, algorithm="RS256", headers={"kid": f"x{index}"})
        _refusal(verifier, other)
    assert provider.requests <= 2


def test_an_hs256_token_keyed_with_the_public_key_is_refused(
    verifier: JWKSTokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The algorithm-confusion attack: the public key, which anyone can fetch, used as an HMAC
    secret. (PyJWT will not sign this, so it is built by hand.)"""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = _b64(json.dumps(_claims(scope="admin")).encode())
    signature = hmac.digest(public_pem, f"{header}.{payload}".encode(), hashlib.sha256)
    token = f"{header}.{payload}.{_b64(signature)}"

    message = _refusal(verifier, token)

    assert message == "tokens must be signed with RS256 or ES256; got 'HS256'"


def test_a_token_with_alg_none_is_refused(verifier: JWKSTokenVerifier) -> None:
    header = _b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."

    assert _refusal(verifier, token) == "tokens must be signed with RS256 or ES256; got none"


def test_an_rs256_token_whose_kid_is_an_es256_key_is_refused(
    provider: IdentityProvider, rsa_key: rsa.RSAPrivateKey
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    provider.publish(jwk_of(ec_key.public_key(), kid="e1", algorithm="ES256"))
    verifier = JWKSTokenVerifier(
        jwks_url=provider.url, issuer=ISSUER, audience=AUDIENCE, clock=FakeClock(T0)
    )
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "e1"})

    assert "does not match the identity provider's key 'e1'" in _refusal(verifier, token)


def test_a_provider_token_for_another_audience_or_expired_is_refused(
    provider: IdentityProvider, rsa_key: rsa.RSAPrivateKey
) -> None:
    clock = FakeClock(T0)
    verifier = JWKSTokenVerifier(
        jwks_url=provider.url, issuer=ISSUER, audience=AUDIENCE, clock=clock
    )
    other_audience = jwt.encode(
        _claims(aud="account"), rsa_key, algorithm="RS256", headers={"kid": "k1"}
    )
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})

    assert "audience 'account', not this API" in _refusal(verifier, other_audience)
    clock.now = T0 + timedelta(minutes=5)
    assert _refusal(verifier, token) == (
        "the token has expired; get a new one from the identity provider"
    )


def test_an_unreachable_provider_is_refused_clearly_and_logged(
    rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    gone = IdentityProvider()
    url = gone.url
    gone.stop()
    verifier = JWKSTokenVerifier(
        jwks_url=url, issuer=ISSUER, audience=AUDIENCE, clock=FakeClock(T0)
    )
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})

    with caplog.at_level(logging.WARNING, logger="stockpred.api.security"):
        message = _refusal(verifier, token)

    assert "signing keys cannot be fetched" in message
    assert "127.0.0.1" not in message
    logged = [r.getMessage() for r in caplog.records if r.name == "stockpred.api.security"]
    assert any("cannot fetch the identity provider's keys" in line for line in logged)
    assert all(token not in line for line in logged)


def test_a_key_set_that_is_not_json_is_refused_clearly(
    provider: IdentityProvider, rsa_key: rsa.RSAPrivateKey
) -> None:
    provider.body = b"<html>login</html>"
    verifier = JWKSTokenVerifier(
        jwks_url=provider.url, issuer=ISSUER, audience=AUDIENCE, clock=FakeClock(T0)
    )
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256", headers={"kid": "k1"})

    assert "key set is unusable" in _refusal(verifier, token)


def test_a_token_without_a_kid_is_refused(
    verifier: JWKSTokenVerifier, rsa_key: rsa.RSAPrivateKey, provider: IdentityProvider
) -> None:
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")

    assert "names no signing key" in _refusal(verifier, token)
    assert provider.requests == 0
