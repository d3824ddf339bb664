"""Property-based tests of the API against its own OpenAPI schema (schemathesis): every
operation, called in-process through the ASGI app with an admin token and generated inputs
(valid and invalid), never answers a 5xx and answers what its schema declares."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stockpred.api.app import build_services
from stockpred.api.services import ApiServices
from stockpred.settings import load_settings
from support.api import bearer

# Bounded so the module stays fast in CI; derandomized so a failure is reproducible.
MAX_EXAMPLES = 25

_ASGIMessage = Mapping[str, Any]


def _fake_retrain(*, horizon: int, tune: bool) -> Mapping[str, object]:
    """Stands in for the real retrain, which would train models for minutes and write the
    shared registry: the test is about the route's answers, not about retraining."""
    return {"horizon": horizon, "tune": tune, "promoted": False}


@pytest.fixture
def services(served_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ApiServices:
    """The e2e services, with their own API database: the webhooks schemathesis registers must
    not stay in the session's shared home, where later refreshes would deliver to them."""
    monkeypatch.setenv("STOCKPRED_HOME", str(served_home))
    monkeypatch.setenv("STOCKPRED_API_RATE_LIMIT", "1000/second")
    monkeypatch.setenv("STOCKPRED_API_DATABASE", f"sqlite:///{tmp_path / 'api.db'}")
    built = build_services(load_settings())
    # POST /v1/models/retrain must not start a real retrain (see _fake_retrain).
    built.retrain = _fake_retrain
    return built


def _without_lifespan(app: Any) -> Any:
    """``app`` as schemathesis calls it: the ``client`` fixture's TestClient already runs the
    app's lifespan (start-up refresh, shutdown drain) for this test, whereas schemathesis would
    start a second one and keep it until the interpreter exits. An ASGI app that returns from
    the lifespan scope without reading a message says it has none."""

    async def application(scope: _ASGIMessage, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await app(scope, receive, send)

    return application


@pytest.fixture
def api_schema(client: TestClient) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", _without_lifespan(client.app))


@pytest.fixture
def admin_headers(services: ApiServices) -> dict[str, str]:
    created = services.clients.create(name="schemathesis", scopes=["admin"])
    assert services.issuer is not None
    issued = services.issuer.issue(client_id=created.client.client_id, scopes=["admin"])
    return bearer(issued.access_token)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    # The fixtures are built once for every operation's examples, on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_operation_answers_a_server_error_or_strays_from_its_schema(
    case: schemathesis.Case, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        headers=admin_headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
