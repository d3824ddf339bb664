"""POST /v1/token through a real FastAPI app: client credentials (form or HTTP Basic) against a
real client store on SQLite, tokens that the API's own verifier accepts, and the error bodies of
every refusal."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stockpred.api.clients import ClientStore, NewClient
from stockpred.api.errors import install_error_handlers
from stockpred.api.hashing import HashPool
from stockpred.api.ratelimit import AuthThrottle
from stockpred.api.routes.auth import router
from stockpred.api.security import LocalTokenVerifier, TokenIssuer
from stockpred.domain.errors import RateLimitedError
from stockpred.settings import Settings

SECRET = "route-tests-signing-key-0123456789-abcdefgh"
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class NeverLimits:
    """A rate limiter that lets everything through and remembers the keys it was asked about."""

    keys: list[str] = field(default_factory=list)

    async def hit(self, key: str) -> None:
        self.keys.append(key)

    async def check(self) -> None:
        return None


@dataclass
class AlwaysLimits:
    async def hit(self, key: str) -> None:
        raise RateLimitedError("too many token requests; try again in 7 seconds", retry_after=7)

    async def check(self) -> None:
        return None


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingHasher(PasswordHasher):
    """A cheap argon2id that counts its verifications and the most run at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verifications = 0
        self.running = 0
        self.most_at_once = 0
        self.delay = 0.0
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self._lock:
            self.verifications += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay)
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


@dataclass
class FakeServices:
    settings: Settings
    clients: ClientStore
    issuer: TokenIssuer | None
    limiter: Any
    verifier: LocalTokenVerifier
    hasher: CountingHasher
    monotonic: Monotonic
    auth_throttle: AuthThrottle
    hash_pool: HashPool = field(default_factory=lambda: HashPool(concurrency=1))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[FakeServices]:
    clock = FakeClock(T0)
    settings = Settings(home=tmp_path)
    hasher = CountingHasher()
    clients = ClientStore(f"sqlite:///{tmp_path / 'api.db'}", clock=clock, hasher=hasher)
    monotonic = Monotonic()
    throttle = AuthThrottle(
        per_client="3/minute", per_address="8/minute", monotonic_clock=monotonic
    )
    issuer = TokenIssuer(
        secret=SECRET,
        issuer=settings.api_issuer,
        audience=settings.api_audience,
        ttl=timedelta(minutes=15),
        clock=clock,
    )
    verifier = LocalTokenVerifier(
        secret=SECRET, issuer=settings.api_issuer, audience=settings.api_audience, clock=clock
    )
    yield FakeServices(
        settings, clients, issuer, NeverLimits(), verifier, hasher, monotonic, throttle
    )
    clients.close()


@pytest.fixture
def app(services: FakeServices) -> FastAPI:
    application = FastAPI()
    install_error_handlers(application)
    application.include_router(router)
    application.state.services = services
    return application


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def desk(services: FakeServices) -> NewClient:
    return services.clients.create(name="desk", scopes=["predictions:read", "stream:read"])


def _form(client: NewClient, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client.client.client_id,
        "client_secret": client.secret,
        **extra,
    }


def _basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def test_form_credentials_get_a_token_the_verifier_accepts(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    answer = http.post("/v1/token", data=_form(desk))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "predictions:read stream:read"
    assert answer.headers["Cache-Control"] == "no-store"
    caller = services.verifier.verify(body["access_token"])
    assert caller.client_id == desk.client.client_id
    assert caller.scopes == frozenset({"predictions:read", "stream:read"})


def test_basic_auth_credentials_get_a_token(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    answer = http.post(
        "/v1/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(desk.client.client_id, desk.secret),
    )

    assert answer.status_code == 200, answer.text
    caller = services.verifier.verify(answer.json()["access_token"])
    assert caller.client_id == desk.client.client_id


def test_the_limiter_is_asked_before_authenticating(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    http.post("/v1/token", data=_form(desk, client_secret="wrong"))

    assert services.limiter.keys == [f"token:{desk.client.client_id}"]


def test_a_limited_client_gets_429_without_a_hash_check(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    services.limiter = AlwaysLimits()

    answer = http.post("/v1/token", data=_form(desk))

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["error"] == "slow_down"


@pytest.mark.parametrize("how", ["form", "basic"])
def test_a_wrong_secret_is_401_with_a_code_and_message(
    http: TestClient, desk: NewClient, how: str
) -> None:
    if how == "form":
        answer = http.post("/v1/token", data=_form(desk, client_secret="wrong-secret"))
    else:
        answer = http.post(
            "/v1/token",
            data={"grant_type": "client_credentials"},
            headers=_basic(desk.client.client_id, "wrong-secret"),
        )

    assert answer.status_code == 401
    assert answer.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
        "code": "invalid_client",
        "message": "invalid client credentials",
    }
    # RFC 6749 §5.2: a client that tried HTTP Basic is challenged for it.
    assert ("WWW-Authenticate" in answer.headers) == (how == "basic")


def test_a_revoked_client_gets_the_same_401(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    services.clients.revoke(desk.client.client_id)

    answer = http.post("/v1/token", data=_form(desk))

    assert answer.status_code == 401
    assert answer.json()["message"] == "invalid client credentials"


def test_a_narrower_scope_request_gets_only_that_scope(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    answer = http.post("/v1/token", data=_form(desk, scope="stream:read"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "stream:read"
    caller = services.verifier.verify(answer.json()["access_token"])
    assert caller.scopes == frozenset({"stream:read"})


def test_a_wider_scope_request_is_invalid_scope(http: TestClient, desk: NewClient) -> None:
    answer = http.post("/v1/token", data=_form(desk, scope="predictions:read models:write"))

    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_scope"
    assert "'models:write' is not granted" in body["error_description"]


def test_an_admin_client_may_ask_for_any_narrower_scope(
    http: TestClient, services: FakeServices
) -> None:
    admin = services.clients.create(name="ops", scopes=["admin"])

    answer = http.post("/v1/token", data=_form(admin, scope="models:write"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "models:write"


def test_an_unknown_scope_request_is_invalid_scope(http: TestClient, desk: NewClient) -> None:
    answer = http.post("/v1/token", data=_form(desk, scope="predictions:write"))

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_scope"
    assert "unknown scope 'predictions:write'" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("grant_type", "error"),
    [
        ("password", "unsupported_grant_type"),
        ("authorization_code", "unsupported_grant_type"),
        ("", "invalid_request"),
    ],
)
def test_another_grant_type_is_refused_as_rfc_6749_says(
    http: TestClient, desk: NewClient, grant_type: str, error: str
) -> None:
    answer = http.post("/v1/token", data=_form(desk, grant_type=grant_type))

    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert answer.headers["Cache-Control"] == "no-store"


def test_a_missing_or_oversized_field_is_invalid_request(http: TestClient, desk: NewClient) -> None:
    missing = http.post("/v1/token", data={"client_id": "x", "client_secret": "y"})
    long = http.post("/v1/token", data=_form(desk, scope="s" * 300))

    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    assert (long.status_code, long.json()["error"]) == (400, "invalid_request")


def test_the_grant_type_is_named_in_its_refusal(http: TestClient, desk: NewClient) -> None:
    answer = http.post("/v1/token", data=_form(desk, grant_type="password"))

    assert answer.json()["message"].startswith("unsupported grant_type 'password'")


def test_credentials_in_both_basic_and_form_are_refused(http: TestClient, desk: NewClient) -> None:
    answer = http.post(
        "/v1/token", data=_form(desk), headers=_basic(desk.client.client_id, desk.secret)
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert "not both" in answer.json()["error_description"]


def test_no_credentials_is_401_saying_how_to_send_them(http: TestClient) -> None:
    answer = http.post("/v1/token", data={"grant_type": "client_credentials"})

    assert answer.status_code == 401
    assert "client_id and client_secret" in answer.json()["message"]


@pytest.mark.parametrize(
    "header", ["Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode()]
)
def test_a_malformed_basic_header_is_401_with_our_body(http: TestClient, header: str) -> None:
    answer = http.post(
        "/v1/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header}
    )

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert "base64(client_id:client_secret)" in answer.json()["error_description"]
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="stockpred"'


def test_with_an_external_identity_provider_no_token_is_issued(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    services.issuer = None

    answer = http.post("/v1/token", data=_form(desk))

    assert answer.status_code == 400
    assert answer.json()["error"] == "unauthorized_client"
    assert "identity provider" in answer.json()["error_description"]


def test_the_secret_is_never_logged(
    http: TestClient, desk: NewClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        http.post("/v1/token", data=_form(desk))
        http.post("/v1/token", data=_form(desk, client_secret=desk.secret + "x"))

    assert caplog.records, "the requests logged nothing at DEBUG; the check would be empty"
    assert all(desk.secret not in record.getMessage() for record in caplog.records)


def test_the_endpoint_is_documented_in_openapi(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/v1/token"]["post"]

    assert operation["summary"].startswith("Get an access token")
    assert "client_credentials" in operation["description"]
    assert {"400", "401", "429"} <= set(operation["responses"])
    example = operation["responses"]["401"]["content"]["application/json"]["example"]
    assert example["error"] == "invalid_client"
    assert example["error_description"] == "invalid client credentials"


def test_a_guessed_client_is_refused_429_before_any_hash_once_over_budget(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    # The address budget (8) is wider than the client's (3), so the client's is what bites.
    for _ in range(3):
        assert http.post("/v1/token", data=_form(desk, client_secret="guess")).status_code == 401
    hashed = services.hasher.verifications

    answer = http.post("/v1/token", data=_form(desk))  # even the right secret waits

    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1
    assert "failed authentications" in answer.json()["message"]
    assert services.hasher.verifications == hashed


def test_guesses_over_many_client_ids_are_refused_per_source_address(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    for n in range(8):
        guess = {**_form(desk), "client_id": f"cl_guess{n}", "client_secret": "x"}
        assert http.post("/v1/token", data=guess).status_code == 401
    hashed = services.hasher.verifications

    answer = http.post("/v1/token", data={**_form(desk), "client_id": "cl_other"})

    assert answer.status_code == 429
    assert "attempts from testclient" in answer.json()["message"]
    assert services.hasher.verifications == hashed


def test_the_budget_recovers_after_its_window_and_successes_are_no_failures(
    http: TestClient, services: FakeServices, desk: NewClient
) -> None:
    for _ in range(4):
        assert http.post("/v1/token", data=_form(desk)).status_code == 200
    for _ in range(2):
        http.post("/v1/token", data=_form(desk, client_secret="guess"))
    assert http.post("/v1/token", data=_form(desk)).status_code == 200
    http.post("/v1/token", data=_form(desk, client_secret="guess"))
    assert http.post("/v1/token", data=_form(desk)).status_code == 429

    services.monotonic.now += 61.0

    assert http.post("/v1/token", data=_form(desk)).status_code == 200


def test_bad_credential_shapes_count_against_the_address(http: TestClient) -> None:
    for _ in range(8):
        assert http.post("/v1/token", data={"grant_type": "client_credentials"}).status_code == 401

    assert http.post("/v1/token", data={"grant_type": "client_credentials"}).status_code == 429


def test_secrets_are_checked_in_the_bounded_pool_only(
    app: FastAPI, services: FakeServices, desk: NewClient
) -> None:
    services.hasher.delay = 0.05
    services.hash_pool = HashPool(concurrency=2)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            answers = await asyncio.gather(
                *(client.post("/v1/token", data=_form(desk)) for _ in range(8))
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(burst())

    assert statuses == [200] * 8
    assert services.hasher.verifications == 8
    assert services.hasher.most_at_once == 2
    assert services.hash_pool.most_in_flight == 8  # the rest waited their turn


def test_the_hashing_threads_run_at_the_lowest_priority() -> None:
    pool = HashPool(concurrency=1)

    async def niceness() -> int:
        return await pool.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    try:
        assert asyncio.run(niceness()) == 19
    finally:
        pool.shutdown()


def test_a_full_hashing_queue_answers_429_at_once(
    app: FastAPI, services: FakeServices, desk: NewClient
) -> None:
    services.hasher.delay = 0.2
    services.hash_pool = HashPool(concurrency=1, max_waiting=2)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            answers = await asyncio.gather(
                *(client.post("/v1/token", data=_form(desk)) for _ in range(6))
            )
        return sorted(a.status_code for a in answers)

    assert asyncio.run(burst()) == [200, 200, 200, 429, 429, 429]


def test_a_standard_oauth2_client_library_gets_a_token_and_reads_each_refusal(
    app: FastAPI, services: FakeServices, desk: NewClient
) -> None:
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.integrations.httpx_client._compat import httpx2  # the httpx authlib uses

    async def fetch(secret: str, method: str, **extra: str) -> dict[str, Any]:
        client = AsyncOAuth2Client(
            client_id=desk.client.client_id,
            client_secret=secret,
            token_endpoint_auth_method=method,
            transport=httpx2.ASGITransport(app=app),
            base_url="http://api",
        )
        async with client:
            token: dict[str, Any] = await client.fetch_token(
                "http://api/v1/token", grant_type="client_credentials", **extra
            )
            return token

    def refusal(secret: str, method: str, **extra: str) -> str:
        with pytest.raises(OAuthError) as caught:
            asyncio.run(fetch(secret, method, **extra))
        return str(caught.value.error)

    basic = asyncio.run(fetch(desk.secret, "client_secret_basic"))
    post = asyncio.run(fetch(desk.secret, "client_secret_post", scope="stream:read"))

    assert services.verifier.verify(basic["access_token"]).client_id == desk.client.client_id
    assert basic["token_type"] == "bearer"
    assert post["scope"] == "stream:read"
    assert refusal("wrong", "client_secret_basic") == "invalid_client"
    assert refusal(desk.secret, "client_secret_post", scope="models:write") == "invalid_scope"
    assert refusal(desk.secret, "client_secret_post", scope="no-such") == "invalid_scope"
