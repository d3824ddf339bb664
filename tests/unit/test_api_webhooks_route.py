"""The webhook routes over HTTP: scopes, validation, ownership, and that the secret never comes
back. A real WebhookService on a SQLite file; a fake token verifier maps fixed tokens to callers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stockpred.api.errors import install_error_handlers
from stockpred.api.principals import Principal
from stockpred.api.ratelimit import AuthThrottle
from stockpred.api.routes.webhooks import router
from stockpred.domain.errors import AuthError
from stockpred.notify.webhooks import WebhookService

NOW = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
SECRET = "Jq3vX9c1mR7tK2pL8wZ4yB6nH0dF5sAe"
URL = "https://platform.example.com/hooks/stockpred"

PRINCIPALS = {
    "token-desk-a": Principal("desk-a", frozenset({"webhooks:write"})),
    "token-desk-b": Principal("desk-b", frozenset({"webhooks:write", "predictions:read"})),
    "token-reader": Principal("reader", frozenset({"predictions:read"})),
    "token-admin": Principal("ops", frozenset({"admin"})),
}


class FakeVerifier:
    def verify(self, token: str) -> Principal:
        if token not in PRINCIPALS:
            raise AuthError("the token is not valid")
        return PRINCIPALS[token]


class NeverLimiting:
    async def hit(self, key: str) -> None:
        return None

    async def check(self) -> None:
        return None


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'api.db'}"


@pytest.fixture
def service(database: str) -> WebhookService:
    # As in production: internal hosts are refused.
    return WebhookService(database, clock=lambda: NOW)


@pytest.fixture
def client(service: WebhookService) -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.services = SimpleNamespace(
        webhooks=service,
        verifier=FakeVerifier(),
        limiter=NeverLimiting(),
        auth_throttle=AuthThrottle(per_client="100/minute", per_address="100/minute"),
    )
    with TestClient(app) as test_client:
        yield test_client


def create(client: TestClient, token: str = "token-desk-a", **body: object) -> dict[str, object]:
    payload: dict[str, object] = {"url": URL, "tickers": ["aapl", "MSFT"], "secret": SECRET}
    payload.update(body)
    response = client.post("/v1/webhooks", json=payload, headers=auth(token))
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_register_answers_201_with_the_webhook_and_never_the_secret(client: TestClient) -> None:
    response = client.post(
        "/v1/webhooks",
        json={"url": URL, "tickers": ["aapl", "MSFT"], "secret": SECRET},
        headers=auth("token-desk-a"),
    )

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("wh_")
    assert body["owner"] == "desk-a"
    assert body["url"] == URL
    assert body["tickers"] == ["AAPL", "MSFT"]
    assert body["active"] is True
    assert datetime.fromisoformat(body["created_at"]) == NOW
    assert "secret" not in body
    assert SECRET not in response.text


def test_register_without_the_webhooks_scope_is_403(client: TestClient) -> None:
    response = client.post(
        "/v1/webhooks", json={"url": URL, "secret": SECRET}, headers=auth("token-reader")
    )

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert "webhooks:write" in response.json()["message"]


@pytest.mark.parametrize("headers", [{}, auth("not-a-known-token")])
def test_register_without_a_valid_token_is_401(
    client: TestClient, headers: dict[str, str], service: WebhookService
) -> None:
    response = client.post("/v1/webhooks", json={"url": URL, "secret": SECRET}, headers=headers)

    assert response.status_code == 401
    assert service.list() == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "ftp://platform.example.com/in"}, "scheme 'ftp'"),
        ({"url": "https://user:pw@platform.example.com/in"}, "must not carry credentials"),
        ({"url": "not a url"}, "spaces"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "link-local"),
        ({"url": "http://localhost:8080/in"}, "register the platform's public URL"),
        ({"secret": "short-secret"}, "secret"),
        ({"secret": "x" * 257}, "secret"),
        ({"tickers": ["AAPL", "no such symbol!"]}, "not a plausible symbol"),
        ({"tickers": [f"T{n}" for n in range(501)]}, "tickers"),
        ({"unexpected": True}, "unexpected"),
    ],
)
def test_invalid_registrations_are_422_and_do_not_echo_the_secret(
    client: TestClient, service: WebhookService, body: dict[str, object], fragment: str
) -> None:
    payload: dict[str, object] = {"url": URL, "tickers": [], "secret": SECRET}
    payload.update(body)

    response = client.post("/v1/webhooks", json=payload, headers=auth("token-desk-a"))

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"
    assert fragment in response.json()["message"]
    assert str(payload["secret"]) not in response.text
    assert service.list() == []


def test_listing_shows_only_the_callers_webhooks_and_admin_sees_all(client: TestClient) -> None:
    mine = create(client, "token-desk-a")
    theirs = create(client, "token-desk-b", tickers=[])

    own = client.get("/v1/webhooks", headers=auth("token-desk-a"))
    everything = client.get("/v1/webhooks", headers=auth("token-admin"))

    assert own.status_code == 200
    assert [hook["id"] for hook in own.json()] == [mine["id"]]
    assert {hook["id"] for hook in everything.json()} == {mine["id"], theirs["id"]}
    assert SECRET not in own.text + everything.text


def test_delete_removes_only_the_callers_own_webhook(
    client: TestClient, service: WebhookService
) -> None:
    mine = create(client, "token-desk-a")
    theirs = create(client, "token-desk-b")

    refused = client.delete(f"/v1/webhooks/{theirs['id']}", headers=auth("token-desk-a"))
    deleted = client.delete(f"/v1/webhooks/{mine['id']}", headers=auth("token-desk-a"))
    again = client.delete(f"/v1/webhooks/{mine['id']}", headers=auth("token-desk-a"))

    assert refused.status_code == 404
    assert refused.json()["code"] == "not_found"
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert again.status_code == 404
    assert [hook.id for hook in service.list()] == [theirs["id"]]


def test_admin_may_delete_any_webhook(client: TestClient, service: WebhookService) -> None:
    theirs = create(client, "token-desk-b")

    response = client.delete(f"/v1/webhooks/{theirs['id']}", headers=auth("token-admin"))

    assert response.status_code == 204
    assert service.list() == []


def _park_one_event(database: str, webhook_id: str, event_id: str) -> None:
    """Deliver to a loopback port where nothing listens: refused, parked after one try. A
    service of its own on the same database, so its HTTP client lives and dies on this loop."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = WebhookService(database, clock=lambda: NOW, attempts=1, allow_private_addresses=True)
    [webhook] = [hook for hook in sender.list() if hook.id == webhook_id]
    unreachable = replace(webhook, url=f"http://127.0.0.1:{port}/in")

    async def deliver() -> bool:
        try:
            return await sender.deliver(unreachable, event_id=event_id, body=b'{"ticker":"AAPL"}')
        finally:
            await sender.aclose()

    assert not asyncio.run(deliver())


def test_dead_letters_lists_the_callers_parked_events(client: TestClient, database: str) -> None:
    mine = create(client, "token-desk-a")
    theirs = create(client, "token-desk-b")
    _park_one_event(database, str(mine["id"]), "evt_mine")
    _park_one_event(database, str(theirs["id"]), "evt_theirs")

    own = client.get("/v1/webhooks/dead-letters", headers=auth("token-desk-a"))
    everything = client.get("/v1/webhooks/dead-letters?limit=10", headers=auth("token-admin"))

    assert own.status_code == 200
    [letter] = own.json()
    assert letter["webhook_id"] == mine["id"]
    assert letter["event_id"] == "evt_mine"
    assert letter["payload"] == {"ticker": "AAPL"}
    assert letter["attempts"] == 1
    assert letter["last_error"] == "ConnectError"
    assert datetime.fromisoformat(letter["parked_at"]) == NOW
    assert {item["event_id"] for item in everything.json()} == {"evt_mine", "evt_theirs"}


@pytest.mark.parametrize("limit", [0, 1001, "many"])
def test_dead_letters_limit_out_of_range_is_422(client: TestClient, limit: object) -> None:
    response = client.get(
        "/v1/webhooks/dead-letters", params={"limit": limit}, headers=auth("token-desk-a")
    )

    assert response.status_code == 422
    assert "limit" in response.json()["message"]


def test_dead_letters_need_the_webhooks_scope(client: TestClient) -> None:
    response = client.get("/v1/webhooks/dead-letters", headers=auth("token-reader"))

    assert response.status_code == 403


def test_openapi_never_shows_the_secret_in_a_response(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]

    assert "secret" not in components["WebhookResponse"]["properties"]
    assert components["WebhookCreate"]["properties"]["secret"]["writeOnly"] is True
    assert components["WebhookCreate"]["examples"]
    created = schema["paths"]["/v1/webhooks"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("WebhookResponse")
