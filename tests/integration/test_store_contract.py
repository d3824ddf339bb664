"""The Store contract: what every backend must do, run against each one in BACKENDS.

A new backend joins the suite by adding one entry to BACKENDS: how to open a store at a
location, whether reopening the location reaches the same data, how to run raw SQL against it
while no store is open, and, for a server, why it is skipped when absent and how to release what
a test left on it.

PostgreSQL runs when STOCKPRED_TEST_POSTGRES_URL is set (CI sets it): each test location gets a
fresh schema ``test_<uuid hex>``, dropped when the test ends, failed or not.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from stockpred.domain.errors import StoreError
from stockpred.store.base import Store, WriteResult
from stockpred.store.duckdb import DuckDBStore
from stockpred.store.postgres import PostgresStore
from stockpred.store.schema import (
    SCHEMA_VERSION,
    TABLES,
    TableSpec,
    feature_table,
    feature_table_name,
)

Clock = Callable[[], dt.datetime]

OPENED_AT = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
REOPENED_AT = dt.datetime(2024, 6, 1, 9, 0, tzinfo=dt.UTC)


def _clock(at: dt.datetime) -> Clock:
    return lambda: at


# -- backends --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """How the suite reaches one backend.

    ``open(location, clock)`` returns a migrated store; ``location`` is a fresh directory per
    test. When ``persistent``, opening the same location again reaches the same data and
    ``execute(location, sql)`` runs one statement against it while no store is open.
    ``unavailable`` is why the backend cannot run here (the test skips), and ``release(directory)``
    frees what the test's locations under ``directory`` hold outside it.
    """

    open: Callable[[Path, Clock], Store]
    persistent: bool = False
    execute: Callable[[Path, str], list[tuple[Any, ...]]] | None = None
    unavailable: str | None = None
    release: Callable[[Path], None] | None = None


def _duckdb_file(location: Path) -> Path:
    return location / "store.duckdb"


def _duckdb_execute(location: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(_duckdb_file(location)))
    try:
        con.execute("SET TimeZone = 'UTC'")
        cursor = con.execute(sql)
        return cursor.fetchall() if cursor.description else []
    finally:
        con.close()


POSTGRES_URL = os.environ.get("STOCKPRED_TEST_POSTGRES_URL")


class _PostgresSchemas:
    """One fresh schema per test location, and every store opened on it, so that teardown can
    close the stores and drop the schemas whatever the test did."""

    def __init__(self, url: str | None) -> None:
        self._url = url or ""
        self._schemas: dict[Path, str] = {}
        self._opened: dict[Path, list[PostgresStore]] = {}

    def schema(self, location: Path) -> str:
        return self._schemas.setdefault(location, f"test_{uuid.uuid4().hex}")

    def open(self, location: Path, clock: Clock) -> Store:
        store = PostgresStore(self._url, schema=self.schema(location), clock=clock)
        self._opened.setdefault(location, []).append(store)
        return store

    def execute(self, location: Path, statement: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self._url, autocommit=True) as con:
            con.execute("SET TimeZone TO 'UTC'")
            con.execute(
                sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema(location)))
            )
            cursor = con.execute(statement)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def release(self, directory: Path) -> None:
        mine = [location for location in self._schemas if location.is_relative_to(directory)]
        for location in mine:
            for store in self._opened.pop(location, []):
                store.close()
        schemas = [self._schemas.pop(location) for location in mine]
        if not schemas:
            return
        with psycopg.connect(self._url, autocommit=True) as con:
            for schema in schemas:
                con.execute(
                    sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
                )


_POSTGRES = _PostgresSchemas(POSTGRES_URL)

BACKENDS: dict[str, Backend] = {
    "duckdb-memory": Backend(open=lambda _location, clock: DuckDBStore(":memory:", clock=clock)),
    "duckdb-file": Backend(
        open=lambda location, clock: DuckDBStore(_duckdb_file(location), clock=clock),
        persistent=True,
        execute=_duckdb_execute,
    ),
    "postgres": Backend(
        open=_POSTGRES.open,
        persistent=True,
        execute=_POSTGRES.execute,
        unavailable=None if POSTGRES_URL else "STOCKPRED_TEST_POSTGRES_URL is not set (CI sets it)",
        release=_POSTGRES.release,
    ),
}
PERSISTENT = sorted(name for name, backend in BACKENDS.items() if backend.persistent)


def _use(name: str, tmp_path: Path) -> Iterator[Backend]:
    chosen = BACKENDS[name]
    if chosen.unavailable:
        pytest.skip(chosen.unavailable)
    try:
        yield chosen
    finally:
        if chosen.release is not None:
            chosen.release(tmp_path)


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _use(request.param, tmp_path)


@pytest.fixture(params=PERSISTENT)
def persistent_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from _use(request.param, tmp_path)


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> Iterator[Store]:
    opened = backend.open(tmp_path / "store", _clock(OPENED_AT))
    yield opened
    opened.close()


# -- rows of every table ---------------------------------------------------------------------

TICKERS = ("AAA", "BBB")
# Written in New York time on purpose: the store must hand back the same instants in UTC.
DAYS = pd.DatetimeIndex(
    ["2024-01-02 16:00", "2024-01-03 16:00", "2024-01-04 16:00"], tz="America/New_York"
)
SEEN = pd.Timestamp("2024-01-05 12:00", tz="UTC")
SEEN_AGAIN = pd.Timestamp("2024-02-05 12:00", tz="UTC")
FEATURE_SET = "momentum"


def _bars() -> pd.DataFrame:
    rows = []
    for i, ticker in enumerate(TICKERS):
        for j, ts in enumerate(DAYS):
            base = 100.0 * (i + 1) + j
            rows.append(
                {
                    "ticker": ticker,
                    "ts": ts,
                    "open": base,
                    "high": base + 2.5,
                    "low": base - 1.25,
                    "close": base + 0.5,
                    "adj_close": np.nan if j == 0 else base + 0.25,
                    "volume": 1_000_000.0 + j,
                    "source": "test",
                    "ingested_at": SEEN,
                }
            )
    return pd.DataFrame(rows)


def _intraday_bars() -> pd.DataFrame:
    """Each day's bars as if they were an hour's, closing an hour before the day's close."""
    frame = _bars()
    frame["ts"] = frame["ts"] - pd.Timedelta(hours=1)
    frame.insert(2, "interval", "1h")
    return frame


def _headlines() -> pd.DataFrame:
    rows = []
    for i, ticker in enumerate(TICKERS):
        for j, ts in enumerate(DAYS):
            rows.append(
                {
                    "id": f"n{j}",
                    "ticker": ticker,
                    "published_at": ts - pd.Timedelta(hours=3),
                    "source": "wire",
                    "title": f"{ticker} headline {j}",
                    "url": None if j == 1 else f"https://news.example/{ticker}/{j}",
                    "sentiment": np.nan if j == 2 else 0.25 * (j - i),
                }
            )
    return pd.DataFrame(rows)


def _macro() -> pd.DataFrame:
    rows = []
    for series_id in ("CPI", "VIX"):
        for j in range(3):
            period = dt.date(2023, 10 + j, 1)
            rows.append(
                {
                    "series_id": series_id,
                    "period": period,
                    # Known about six weeks after the month it describes.
                    "released_at": pd.Timestamp(period, tz="UTC")
                    + pd.Timedelta(days=45, hours=13, minutes=30),
                    "value": 300.0 + j if series_id == "CPI" else 15.5 - j,
                    "source": "test",
                }
            )
    return pd.DataFrame(rows)


def _features() -> pd.DataFrame:
    rows = []
    for ticker in TICKERS:
        for j, ts in enumerate(DAYS):
            # Warm-up values are missing, not zero.
            rows.append(
                {
                    "ticker": ticker,
                    "ts": ts,
                    "rsi_14": np.nan if j == 0 else 50.0 + j,
                    "ret_5": 0.01 * j - 0.005,
                }
            )
    return pd.DataFrame(rows)


def _predictions() -> pd.DataFrame:
    rows = []
    for ticker in TICKERS:
        for j, ts in enumerate(DAYS):
            rows.append(
                {
                    "ticker": ticker,
                    "as_of": ts,
                    "horizon": 5,
                    "target": "return",
                    "value": 0.01 * j,
                    "lower": None if j == 0 else -0.02,
                    "upper": None if j == 0 else 0.04,
                    "direction_prob": 0.55,
                    "model": "ridge",
                    "model_version": "1",
                    "created_at": SEEN,
                }
            )
    return pd.DataFrame(rows)


def _performance() -> pd.DataFrame:
    rows = []
    for j, ts in enumerate(DAYS):
        for model, role in (("ridge", "champion"), ("ar1", "baseline")):
            rows.append(
                {
                    "horizon": 5,
                    "model_version": "3",
                    "session": ts,
                    "model": model,
                    "role": role,
                    "window_sessions": 63,
                    "n_dates": 63,
                    "n_rows": 630 + j,
                    "rank_ic": 0.01 * j,
                    "hit_rate": 0.5,
                    "mae": None if role == "baseline" else 0.02,
                    "coverage": None if role == "baseline" else 0.8,
                    "computed_at": SEEN,
                }
            )
    return pd.DataFrame(rows)


def _drift() -> pd.DataFrame:
    rows = []
    for j, ts in enumerate(DAYS):
        for subject in ("rsi_14", "prediction"):
            rows.append(
                {
                    "horizon": 5,
                    "model_version": "3",
                    "session": ts,
                    "subject": subject,
                    "window_sessions": 21,
                    "psi": None if j == 0 else 0.01 * j,
                    "psi_threshold": 0.25,
                    "ks_statistic": 0.1,
                    "ks_threshold": 0.1,
                    "ks_p_value": 0.3,
                    "n": 200,
                    "missing_share": 0.0,
                    "computed_at": SEEN,
                }
            )
    return pd.DataFrame(rows)


SCORER = "vader"


def _sentiment() -> pd.DataFrame:
    rows = []
    for i, ticker in enumerate(TICKERS):
        for j, ts in enumerate(DAYS):
            day = ts.tz_convert("UTC").normalize()
            rows.append(
                {
                    "ticker": ticker,
                    "day": day,
                    "scorer": SCORER,
                    "mean": 0.1 * (j - 1) + 0.05 * i,
                    "count": 3 + j,
                    "share_positive": 0.5,
                    "share_negative": 0.25,
                    "released_at": day + pd.Timedelta(hours=15),
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TableCase:
    """One table of the contract: sample rows and how to write and read them."""

    name: str
    make: Callable[[], pd.DataFrame]
    write: Callable[[Store, pd.DataFrame], WriteResult]
    read: Callable[..., pd.DataFrame]
    # A value column that a correction changes, and a float column that a text can break.
    corrected: str
    numeric: str
    # A table outside TABLES (a feature set's own table) names its spec here.
    table: TableSpec | None = None

    @property
    def spec(self) -> TableSpec:
        return self.table if self.table is not None else TABLES[self.name]


CASES: dict[str, TableCase] = {
    case.name: case
    for case in (
        TableCase(
            "bars",
            _bars,
            lambda s, f: s.write_bars(f),
            lambda s, **kw: s.read_bars(**kw),
            corrected="close",
            numeric="close",
        ),
        TableCase(
            "headlines",
            _headlines,
            lambda s, f: s.write_headlines(f),
            lambda s, **kw: s.read_headlines(**kw),
            corrected="title",
            numeric="sentiment",
        ),
        TableCase(
            "macro",
            _macro,
            lambda s, f: s.write_macro(f),
            lambda s, **kw: s.read_macro(**kw),
            corrected="value",
            numeric="value",
        ),
        TableCase(
            "features",
            _features,
            lambda s, f: s.write_features(FEATURE_SET, f),
            lambda s, **kw: s.read_features(feature_set=FEATURE_SET, **kw),
            corrected="rsi_14",
            numeric="ret_5",
            table=feature_table(feature_table_name(FEATURE_SET), ("rsi_14", "ret_5")),
        ),
        TableCase(
            "predictions",
            _predictions,
            lambda s, f: s.write_predictions(f),
            lambda s, **kw: s.read_predictions(**kw),
            corrected="value",
            numeric="value",
        ),
        TableCase(
            "intraday_bars",
            _intraday_bars,
            lambda s, f: s.write_intraday_bars(f),
            lambda s, **kw: s.read_intraday_bars(**kw),
            corrected="close",
            numeric="high",
        ),
        TableCase(
            "sentiment_daily",
            _sentiment,
            lambda s, f: s.write_sentiment(f),
            lambda s, **kw: s.read_sentiment(scorer=SCORER, **kw),
            corrected="mean",
            numeric="mean",
        ),
        TableCase(
            "model_performance",
            _performance,
            lambda s, f: s.write_monitoring("model_performance", f),
            lambda s, **kw: s.read_monitoring("model_performance", **kw),
            corrected="rank_ic",
            numeric="hit_rate",
        ),
        TableCase(
            "model_drift",
            _drift,
            lambda s, f: s.write_monitoring("model_drift", f),
            lambda s, **kw: s.read_monitoring("model_drift", **kw),
            corrected="psi_threshold",
            numeric="ks_statistic",
        ),
    )
}
assert set(CASES) == {*TABLES, "features"}, "every table of the schema is covered"

# (table, column) for every column a row cannot do without.
REQUIRED = [
    (name, column)
    for name, spec in TABLES.items()
    for column in spec.names
    if column not in spec.nullable
]


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> TableCase:
    return CASES[request.param]


def _canonical(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Contract columns in key order, timestamps in UTC microseconds, numbers as floats and
    missing values as None, so frames from any backend compare by value."""
    out = frame.loc[:, list(spec.names)].copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            out[column] = values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
        elif pd.api.types.is_numeric_dtype(values.dtype):
            out[column] = values.astype("float64")
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return out.sort_values(list(spec.key), kind="stable").reset_index(drop=True)


def assert_same_rows(actual: pd.DataFrame, expected: pd.DataFrame, spec: TableSpec) -> None:
    pd.testing.assert_frame_equal(_canonical(actual, spec), _canonical(expected, spec))


def _time_columns(spec: TableSpec) -> list[str]:
    return [name for name, kind in spec.columns if kind == "TIMESTAMPTZ"]


def _seed(store: Store, case: TableCase) -> pd.DataFrame:
    rows = case.make()
    assert case.write(store, rows) == WriteResult(inserted=len(rows))
    return case.read(store)


def _corrected(row: pd.DataFrame, column: str) -> pd.DataFrame:
    out = row.copy()
    value = out[column].iloc[0]
    out[column] = f"{value} (corrected)" if isinstance(value, str) else float(value) + 1.5
    return out


def _new_key(row: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """``row`` moved to a key that is not stored yet."""
    out = row.copy()
    if spec.name == "macro":
        out["period"] = [dt.date(2024, 6, 1)]
    elif spec.name == "headlines":
        out["id"] = out["id"] + "-new"
    else:
        time = next(c for c in spec.key if c in _time_columns(spec))
        out[time] = out[time] + pd.Timedelta(days=365)
    return out


# -- writes ----------------------------------------------------------------------------------


def test_written_rows_read_back_with_the_same_values_and_utc_timestamps(
    store: Store, case: TableCase
) -> None:
    rows = case.make()

    result = case.write(store, rows)
    stored = case.read(store)

    assert result == WriteResult(inserted=len(rows))
    assert len(stored) == len(rows)
    for column in _time_columns(case.spec):
        assert isinstance(stored[column].dtype, pd.DatetimeTZDtype), column
        assert str(stored[column].dt.tz) == "UTC", column
    assert_same_rows(stored, rows, case.spec)


def test_upsert_of_identical_rows_reports_unchanged_and_leaves_the_table_identical(
    store: Store, case: TableCase
) -> None:
    before = _seed(store, case)

    result = case.write(store, case.make())

    assert result == WriteResult(unchanged=len(before))
    pd.testing.assert_frame_equal(case.read(store), before, check_exact=True)


@pytest.mark.parametrize(
    ("table", "bookkeeping"), [("bars", "ingested_at"), ("predictions", "created_at")]
)
def test_identical_values_seen_again_keep_the_first_bookkeeping_time(
    store: Store, table: str, bookkeeping: str
) -> None:
    case = CASES[table]
    before = _seed(store, case)
    again = case.make().assign(**{bookkeeping: SEEN_AGAIN})

    result = case.write(store, again)

    assert result == WriteResult(unchanged=len(before))
    after = case.read(store)
    assert (after[bookkeeping] == SEEN).all()
    pd.testing.assert_frame_equal(after, before, check_exact=True)


def test_corrected_row_replaces_the_stored_one(store: Store, case: TableCase) -> None:
    before = _seed(store, case)
    rows = case.make()
    fix = _corrected(rows.iloc[[1]], case.corrected)
    for column in case.spec.bookkeeping:
        fix[column] = SEEN_AGAIN

    result = case.write(store, fix)

    assert result == WriteResult(updated=1)
    expected = pd.concat([rows.drop(index=1), fix]).reset_index(drop=True)
    after = case.read(store)
    assert len(after) == len(before)
    assert_same_rows(after, expected, case.spec)


def test_mixed_batch_counts_inserted_updated_and_unchanged_rows(
    store: Store, case: TableCase
) -> None:
    _seed(store, case)
    rows = case.make()
    batch = pd.concat(
        [
            rows.drop(index=2),
            _corrected(rows.iloc[[2]], case.corrected),
            _new_key(rows.iloc[[0]], case.spec),
        ]
    ).reset_index(drop=True)

    result = case.write(store, batch)

    assert result == WriteResult(inserted=1, updated=1, unchanged=len(rows) - 1)
    assert_same_rows(case.read(store), batch, case.spec)


def test_writing_no_rows_changes_nothing(store: Store, case: TableCase) -> None:
    before = _seed(store, case)

    result = case.write(store, case.make().iloc[0:0])

    assert result == WriteResult()
    pd.testing.assert_frame_equal(case.read(store), before)


def _bad_batch(case: TableCase, bad: pd.DataFrame) -> pd.DataFrame:
    """A correction of a stored row, a new row, then ``bad``: nothing of it may be written."""
    rows = case.make()
    good = [_corrected(rows.iloc[[0]], case.corrected), _new_key(rows.iloc[[1]], case.spec)]
    return pd.concat([*good, bad]).reset_index(drop=True)


@pytest.mark.parametrize(("table", "column"), REQUIRED, ids=[f"{t}.{c}" for t, c in REQUIRED])
def test_missing_required_value_fails_the_whole_batch(
    store: Store, table: str, column: str
) -> None:
    case = CASES[table]
    before = _seed(store, case)
    bad = _new_key(case.make().iloc[[2]], case.spec)
    bad[column] = None
    batch = _bad_batch(case, bad)

    with pytest.raises(StoreError, match=column):
        case.write(store, batch)

    pd.testing.assert_frame_equal(case.read(store), before, check_exact=True)


def test_duplicate_keys_in_one_batch_fail_the_whole_batch(store: Store, case: TableCase) -> None:
    before = _seed(store, case)
    new = _new_key(case.make().iloc[[2]], case.spec)
    batch = _bad_batch(case, pd.concat([new, _corrected(new, case.corrected)]))

    with pytest.raises(StoreError, match="key"):
        case.write(store, batch)

    pd.testing.assert_frame_equal(case.read(store), before, check_exact=True)


def _batch_the_database_refuses(case: TableCase) -> pd.DataFrame:
    # Text in a float column: the database notices, not the checks ahead of the transaction.
    bad = _new_key(case.make().iloc[[2]], case.spec)
    bad[case.numeric] = pd.Series(["not a number"], index=bad.index, dtype=object)
    batch = _bad_batch(case, bad)
    batch[case.numeric] = batch[case.numeric].astype(object)
    return batch


def test_value_the_database_refuses_rolls_back_the_whole_batch(
    store: Store, case: TableCase
) -> None:
    before = _seed(store, case)

    with pytest.raises(StoreError, match="nothing was written"):
        case.write(store, _batch_the_database_refuses(case))

    pd.testing.assert_frame_equal(case.read(store), before, check_exact=True)


@pytest.mark.parametrize(
    ("table", "bookkeeping"), [("bars", "ingested_at"), ("predictions", "created_at")]
)
def test_failure_while_inserting_the_last_row_rolls_back_the_rows_before_it(
    store: Store, table: str, bookkeeping: str
) -> None:
    # Bookkeeping values are never compared, so only inserting the bad row can fail: the
    # correction and the new row ahead of it in the batch must be undone.
    case = CASES[table]
    before = _seed(store, case)
    bad = _new_key(case.make().iloc[[2]], case.spec)
    bad[bookkeeping] = pd.Series(["not a time"], index=bad.index, dtype=object)
    batch = _bad_batch(case, bad)
    batch[bookkeeping] = batch[bookkeeping].astype(object)

    with pytest.raises(StoreError, match="nothing was written"):
        case.write(store, batch)

    pd.testing.assert_frame_equal(case.read(store), before, check_exact=True)


def test_store_accepts_writes_after_a_failed_one(store: Store, case: TableCase) -> None:
    _seed(store, case)
    with pytest.raises(StoreError):
        case.write(store, _batch_the_database_refuses(case))

    new = _new_key(case.make().iloc[[1]], case.spec)
    assert case.write(store, new) == WriteResult(inserted=1)
    assert len(case.read(store)) == len(case.make()) + 1


def test_rows_given_in_reverse_order_are_written(store: Store) -> None:
    case = CASES["bars"]
    rows = case.make()

    result = case.write(store, rows.iloc[::-1])

    assert result == WriteResult(inserted=len(rows))
    assert_same_rows(case.read(store), rows, case.spec)


def test_frame_without_a_contract_column_is_refused(store: Store, case: TableCase) -> None:
    # A feature set's columns are whatever its first write brings, except the key.
    column = case.spec.key[-1] if case.table is not None else case.corrected
    rows = case.make().drop(columns=[column])

    with pytest.raises(StoreError, match=column):
        case.write(store, rows)

    assert case.read(store).empty


def test_naive_timestamps_in_written_rows_are_refused(store: Store) -> None:
    accepted = []
    for case in CASES.values():
        for column in _time_columns(case.spec):
            rows = case.make()
            rows[column] = rows[column].dt.tz_convert("UTC").dt.tz_localize(None)
            try:
                case.write(store, rows)
            except StoreError:
                continue
            accepted.append(f"{case.name}.{column}")
    assert accepted == []


# -- reads -----------------------------------------------------------------------------------

# (table, time column the start/end/as_of filters apply to)
TIMED = [
    ("bars", "ts"),
    ("headlines", "published_at"),
    ("features", "ts"),
    ("predictions", "as_of"),
]
AS_OF = [("bars", "ts"), ("headlines", "published_at")]


@pytest.mark.parametrize(("table", "time"), TIMED)
def test_reads_filter_by_tickers_start_and_end_inclusive(
    store: Store, table: str, time: str
) -> None:
    case = CASES[table]
    rows = case.make()
    case.write(store, rows)
    times = sorted(rows[time].unique())
    start, end = times[1], times[-1]

    stored = case.read(store, tickers=["BBB"], start=start, end=end)

    expected = rows[(rows["ticker"] == "BBB") & (rows[time] >= start) & (rows[time] <= end)]
    assert len(expected) > 0
    assert_same_rows(stored, expected, case.spec)


@pytest.mark.parametrize(("table", "time"), TIMED)
def test_reads_without_filters_return_every_ticker_sorted_by_ticker_and_time(
    store: Store, table: str, time: str
) -> None:
    case = CASES[table]
    rows = case.make()
    case.write(store, rows.sample(frac=1.0, random_state=7))

    stored = case.read(store)

    keys = list(zip(stored["ticker"], stored[time], strict=True))
    assert keys == sorted(keys)
    assert set(stored["ticker"]) == set(TICKERS)


@pytest.mark.parametrize(("table", "time"), AS_OF)
def test_as_of_excludes_rows_after_it_and_keeps_rows_at_it(
    store: Store, table: str, time: str
) -> None:
    case = CASES[table]
    rows = case.make()
    case.write(store, rows)
    as_of = sorted(rows[time].unique())[1]

    stored = case.read(store, as_of=as_of)

    assert_same_rows(stored, rows[rows[time] <= as_of], case.spec)
    assert (stored[time] <= as_of).all()
    assert (stored[time] == as_of).any()


def test_read_features_returns_only_the_asked_feature_set(store: Store) -> None:
    rows = _features()
    other = rows.loc[:, ["ticker", "ts"]].assign(vol_20=1.0)
    store.write_features(FEATURE_SET, rows)
    store.write_features("volatility", other)

    stored = store.read_features(feature_set=FEATURE_SET)

    assert list(stored.columns) == ["ticker", "ts", "rsi_14", "ret_5"]
    assert_same_rows(stored, rows, CASES["features"].spec)
    assert list(store.read_features(feature_set="volatility").columns) == ["ticker", "ts", "vol_20"]
    assert store.feature_sets() == {FEATURE_SET: ("rsi_14", "ret_5"), "volatility": ("vol_20",)}


def test_a_feature_set_never_written_reads_empty(store: Store) -> None:
    stored = store.read_features(feature_set="nothing@1", tickers=["AAA"])

    assert stored.empty
    assert list(stored.columns) == ["ticker", "ts"]
    assert store.feature_coverage("nothing@1").empty
    assert store.feature_sets() == {}


def test_feature_coverage_gives_first_last_and_rows_per_ticker(store: Store) -> None:
    rows = _features()
    store.write_features(FEATURE_SET, rows.iloc[1:])

    coverage = store.feature_coverage(FEATURE_SET)

    assert list(coverage["ticker"]) == sorted(TICKERS)
    first = coverage.set_index("ticker")
    assert first.loc[TICKERS[0], "first"] == DAYS[1]
    assert first.loc[TICKERS[1], "first"] == DAYS[0]
    assert (first["last"] == DAYS[-1]).all()
    assert first["rows"].sum() == len(rows) - 1


@pytest.mark.parametrize(
    "columns",
    [["rsi_14"], ["rsi_14", "ret_5", "extra"], ["ret_5", "rsi_14"]],
    ids=["missing", "added", "reordered"],
)
def test_a_feature_set_keeps_its_columns(store: Store, columns: list[str]) -> None:
    store.write_features(FEATURE_SET, _features())
    changed = _features().assign(extra=1.0).loc[:, ["ticker", "ts", *columns]]
    changed["ts"] = changed["ts"] + pd.Timedelta(days=7)

    with pytest.raises(StoreError, match="new version"):
        store.write_features(FEATURE_SET, changed)

    assert len(store.read_features(feature_set=FEATURE_SET)) == len(_features())


@pytest.mark.parametrize("name", ["Bad Name", "1st", "Upper", "x" * 64, "drop;table"])
def test_a_feature_name_that_is_not_an_identifier_is_refused(store: Store, name: str) -> None:
    rows = _features().loc[:, ["ticker", "ts"]].assign(value=1.0).rename(columns={"value": name})
    with pytest.raises(StoreError, match="identifier"):
        store.write_features("odd", rows)

    assert store.feature_sets() == {}


def test_a_feature_value_that_is_not_a_number_is_refused(store: Store) -> None:
    rows = _features()
    rows["ret_5"] = rows["ret_5"].astype(object)
    rows.loc[3, "ret_5"] = "high"

    with pytest.raises(StoreError, match="not a number"):
        store.write_features(FEATURE_SET, rows)

    assert store.read_features(feature_set=FEATURE_SET).empty


def _revision(frame: pd.DataFrame, *, released_at: pd.Timestamp, value: float) -> pd.DataFrame:
    return frame.assign(released_at=released_at, value=value)


def test_read_macro_as_of_returns_the_latest_revision_released_by_then(store: Store) -> None:
    first = _macro()
    cpi_dec = first[(first["series_id"] == "CPI") & (first["period"] == dt.date(2023, 12, 1))]
    revised_at = pd.Timestamp("2024-02-15 13:30", tz="UTC")
    store.write_macro(pd.concat([first, _revision(cpi_dec, released_at=revised_at, value=999.0)]))

    def cpi_dec_at(as_of: pd.Timestamp | None) -> list[float]:
        frame = store.read_macro(series_ids=["CPI"], as_of=as_of)
        return frame.loc[frame["period"] == dt.date(2023, 12, 1), "value"].tolist()

    released = cpi_dec["released_at"].iloc[0]
    assert cpi_dec_at(released - pd.Timedelta(microseconds=1)) == []
    assert cpi_dec_at(released) == [302.0]
    assert cpi_dec_at(revised_at - pd.Timedelta(seconds=1)) == [302.0]
    assert cpi_dec_at(revised_at) == [999.0]
    assert cpi_dec_at(None) == [999.0]


def test_read_macro_gives_one_value_per_series_and_period(store: Store) -> None:
    first = _macro()
    later = pd.Timestamp("2024-03-01", tz="UTC")
    store.write_macro(pd.concat([first, _revision(first, released_at=later, value=-1.0)]))

    stored = store.read_macro()

    assert not stored.duplicated(["series_id", "period"]).any()
    assert len(stored) == len(first)
    assert (stored["value"] == -1.0).all()


def test_macro_revision_released_after_as_of_does_not_change_the_value_at_as_of(
    store: Store,
) -> None:
    # Point in time (DESIGN invariant 1): data released after t never changes what t sees.
    store.write_macro(_macro())
    as_of = pd.Timestamp("2024-01-20", tz="UTC")
    seen = store.read_macro(as_of=as_of)
    assert len(seen) > 0

    later = as_of + pd.Timedelta(microseconds=1)
    revisions = _revision(_macro(), released_at=later, value=-7.0)
    new_period = _macro().iloc[[0]].assign(period=dt.date(2023, 9, 1), released_at=later)
    store.write_macro(pd.concat([revisions, new_period]))

    pd.testing.assert_frame_equal(store.read_macro(as_of=as_of), seen, check_exact=True)
    assert (store.read_macro()["value"] == -7.0).sum() == len(_macro())


def test_read_macro_filters_by_series(store: Store) -> None:
    store.write_macro(_macro())

    stored = store.read_macro(series_ids=["VIX"])

    assert set(stored["series_id"]) == {"VIX"}
    assert len(stored) == 3


NAIVE = pd.Timestamp("2024-01-03 21:00")
NAIVE_READS: dict[str, Callable[[Store], object]] = {
    "bars-as_of": lambda s: s.read_bars(as_of=NAIVE),
    "bars-start": lambda s: s.read_bars(start=NAIVE),
    "bars-end": lambda s: s.read_bars(end=NAIVE),
    "headlines-as_of": lambda s: s.read_headlines(as_of=NAIVE),
    "macro-as_of": lambda s: s.read_macro(as_of=NAIVE),
    "features-start": lambda s: s.read_features(feature_set=FEATURE_SET, start=NAIVE),
    "predictions-end": lambda s: s.read_predictions(end=NAIVE),
}


@pytest.mark.parametrize("read", NAIVE_READS.values(), ids=NAIVE_READS.keys())
def test_naive_timestamp_in_a_read_is_refused(
    store: Store, read: Callable[[Store], object]
) -> None:
    with pytest.raises(StoreError, match="time zone"):
        read(store)


def test_bar_coverage_gives_first_last_rows_and_sources_per_ticker(store: Store) -> None:
    rows = _bars()
    rows.loc[rows["ticker"] == "AAA", "source"] = ["vendor-b", "vendor-a", "vendor-b"]
    store.write_bars(rows)

    coverage = store.bar_coverage()

    assert list(coverage.columns) == ["ticker", "first", "last", "rows", "sources"]
    assert coverage["ticker"].tolist() == ["AAA", "BBB"]
    assert coverage["first"].tolist() == [DAYS[0], DAYS[0]]
    assert coverage["last"].tolist() == [DAYS[-1], DAYS[-1]]
    assert coverage["rows"].tolist() == [3, 3]
    assert coverage["sources"].tolist() == ["vendor-a,vendor-b", "test"]


def test_bar_coverage_of_an_empty_store_is_empty(store: Store) -> None:
    assert store.bar_coverage().empty


def test_has_ticker_says_whether_any_bar_of_it_is_stored(store: Store) -> None:
    assert not store.has_ticker("AAA")
    store.write_bars(_bars())

    assert store.has_ticker("AAA")
    assert not store.has_ticker("aaa")  # symbols are stored upper-case; the caller normalises
    assert not store.has_ticker("ZZZ")


def test_latest_headlines_are_one_tickers_newest_first_up_to_the_limit(store: Store) -> None:
    rows = _headlines()
    # Two headlines of one instant: the tie is broken by id, so the order is stable.
    rows = pd.concat([rows, rows.iloc[[5]].assign(id="n9", title="BBB tied")], ignore_index=True)
    store.write_headlines(rows)

    newest = store.latest_headlines(ticker="BBB", limit=3)

    assert list(newest.columns) == list(TABLES["headlines"].names)
    assert newest["id"].tolist() == ["n2", "n9", "n1"]
    assert newest["published_at"].tolist() == [
        DAYS[2] - pd.Timedelta(hours=3),
        DAYS[2] - pd.Timedelta(hours=3),
        DAYS[1] - pd.Timedelta(hours=3),
    ]
    assert str(newest["published_at"].dt.tz) == "UTC"
    assert set(newest["ticker"]) == {"BBB"}
    assert pd.isna(newest["url"].iloc[2])
    assert np.isnan(newest["sentiment"].iloc[0])
    assert newest["sentiment"].iloc[2] == pytest.approx(0.0)
    assert len(store.latest_headlines(ticker="BBB", limit=1)) == 1
    assert store.latest_headlines(ticker="ZZZ", limit=5).empty
    assert list(store.latest_headlines(ticker="ZZZ", limit=5).columns) == list(
        TABLES["headlines"].names
    )


# -- schema ----------------------------------------------------------------------------------


def test_new_store_is_at_the_current_schema_version(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION


def test_reopened_store_keeps_its_data_and_does_not_migrate_again(
    persistent_backend: Backend, tmp_path: Path
) -> None:
    location = tmp_path / "store"
    first = persistent_backend.open(location, _clock(OPENED_AT))
    first.write_bars(_bars())
    before = first.read_bars()
    first.close()

    again = persistent_backend.open(location, _clock(REOPENED_AT))
    try:
        assert again.schema_version() == SCHEMA_VERSION
        pd.testing.assert_frame_equal(again.read_bars(), before, check_exact=True)
    finally:
        again.close()

    assert persistent_backend.execute is not None
    applied = persistent_backend.execute(
        location,
        "SELECT version, CAST(applied_at AS VARCHAR) FROM stockpred_schema ORDER BY version",
    )
    assert [version for version, _ in applied] == list(range(1, SCHEMA_VERSION + 1))
    assert {pd.Timestamp(at) for _, at in applied} == {pd.Timestamp(OPENED_AT)}


def test_store_with_a_newer_schema_than_the_code_refuses_to_open(
    persistent_backend: Backend, tmp_path: Path
) -> None:
    location = tmp_path / "store"
    persistent_backend.open(location, _clock(OPENED_AT)).close()
    assert persistent_backend.execute is not None
    persistent_backend.execute(
        location,
        f"INSERT INTO stockpred_schema VALUES ({SCHEMA_VERSION + 1}, TIMESTAMPTZ '2030-01-01')",
    )

    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade"):
        persistent_backend.open(location, _clock(REOPENED_AT))


# -- Parquet export --------------------------------------------------------------------------


def test_exported_parquet_holds_the_same_rows_as_the_table(
    store: Store, case: TableCase, tmp_path: Path
) -> None:
    stored = _seed(store, case)

    path = store.export_parquet(case.spec.name, tmp_path / "export")

    exported = pd.read_parquet(path)
    assert list(exported.columns) == list(case.spec.names)
    for column in _time_columns(case.spec):
        assert str(exported[column].dt.tz) == "UTC", column
    assert_same_rows(exported, stored, case.spec)


def test_bars_exported_by_ticker_are_one_folder_per_ticker(store: Store, tmp_path: Path) -> None:
    store.write_bars(_bars())

    path = store.export_parquet("bars", tmp_path / "export", partition_by="ticker")

    assert sorted(p.name for p in path.iterdir()) == [f"ticker={t}" for t in TICKERS]
    back = pd.read_parquet(path)
    assert len(back) == len(_bars())


def test_export_of_an_unknown_table_or_partition_column_is_refused(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="unknown table"):
        store.export_parquet("trades", tmp_path)
    with pytest.raises(StoreError, match="cannot partition"):
        store.export_parquet("macro", tmp_path, partition_by="ticker")


# -- deleting archived bars ------------------------------------------------------------------


def test_delete_bars_removes_only_bars_before_the_cutoff(store: Store) -> None:
    store.write_bars(_bars())
    cutoff = DAYS[1].tz_convert("UTC")

    deleted = store.delete_bars(before=cutoff)

    left = store.read_bars()
    assert deleted == len(TICKERS)  # the first day of each ticker
    assert (left["ts"] >= cutoff).all()
    assert len(left) == len(_bars()) - len(TICKERS)
    assert store.delete_bars(before=cutoff) == 0


def test_read_intraday_bars_filters_by_tickers_and_times_inclusive(store: Store) -> None:
    frame = _intraday_bars()
    store.write_intraday_bars(frame)
    start, end = frame["ts"].min() + pd.Timedelta(days=1), frame["ts"].max()
    got = store.read_intraday_bars(tickers=[TICKERS[0]], start=start, end=end)
    want = frame[(frame["ticker"] == TICKERS[0]) & (frame["ts"] >= start) & (frame["ts"] <= end)]
    assert list(got["ts"]) == sorted(want["ts"])
    assert len(store.read_intraday_bars()) == len(frame)
    assert store.read_bars().empty  # intraday bars are not session bars


def test_delete_bars_refuses_a_naive_cutoff(store: Store) -> None:
    with pytest.raises(StoreError, match="time zone"):
        store.delete_bars(before=pd.Timestamp("2024-01-03"))


# -- sentiment aggregates, point in time ----------------------------------------------------


def test_read_sentiment_as_of_returns_the_aggregate_known_then(store: Store) -> None:
    first = _sentiment().iloc[[0]]
    # The same day recomputed after a later headline: a new row, not an overwrite.
    later = first.assign(
        mean=0.9, count=9, released_at=first["released_at"] + pd.Timedelta(hours=5)
    )
    store.write_sentiment(pd.concat([first, later], ignore_index=True))
    between = first["released_at"].iloc[0] + pd.Timedelta(hours=1)

    then = store.read_sentiment(scorer=SCORER, as_of=between)
    now = store.read_sentiment(scorer=SCORER)

    assert list(then["mean"]) == [first["mean"].iloc[0]]
    assert list(now["mean"]) == [0.9]
    assert store.read_sentiment(scorer="other").empty
