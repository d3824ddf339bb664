"""The Parquet bar archive on a local folder and on S3 (moto's S3 server on loopback), and
history reads that span archive and store."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from stockpred.pipeline.archive import archive_bars, read_history
from stockpred.store.archive import ParquetArchive
from stockpred.store.duckdb import DuckDBStore

SEEN = pd.Timestamp("2024-03-01 12:00", tz="UTC")


def bars(ticker: str, days: list[str], *, close: float = 10.0) -> pd.DataFrame:
    ts = pd.DatetimeIndex([pd.Timestamp(f"{d} 21:00", tz="UTC") for d in days])
    return pd.DataFrame(
        {
            "ticker": ticker,
            "ts": ts,
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": close,
            "adj_close": close,
            "volume": 1000.0,
            "source": "test",
            "ingested_at": SEEN,
        }
    )


HISTORY = pd.concat(
    [
        bars("AAPL", ["2012-12-28", "2012-12-31", "2013-01-02", "2013-01-03"]),
        bars("^GSPC", ["2012-12-31", "2013-01-02"], close=1400.0),
    ],
    ignore_index=True,
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def archive(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ParquetArchive:
    if request.param == "local":
        return ParquetArchive(str(tmp_path / "archive"))
    endpoint = request.getfixturevalue("s3_endpoint")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    bucket = f"archive-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return ParquetArchive(
        f"s3://{bucket}/stockpred", storage_options={"client_kwargs": {"endpoint_url": endpoint}}
    )


def test_archived_bars_read_back_equal_and_partitioned_by_ticker_and_year(
    archive: ParquetArchive,
) -> None:
    archive.write_bars(HISTORY)

    back = archive.read_bars()

    pd.testing.assert_frame_equal(
        back.reset_index(drop=True),
        HISTORY.sort_values(["ticker", "ts"]).reset_index(drop=True),
        check_dtype=False,
    )
    assert archive.tickers() == ["AAPL", "^GSPC"]
    only_2013 = archive.read_bars(tickers=["aapl"], start=pd.Timestamp("2013-01-01", tz="UTC"))
    assert list(only_2013["ts"].dt.year) == [2013, 2013]


def test_archiving_twice_changes_nothing_and_a_correction_replaces(
    archive: ParquetArchive,
) -> None:
    archive.write_bars(HISTORY)
    archive.write_bars(HISTORY)
    corrected = bars("AAPL", ["2013-01-02"], close=11.5)

    archive.write_bars(corrected)

    back = archive.read_bars(tickers=["AAPL"])
    assert len(back) == 4
    assert back.loc[back["ts"] == corrected["ts"].iloc[0], "close"].item() == 11.5


def test_archive_moves_old_bars_out_of_the_store_and_history_still_sees_them(
    tmp_path: Path,
) -> None:
    archive = ParquetArchive(str(tmp_path / "archive"))
    with DuckDBStore(tmp_path / "store.duckdb") as store:
        store.write_bars(HISTORY)
        before = read_history(store, archive)

        result = archive_bars(store, archive, before=pd.Timestamp("2013-01-01", tz="UTC"))
        again = archive_bars(store, archive, before=pd.Timestamp("2013-01-01", tz="UTC"))
        after = read_history(store, archive)
        as_of = read_history(store, archive, as_of=pd.Timestamp("2012-12-31 22:00", tz="UTC"))
        recent = store.read_bars()

    assert result.moved == 3  # AAPL 12-28, 12-31 and ^GSPC 12-31
    assert again.moved == 0
    pd.testing.assert_frame_equal(after, before)
    assert len(recent) == 3
    assert list(as_of["ts"].dt.day) == [28, 31, 31]


def test_store_bar_wins_over_an_archived_one_for_the_same_session(tmp_path: Path) -> None:
    archive = ParquetArchive(str(tmp_path / "archive"))
    archive.write_bars(bars("AAPL", ["2013-01-02"], close=10.0))
    with DuckDBStore(":memory:") as store:
        store.write_bars(bars("AAPL", ["2013-01-02"], close=12.0))

        history = read_history(store, archive, tickers=["AAPL"])

    assert list(history["close"]) == [12.0]
