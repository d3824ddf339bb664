"""The AWS Lambda entry point, invoked with API Gateway HTTP API events (payload format 2.0) as
the Lambda runtime would, on a FastAPI app with the API's error handlers."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from stockpred.api.aws_lambda import LambdaHandler, LazyLambdaHandler, build_handler
from stockpred.api.errors import install_error_handlers
from stockpred.domain.errors import MissingExtraError, RateLimitedError
from support.lambda_context import LambdaContext

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjbGllbnQtMSJ9.c2lnbmF0dXJl"
BINARY = bytes(range(256))


def http_api_event(
    *,
    method: str,
    path: str,
    route_key: str = "$default",
    query: str = "",
    body: bytes | None = None,
    content_type: str | None = None,
    encode_body: bool = False,
) -> dict[str, object]:
    """An API Gateway HTTP API event, payload format version 2.0, as AWS documents it."""
    headers = {
        "accept": "application/json",
        "authorization": f"Bearer {TOKEN}",
        "content-length": str(len(body or b"")),
        "host": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-5e6722a7-cc56xmpl46db7ae02d4da47e",
        "x-forwarded-for": "205.255.255.176",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if content_type is not None:
        headers["content-type"] = content_type
    parameters: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
            "domainPrefix": "r3pmxmplak",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "205.255.255.176",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "10/Mar/2026:14:04:18 +0000",
            "timeEpoch": 1773151458000,
        },
        "isBase64Encoded": encode_body,
    }
    if parameters:
        event["queryStringParameters"] = parameters
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if encode_body else body.decode()
    return event


class NewItem(BaseModel):
    name: str
    quantity: int


@dataclass
class Lifecycle:
    started: int = 0
    stopped: int = 0
    seen_states: list[int] = field(default_factory=list)


def make_app(lifecycle: Lifecycle) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, int]]:
        lifecycle.started += 1
        yield {"startup_number": lifecycle.started}
        lifecycle.stopped += 1

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)

    @app.get("/v1/items/{item_id}")
    async def read_item(item_id: str, request: Request, limit: int = 10) -> dict[str, object]:
        lifecycle.seen_states.append(request.state.startup_number)
        return {
            "id": item_id,
            "limit": limit,
            "authorization": request.headers.get("authorization"),
            "client": request.client.host if request.client else None,
            "scheme": request.url.scheme,
        }

    @app.post("/v1/items", status_code=201)
    async def create_item(item: NewItem) -> dict[str, object]:
        return {"name": item.name, "quantity": item.quantity}

    @app.get("/v1/blob")
    async def blob() -> Response:
        return Response(BINARY, media_type="application/octet-stream")

    @app.get("/v1/limited")
    async def limited() -> None:
        raise RateLimitedError("client 'client-1' is over its limit", retry_after=7)

    return app


@pytest.fixture
def lifecycle() -> Lifecycle:
    return Lifecycle()


@pytest.fixture
def handler(lifecycle: Lifecycle) -> Iterator[LambdaHandler]:
    built = build_handler(make_app(lifecycle))
    yield built
    built.close()


def test_a_get_with_a_path_parameter_and_a_query_answers_json(handler: LambdaHandler) -> None:
    event = http_api_event(
        method="GET",
        path="/v1/items/AAPL",
        route_key="GET /v1/items/{item_id}",
        query="limit=3",
    )

    response = handler(event, LambdaContext())

    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is False
    headers = response["headers"]
    assert isinstance(headers, dict)
    assert headers["content-type"] == "application/json"
    assert json.loads(str(response["body"])) == {
        "id": "AAPL",
        "limit": 3,
        "authorization": f"Bearer {TOKEN}",
        "client": "205.255.255.176",
        "scheme": "https",
    }


def test_a_post_with_a_json_body_is_created(handler: LambdaHandler) -> None:
    body = json.dumps({"name": "widget", "quantity": 4}).encode()
    event = http_api_event(
        method="POST", path="/v1/items", body=body, content_type="application/json"
    )

    response = handler(event, LambdaContext())

    assert response["statusCode"] == 201
    assert json.loads(str(response["body"])) == {"name": "widget", "quantity": 4}


def test_a_base64_encoded_request_body_is_decoded(handler: LambdaHandler) -> None:
    body = json.dumps({"name": "gadget", "quantity": 2}).encode()
    event = http_api_event(
        method="POST",
        path="/v1/items",
        body=body,
        content_type="application/json",
        encode_body=True,
    )

    response = handler(event, LambdaContext())

    assert response["statusCode"] == 201
    assert json.loads(str(response["body"])) == {"name": "gadget", "quantity": 2}


def test_a_binary_response_is_returned_base64_encoded(handler: LambdaHandler) -> None:
    response = handler(http_api_event(method="GET", path="/v1/blob"), LambdaContext())

    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(str(response["body"])) == BINARY


def test_an_unknown_route_answers_404_with_code_and_message(handler: LambdaHandler) -> None:
    response = handler(http_api_event(method="GET", path="/v1/nothing-here"), LambdaContext())

    assert response["statusCode"] == 404
    body = json.loads(str(response["body"]))
    assert set(body) == {"code", "message"}
    assert body["code"] == "not_found"
    assert "/v1/nothing-here" in body["message"]


def test_an_invalid_body_answers_422_with_code_and_message(handler: LambdaHandler) -> None:
    event = http_api_event(
        method="POST", path="/v1/items", body=b'{"name": 1}', content_type="application/json"
    )

    response = handler(event, LambdaContext())

    assert response["statusCode"] == 422
    assert json.loads(str(response["body"]))["code"] == "invalid_input"


def test_a_rate_limited_answer_keeps_its_retry_after_header(handler: LambdaHandler) -> None:
    response = handler(http_api_event(method="GET", path="/v1/limited"), LambdaContext())

    assert response["statusCode"] == 429
    headers = response["headers"]
    assert isinstance(headers, dict)
    assert headers["retry-after"] == "7"


def test_the_app_starts_once_for_many_invocations_and_stops_on_close(
    lifecycle: Lifecycle,
) -> None:
    handler = build_handler(make_app(lifecycle))
    event = http_api_event(method="GET", path="/v1/items/MSFT")

    answers = [handler(event, LambdaContext())["statusCode"] for _ in range(3)]
    stopped_before_close = lifecycle.stopped
    handler.close()
    handler.close()

    assert answers == [200, 200, 200]
    assert lifecycle.started == 1
    assert lifecycle.seen_states == [1, 1, 1]
    assert stopped_before_close == 0
    assert lifecycle.stopped == 1


def test_the_lazy_handler_builds_the_app_on_the_first_event_only(lifecycle: Lifecycle) -> None:
    builds: list[int] = []

    def factory() -> FastAPI:
        builds.append(1)
        return make_app(lifecycle)

    lazy = LazyLambdaHandler(factory)
    built_at_creation = len(builds)
    try:
        first = lazy(http_api_event(method="GET", path="/v1/items/A"), LambdaContext())
        second = lazy(http_api_event(method="GET", path="/v1/items/B"), LambdaContext())
    finally:
        lazy.close()

    assert built_at_creation == 0
    assert len(builds) == 1
    assert (first["statusCode"], second["statusCode"]) == (200, 200)
    assert lifecycle.stopped == 1


def test_a_failed_build_is_tried_again_on_the_next_event(lifecycle: Lifecycle) -> None:
    attempts: list[int] = []

    def factory() -> FastAPI:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("settings not readable yet")
        return make_app(lifecycle)

    lazy = LazyLambdaHandler(factory)
    try:
        with pytest.raises(RuntimeError, match="not readable"):
            lazy(http_api_event(method="GET", path="/v1/items/A"), LambdaContext())
        answer = lazy(http_api_event(method="GET", path="/v1/items/A"), LambdaContext())
    finally:
        lazy.close()

    assert len(attempts) == 2
    assert answer["statusCode"] == 200


def test_importing_the_entry_point_builds_nothing() -> None:
    code = (
        "import sys, stockpred.api.aws_lambda as m; "
        "print(callable(m.handler), 'stockpred.api.app' in sys.modules, "
        "'mangum' in sys.modules, 'stockpred.store' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.split() == ["True", "False", "False", "False"]


def test_without_mangum_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mangum", None)

    with pytest.raises(MissingExtraError, match=r"pip install 'stockpred\[aws-lambda\]'"):
        build_handler(FastAPI())
