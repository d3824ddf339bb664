"""A champion promoted while the stream runs forecasts from the next session on, without a
restart: `stockpred models promote` announces it on the broker's ``models`` topic, the stream
processor reloads the champions, and the forecasts after it carry the new version. Against
each real broker (the ``broker`` fixture: Redis Streams, NATS JetStream, Kafka on Tansu)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from stockpred.bus.topics import BARS, PREDICTIONS
from stockpred.cli.app import main
from stockpred.compose import open_bus, open_registry, stream_setup
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Prediction
from stockpred.registry.base import model_name
from stockpred.settings import load_settings

NOW = datetime(2013, 3, 2, tzinfo=UTC)
HORIZON = 5


async def _until(condition: object, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited {seconds:.0f} s for {what}"
        await asyncio.sleep(0.05)


def test_a_champion_promoted_mid_stream_forecasts_the_sessions_after_it(
    home_copy: Path, broker: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url, namespace = broker
    monkeypatch.setenv("STOCKPRED_BUS_URL", url)
    monkeypatch.setenv("STOCKPRED_BUS_NAMESPACE", namespace)
    settings = load_settings()
    registry = open_registry(settings)
    name = model_name(HORIZON)
    champion = registry.champion(name)
    assert champion is not None
    other = next(v for v in registry.versions(name) if v.version != champion.version)
    published: list[Prediction] = []

    async def run() -> None:
        bus = open_bus(settings)
        try:
            setup = stream_setup(settings, bus, clock=lambda: NOW, group="swap", consumer="s1")
            closes = sorted(setup.bars.loc[setup.bars["ticker"] == "AAPL", "ts"].unique())
            cut = pd.Timestamp(closes[-7])
            processor = setup.processor
            processor.state.warm(setup.bars[setup.bars["ts"] <= cut])
            watch = await bus.subscribe(PREDICTIONS, group="watch", consumer="w")
            stop = asyncio.Event()
            running = asyncio.create_task(processor.run(stop))
            await processor.ready.wait()
            for part, sessions in ((closes[-6:-3], 3), (closes[-3:], 6)):
                if sessions == 6:
                    # Promoted by the CLI, as an operator would: announced on the broker.
                    argv = ["models", "promote", str(other.version), "--reason", "hot swap"]
                    assert await asyncio.to_thread(main, [*argv, "--horizon", str(HORIZON)]) == 0
                    await _until(lambda: processor.stats.reloads >= 1, "the champion's reload")
                replayed = setup.bars[setup.bars["ts"].isin(part)]
                await bus.publish_many(BARS, [(b.ticker, b) for b in bars_of(replayed)])
                await _until(lambda n=sessions: processor.stats.sessions >= n, "the sessions")
            stop.set()
            await running
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(published) < 6 * 5 * 2:
                batch = await watch.fetch(max_records=1000, timeout=1.0)
                published.extend(d.record for d in batch if isinstance(d.record, Prediction))
                await watch.ack(batch)
            await watch.close()
        finally:
            await bus.close()

    asyncio.run(run())

    five = [p for p in published if p.horizon == HORIZON and not p.provisional]
    stamps = sorted({p.as_of for p in five})
    assert len(stamps) == 6
    before = {p.model_version for p in five if p.as_of in stamps[:3]}
    after = {p.model_version for p in five if p.as_of in stamps[3:]}
    assert before == {str(champion.version)}
    assert after == {str(other.version)}
