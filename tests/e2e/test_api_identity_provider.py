"""The API behind an external identity provider (STOCKPRED_API_JWKS_URL): its RS256 tokens
open the routes their scopes allow, the built-in token route steps aside, and a token the
provider did not sign is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.settings import load_settings
from support.api import bearer
from support.identity_provider import IdentityProvider, jwk_of, rsa_key

ISSUER = "https://idp.example/realms/desk"


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    server = IdentityProvider()
    try:
        yield server
    finally:
        server.stop()


def test_tokens_of_the_configured_identity_provider_are_honoured(
    served_home: Path, provider: IdentityProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, stranger = rsa_key(), rsa_key()
    provider.publish(jwk_of(key.public_key(), kid="k1", algorithm="RS256"))
    monkeypatch.setenv("STOCKPRED_HOME", str(served_home))
    monkeypatch.setenv("STOCKPRED_API_JWKS_URL", provider.url)
    monkeypatch.setenv("STOCKPRED_API_ISSUER", ISSUER)
    services = build_services(load_settings())
    now = int(time.time())
    claims = {
        "sub": "desk-service",
        "iss": ISSUER,
        "aud": "stockpred-api",
        "iat": now,
        "exp": now + 300,
        "scope": "predictions:read openid",
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "k1"})

    with TestClient(create_app(services, background=False)) as client:
        served = client.get("/v1/predictions/AAPL", headers=bearer(token))
        refused = client.get("/v1/predictions/AAPL", headers=bearer(forged))
        no_scope = client.post("/v1/models/retrain", json={}, headers=bearer(token))
        own_tokens = client.post(
            "/v1/token",
            data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
        )

    assert services.issuer is None
    assert served.status_code == 200, served.text
    assert served.json()["ticker"] == "AAPL"
    assert refused.status_code == 401
    assert no_scope.status_code == 403
    assert own_tokens.status_code == 400
    assert own_tokens.json()["error"] == "unauthorized_client"
    assert "identity provider" in own_tokens.json()["error_description"]
