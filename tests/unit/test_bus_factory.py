"""open_bus: one URL picks the backend; a bad URL or a missing extra says what to do."""

from __future__ import annotations

import sys

import pytest

from stockpred.bus import open_bus
from stockpred.bus.inprocess import InProcessBus
from stockpred.domain.errors import ConfigurationError, MissingExtraError


def test_memory_is_the_in_process_bus_with_its_options() -> None:
    bus = open_bus("memory://?max_records=50", ack_timeout=2.0)

    assert isinstance(bus, InProcessBus)
    assert bus.max_records == 50
    assert bus.ack_timeout == 2.0


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("redis://127.0.0.1:6379/0?max_length=1000", "RedisStreamsBus"),
        ("nats://127.0.0.1:4222", "NatsJetStreamBus"),
        ("kafka://127.0.0.1:9092,127.0.0.1:9093?partitions=6", "KafkaBus"),
    ],
)
def test_a_broker_url_picks_its_backend_without_connecting(url: str, backend: str) -> None:
    assert type(open_bus(url)).__name__ == backend


def test_kafka_options_reach_the_backend() -> None:
    bus = open_bus("kafka://127.0.0.1:9092,127.0.0.1:9093?partitions=6", namespace="ns")

    assert bus.bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9093"  # type: ignore[attr-defined]
    assert bus.partitions == 6  # type: ignore[attr-defined]
    assert bus.topic_name("bars") == "ns.bars"  # type: ignore[attr-defined]


def test_an_unknown_scheme_names_the_ones_known_without_the_password() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown scheme 'amqp'.*memory://") as caught:
        open_bus("amqp://guest:hunter2@127.0.0.1:5672/")

    assert "hunter2" not in str(caught.value)


def test_an_option_the_backend_does_not_read_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"options this backend does not read: colour"):
        open_bus("memory://?colour=blue")


def test_a_non_numeric_option_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"partitions='many' is not a whole number"):
        open_bus("kafka://127.0.0.1:9092?partitions=many")


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("redis://127.0.0.1:6379/0", "redis.asyncio", "redis"),
        ("nats://127.0.0.1:4222", "nats", "nats"),
        ("kafka://127.0.0.1:9092", "confluent_kafka", "kafka"),
    ],
)
def test_a_missing_client_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, url: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)

    with pytest.raises(MissingExtraError, match=rf"pip install 'stockpred\[{extra}\]'"):
        open_bus(url)


def test_compose_opens_the_bus_the_settings_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from stockpred.compose import open_bus as compose_bus
    from stockpred.settings import load_settings

    assert isinstance(compose_bus(load_settings()), InProcessBus)

    monkeypatch.setenv("STOCKPRED_BUS_URL", "nats://127.0.0.1:4222")
    assert type(compose_bus(load_settings())).__name__ == "NatsJetStreamBus"
