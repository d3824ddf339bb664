"""Test support for the API: tokens from real client credentials."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stockpred.api.services import ApiServices


def token_for(client: TestClient, services: ApiServices, *scopes: str) -> str:
    """A bearer token for a new client with ``scopes``, through POST /v1/token."""
    created = services.clients.create(name="test", scopes=list(scopes))
    answer = client.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created.client.client_id,
            "client_secret": created.secret,
        },
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
