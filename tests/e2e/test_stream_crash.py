"""Crash safety of the stream (DESIGN.md, invariant 6), against the real brokers: the last
sessions of the sample arrive on the ``bars`` topic (the first two of them as 5-minute bars,
committed at the exchange's close) while `stockpred stream --feed none` is killed with SIGKILL
at random moments and started again. At the end every forecast an
uninterrupted run makes was published (none lost), the store holds each exactly once (none
duplicated at the sink), with the values the champions give on the batch features.

The brokers are the ``broker`` fixture's (tests/e2e/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from stockpred.bus import open_bus
from stockpred.bus.topics import BARS, PREDICTIONS
from stockpred.compose import open_registry
from stockpred.domain.frames import bars_of
from stockpred.domain.records import Bar, Prediction
from stockpred.features.sets import get_feature_set
from stockpred.pipeline.forecasting import ChampionForecaster
from stockpred.pipeline.serving import ChampionCache
from stockpred.settings import load_settings
from stockpred.sources.feeds.intraday import split_last_sessions
from stockpred.store.duckdb import DuckDBStore
from stockpred.store.schema import feature_table_name
from support.bench_report import report

SESSIONS = 40
KILLS = 3
ACK_TIMEOUT = 5.0
IDLE_EXIT = 20.0
NOW = datetime(2013, 3, 2, tzinfo=UTC)


def _expected(home: Path, rows: pd.DataFrame) -> dict[tuple[str, str, int], Prediction]:
    """What an uninterrupted run publishes: the champions' forecasts on the batch rows."""
    settings = load_settings()
    champions = ChampionCache(
        open_registry(settings), horizons=settings.api_horizons, cache=home / "models"
    )
    champions.reload()
    forecaster = ChampionForecaster(champions, feature_set=get_feature_set("daily_v1").key)
    expected: dict[tuple[str, str, int], Prediction] = {}
    for _, session in rows.groupby("ts", sort=True):
        for forecast in forecaster.forecast(session.reset_index(drop=True), last_close={}, now=NOW):
            expected[(forecast.ticker, forecast.as_of.isoformat(), forecast.horizon)] = forecast
    return expected


async def _publish(url: str, namespace: str, bars: list[Bar]) -> None:
    bus = open_bus(url, namespace=namespace)
    try:
        # The collector's group exists before anything is published: it sees every forecast.
        collector = await bus.subscribe(PREDICTIONS, group="collector", consumer="c")
        await collector.close()
        await bus.publish_many(BARS, [(b.ticker, b) for b in bars])
    finally:
        await bus.close()


async def _collect(url: str, namespace: str, *, wanted: int) -> list[Prediction]:
    """Every forecast on the topic: until ``wanted`` distinct ones came and the topic has been
    quiet for 2 s (a Kafka group takes seconds to be assigned its partitions), or 90 s."""
    bus = open_bus(url, namespace=namespace)
    got: list[Prediction] = []
    try:
        collector = await bus.subscribe(PREDICTIONS, group="collector", consumer="c")
        deadline = time.monotonic() + 90
        quiet = 0
        while time.monotonic() < deadline:
            batch = await collector.fetch(max_records=1000, timeout=1.0)
            # Provisional forecasts (the intraday sessions') are never stored: not counted.
            got += [
                d.record
                for d in batch
                if isinstance(d.record, Prediction) and not d.record.provisional
            ]
            await collector.ack(batch)
            quiet = 0 if batch else quiet + 1
            distinct = {(p.ticker, p.as_of, p.horizon) for p in got}
            if len(distinct) >= wanted and quiet >= 2:
                break
        await collector.close()
    finally:
        await bus.close()
    return got


def test_killing_the_stream_at_random_moments_loses_and_duplicates_no_forecast(
    home_copy: Path,
    tmp_path: Path,
    broker: tuple[str, str, str],
) -> None:
    backend, url, namespace = broker
    home = home_copy
    artifacts = os.environ["STOCKPRED_REGISTRY_ARTIFACTS"]
    key = get_feature_set("daily_v1").key
    path = home / "stockpred.duckdb"
    with DuckDBStore(path) as store:
        bars = store.read_bars()
        closes = sorted(bars.loc[bars["ticker"] == "AAPL", "ts"].unique())
        cut, end = closes[-SESSIONS - 1], closes[-1]
        replayed = bars[(bars["ts"] > cut) & (bars["ts"] <= end)]
        batch_rows = store.read_features(feature_set=key, start=cut + pd.Timedelta(seconds=1))
    expected = _expected(home, batch_rows)
    # The last sessions leave the store: they arrive on the bus instead.
    with duckdb.connect(str(path)) as connection:
        connection.execute("DELETE FROM bars WHERE ts > ?", [cut.to_pydatetime()])
        connection.execute(
            f'DELETE FROM "{feature_table_name(key)}" WHERE ts > ?', [cut.to_pydatetime()]
        )
        connection.execute("DELETE FROM predictions")
    # The first two sessions as 5-minute bars: handled while the kills land.
    early = replayed["ts"] <= closes[-SESSIONS + 1]
    split = split_last_sessions(bars_of(replayed[early]), every=timedelta(minutes=5))
    asyncio.run(_publish(url, namespace, [*split, *bars_of(replayed[~early])]))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")},
        "STOCKPRED_HOME": str(home),
        "STOCKPRED_REGISTRY_ARTIFACTS": artifacts,
        "STOCKPRED_BUS_URL": url,
        "STOCKPRED_BUS_NAMESPACE": namespace,
        # What a killed consumer held is handed out again after this long.
        "STOCKPRED_BUS_ACK_TIMEOUT": str(ACK_TIMEOUT),
    }
    command = [sys.executable, "-m", "stockpred", "stream", "--feed", "none", "--json"]
    # Tenths of a second after the start: start-up (imports, warming the state on the stored
    # history) takes about 4 s, and a Kafka consumer is assigned its partitions some seconds
    # after it joins, so its kills come later to land while sessions are being handled.
    low, high = (110, 200) if backend == "kafka" else (45, 110)
    moments = random.Random(f"{backend}-crash").sample(range(low, high), KILLS)
    logs = tmp_path / "stream.log"
    with logs.open("ab") as log:
        for moment in moments:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
            time.sleep(moment / 10)
            process.kill()  # SIGKILL: no clean-up of any kind
            process.wait()
        final = subprocess.run(
            # Quiet for longer than a redelivery (and a Kafka rebalance) takes: all is done.
            [*command, "--idle-exit", str(IDLE_EXIT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert final.returncode == 0, final.stderr + logs.read_text()
    summary = json.loads(final.stdout)
    delivered = asyncio.run(_collect(url, namespace, wanted=len(expected)))
    with DuckDBStore(path) as store:
        stored = store.read_predictions()

    keys = [(p.ticker, p.as_of.isoformat(), p.horizon) for p in delivered]
    lost = set(expected) - set(keys)
    stored_keys = list(
        zip(
            stored["ticker"],
            pd.DatetimeIndex(stored["as_of"]).map(lambda t: t.isoformat()),
            stored["horizon"].astype(int),
            strict=True,
        )
    )
    duplicated = len(stored_keys) - len(set(stored_keys))
    figures = {
        "backend": backend,
        "kills": KILLS,
        "kill_seconds": [m / 10 for m in moments],
        "lost": len(lost),
        "duplicated": duplicated,
        "redelivered_on_the_topic": len(keys) - len(set(keys)),
        "sessions_before_the_last_run": SESSIONS - summary["sessions"] + summary["redelivered"],
        "final_run": summary,
    }
    print("\n" + json.dumps(figures))
    report("crash", figures)
    assert not lost, sorted(lost)[:5]
    assert duplicated == 0
    assert set(stored_keys) == set(expected)
    for p in delivered:
        want = expected[(p.ticker, p.as_of.isoformat(), p.horizon)]
        assert math.isclose(p.value, want.value, rel_tol=1e-9, abs_tol=1e-12)
