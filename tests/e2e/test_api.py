"""The prediction API end to end, on the packaged sample with a trained champion: tokens from
client credentials, every endpoint, the refusals, the stream, and the champion swapped without a
restart when the registry's alias moves."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.api.background import PREDICTIONS_TOPIC, refresh_once, save_served
from stockpred.api.services import ApiServices
from stockpred.compose import open_registry
from stockpred.domain.errors import StoreError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.pipeline.serving import (
    ChampionCache,
    Freshness,
    FreshnessCache,
    ServedForecast,
    ServingState,
)
from stockpred.registry.base import model_name
from stockpred.settings import load_settings
from support.api import bearer, token_for


def test_a_prediction_carries_interval_model_version_feature_time_and_contributions(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")

    answer = client.get("/v1/predictions/aapl?horizon=5", headers=bearer(token))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ticker"] == "AAPL"
    assert body["horizon"] == 5
    assert body["as_of"].startswith("2013-03-01")
    assert body["lower"] < body["log_return"] < body["upper"]
    assert 0.0 < body["direction_prob"] < 1.0
    assert body["model"] == {
        "name": model_name(5),
        "version": "1",  # one type everywhere: /history and webhooks say "1" too
        "kind": "ridge",
        "family": "model",
    }
    assert body["freshness"]["feature_ts"].startswith("2013-03-01")
    # The sample ends in 2013: years of sessions have closed since, and the answer says so.
    assert body["freshness"]["stale"] is True
    assert body["freshness"]["sessions_behind"] > 1000
    assert len(body["contributions"]) == 5
    assert body["price"] == pytest.approx(body["last_close"] * math.exp(body["log_return"]))


def test_served_forecasts_are_stored_once_with_their_model_version(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")
    for _ in range(3):
        answer = client.get("/v1/predictions/MSFT?horizon=1", headers=bearer(token))
        assert answer.status_code == 200

    asyncio.run(save_served(services))
    history = client.get("/v1/predictions/MSFT/history?horizon=1", headers=bearer(token)).json()
    rows = [r for r in history["rows"] if r["model_version"] == "1"]
    assert len(rows) == 1
    assert rows[0]["model"].startswith(model_name(1))
    assert rows[0]["as_of"].startswith("2013-03-01")


def test_batch_answers_known_tickers_and_lists_unknown_ones(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")

    answer = client.post(
        "/v1/predictions:batch",
        json={"tickers": ["AAPL", "msft", "NOPE"], "horizon": 5},
        headers=bearer(token),
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [p["ticker"] for p in body["predictions"]] == ["AAPL", "MSFT"]
    assert [(e["ticker"], e["code"]) for e in body["errors"]] == [("NOPE", "not_found")]


def test_an_oversized_batch_is_refused_with_413(client: TestClient, services: ApiServices) -> None:
    token = token_for(client, services, "predictions:read")
    tickers = [f"T{i}" for i in range(services.settings.api_max_batch + 1)]

    answer = client.post("/v1/predictions:batch", json={"tickers": tickers}, headers=bearer(token))

    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"


def test_unknown_ticker_is_404_naming_the_list_endpoint(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")

    answer = client.get("/v1/predictions/ZZZZ", headers=bearer(token))

    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    assert "/v1/tickers" in answer.json()["message"]


def test_an_index_is_404_saying_it_is_market_context_and_how_to_model_it(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")

    answer = client.get("/v1/predictions/%5EGSPC?horizon=5", headers=bearer(token))

    assert answer.status_code == 404
    assert "market context only" in answer.json()["message"]
    assert "modelled_kinds" in answer.json()["message"]


def test_a_horizon_without_a_champion_is_404_naming_the_served_ones(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")

    answer = client.get("/v1/predictions/AAPL?horizon=20", headers=bearer(token))

    assert answer.status_code == 404
    assert "served: 1, 5" in answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "query"),
    [("/v1/predictions/AAPL", "horizon=0"), ("/v1/predictions/AAPL", "horizon=x"),
     ("/v1/predictions/%3Cscript%3E", ""), ("/v1/tickers/AAPL/bars", "limit=999999")],
)  # fmt: skip
def test_invalid_parameters_are_422_with_code_and_message(
    client: TestClient, services: ApiServices, path: str, query: str
) -> None:
    token = token_for(client, services, "predictions:read")

    answer = client.get(f"{path}?{query}", headers=bearer(token))

    assert answer.status_code == 422
    assert set(answer.json()) == {"code", "message"}


def test_tickers_bars_and_features(client: TestClient, services: ApiServices) -> None:
    token = token_for(client, services, "predictions:read")

    tickers = client.get("/v1/tickers", headers=bearer(token)).json()["tickers"]
    bars = client.get("/v1/tickers/IBM/bars?limit=3", headers=bearer(token)).json()
    features = client.get("/v1/tickers/IBM/features?limit=2", headers=bearer(token))
    named = client.get(
        "/v1/tickers/IBM/features?limit=1&feature_set=daily_v1@3", headers=bearer(token)
    )
    unknown_set = client.get("/v1/tickers/IBM/features?feature_set=nope", headers=bearer(token))

    by_name = {t["ticker"]: t for t in tickers}
    assert {"AAPL", "IBM", "MSFT", "^GSPC"} <= set(by_name)
    assert by_name["AAPL"]["served"] is True
    assert (by_name["AAPL"]["kind"], by_name["^GSPC"]["kind"]) == ("stock", "index")
    assert by_name["^GSPC"]["served"] is False
    assert by_name["AAPL"]["last"].startswith("2013-03-01")
    assert len(bars["rows"]) == 3
    assert bars["columns"][:5] == ["ts", "open", "high", "low", "close"]
    assert features.status_code == 200, features.text
    assert len(features.json()["rows"]) == 2
    assert "rsi_14" in features.json()["columns"]
    assert named.json()["rows"] == features.json()["rows"][-1:]
    assert unknown_set.status_code == 404
    assert "daily_v1@3" in unknown_set.json()["message"]
    missing = client.get("/v1/tickers/ZZZZ/bars", headers=bearer(token))
    assert missing.status_code == 404


def test_models_lists_each_served_champion(client: TestClient, services: ApiServices) -> None:
    token = token_for(client, services, "predictions:read")

    body = client.get("/v1/models", headers=bearer(token)).json()

    assert [(m["horizon"], m["version"], m["kind"]) for m in body["models"]] == [
        (1, "1", "ridge"),
        (5, "1", "ridge"),
    ]
    assert body["models"][0]["trained_to"].startswith("2013")


def test_retrain_needs_models_write_and_returns_a_job_to_poll(
    client: TestClient, services: ApiServices
) -> None:
    reader = token_for(client, services, "predictions:read")
    writer = token_for(client, services, "models:write")
    services.retrain = lambda *, horizon, tune, trigger=None: {
        "horizon": horizon,
        "promoted": False,
    }

    refused = client.post("/v1/models/retrain", json={"horizon": 5}, headers=bearer(reader))
    started = client.post(
        "/v1/models/retrain", json={"horizon": 5, "tune": False}, headers=bearer(writer)
    )

    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert started.headers["Location"] == f"/v1/jobs/{job_id}"
    services.jobs.shutdown(wait=True)
    job = client.get(f"/v1/jobs/{job_id}", headers=bearer(writer)).json()
    assert job["state"] == "succeeded"
    assert job["result"] == {"horizon": 5, "promoted": False}
    assert client.get("/v1/jobs/job_nope", headers=bearer(writer)).status_code == 404


def test_every_route_but_health_refuses_a_missing_token(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    open_routes = {"/healthz", "/readyz", "/v1/token"}
    for path, methods in schema["paths"].items():
        if path in open_routes:
            continue
        concrete = path.replace("{ticker}", "AAPL").replace("{job_id}", "job_x")
        concrete = concrete.replace("{webhook_id}", "wh_x")
        for method in methods:
            answer = client.request(method.upper(), concrete)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["code"] == "auth_error"


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("alg none", lambda s, t: _none_token(t)),
        ("wrong key", lambda s, t: _resign(t, key="x" * 48)),
        ("expired", lambda s, t: _resign(t, key=_key(s), exp=1)),
        ("other audience", lambda s, t: _resign(t, key=_key(s), aud="another-api")),
    ],
)
def test_bad_tokens_are_refused_with_401_and_a_clear_body(
    client: TestClient,
    services: ApiServices,
    case: str,
    make: Callable[[ApiServices, str], str],
) -> None:
    good = token_for(client, services, "predictions:read")

    answer = client.get("/v1/predictions/AAPL", headers=bearer(make(services, good)))

    assert answer.status_code == 401, case
    body = answer.json()
    assert body["code"] == "auth_error"
    assert body["message"]
    assert good not in answer.text


def _key(services: ApiServices) -> str:
    from stockpred.api.security import api_secret

    return api_secret(services.settings)


def _resign(token: str, *, key: str, **changes: object) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, key, algorithm="HS256")


def _none_token(token: str) -> str:
    import base64

    def part(value: dict[str, object]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = jwt.decode(token, options={"verify_signature": False})
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_the_stream_pushes_a_prediction_published_on_the_bus(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "stream:read")

    with client.websocket_connect(
        "/v1/stream?tickers=AAPL&horizon=5", subprotocols=["bearer", token]
    ) as socket:
        snapshot = socket.receive_json()
        assert (snapshot["type"], snapshot["ticker"], snapshot["horizon"]) == (
            "snapshot",
            "AAPL",
            5,
        )
        services.fanout.publish(PREDICTIONS_TOPIC, {**snapshot, "type": "x", "ticker": "MSFT"})
        services.fanout.publish(PREDICTIONS_TOPIC, {**snapshot, "log_return": 0.5})
        pushed = socket.receive_json()
    assert pushed["type"] == "prediction"
    assert (pushed["ticker"], pushed["log_return"]) == ("AAPL", 0.5)


def test_the_stream_takes_the_token_in_the_first_message_and_refuses_a_bad_one(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "stream:read")
    reader = token_for(client, services, "predictions:read")

    with client.websocket_connect("/v1/stream?tickers=MSFT&horizon=1") as socket:
        socket.send_json({"type": "auth", "token": token})
        assert socket.receive_json()["ticker"] == "MSFT"
    with client.websocket_connect("/v1/stream?tickers=MSFT") as socket:
        socket.send_json({"type": "auth", "token": reader})
        refused = socket.receive_json()
        assert refused["code"] == "insufficient_scope"
    with client.websocket_connect("/v1/stream?tickers=MSFT") as socket:
        socket.send_json({"type": "auth", "token": "not-a-token"})
        assert socket.receive_json()["code"] == "auth_error"


def test_the_champion_is_swapped_without_a_restart_when_the_alias_moves(
    client: TestClient, services: ApiServices, served_home: Path
) -> None:
    token = token_for(client, services, "predictions:read")
    registry = open_registry(services.settings)
    name = model_name(5)
    before = client.get("/v1/predictions/AAPL?horizon=5", headers=bearer(token)).json()
    # A second version of the same model: the alias moves to it.
    champion = registry.champion(name)
    assert champion is not None
    folder = registry.download(name, champion.version, served_home / "copy")
    metadata = {k: v for k, v in champion.metadata.items() if k != "metrics"}
    second = registry.register(name, folder, metadata=dict(metadata), metrics=champion.metrics)
    registry.promote(name, second.version, reason="test: swap without restart")
    try:
        pushed = asyncio.run(refresh_once(services))
        after = client.get("/v1/predictions/AAPL?horizon=5", headers=bearer(token)).json()
    finally:
        registry.rollback(name, reason="test: restore")
        asyncio.run(refresh_once(services))

    assert before["model"]["version"] == "1"
    assert after["model"]["version"] == str(second.version)
    assert after["log_return"] == pytest.approx(before["log_return"])
    assert pushed >= 5  # every ticker's forecast is new under the new version


def test_health_readiness_and_metrics(client: TestClient, services: ApiServices) -> None:
    token = token_for(client, services, "predictions:read")
    client.get("/v1/predictions/AAPL", headers=bearer(token))

    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    metrics = client.get("/metrics").text

    assert ready.status_code == 200, ready.text
    assert {c["name"]: c["ok"] for c in ready.json()["checks"]} == {
        "store": True,
        "model": True,
        "api_database": True,
        "rate_limiter": True,
    }
    assert "/v1/predictions/{ticker}" in metrics


def test_an_internal_failure_answers_500_without_a_traceback(
    client: TestClient, services: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_for(client, services, "predictions:read")

    def broken(ticker: str, horizon: int) -> object:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(services.serving, "forecast", broken)
    # As a real server does: answer the client, and leave the exception to the log.
    plain = TestClient(client.app, raise_server_exceptions=False)
    answer = plain.get("/v1/predictions/AAPL", headers=bearer(token))

    assert answer.status_code == 500
    assert answer.json() == {
        "code": "internal_error",
        "message": "an internal error occurred; it was logged",
    }


def test_over_the_rate_limit_is_429_with_retry_after(
    served_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_HOME", str(served_home))
    monkeypatch.setenv("STOCKPRED_API_RATE_LIMIT", "3/minute")
    services = build_services(load_settings())
    with TestClient(create_app(services, background=False)) as client:
        created = services.clients.create(name="limited", scopes=["predictions:read"])
        token = services.issuer.issue(  # type: ignore[union-attr]
            client_id=created.client.client_id, scopes=["predictions:read"]
        ).access_token
        answers = [client.get("/v1/predictions/AAPL", headers=bearer(token)) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answers[-1].json()["code"] == "rate_limited"


def test_the_openapi_document_names_each_routes_scope_and_the_token_flow(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()

    flows = schema["components"]["securitySchemes"]["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/v1/token"
    paths = schema["paths"]
    assert paths["/v1/predictions/{ticker}"]["get"]["security"] == [
        {"oauth2": ["predictions:read"]}
    ]
    assert paths["/v1/models/retrain"]["post"]["security"] == [{"oauth2": ["models:write"]}]
    assert paths["/v1/webhooks"]["post"]["security"] == [{"oauth2": ["webhooks:write"]}]
    assert "security" not in paths["/healthz"]["get"]
    # The token route takes client credentials (form or HTTP Basic), not a token.
    assert all("oauth2" not in entry for entry in paths["/v1/token"]["post"].get("security", []))


def test_a_rendering_is_reused_only_for_the_very_forecast_it_was_made_from(
    services: ApiServices, client: TestClient
) -> None:
    made: list[ServedForecast] = []

    def render(served: ServedForecast) -> bytes:
        made.append(served)
        return f"{len(made)}".encode()

    first = services.serving.forecast("AAPL", 5)
    again = services.serving.forecast("AAPL", 5)
    checked_later = ServedForecast(
        first.forecast,
        Freshness(
            first.freshness.feature_ts,
            first.freshness.expected_ts,
            first.freshness.sessions_behind + 1,  # a session closed since
            first.freshness.checked_at,
        ),
    )

    assert services.renders.body(first, render) == b"1"
    assert services.renders.body(again, render) == b"1"  # the same forecast and freshness
    assert services.renders.body(checked_later, render) == b"2"
    # A caller still holding the old forecast gets its own rendering, not a mix.
    assert services.renders.body(first, render) == b"3"
    assert len(made) == 3


def test_served_forecasts_are_kept_for_the_next_pass_when_the_store_is_busy(
    client: TestClient, services: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_for(client, services, "predictions:read")
    assert client.get("/v1/predictions/IBM?horizon=1", headers=bearer(token)).status_code == 200

    def busy() -> object:
        raise StoreError("the DuckDB file is locked by another process")

    monkeypatch.setattr(services, "open_store", busy)
    asyncio.run(save_served(services))

    kept = services.served_log.take()
    assert [(f.ticker, f.horizon) for f in kept] == [("IBM", 1)]


def test_bad_bearer_tokens_are_rate_limited_per_address_and_good_ones_are_not(
    served_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_HOME", str(served_home))
    monkeypatch.setenv("STOCKPRED_API_RATE_LIMIT", "1000/second")
    monkeypatch.setenv("STOCKPRED_API_AUTH_FAILURES_PER_ADDRESS", "3/minute")
    services = build_services(load_settings())
    with TestClient(create_app(services, background=False)) as client:
        good = token_for(client, services, "predictions:read", "stream:read")
        statuses = [
            client.get("/v1/predictions/AAPL", headers=bearer("forged")).status_code
            for _ in range(4)
        ]
        limited = client.get("/v1/predictions/AAPL", headers=bearer("forged"))
        with client.websocket_connect("/v1/stream?tickers=MSFT") as socket:
            socket.send_json({"type": "auth", "token": "forged"})
            refusal = socket.receive_json()
        valid = client.get("/v1/predictions/AAPL", headers=bearer(good))

    # The token request that got `good` was one secret check from this address: 1 + 2 forged.
    assert statuses == [401, 401, 429, 429]
    assert int(limited.headers["Retry-After"]) >= 1
    assert "authentication attempts from" in limited.json()["message"]
    assert refusal["code"] == "rate_limited"
    assert valid.status_code == 200


def test_oversized_bodies_and_unknown_fields_are_refused_before_any_work(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")
    huge = json.dumps({"tickers": ["AAPL"] * 300_000, "horizon": 5})
    assert len(huge) > services.settings.api_max_body_bytes

    batch = client.post("/v1/predictions:batch", content=huge, headers=bearer(token))
    form = client.post("/v1/token", data={"grant_type": "client_credentials", "x": "z" * 2**21})
    unknown = client.post(
        "/v1/predictions:batch",
        json={"tickers": ["AAPL"], "horizon": 5, "extra": 1},
        headers=bearer(token),
    )

    assert batch.status_code == 413
    assert form.status_code == 413
    assert batch.json()["code"] == "payload_too_large"
    assert unknown.status_code == 422
    assert "extra" in unknown.json()["message"]


def test_every_answer_carries_the_security_headers_and_cors_is_off_by_default(
    client: TestClient,
) -> None:
    plain = client.get("/healthz", headers={"Origin": "https://evil.example"})
    refused = client.get("/v1/predictions/AAPL")
    preflight = client.options(
        "/v1/predictions/AAPL",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    over_tls = TestClient(client.app, base_url="https://api.example").get("/healthz")

    for answer in (plain, refused):
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in answer.headers
        assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert over_tls.headers["Strict-Transport-Security"].startswith("max-age=")


def test_cors_answers_only_the_configured_origins(
    served_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_HOME", str(served_home))
    monkeypatch.setenv("STOCKPRED_API_CORS_ORIGINS", '["https://dash.example"]')
    with TestClient(create_app(build_services(load_settings()), background=False)) as client:
        allowed = client.get("/healthz", headers={"Origin": "https://dash.example"})
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://dash.example"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_client_mistakes_get_4xx_not_503(client: TestClient, services: ApiServices) -> None:
    token = token_for(client, services, "predictions:read")
    # No forecast of AAPL is stored at horizon 20 (only forecasts served are stored).
    no_history = client.get("/v1/predictions/AAPL/history?horizon=20", headers=bearer(token))
    empty_start = [
        client.get(f"/v1/tickers/AAPL/{what}?start=", headers=bearer(token))
        for what in ("bars", "features")
    ]
    bad_start = client.get("/v1/tickers/AAPL/bars?start=NaT", headers=bearer(token))

    assert no_history.status_code == 200
    assert no_history.json()["rows"] == []
    for answer in (*empty_start, bad_start):
        assert answer.status_code == 422, answer.text
        assert "start" in answer.json()["message"]


def test_bad_stream_subscriptions_get_an_error_frame_and_a_44xx_close(
    client: TestClient, services: ApiServices
) -> None:
    from starlette.websockets import WebSocketDisconnect

    token = token_for(client, services, "stream:read")
    frames = {}
    closes = {}
    for case, query in (("ticker", "tickers=NOPE"), ("horizon", "tickers=MSFT&horizon=7")):
        with client.websocket_connect(f"/v1/stream?{query}") as socket:
            socket.send_json({"type": "auth", "token": token})
            frames[case] = socket.receive_json()
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            closes[case] = closed.value.code

    assert frames["ticker"]["code"] == "not_found"
    assert "NOPE" in frames["ticker"]["message"]
    assert closes["ticker"] == 4404
    assert frames["horizon"]["code"] == "not_found"
    assert closes["horizon"] == 4404


def test_a_socket_gone_before_its_auth_message_is_logged_in_one_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="stockpred.api"):
        with client.websocket_connect("/v1/stream?tickers=MSFT"):
            pass  # closes without sending the auth message
        time.sleep(0.2)

    lines = [r for r in caplog.records if "websocket" in r.getMessage()]
    assert [r.getMessage().split(" left")[0] for r in lines] == ["websocket client testclient"]
    assert all(r.exc_info is None for r in caplog.records)


def test_feature_rows_of_an_index_are_not_forecast_unless_its_kind_is_modelled(
    services: ApiServices,
) -> None:
    """Features of ^GSPC built on request (`features build --tickers ^GSPC`) are read from the
    store; the serving state forecasts them only when the universe models indices."""

    class WithIndexFeatures:
        # The served store, with AAPL's feature rows also filed under ^GSPC.
        def __init__(self, store: Any) -> None:
            self._store = store

        def __getattr__(self, name: str) -> Any:
            return getattr(self._store, name)

        def read_features(self, **kwargs: Any) -> pd.DataFrame:
            rows = self._store.read_features(**kwargs)
            index = rows[rows["ticker"] == "AAPL"].assign(ticker="^GSPC")
            return pd.concat([rows, index], ignore_index=True)

    @contextmanager
    def opened() -> Iterator[Any]:
        with services.open_store() as store:
            yield WithIndexFeatures(store)

    def served_with(universe: Universe) -> list[str]:
        serving = ServingState(
            opened,
            ChampionCache(services.registry, horizons=[5], cache=services.settings.home / "models"),
            freshness=FreshnessCache(calendar=services.settings.calendar, clock=services.clock),
            clock=services.clock,
            universe=universe,
        )
        serving.refresh()
        return serving.tickers()

    stocks = served_with(STOCKS)
    everything = served_with(Universe(kinds=frozenset({"stock", "index"})))

    assert "AAPL" in stocks
    assert "^GSPC" not in stocks
    assert "^GSPC" in everything


def test_a_read_records_nothing_and_the_route_records_what_it_served(
    client: TestClient, services: ApiServices
) -> None:
    token = token_for(client, services, "predictions:read")
    services.served_log.take()

    services.serving.forecast("MSFT", 5)
    after_read = services.served_log.take()
    client.get("/v1/predictions/MSFT?horizon=5", headers=bearer(token))
    after_route = services.served_log.take()

    assert after_read == []
    assert [(f.ticker, f.horizon) for f in after_route] == [("MSFT", 5)]


def test_new_features_of_some_tickers_recompute_only_theirs(services: ApiServices) -> None:
    read: list[object] = []

    class Counting:
        def __init__(self, store: Any) -> None:
            self._store = store

        def __getattr__(self, name: str) -> Any:
            return getattr(self._store, name)

        def read_features(self, **kwargs: Any) -> pd.DataFrame:
            read.append(kwargs.get("tickers"))
            return self._store.read_features(**kwargs)

    @contextmanager
    def opened() -> Iterator[Any]:
        with services.open_store() as store:
            yield Counting(store)

    serving = ServingState(
        opened,
        ChampionCache(services.registry, horizons=[1, 5], cache=services.settings.home / "models"),
        freshness=FreshnessCache(calendar=services.settings.calendar, clock=services.clock),
        clock=services.clock,
    )
    first = serving.refresh()
    read.clear()
    again = serving.apply_features(["ibm", "^GSPC"])

    assert {f.ticker for f in first} >= {"AAPL", "IBM", "MSFT"}
    assert read == [["IBM"], ["IBM"]]  # one read per horizon, of IBM only (^GSPC is context)
    assert again == []  # the same rows give the same forecasts: nothing new to push
    before = next(f for f in first if (f.ticker, f.horizon) == ("IBM", 5))
    assert serving.forecast("IBM", 5).forecast is before
