"""An API process relays the bus's forecasts to its websockets, each once, whichever process
published them (here on the in-process bus of the embedded default)."""

from __future__ import annotations

import dataclasses
import functools
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.api.services import ApiServices
from stockpred.bus.topics import PREDICTIONS
from stockpred.settings import load_settings
from support.api import token_for


def test_forecasts_on_the_bus_reach_the_websocket_once_each(services: ApiServices) -> None:
    with TestClient(create_app(services, background=True)) as client:
        token = token_for(client, services, "stream:read")
        served = services.serving.peek("AAPL", 5)
        assert served is not None
        first = served.forecast
        # Forecasts of later sessions, as another process (a second API worker, the stream
        # processor) would publish them.
        later = [dataclasses.replace(first, as_of=first.as_of + timedelta(days=d)) for d in (1, 2)]

        def publish(forecast: object) -> None:
            client.portal.call(  # on the app's event loop, where its bus lives
                functools.partial(services.bus.publish, PREDICTIONS, key="AAPL", record=forecast)
            )

        with client.websocket_connect(
            "/v1/stream?tickers=AAPL&horizon=5", subprotocols=["bearer", token]
        ) as socket:
            assert socket.receive_json()["type"] == "snapshot"
            publish(later[0])
            publish(later[0])  # the same forecast again: a second worker computed it too
            publish(later[1])
            pushed = [socket.receive_json(), socket.receive_json()]

    assert [m["type"] for m in pushed] == ["prediction", "prediction"]
    assert [m["as_of"][:10] for m in pushed] == [f.as_of.date().isoformat() for f in later]


def test_a_nowcast_on_the_bus_reaches_the_websocket_marked_provisional(
    services: ApiServices,
) -> None:
    with TestClient(create_app(services, background=True)) as client:
        token = token_for(client, services, "stream:read")
        served = services.serving.peek("AAPL", 5)
        assert served is not None
        close = served.forecast
        nowcast = dataclasses.replace(
            close, as_of=close.as_of + timedelta(hours=20), value=0.25, provisional=True
        )
        committed = dataclasses.replace(close, as_of=close.as_of + timedelta(days=1))

        with client.websocket_connect(
            "/v1/stream?tickers=AAPL&horizon=5", subprotocols=["bearer", token]
        ) as socket:
            assert socket.receive_json()["type"] == "snapshot"
            for record in (nowcast, committed):
                client.portal.call(
                    functools.partial(services.bus.publish, PREDICTIONS, key="AAPL", record=record)
                )
            first, second = socket.receive_json(), socket.receive_json()
        # The table the REST routes answer from never takes a nowcast.
        after = services.serving.peek("AAPL", 5)

    assert (first["type"], first["provisional"], first["log_return"]) == (
        "provisional",
        True,
        0.25,
    )
    assert (second["type"], second["provisional"]) == ("prediction", False)
    assert after is not None
    assert not after.forecast.provisional


def test_with_the_demo_replay_the_websocket_sees_replayed_forecasts_arrive(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_API_STREAM_REPLAY", "true")
    services = build_services(load_settings())

    with TestClient(create_app(services, background=True)) as client:
        token = token_for(client, services, "stream:read")
        with client.websocket_connect(
            "/v1/stream?tickers=AAPL&horizon=5", subprotocols=["bearer", token]
        ) as socket:
            assert socket.receive_json()["type"] == "snapshot"
            pushed = [socket.receive_json() for _ in range(3)]

    # The replay starts a year before the last stored close (2013-03-01), session by session.
    assert [m["type"] for m in pushed] == ["prediction"] * 3
    days = [m["as_of"][:10] for m in pushed]
    assert days == sorted(days)
    assert len(set(days)) == 3
    assert "2012-02-29" < days[0] < "2012-04-01"
