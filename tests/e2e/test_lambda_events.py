"""The Lambda handler (``stockpred.api.aws_lambda.handler``, what the function runs) end to end
on a trained home, with events of the two shapes AWS sends a Python function behind HTTP:
API Gateway HTTP API (payload format 2.0) and a Lambda function URL (the same format, its own
domain). The events are tests/fixtures/lambda/*.json, modelled on AWS's documented examples;
each test changes only what a real request would (method, path, query, headers, body).

Lambda's file system is read-only except /tmp, so the function must point STOCKPRED_HOME at
/tmp (deploy/aws/template.yaml does). The handler writes under STOCKPRED_HOME only: the tests
give it a HOME of its own and check that nothing was written there.

tests/unit/test_api_lambda.py covers the adapter itself (one lifespan per process, binary
bodies, a failed build retried) on a small app; this file covers the real API behind it."""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from stockpred.api import aws_lambda
from stockpred.api.clients import ClientStore
from stockpred.settings import load_settings
from support.lambda_context import LambdaContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lambda"
SHAPES = ["http_api_v2", "function_url"]
RESPONSE_KEYS = {"statusCode", "headers", "body", "isBase64Encoded"}


def load_fixture(shape: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((FIXTURES / f"{shape}.json").read_text("utf-8"))
    return loaded


def event(
    shape: str,
    *,
    method: str,
    path: str,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    base64_body: bool = False,
    content_length: bool = True,
) -> dict[str, object]:
    """The fixture of ``shape`` as AWS would send this request: the path in rawPath and in
    requestContext.http.path, the query raw and as queryStringParameters (duplicates joined by
    commas, as format 2.0 does), a body base64-encoded when the gateway encodes it."""
    built = copy.deepcopy(load_fixture(shape))
    built["rawPath"] = path
    built["rawQueryString"] = query
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    if parameters:
        built["queryStringParameters"] = parameters
    else:
        built.pop("queryStringParameters", None)
    context = built["requestContext"]
    assert isinstance(context, dict)
    context["http"] = {**context["http"], "method": method, "path": path}
    original = built["headers"]
    assert isinstance(original, dict)
    sent = dict(original)
    sent.pop("content-length", None)
    if content_length:
        sent["content-length"] = str(len(body or b""))
    sent.update({k.lower(): v for k, v in (headers or {}).items()})
    built["headers"] = sent
    built["isBase64Encoded"] = base64_body
    if body is None:
        built.pop("body", None)
    else:
        built["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
    return built


def invoke(request: dict[str, object]) -> dict[str, object]:
    response = aws_lambda.handler(request, LambdaContext())
    # Format 2.0's response as the gateway reads it; no cookies key: the API sets none.
    assert set(response) == RESPONSE_KEYS, response
    assert isinstance(response["statusCode"], int)
    assert isinstance(response["body"], str)
    return response


def body_of(response: dict[str, object]) -> dict[str, object]:
    assert response["isBase64Encoded"] is False
    decoded: dict[str, object] = json.loads(str(response["body"]))
    return decoded


def headers_of(response: dict[str, object]) -> dict[str, str]:
    headers = response["headers"]
    assert isinstance(headers, dict)
    return headers


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process's HOME, which on Lambda is not writable: nothing may land in it."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def credentials(
    home_copy: Path, user_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Credentials]:
    """A client of the API on a copy of the served home, and the handler reset around the test
    (it keeps its app for the life of the process, as on Lambda)."""
    monkeypatch.setenv("STOCKPRED_API_RATE_LIMIT", "1000/second")
    # What a deployment sets: a key shared by every instance, so a token one issued is good
    # on the others (without it each would generate its own under its /tmp home).
    monkeypatch.setenv("STOCKPRED_API_SECRET_KEY", "lambda-e2e-signing-key-0123456789abcdef")
    settings = load_settings()
    with ClientStore(settings.api_database_url, clock=lambda: datetime.now(UTC)) as store:
        created = store.create(name="lambda-e2e", scopes=["predictions:read"])
    aws_lambda.handler.close()
    yield Credentials(created.client.client_id, created.secret)
    aws_lambda.handler.close()


def token_for(shape: str, credentials: Credentials) -> str:
    form = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.secret,
        }
    ).encode()
    response = invoke(
        event(
            shape,
            method="POST",
            path="/v1/token",
            headers={"content-type": "application/x-www-form-urlencoded"},
            body=form,
            base64_body=True,
        )
    )
    assert response["statusCode"] == 200, response
    answer = body_of(response)
    assert answer["token_type"] == "bearer"
    return str(answer["access_token"])


@pytest.mark.parametrize("shape", SHAPES)
def test_a_form_posted_token_then_a_bearer_prediction(
    shape: str, credentials: Credentials, user_home: Path
) -> None:
    token = token_for(shape, credentials)

    response = invoke(
        event(
            shape,
            method="GET",
            path="/v1/predictions/AAPL",
            query="horizon=5",
            headers={"authorization": f"Bearer {token}"},
        )
    )

    assert response["statusCode"] == 200, response
    headers = headers_of(response)
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    body = body_of(response)
    assert body["ticker"] == "AAPL"
    assert body["horizon"] == 5
    assert body["model"]["kind"] == "ridge"
    assert str(body["as_of"]).startswith("2013-03-01")
    assert list(user_home.iterdir()) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_the_raw_query_string_reaches_the_routes(shape: str, credentials: Credentials) -> None:
    auth = {"authorization": f"Bearer {token_for(shape, credentials)}"}

    short = invoke(
        event(shape, method="GET", path="/v1/predictions/MSFT", query="horizon=1", headers=auth)
    )
    history = invoke(
        event(
            shape,
            method="GET",
            path="/v1/predictions/MSFT/history",
            query="horizon=5&limit=3",
            headers=auth,
        )
    )
    refused = invoke(
        event(
            shape,
            method="GET",
            path="/v1/predictions/MSFT/history",
            query="limit=0",
            headers=auth,
        )
    )

    assert short["statusCode"] == 200, short
    assert body_of(short)["horizon"] == 1
    assert history["statusCode"] == 200, history
    answer = body_of(history)
    assert answer["ticker"] == "MSFT"
    assert isinstance(answer["rows"], list)
    assert len(answer["rows"]) <= 3
    assert refused["statusCode"] == 422
    error = body_of(refused)
    assert set(error) == {"code", "message"}
    assert error["code"] == "invalid_input"
    assert "limit" in str(error["message"])


@pytest.mark.parametrize("shape", SHAPES)
def test_an_unknown_path_is_404_as_code_and_message(shape: str, credentials: Credentials) -> None:
    response = invoke(event(shape, method="GET", path="/v1/no-such-route"))

    assert response["statusCode"] == 404
    error = body_of(response)
    assert set(error) == {"code", "message"}
    assert error["code"] == "not_found"


@pytest.mark.parametrize("shape", SHAPES)
def test_an_unknown_ticker_is_404_naming_the_list_endpoint(
    shape: str, credentials: Credentials
) -> None:
    auth = {"authorization": f"Bearer {token_for(shape, credentials)}"}

    response = invoke(event(shape, method="GET", path="/v1/predictions/ZZZZ", headers=auth))

    assert response["statusCode"] == 404
    error = body_of(response)
    assert error["code"] == "not_found"
    assert "/v1/tickers" in str(error["message"])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_no_token_or_a_bad_one_is_401_as_code_and_message(
    shape: str, authorization: str | None, credentials: Credentials
) -> None:
    headers = {"authorization": authorization} if authorization else {}

    response = invoke(event(shape, method="GET", path="/v1/predictions/AAPL", headers=headers))

    assert response["statusCode"] == 401
    assert headers_of(response)["www-authenticate"].startswith("Bearer")
    error = body_of(response)
    assert set(error) == {"code", "message"}
    assert "Traceback" not in str(error["message"])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("content_length", [True, False])
def test_an_oversized_body_is_refused_with_413(
    shape: str, content_length: bool, credentials: Credentials
) -> None:
    limit = load_settings().api_max_body_bytes
    payload = json.dumps({"tickers": ["A" * 16] * (limit // 16)}).encode()
    assert len(payload) > limit

    response = invoke(
        event(
            shape,
            method="POST",
            path="/v1/predictions:batch",
            headers={"content-type": "application/json"},
            body=payload,
            base64_body=shape == "function_url",
            content_length=content_length,
        )
    )

    assert response["statusCode"] == 413
    error = body_of(response)
    assert error["code"] == "payload_too_large"
    assert "api_max_body_bytes" in str(error["message"])


def test_the_app_is_built_once_for_the_life_of_the_process(credentials: Credentials) -> None:
    token = token_for("http_api_v2", credentials)
    first = aws_lambda.handler._built

    again = invoke(
        event(
            "function_url",
            method="GET",
            path="/v1/predictions/IBM",
            headers={"authorization": f"Bearer {token}"},
        )
    )

    assert first is not None
    assert aws_lambda.handler._built is first
    assert again["statusCode"] == 200, again


def test_nothing_is_written_outside_the_stockpred_home(
    credentials: Credentials, user_home: Path, home_copy: Path, tmp_path: Path
) -> None:
    before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(home_copy)}

    token_for("function_url", credentials)
    aws_lambda.handler.close()

    after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(home_copy)}
    assert after - before == set()
    assert os.environ["HOME"] == str(user_home)
