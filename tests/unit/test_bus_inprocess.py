"""The in-process bus's own behaviour beyond the contract: a bounded log per topic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from stockpred.bus.inprocess import InProcessBus
from stockpred.domain.records import MacroPoint

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def point(value: float) -> MacroPoint:
    return MacroPoint("UNRATE", T0.date(), T0, value, "fred")


def test_a_group_that_falls_max_records_behind_loses_the_oldest_and_counts_them() -> None:
    async def scenario() -> tuple[list[float], int, int]:
        bus = InProcessBus(max_records=3)
        subscription = await bus.subscribe("macro", group="slow", consumer="c1")
        await bus.publish_many("macro", [("UNRATE", point(v)) for v in range(5)])
        got = await subscription.fetch(max_records=10, timeout=0)
        values = [d.record.value for d in got if isinstance(d.record, MacroPoint)]
        return values, bus.dropped("macro", group="slow"), await bus.lag("macro", group="slow")

    values, dropped, lag = asyncio.run(scenario())

    assert values == [2.0, 3.0, 4.0]
    assert dropped == 2
    assert lag == 3  # delivered, not acknowledged


def test_the_publisher_never_waits_for_a_consumer() -> None:
    async def scenario() -> int:
        bus = InProcessBus(max_records=10)
        await bus.subscribe("macro", group="idle", consumer="c1")
        await asyncio.wait_for(
            bus.publish_many("macro", [("UNRATE", point(v)) for v in range(1000)]), timeout=1
        )
        return await bus.lag("macro", group="idle")

    assert asyncio.run(scenario()) == 10
