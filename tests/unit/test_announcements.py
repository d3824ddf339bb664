"""Writers announce what they committed: the announcer never fails a writer, the registry
announces every champion move, and one forecast reaches a websocket once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stockpred.api.fanout import SeenIds
from stockpred.bus.base import Record, Subscription
from stockpred.bus.blocking import Announcer, BlockingPublisher
from stockpred.bus.inprocess import InProcessBus
from stockpred.bus.topics import FEATURES, MODELS
from stockpred.domain.errors import BusError
from stockpred.domain.records import FeaturesWritten, ModelPromoted
from stockpred.registry.announcing import AnnouncingRegistry
from stockpred.registry.base import ChampionChange, ModelVersion, horizon_of, model_name

AT = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
WRITTEN = FeaturesWritten(
    feature_set="daily_v1", tickers=("AAPL", "MSFT"), last_ts=AT, written_at=AT
)


class _DownBus:
    """A bus whose broker is unreachable."""

    async def publish(self, topic: str, *, key: str, record: Record) -> None:
        raise BusError("Redis at 127.0.0.1:1 could not publish on topic 'features': refused")

    async def publish_many(self, topic: str, items: Iterable[tuple[str, Record]]) -> None:
        raise BusError("down")

    async def subscribe(
        self, topic: str, *, group: str, consumer: str, new_only: bool = False
    ) -> Subscription:
        raise BusError("down")

    async def delete_group(self, topic: str, *, group: str) -> None:
        raise BusError("down")

    async def lag(self, topic: str, *, group: str) -> int:
        raise BusError("down")

    async def close(self) -> None:
        return None


def test_the_announcer_publishes_each_event_on_its_topic_keyed_by_its_subject() -> None:
    bus = InProcessBus()
    publisher = BlockingPublisher(bus)
    promoted = ModelPromoted(name=model_name(5), version="7", horizon=5, promoted_at=AT)
    try:
        announcer = Announcer(publisher)
        announcer.features_written(WRITTEN)
        announcer.model_promoted(promoted)
    finally:
        publisher.close()

    # The bus was driven on the publisher's own loop; its log is read here directly.
    features, models = bus._topics[FEATURES], bus._topics[MODELS]
    assert (features.keys, features.records) == (["daily_v1"], [WRITTEN])
    assert (models.keys, models.records) == (["stockpred-h5"], [promoted])
    assert announcer.failures == 0


def test_a_bus_that_is_down_costs_the_announcement_not_the_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with BlockingPublisher(_DownBus()) as publisher:
        announcer = Announcer(publisher)
        announcer.features_written(WRITTEN)  # does not raise

    assert announcer.failures == 1
    assert "could not announce on 'features'" in caplog.text
    assert "next poll" in caplog.text


def test_a_publish_the_broker_does_not_answer_in_time_is_a_bus_error() -> None:
    class Stuck(_DownBus):
        async def publish(self, topic: str, *, key: str, record: Record) -> None:
            await asyncio.sleep(60)

    publisher = BlockingPublisher(Stuck(), timeout=0.2)
    try:
        with pytest.raises(BusError, match=r"within 0\.2 s"):
            publisher.publish(FEATURES, key="daily_v1", record=WRITTEN)
    finally:
        publisher.close()


@dataclass
class _Registry:
    """The registry calls AnnouncingRegistry passes on, recorded."""

    calls: list[tuple[str, object]] = field(default_factory=list)

    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        metadata: Mapping[str, str],
        metrics: Mapping[str, float],
    ) -> ModelVersion:
        raise AssertionError("not used")

    def versions(self, name: str) -> list[ModelVersion]:
        return []

    def get(self, name: str, version: int) -> ModelVersion:
        raise AssertionError("not used")

    def champion(self, name: str) -> ModelVersion | None:
        return None

    def promote(self, name: str, version: int, *, reason: str) -> None:
        self.calls.append(("promote", (name, version, reason)))

    def rollback(self, name: str, *, reason: str) -> ModelVersion:
        self.calls.append(("rollback", (name, reason)))
        return ModelVersion(name=name, version=3, run_id="r", created_at=AT)

    def download(self, name: str, version: int, directory: Path) -> Path:
        return directory

    def history(self, name: str) -> list[ChampionChange]:
        return []


def test_the_registry_announces_a_promotion_and_a_rollback_after_they_happened() -> None:
    inner = _Registry()
    heard: list[ModelPromoted] = []
    registry = AnnouncingRegistry(inner, heard.append, clock=lambda: AT)

    registry.promote("stockpred-h5", 4, reason="won")
    registry.rollback("stockpred-h1", reason="drift")
    registry.promote("someone-else", 2, reason="not ours")

    assert [c[0] for c in inner.calls] == ["promote", "rollback", "promote"]
    assert heard == [
        ModelPromoted(name="stockpred-h5", version="4", horizon=5, promoted_at=AT),
        ModelPromoted(name="stockpred-h1", version="3", horizon=1, promoted_at=AT),
    ]


def test_a_failed_promotion_is_not_announced() -> None:
    class Refusing(_Registry):
        def promote(self, name: str, version: int, *, reason: str) -> None:
            raise BusError("refused")  # any error the registry raises

    heard: list[ModelPromoted] = []
    with pytest.raises(BusError):
        AnnouncingRegistry(Refusing(), heard.append).promote("stockpred-h5", 4, reason="x")
    assert heard == []


@pytest.mark.parametrize(
    ("name", "horizon"),
    [("stockpred-h5", 5), ("stockpred-h21", 21), ("stockpred-hx", None), ("other-h5", None)],
)
def test_horizon_of_reads_back_the_registered_name(name: str, horizon: int | None) -> None:
    assert horizon_of(name) == horizon
    if horizon is not None:
        assert model_name(horizon) == name


def test_seen_ids_pass_an_id_again_once_it_is_older_than_the_window() -> None:
    now = [0.0]
    seen = SeenIds(ttl=60.0, clock=lambda: now[0])

    first = seen.first_time("a")
    now[0] = 59.0
    again = seen.first_time("a")
    now[0] = 61.0  # "a" was pushed at 0: out of the window
    later = seen.first_time("a")

    assert (first, again, later) == (True, False, True)


def test_seen_ids_pass_each_id_once_and_forget_the_oldest() -> None:
    seen = SeenIds(size=2)

    assert [seen.first_time(i) for i in ("a", "b", "a", "c", "a")] == [
        True,
        True,
        False,
        True,
        True,  # "a" was the oldest of three and was forgotten
    ]
