"""`stockpred stream` as a user runs it: a replay of the last sessions through the in-process
bus, features written, forecasts made, a summary printed; bad options get one-line errors."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from stockpred.cli.app import main
from stockpred.features.sets import get_feature_set
from stockpred.settings import load_settings
from stockpred.sources.feeds import polling
from stockpred.store.duckdb import DuckDBStore
from support.alpaca_stream import Session, alpaca_stream
from support.fake_provider import FakeProvider, Reply, serve
from support.intraday import yahoo_chart


def test_a_replay_writes_the_sessions_features_and_forecasts_with_both_champions(
    home_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = get_feature_set("daily_v1").key
    with DuckDBStore(load_settings().store_path) as store:
        before = store.read_features(feature_set=key)

    code = main(["stream", "--from", "2013-02-19", "--fast", "--json"])

    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    # 2013-02-19 .. 2013-03-01: 9 sessions of the 5 stocks.
    assert summary["sessions"] == 9
    assert summary["rows"] == 9 * 5
    assert summary["forecasts"] == 2 * summary["rows"]
    with DuckDBStore(load_settings().store_path) as store:
        after = store.read_features(feature_set=key)
    # The replayed sessions were stored already: rewritten equal, nothing added.
    assert len(after) == len(before)


def test_the_last_sessions_split_into_minutes_commit_the_rows_features_build_stored(
    home_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = get_feature_set("daily_v1").key
    with DuckDBStore(load_settings().store_path) as store:
        before = store.read_features(feature_set=key)
        bars = store.read_bars()
    last_two = sorted(before["ts"].unique())[-2:]
    traded = bars[bars["ts"] == last_two[-1]]["ticker"].nunique()  # the stocks and indices

    code = main(
        ["stream", "--from", "2013-02-19", "--split", "5m", "--split-sessions", "2", "--fast",
         "--json"]
    )  # fmt: skip

    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    # Both split sessions (78 five-minute bars of every ticker each) committed at their
    # close, and provisional forecasts published on the way.
    assert summary["intraday"] == 2 * 78 * traded
    assert summary["committed"] == 2
    assert summary["nowcasts"] > 0
    assert summary["sessions"] == 9
    assert summary["rows"] == 9 * 5
    with DuckDBStore(load_settings().store_path) as store:
        after = store.read_features(feature_set=key)
        stored = store.read_predictions()
    pick = after["ts"].isin(last_two)
    pd.testing.assert_frame_equal(
        after[pick].reset_index(drop=True),
        before[before["ts"].isin(last_two)].reset_index(drop=True),
        rtol=1e-9,
        atol=1e-12,
    )
    # The committed forecasts are stored, each stock's of both horizons for each session; the
    # provisional ones never are (their times are minutes', not sessions' closes).
    ours = stored[stored["as_of"].isin(last_two)]
    keys = set(zip(ours["ticker"], ours["as_of"], ours["horizon"], strict=True))
    assert keys == {(t, ts, h) for t in ["AAPL", "FB", "GOOG", "IBM", "MSFT"]
                    for ts in last_two for h in (1, 5)}  # fmt: skip
    assert set(stored["as_of"]) <= set(bars["ts"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2013-13-01"], "--from '2013-13-01' is not a date"),
        (["--from", "2013-03-01", "--to", "2013-02-01"], "is not before --to"),
        (["--feed", "alpaca"], "--feed alpaca needs --tickers"),
        (["--feed", "poll"], "--feed poll needs --tickers"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    home_copy: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    code = main(["stream", *arguments])

    err = capsys.readouterr().err
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_live_feed_the_provider_refuses_stops_the_stream_in_one_line(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started = threading.Event()
    finished = threading.Event()
    where: dict[str, str] = {}

    def serve() -> None:
        async def run() -> None:
            async with alpaca_stream(Session(refuse=402)) as server:
                where["url"] = server.url
                started.set()
                while not finished.is_set():
                    await asyncio.sleep(0.05)

        asyncio.run(run())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", json.dumps({"alpaca_stream": where["url"]}))
    monkeypatch.setenv("STOCKPRED_ALPACA_KEY_ID", "not-the-key")
    monkeypatch.setenv("STOCKPRED_ALPACA_SECRET_KEY", "not-the-secret")
    try:
        code = main(["stream", "--feed", "alpaca", "--tickers", "AAPL"])
    finally:
        finished.set()
        thread.join(10)

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len([line for line in err if line.startswith("error:")]) == 1
    assert "STOCKPRED_ALPACA" in err[-1]


def test_a_polling_feed_brings_the_sessions_minutes_as_nowcasts(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The feed's clock runs from a minute of a New York session (this machine's own time may
    # be any, a weekend's or a night's): minutes outside every session would be skipped.
    now = datetime(2024, 3, 1, 16, 5, tzinfo=UTC)
    started = time.monotonic()
    monkeypatch.setattr(
        polling, "_utc_now", lambda: now + timedelta(seconds=time.monotonic() - started)
    )
    # Yahoo's chart of the session so far: the last five minutes, the one under way included.
    minutes = [now - timedelta(minutes=n) for n in range(4, -1, -1)]
    with serve(FakeProvider()) as yahoo:
        yahoo.script("/v8/finance/chart/AAPL", Reply(200, yahoo_chart("AAPL", minutes)))
        monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", json.dumps({"yahoo": yahoo.url}))
        monkeypatch.setenv("STOCKPRED_POLL_SECONDS", "0.2")

        code = main(
            ["stream", "--feed", "poll", "--tickers", "AAPL", "--idle-exit", "1.5", "--json"]
        )

    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["feed"] == "poll"
    # Four complete minutes, folded into the session so far: forecasts marked provisional.
    assert summary["nowcasts"] >= 1
    assert summary["sessions"] == 0  # no session is committed from minutes
    # Polled every 0.5 s (Yahoo's 2 a second), but within 20 s the cache answers: one request.
    assert [(hit.query["interval"], hit.query["range"]) for hit in yahoo.hits] == [("1m", "1d")]


def test_a_polling_feed_whose_key_is_refused_stops_the_stream_in_one_line(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = json.dumps(
        {
            "Error Message": "the parameter apikey is invalid or missing. Please claim your free "
            "API key on (https://www.alphavantage.co/support/#api-key)."
        }
    )
    with serve(FakeProvider()) as alpha:
        alpha.script("/query", Reply(200, refused))
        monkeypatch.setenv("STOCKPRED_PROVIDER_URLS", json.dumps({"alphavantage": alpha.url}))
        monkeypatch.setenv("STOCKPRED_POLL_PROVIDER", "alphavantage")
        monkeypatch.setenv("STOCKPRED_ALPHA_VANTAGE_API_KEY", "not-the-key")

        code = main(["stream", "--feed", "poll", "--tickers", "IBM"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len([line for line in err if line.startswith("error:")]) == 1
    assert "STOCKPRED_ALPHA_VANTAGE_API_KEY" in err[-1]
