"""The embedded store: one DuckDB file, tables exportable to Parquet.

DuckDB is a single-writer database: one process holds the file at a time; a second one gets a
clear error rather than a corrupted file. A write that fails (a full disk, say) leaves the file as
it was: the transaction is rolled back, best-effort, and the error says why in one line.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import duckdb
import pandas as pd
import pyarrow as pa
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from stockpred.domain.errors import StoreError
from stockpred.store.base import WriteResult
from stockpred.store.checks import (
    check_batch,
    check_features,
    empty_feature_coverage,
    empty_features,
    utc_timestamp,
)
from stockpred.store.schema import (
    FEATURE_SETS,
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    FeatureRegistry,
    TableSpec,
    monitoring_table,
)

__all__ = ["DuckDBStore", "file_change_token"]

_SCHEMA_TABLE = "stockpred_schema"
# How the operating system says a disk (or the user's quota) is full, as DuckDB passes it on.
_DISK_FULL = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))


def file_change_token(path: Path | str) -> tuple[int, ...]:
    """What changes when a process writes the DuckDB file at ``path``: the modification time
    and size of the file and of its write-ahead log, read from the file system. Reading it
    neither opens the file nor takes its lock, so a server can watch for writes made by other
    processes as often as it likes; an unchanged token means nothing was written."""
    token: list[int] = []
    for name in (str(path), f"{path}.wal"):
        try:
            found = os.stat(name)
        except FileNotFoundError:
            token += [0, 0]
        else:
            token += [found.st_mtime_ns, found.st_size]
    return tuple(token)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _is_lock_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def _disk_full(error: BaseException) -> str | None:
    """The system's words when ``error`` says the disk is full (No space left on device)."""
    text = str(error)
    return next((reason for reason in _DISK_FULL if reason in text), None)


def _connect(path: str, *, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Connect, waiting up to ``wait_seconds`` while another process holds the file.

    One process at a time may write a DuckDB file, and the serving process opens it for a
    moment every few seconds (pipeline/serving.py): a command started in that moment waits
    for it instead of failing.
    """
    for attempt in Retrying(
        retry=retry_if_exception(_is_lock_conflict),
        stop=stop_after_delay(wait_seconds),
        wait=wait_fixed(0.05),
        reraise=True,
    ):
        with attempt:
            return duckdb.connect(path)
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


class DuckDBStore:
    """Store on a DuckDB file (or ``":memory:"``). Migrates forward on open."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], datetime] = _utc_now,
        lock_wait_seconds: float = 10.0,
    ) -> None:
        self._path = str(path)
        self._clock = clock
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        new = self._path != ":memory:" and not Path(self._path).exists()
        try:
            self._con = _connect(self._path, wait_seconds=lock_wait_seconds)
        except duckdb.IOException as exc:
            if _disk_full(exc):
                if new:
                    self._discard_files()
                raise self._write_failure(exc, undone="the store was not created") from exc
            raise StoreError(
                f"cannot open the store {self._path}: {str(exc).splitlines()[0]}; if another "
                "stockpred process is using it, wait for it to finish"
            ) from exc
        except duckdb.Error as exc:
            raise StoreError(
                f"{self._path} is not a usable DuckDB store: {str(exc).splitlines()[0]}; "
                "point STOCKPRED_DUCKDB_PATH elsewhere or move the file aside"
            ) from exc
        try:
            self._con.execute("SET TimeZone = 'UTC'")
            self._migrate()
        except BaseException as exc:
            # Release the file lock at once, not whenever the exception is collected.
            with suppress(duckdb.Error):
                self._con.close()
            if new and isinstance(exc.__cause__, duckdb.Error) and _disk_full(exc.__cause__):
                self._discard_files()
            raise

    def _discard_files(self) -> None:
        """Remove the file (and log) of a store this process began to create on a full disk:
        left empty, it would refuse every later open as not a DuckDB file."""
        for leftover in (Path(self._path), Path(f"{self._path}.wal")):
            with suppress(OSError):
                leftover.unlink(missing_ok=True)

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # The error under way is the one to report, not a second one from closing after it.
        with suppress(StoreError):
            self.close()

    def close(self) -> None:
        try:
            self._con.close()
        except duckdb.Error as exc:
            raise StoreError(f"closing the store {self._path} failed: {exc}") from exc

    def _rollback(self) -> None:
        """Roll the transaction back, best-effort: a failed COMMIT has already ended it (DuckDB
        then refuses ROLLBACK), and the error worth reporting is the one that led here."""
        with suppress(duckdb.Error):
            self._con.execute("ROLLBACK")

    def _unregister(self, view: str) -> None:
        # Best-effort too: after a fatal write error DuckDB refuses every call on the connection.
        with suppress(duckdb.Error):
            self._con.unregister(view)

    def _write_failure(self, exc: duckdb.Error, *, undone: str) -> StoreError:
        """The one-line error of a write that failed because the disk is full."""
        return StoreError(
            f"could not write to the store at {self._path}: {_disk_full(exc)}; {undone}; free "
            "space on that disk or point STOCKPRED_DUCKDB_PATH (or STOCKPRED_HOME) at another one"
        )

    @property
    def path(self) -> str:
        return self._path

    def _migrate(self) -> None:
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {_SCHEMA_TABLE} "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self._path} is at schema version {current}, newer than this "
                f"stockpred knows ({SCHEMA_VERSION}); upgrade stockpred"
            )
        for version in sorted(v for v in MIGRATIONS if v > current):
            try:
                self._con.execute("BEGIN TRANSACTION")
                for statement in MIGRATIONS[version]:
                    self._con.execute(statement)
                self._con.execute(
                    f"INSERT INTO {_SCHEMA_TABLE} VALUES (?, ?)", [version, self._clock()]
                )
                self._con.execute("COMMIT")
            except duckdb.Error as exc:
                self._rollback()
                if _disk_full(exc):
                    raise self._write_failure(
                        exc, undone=f"the migration to schema version {version} was not applied"
                    ) from exc
                raise StoreError(
                    f"migration to schema version {version} failed on {self._path}: {exc}"
                ) from exc

    def schema_version(self) -> int:
        # fetchall: DuckDB refuses new work on a connection with a half-read result.
        rows = self._con.execute(
            f"SELECT coalesce(max(version), 0) FROM {_SCHEMA_TABLE}"
        ).fetchall()
        return int(rows[0][0])

    # -- writes ----------------------------------------------------------------------------

    def _upsert(self, spec: TableSpec, frame: pd.DataFrame) -> WriteResult:
        data = check_batch(spec, frame)
        if data.empty:
            return WriteResult()
        keys = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in spec.compared) or "FALSE"
        differs_excluded = (
            " OR ".join(f"{spec.name}.{c} IS DISTINCT FROM excluded.{c}" for c in spec.compared)
            or "FALSE"
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in spec.names if c not in spec.key)
        cols = ", ".join(spec.names)
        view = f"_staged_{spec.name}"
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            con.register(view, data)
            counted = con.execute(
                f"SELECT count(*) FILTER (WHERE t.{spec.key[0]} IS NULL), "
                f"count(*) FILTER (WHERE t.{spec.key[0]} IS NOT NULL AND ({differs})) "
                f"FROM {view} s LEFT JOIN {spec.name} t ON {keys}"
            ).fetchall()[0]
            inserted, updated = int(counted[0]), int(counted[1])
            con.execute(
                f"INSERT INTO {spec.name} ({cols}) SELECT {cols} FROM {view} "
                f"ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {updates} "
                f"WHERE {differs_excluded}"
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            self._rollback()
            if _disk_full(exc):
                batch = f"{len(data):,} rows of {spec.name}"
                raise self._write_failure(
                    exc, undone=f"nothing of this batch ({batch}) was written"
                ) from exc
            raise StoreError(
                f"writing {len(data)} rows to {spec.name} failed and nothing was written: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        finally:
            self._unregister(view)
        return WriteResult(inserted, updated, len(data) - inserted - updated)

    def write_bars(self, bars: pd.DataFrame) -> WriteResult:
        return self._upsert(TABLES["bars"], bars)

    def write_intraday_bars(self, bars: pd.DataFrame) -> WriteResult:
        return self._upsert(TABLES["intraday_bars"], bars)

    def write_headlines(self, headlines: pd.DataFrame) -> WriteResult:
        return self._upsert(TABLES["headlines"], headlines)

    def write_macro(self, points: pd.DataFrame) -> WriteResult:
        return self._upsert(TABLES["macro"], points)

    def write_sentiment(self, daily: pd.DataFrame) -> WriteResult:
        return self._upsert(TABLES["sentiment_daily"], daily)

    def read_sentiment(
        self,
        *,
        scorer: str,
        tickers: Sequence[str] | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        where, params = self._range(
            "released_at", tickers=tickers, start=None, end=None, as_of=as_of
        )
        where.append("scorer = $scorer")
        params["scorer"] = scorer
        spec = TABLES["sentiment_daily"]
        return self._select(
            f"SELECT {', '.join(spec.names)} FROM sentiment_daily WHERE {' AND '.join(where)} "
            "QUALIFY row_number() OVER (PARTITION BY ticker, day ORDER BY released_at DESC) = 1 "
            "ORDER BY ticker, day",
            params,
        )

    # -- features: one wide table per set, without a key index --------------------------------

    def _registry(self) -> FeatureRegistry:
        return FeatureRegistry.of(
            self._con.execute(
                f"SELECT table_name, feature_set, columns FROM {FEATURE_SETS.name}"
            ).fetchall()
        )

    def feature_sets(self) -> dict[str, tuple[str, ...]]:
        return self._registry().sets

    def write_features(self, feature_set: str, frame: pd.DataFrame) -> WriteResult:
        """Upsert into the set's table. The table has no primary-key index (maintaining one
        doubles the cost of a bulk build); keys stay unique because the batch is checked for
        repeats and every row whose key is stored is replaced or skipped in one transaction,
        and DuckDB has one writer at a time."""
        registry = self._registry()
        stored = registry.columns(feature_set)
        spec, data = check_features(feature_set, frame, registry=registry)
        if data.empty:
            return WriteResult()
        cols = ", ".join(f'"{c}"' for c in spec.names)
        keys = " AND ".join(f't."{k}" = s."{k}"' for k in spec.key)
        differs = " OR ".join(f't."{c}" IS DISTINCT FROM s."{c}"' for c in spec.compared)
        view = "_staged_features"
        con = self._con
        # Arrow turns NaN into null: a feature undefined at a date is stored as null.
        staged = pa.Table.from_pandas(data, preserve_index=False)
        # Stored rows the batch could meet. Rows are kept in (ticker, ts) order of writing, so
        # DuckDB's per-row-group min/max skip the rest: a batch of new tickers joins nothing.
        tickers = data["ticker"]
        bounds = {
            "lo": str(tickers.min()),
            "hi": str(tickers.max()),
            "first": data["ts"].min(),
            "last": data["ts"].max(),
        }
        near = (
            f"(SELECT * FROM {spec.name} WHERE ticker BETWEEN $lo AND $hi "
            "AND ts BETWEEN $first AND $last)"
        )
        insert = f"INSERT INTO {spec.name} ({cols}) SELECT {cols} FROM {view}"
        try:
            con.execute("BEGIN TRANSACTION")
            con.register(view, staged)
            if stored is None:
                con.execute(spec.create_sql(primary_key=False))
                con.execute(
                    f"INSERT INTO {FEATURE_SETS.name} VALUES (?, ?, ?, ?)",
                    [feature_set, spec.name, ",".join(spec.compared), self._clock()],
                )
                inserted, updated = len(data), 0
                con.execute(insert)
            else:
                counted = con.execute(
                    "SELECT count(*) FILTER (WHERE t.ticker IS NULL), "
                    f"count(*) FILTER (WHERE t.ticker IS NOT NULL AND ({differs})) "
                    f"FROM {view} s LEFT JOIN {near} t ON {keys}",
                    bounds,
                ).fetchall()[0]
                inserted, updated = int(counted[0]), int(counted[1])
                if updated:
                    con.execute(
                        f"DELETE FROM {spec.name} t USING {view} s WHERE {keys} AND ({differs})"
                    )
                if inserted == len(data):
                    con.execute(insert)
                elif inserted or updated:
                    con.execute(
                        f"{insert} s WHERE NOT EXISTS (SELECT 1 FROM {near} t WHERE {keys})",
                        bounds,
                    )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            self._rollback()
            if _disk_full(exc):
                raise self._write_failure(
                    exc,
                    undone=f"nothing of this batch ({len(data):,} rows of feature set "
                    f"{feature_set}) was written",
                ) from exc
            raise StoreError(
                f"writing {len(data)} rows of feature set {feature_set} failed and nothing was "
                f"written: {str(exc).splitlines()[0]}"
            ) from exc
        finally:
            self._unregister(view)
        return WriteResult(inserted, updated, len(data) - inserted - updated)

    def read_features(
        self,
        *,
        feature_set: str,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        where, params = self._range("ts", tickers=tickers, start=start, end=end, as_of=None)
        spec = self._registry().spec(feature_set)
        if spec is None:
            return empty_features()
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        cols = ", ".join(f'"{c}"' for c in spec.names)
        return self._select(f"SELECT {cols} FROM {spec.name} {clause} ORDER BY ticker, ts", params)

    def feature_coverage(self, feature_set: str) -> pd.DataFrame:
        spec = self._registry().spec(feature_set)
        if spec is None:
            return empty_feature_coverage()
        return self._select(
            f"SELECT ticker, min(ts) AS first, max(ts) AS last, count(*) AS rows FROM {spec.name} "
            "GROUP BY ticker ORDER BY ticker",
            {},
        )

    def write_predictions(self, predictions: pd.DataFrame) -> WriteResult:
        return self._upsert(TABLES["predictions"], predictions)

    # -- reads -----------------------------------------------------------------------------

    def _select(self, sql: str, params: dict[str, object]) -> pd.DataFrame:
        try:
            table = self._con.sql(sql, params=params or None).to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"reading the store failed: {str(exc).splitlines()[0]}") from exc
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def _read(
        self,
        spec: TableSpec,
        *,
        where: list[str],
        params: dict[str, object],
        order: Sequence[str],
        limit: int | None = None,
    ) -> pd.DataFrame:
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT {', '.join(spec.names)} FROM {spec.name} {clause} ORDER BY {', '.join(order)}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._select(sql, params)

    @staticmethod
    def _range(
        column: str,
        *,
        tickers: Sequence[str] | None,
        start: pd.Timestamp | None,
        end: pd.Timestamp | None,
        as_of: pd.Timestamp | None,
    ) -> tuple[list[str], dict[str, object]]:
        where: list[str] = []
        params: dict[str, object] = {}
        if tickers is not None:
            where.append("list_contains($tickers, ticker)")
            params["tickers"] = [t.upper() for t in tickers]
        for name, op, value in (("start", ">=", start), ("end", "<=", end), ("as_of", "<=", as_of)):
            if value is not None:
                where.append(f"{column} {op} ${name}")
                params[name] = utc_timestamp(value, name)
        return where, params

    def read_bars(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        where, params = self._range("ts", tickers=tickers, start=start, end=end, as_of=as_of)
        return self._read(TABLES["bars"], where=where, params=params, order=("ticker", "ts"))

    def delete_bars(self, *, before: pd.Timestamp) -> int:
        cutoff = utc_timestamp(before, "before")
        try:
            self._con.execute("BEGIN TRANSACTION")
            rows = self._con.execute("DELETE FROM bars WHERE ts < ?", [cutoff]).fetchall()
            self._con.execute("COMMIT")
        except duckdb.Error as exc:
            self._rollback()
            if _disk_full(exc):
                raise self._write_failure(exc, undone="no bar was deleted") from exc
            raise StoreError(f"deleting bars before {cutoff} failed: {exc}") from exc
        return int(rows[0][0]) if rows else 0

    def read_intraday_bars(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        where, params = self._range("ts", tickers=tickers, start=start, end=end, as_of=None)
        order = ("ticker", "interval", "ts")
        return self._read(TABLES["intraday_bars"], where=where, params=params, order=order)

    def bar_coverage(self) -> pd.DataFrame:
        return self._select(
            "SELECT ticker, min(ts) AS first, max(ts) AS last, count(*) AS rows, "
            "string_agg(DISTINCT source, ',' ORDER BY source) AS sources "
            "FROM bars GROUP BY ticker ORDER BY ticker",
            {},
        )

    def has_ticker(self, ticker: str) -> bool:
        sql = "SELECT 1 FROM bars WHERE ticker = $ticker LIMIT 1"
        return not self._select(sql, {"ticker": ticker}).empty

    def read_headlines(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        where, params = self._range(
            "published_at", tickers=tickers, start=start, end=end, as_of=as_of
        )
        return self._read(
            TABLES["headlines"], where=where, params=params, order=("ticker", "published_at", "id")
        )

    def latest_headlines(self, *, ticker: str, limit: int) -> pd.DataFrame:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        return self._read(
            TABLES["headlines"],
            where=["ticker = $ticker"],
            params={"ticker": ticker},
            order=("published_at DESC", "id"),
            limit=limit,
        )

    def read_macro(
        self,
        *,
        series_ids: Sequence[str] | None = None,
        as_of: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        where: list[str] = []
        params: dict[str, object] = {}
        if series_ids is not None:
            where.append("list_contains($series, series_id)")
            params["series"] = list(series_ids)
        if as_of is not None:
            where.append("released_at <= $as_of")
            params["as_of"] = utc_timestamp(as_of, "as_of")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        spec = TABLES["macro"]
        return self._select(
            f"SELECT {', '.join(spec.names)} FROM macro {clause} "
            "QUALIFY row_number() OVER (PARTITION BY series_id, period "
            "ORDER BY released_at DESC) = 1 ORDER BY series_id, period",
            params,
        )

    def read_predictions(
        self,
        *,
        tickers: Sequence[str] | None = None,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        where, params = self._range("as_of", tickers=tickers, start=start, end=end, as_of=None)
        return self._read(
            TABLES["predictions"],
            where=where,
            params=params,
            order=("ticker", "as_of", "horizon", "model"),
        )

    def write_monitoring(self, table: str, frame: pd.DataFrame) -> WriteResult:
        return self._upsert(monitoring_table(table), frame)

    def read_monitoring(
        self,
        table: str,
        *,
        horizon: int | None = None,
        model_version: str | None = None,
        start: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        spec = monitoring_table(table)
        where, params = self._range("session", tickers=None, start=start, end=None, as_of=None)
        for name, value in (("horizon", horizon), ("model_version", model_version)):
            if value is not None:
                where.append(f"{name} = ${name}")
                params[name] = value
        order = ("session", spec.key[-1], "horizon", "model_version")
        return self._read(spec, where=where, params=params, order=order)

    # -- files -----------------------------------------------------------------------------

    def _export_spec(self, table: str) -> TableSpec:
        if table in TABLES:
            return TABLES[table]
        registry = self._registry()
        found = registry.table(table)
        if found is not None:
            return found
        names = [*TABLES, *sorted(registry.owners)]
        raise StoreError(f"unknown table {table!r}; tables: {', '.join(names)}")

    def export_parquet(
        self, table: str, directory: Path, *, partition_by: str | None = None
    ) -> Path:
        spec = self._export_spec(table)
        if partition_by is not None and partition_by not in spec.names:
            raise StoreError(
                f"cannot partition {table} by {partition_by!r}; "
                f"its columns: {', '.join(spec.names)}"
            )
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / (table if partition_by else f"{table}.parquet")
        quoted = str(target).replace("'", "''")
        options = "FORMAT parquet"
        if partition_by:
            options += f", PARTITION_BY ({partition_by}), OVERWRITE_OR_IGNORE true"
        order = ", ".join(spec.key)
        try:
            self._con.execute(
                f"COPY (SELECT * FROM {table} ORDER BY {order}) TO '{quoted}' ({options})"
            )
        except duckdb.Error as exc:
            raise StoreError(
                f"exporting {table} to {target} failed: {str(exc).splitlines()[0]}"
            ) from exc
        return target
