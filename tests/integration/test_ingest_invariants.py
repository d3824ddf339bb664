"""Ingestion invariants on real data: nothing lost, nothing half-written, idempotent.

DESIGN invariants 3 (idempotent ingestion) and 6 (bad input rejected with what and where, good
rows kept), checked on sp500_5yr_dev.csv (../shared/data, real IEX data with real defects) and
on the sample data the installed packages ship.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.pipeline.ingest import BarIngest, ingest_files, ingest_sample, read_files
from stockpred.sources.sample import load_sample_macro
from stockpred.store.base import WriteResult
from stockpred.store.duckdb import DuckDBStore

CALENDAR = "XNYS"
FIRST_RUN = dt.datetime(2024, 1, 2, 23, 0, tzinfo=dt.UTC)
SECOND_RUN = dt.datetime(2024, 2, 3, 23, 0, tzinfo=dt.UTC)
DEV_ROWS = 294_890
DEV_TICKERS = 241
# Golden: lines of the dev file with a missing price or a high/low that misses the candle body.
DEV_BAD_ROWS = 13
PRICES = ["open", "high", "low", "close"]
SAMPLE_TICKERS = ["AAPL", "FB", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"]
SAMPLE_SERIES = {"AAA", "BAA", "CPILFESL", "VIXCLS"}


def checksum(frame: pd.DataFrame) -> str:
    """A digest of every value, column name and dtype of ``frame``, in its row order."""
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def session_dates(ts: pd.Series) -> pd.Series:
    """The New York session date of each UTC bar close, as naive midnight timestamps."""
    return ts.dt.tz_convert("America/New_York").dt.normalize().dt.tz_localize(None)


@dataclass(frozen=True)
class Ingested:
    """The dev file ingested once into a DuckDB file store (closed, so tests can copy it)."""

    path: Path
    report: BarIngest
    bars: pd.DataFrame


@pytest.fixture(scope="module")
def dev_raw(dev_prices: Path) -> pd.DataFrame:
    """The dev file as plain pandas reads it, with its CSV line numbers (header = 1)."""
    raw = pd.read_csv(dev_prices)
    raw["row"] = np.arange(2, len(raw) + 2)
    return raw


@pytest.fixture(scope="module")
def dev_ingested(dev_prices: Path, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    path = tmp_path_factory.mktemp("dev-store") / "store.duckdb"
    with DuckDBStore(path) as store:
        report = ingest_files(store, read_files([dev_prices]), calendar=CALENDAR, now=FIRST_RUN)
        bars = store.read_bars()
    return Ingested(path=path, report=report, bars=bars)


def test_dev_file_rejects_exactly_the_rows_with_missing_or_inconsistent_prices(
    dev_ingested: Ingested, dev_raw: pd.DataFrame, dev_defects: pd.DataFrame
) -> None:
    report = dev_ingested.report

    rejected = set(report.rejects["row"])

    assert len(dev_raw) == DEV_ROWS
    assert rejected == set(dev_defects["row"])
    assert report.rejected_rows == len(rejected) == DEV_BAD_ROWS
    assert report.accepted + report.rejected_rows == DEV_ROWS
    assert [(f.rows, f.accepted, f.rejected) for f in report.inputs] == [
        (DEV_ROWS, DEV_ROWS - len(rejected), len(rejected))
    ]


def test_each_rejected_row_names_its_file_line_field_and_reason(
    dev_ingested: Ingested, dev_raw: pd.DataFrame, dev_defects: pd.DataFrame, dev_prices: Path
) -> None:
    rejects = dev_ingested.report.rejects

    found = rejects[["row", "field"]].sort_values(["row", "field"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(found, dev_defects, check_dtype=False)
    assert list(rejects.columns) == ["file", "row", "ticker", "date", "field", "value", "reason"]
    assert set(rejects["file"]) == {str(dev_prices)}
    assert rejects["reason"].str.len().gt(0).all()
    # The line number leads back to the very line of the file.
    by_row = dev_raw.set_index("row")
    assert (rejects["ticker"].to_numpy() == by_row.loc[rejects["row"], "Name"].to_numpy()).all()
    assert (rejects["date"].to_numpy() == by_row.loc[rejects["row"], "date"].to_numpy()).all()
    missing = rejects[rejects["reason"] == "missing value"]
    for row, field in zip(missing["row"], missing["field"], strict=True):
        assert np.isnan(by_row.at[row, field])


def test_dev_file_keeps_every_good_row_with_its_values(
    dev_ingested: Ingested, dev_raw: pd.DataFrame, dev_defects: pd.DataFrame
) -> None:
    good = dev_raw[~dev_raw["row"].isin(dev_defects["row"])]
    expected = pd.DataFrame(
        {
            "ticker": good["Name"].astype(object),
            "date": pd.to_datetime(good["date"]),
            **{c: good[c].astype(float) for c in [*PRICES, "volume"]},
        }
    )
    bars = dev_ingested.bars

    stored = pd.DataFrame(
        {
            "ticker": bars["ticker"].astype(object),
            "date": session_dates(bars["ts"]),
            **{c: bars[c] for c in [*PRICES, "volume"]},
        }
    )

    assert len(bars) == len(good) == dev_ingested.report.written.inserted
    assert bars["ticker"].nunique() == DEV_TICKERS
    pd.testing.assert_frame_equal(
        stored.sort_values(["ticker", "date"]).reset_index(drop=True),
        expected.sort_values(["ticker", "date"]).reset_index(drop=True),
        check_exact=True,
        check_dtype=False,
    )
    assert bars["adj_close"].isna().all()
    assert set(bars["source"]) == {"file:sp500_5yr_dev.csv"}
    assert (bars["ingested_at"] == FIRST_RUN).all()


@pytest.fixture
def dev_store_copy(dev_ingested: Ingested, tmp_path: Path) -> Iterator[DuckDBStore]:
    """A private copy of the ingested dev store, free to change."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(dev_ingested.path, path)
    with DuckDBStore(path) as store:
        yield store


def test_second_ingest_of_the_dev_file_leaves_the_store_unchanged(
    dev_store_copy: DuckDBStore, dev_ingested: Ingested, dev_prices: Path
) -> None:
    # Invariant 3; a later clock proves ingested_at is not rewritten for unchanged rows.
    first = dev_ingested.bars

    again = ingest_files(
        dev_store_copy, read_files([dev_prices]), calendar=CALENDAR, now=SECOND_RUN
    )

    assert again.written == WriteResult(unchanged=len(first))
    assert again.rejected_rows == dev_ingested.report.rejected_rows
    after = dev_store_copy.read_bars()
    assert len(after) == len(first)
    assert checksum(after) == checksum(first)
    assert (after["ingested_at"] == FIRST_RUN).all()


def test_corrected_bar_replaces_the_stored_one_and_never_duplicates_it(
    dev_prices: Path, tmp_path: Path
) -> None:
    lines = dev_prices.read_text().splitlines(keepends=True)[:301]
    original = tmp_path / "prices.csv"
    original.write_text("".join(lines))
    raw = pd.read_csv(original)
    fixed_at = 123  # a row well inside the file
    row = raw.iloc[fixed_at]
    new_close = round((row["low"] + row["high"]) / 2, 4)
    assert new_close != row["close"]
    corrected = raw.copy()
    corrected.loc[fixed_at, "close"] = new_close
    correction = tmp_path / "corrected" / "prices.csv"
    correction.parent.mkdir()
    corrected.to_csv(correction, index=False)

    with DuckDBStore(tmp_path / "store.duckdb") as store:
        first = ingest_files(store, read_files([original]), calendar=CALENDAR, now=FIRST_RUN)
        second = ingest_files(store, read_files([correction]), calendar=CALENDAR, now=SECOND_RUN)
        bars = store.read_bars()

    assert first.written == WriteResult(inserted=len(raw))
    assert second.written == WriteResult(updated=1, unchanged=len(raw) - 1)
    assert len(bars) == len(raw)
    assert not bars.duplicated(["ticker", "ts"]).any()
    day = pd.Timestamp(row["date"])
    hit = bars[(bars["ticker"] == row["Name"]) & (session_dates(bars["ts"]) == day)]
    assert hit["close"].tolist() == [new_close]
    assert hit["ingested_at"].tolist() == [pd.Timestamp(SECOND_RUN)]
    assert (bars.drop(index=hit.index)["ingested_at"] == FIRST_RUN).all()


@pytest.fixture(scope="module")
def sample_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DuckDBStore, BarIngest]]:
    with DuckDBStore(tmp_path_factory.mktemp("sample-store") / "store.duckdb") as store:
        yield store, ingest_sample(store, calendar=CALENDAR, now=FIRST_RUN)


def test_sample_ingest_loads_seven_tickers_and_four_macro_series_without_rejects(
    sample_store: tuple[DuckDBStore, BarIngest],
) -> None:
    store, report = sample_store

    coverage = store.bar_coverage()
    macro = store.read_macro()

    assert coverage["ticker"].tolist() == sorted(SAMPLE_TICKERS)
    assert report.rejected_rows == 0
    assert report.rejects.empty
    assert report.written == WriteResult(inserted=int(coverage["rows"].sum()))
    assert set(coverage["sources"]) == {"sample"}
    assert set(macro["series_id"]) == SAMPLE_SERIES
    assert report.macro == WriteResult(inserted=len(load_sample_macro()))
    assert (report.coverage["missing_sessions"] == 0).all()


def test_second_sample_ingest_leaves_the_store_unchanged(
    sample_store: tuple[DuckDBStore, BarIngest],
) -> None:
    store, first = sample_store
    bars, macro = store.read_bars(), store.read_macro()

    again = ingest_sample(store, calendar=CALENDAR, now=SECOND_RUN)

    assert again.written == WriteResult(unchanged=first.written.inserted)
    assert first.macro is not None
    assert again.macro == WriteResult(unchanged=first.macro.inserted)
    assert checksum(store.read_bars()) == checksum(bars)
    assert checksum(store.read_macro()) == checksum(macro)
