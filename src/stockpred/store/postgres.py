"""The PostgreSQL store: the serving tables on a shared server, in one schema per deployment.

A write COPYs the batch into a temporary staging table and upserts from it with
``INSERT ... ON CONFLICT``, all in one transaction, so a batch is written whole or not at all.
Migrations run forward on open under an advisory lock, so processes opening the same schema at
once migrate it once. psycopg 3 is optional: install the ``postgres`` extra.

Messages never show the password of the URL; they name host, port, database and schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pa_dataset
import pyarrow.parquet as pa_parquet

from stockpred.domain.errors import StoreError
from stockpred.extras import import_optional
from stockpred.store.base import WriteResult
from stockpred.store.checks import (
    check_batch,
    check_features,
    empty_feature_coverage,
    empty_features,
    utc_timestamp,
)
from stockpred.store.postgres_copy import (
    COVERAGE_SCHEMA,
    FEATURE_COVERAGE_SCHEMA,
    arrow_schema,
    csv_payload,
    rows_to_frame,
    rows_to_table,
)
from stockpred.store.postgres_server import URL_SETTING, database_message, first_line, parse_server
from stockpred.store.schema import (
    FEATURE_SETS,
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    FeatureRegistry,
    TableSpec,
    monitoring_table,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

__all__ = ["PostgresStore"]

_SCHEMA_TABLE = "stockpred_schema"
_CONNECT_TIMEOUT_S = 10
# Rows per round trip when a whole table streams out (export).
_EXPORT_BATCH_ROWS = 100_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _lock_key(schema: str) -> int:
    digest = hashlib.blake2b(f"stockpred:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresStore:
    """Store on a PostgreSQL server, in ``schema`` (created when missing). Migrates forward on
    open; the version reached is kept in the schema's ``stockpred_schema`` table."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "public",
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        import_optional("psycopg", extra="postgres", purpose="the PostgreSQL store")
        import psycopg
        from psycopg.conninfo import make_conninfo

        if not schema:
            raise StoreError("the PostgreSQL store needs a schema name; got an empty one")
        self._server = parse_server(url)
        self._schema = schema
        self._clock = clock
        self._closed = False
        options: dict[str, str | int] = {}
        if "connect_timeout" not in self._server.given:
            options["connect_timeout"] = _CONNECT_TIMEOUT_S
        if "application_name" not in self._server.given:
            options["application_name"] = "stockpred"
        try:
            self._con: psycopg.Connection[TupleRow] = psycopg.connect(
                make_conninfo(url, **options), autocommit=True
            )
        except psycopg.Error as exc:
            raise StoreError(
                self._server.mask(
                    f"cannot connect to the PostgreSQL store at {self._server.address} "
                    f"(database {self._server.database}): {first_line(exc)}; check that the "
                    f"server runs and accepts connections there, and that {URL_SETTING} "
                    "names the right host, port, database and user"
                )
            ) from exc
        try:
            self._prepare_session()
            self._migrate()
        except BaseException:
            # Give the connection back at once, not whenever the exception is collected.
            self._con.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.location!r})"

    def close(self) -> None:
        self._closed = True
        self._con.close()

    @property
    def location(self) -> str:
        """Server, database and schema, without the password."""
        return self._server.describe(self._schema)

    @property
    def schema(self) -> str:
        return self._schema

    # -- plumbing ----------------------------------------------------------------------------

    def _failure(self, doing: str, exc: BaseException, *, hint: str = "") -> StoreError:
        import psycopg

        if self._closed:
            message = f"{doing} failed: the store {self.location} was closed; open it again"
        elif isinstance(exc, psycopg.OperationalError) and (self._con.closed or self._con.broken):
            message = (
                f"{doing} failed: the connection to the PostgreSQL server at "
                f"{self._server.address} is closed or lost ({first_line(exc)}); check that "
                f"the server runs and that {URL_SETTING} points at it, then open the store again"
            )
        else:
            message = f"{doing} failed{hint}: {database_message(exc)}"
        return StoreError(self._server.mask(message))

    @contextmanager
    def _cursor(self, doing: str) -> Iterator[psycopg.Cursor[TupleRow]]:
        """A cursor whose driver errors become StoreErrors that say what was being done."""
        import psycopg

        try:
            with self._con.cursor() as cursor:
                yield cursor
        except psycopg.Error as exc:
            raise self._failure(doing, exc) from exc

    @contextmanager
    def _transaction(self, doing: str, *, hint: str = "") -> Iterator[psycopg.Cursor[TupleRow]]:
        """A cursor in one transaction: committed at the end, rolled back on any error."""
        import psycopg

        try:
            with self._con.transaction(), self._con.cursor() as cursor:
                yield cursor
        except psycopg.Error as exc:
            raise self._failure(doing, exc, hint=hint) from exc

    def _prepare_session(self) -> None:
        from psycopg import sql

        with self._cursor(f"preparing a session on {self.location}") as cursor:
            cursor.execute("SET TimeZone TO 'UTC'")
            cursor.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))

    def _migrate(self) -> None:
        from psycopg import sql

        with self._transaction(
            f"migrating {self.location}", hint="; nothing was applied"
        ) as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(self._schema)])
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [self._schema])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self._schema)))
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {_SCHEMA_TABLE} "
                "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
            )
            current = self._version(cursor)
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the store {self.location} is at schema version {current}, newer than "
                    f"this stockpred knows ({SCHEMA_VERSION}); upgrade stockpred"
                )
            for version in sorted(v for v in MIGRATIONS if v > current):
                for statement in MIGRATIONS[version]:
                    cursor.execute(statement)
                cursor.execute(
                    f"INSERT INTO {_SCHEMA_TABLE} (version, applied_at) VALUES (%s, %s)",
                    [version, self._clock()],
                )

    @staticmethod
    def _version(cursor: psycopg.Cursor[TupleRow]) -> int:
        cursor.execute(f"SELECT coalesce(max(version), 0) FROM {_SCHEMA_TABLE}")
        row = cursor.fetchone()
        return int(row[0]) if row is not None else 0

    def schema_version(self) -> int:
        with self._cursor(f"reading the schema version of {self.location}") as cursor:
            return self._version(cursor)

    # -- writes ------------------------------------------------------------------------------

    def _upsert(
        self,
        spec: TableSpec,
        frame: pd.DataFrame,
        *,
        prelude: Sequence[tuple[str, Sequence[object]]] = (),
    ) -> WriteResult:
        """Upsert ``frame``; ``prelude`` statements run first in the same transaction."""
        data = check_batch(spec, frame)
        if data.empty:
            return WriteResult()
        payload = csv_payload(spec, data)
        staged = f"_staged_{spec.name}"
        cols = ", ".join(spec.names)
        keys = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in spec.compared) or "FALSE"
        differs_excluded = (
            " OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in spec.compared) or "FALSE"
        )
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in spec.names if c not in spec.key)
        on_conflict = (
            f"DO UPDATE SET {updates} WHERE {differs_excluded}" if updates else "DO NOTHING"
        )
        with self._transaction(
            f"writing {len(data)} rows to {spec.name}", hint=" and nothing was written"
        ) as cursor:
            for statement, params in prelude:
                cursor.execute(statement, params)
            # Dropped at commit; a rollback takes it away with everything else.
            cursor.execute(
                f"CREATE TEMP TABLE {staged} (LIKE {spec.name} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            with cursor.copy(f"COPY {staged} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(payload)
            cursor.execute(
                f"SELECT count(*) FILTER (WHERE t.{spec.key[0]} IS NULL), "
                f"count(*) FILTER (WHERE t.{spec.key[0]} IS NOT NULL AND ({differs})) "
                f"FROM {staged} s LEFT JOIN {spec.name} t ON {keys}"
            )
            counted = cursor.fetchone()
            inserted, updated = (int(counted[0]), int(counted[1])) if counted else (0, 0)
            # In key order: concurrent writers then lock shared rows in the same order and
            # cannot deadlock; the index also fills a little faster.
            cursor.execute(
                f"INSERT INTO {spec.name} AS t ({cols}) SELECT {cols} FROM {staged} "
                f"ORDER BY {', '.join(spec.key)} ON CONFLICT ({', '.join(spec.key)}) {on_conflict}"
            )
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
        where.append("scorer = %(scorer)s")
        params["scorer"] = scorer
        spec = TABLES["sentiment_daily"]
        return self._select(
            f"SELECT DISTINCT ON (ticker, day) {', '.join(spec.names)} FROM sentiment_daily "
            f"WHERE {' AND '.join(where)} ORDER BY ticker, day, released_at DESC",
            params,
            arrow_schema(spec),
        )

    # -- features: one wide table per set ----------------------------------------------------

    def _registry(self) -> FeatureRegistry:
        with self._cursor("reading the stored feature sets") as cursor:
            cursor.execute(f"SELECT table_name, feature_set, columns FROM {FEATURE_SETS.name}")
            return FeatureRegistry.of(cursor.fetchall())

    def feature_sets(self) -> dict[str, tuple[str, ...]]:
        return self._registry().sets

    def write_features(self, feature_set: str, frame: pd.DataFrame) -> WriteResult:
        registry = self._registry()
        stored = registry.columns(feature_set)
        spec, data = check_features(feature_set, frame, registry=registry)
        prelude: list[tuple[str, Sequence[object]]] = []
        if stored is None:
            # Two first writers of one set at once: the second waits, then finds the table.
            prelude = [
                ("SELECT pg_advisory_xact_lock(%s)", [_lock_key(f"{self._schema}:{spec.name}")]),
                (spec.create_sql().replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1), []),
                (
                    f"INSERT INTO {FEATURE_SETS.name} (feature_set, table_name, columns, "
                    "created_at) VALUES (%s, %s, %s, %s) ON CONFLICT (feature_set) DO NOTHING",
                    [feature_set, spec.name, ",".join(spec.compared), self._clock()],
                ),
            ]
        return self._upsert(spec, data, prelude=prelude)

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
        return self._read(spec, where=where, params=params, order=("ticker", "ts"))

    def feature_coverage(self, feature_set: str) -> pd.DataFrame:
        spec = self._registry().spec(feature_set)
        if spec is None:
            return empty_feature_coverage()
        return self._select(
            f"SELECT ticker, min(ts), max(ts), count(*) FROM {spec.name} GROUP BY ticker "
            "ORDER BY ticker",
            {},
            FEATURE_COVERAGE_SCHEMA,
        )

    def write_predictions(self, predictions: pd.DataFrame) -> WriteResult:
        return self._upsert(TABLES["predictions"], predictions)

    # -- reads -------------------------------------------------------------------------------

    def _select(self, sql: str, params: dict[str, object], schema: pa.Schema) -> pd.DataFrame:
        with self._cursor("reading the store") as cursor:
            cursor.execute(sql, params or None)
            rows = cursor.fetchall()
        return rows_to_frame(rows, schema)

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
        return self._select(sql, params, arrow_schema(spec))

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
            where.append("ticker = ANY(%(tickers)s)")
            params["tickers"] = [t.upper() for t in tickers]
        for name, op, value in (("start", ">=", start), ("end", "<=", end), ("as_of", "<=", as_of)):
            if value is not None:
                where.append(f"{column} {op} %({name})s")
                params[name] = _bound(value, name, lower=op == ">=")
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
        cutoff = _bound(before, "before", lower=True)
        with self._transaction(
            f"deleting bars before {cutoff.isoformat()}", hint="; nothing was deleted"
        ) as cursor:
            cursor.execute("DELETE FROM bars WHERE ts < %(before)s", {"before": cutoff})
            return cursor.rowcount

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
            COVERAGE_SCHEMA,
        )

    def has_ticker(self, ticker: str) -> bool:
        with self._cursor("reading the store") as cursor:
            cursor.execute(
                "SELECT 1 FROM bars WHERE ticker = %(ticker)s LIMIT 1", {"ticker": ticker}
            )
            return cursor.fetchone() is not None

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
            where=["ticker = %(ticker)s"],
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
            where.append("series_id = ANY(%(series)s)")
            params["series"] = list(series_ids)
        if as_of is not None:
            where.append("released_at <= %(as_of)s")
            params["as_of"] = _bound(as_of, "as_of", lower=False)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        spec = TABLES["macro"]
        return self._select(
            f"SELECT DISTINCT ON (series_id, period) {', '.join(spec.names)} FROM macro {clause} "
            "ORDER BY series_id, period, released_at DESC",
            params,
            arrow_schema(spec),
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
                where.append(f"{name} = %({name})s")
                params[name] = value
        order = ("session", spec.key[-1], "horizon", "model_version")
        return self._read(spec, where=where, params=params, order=order)

    # -- files -------------------------------------------------------------------------------

    def _batches(self, spec: TableSpec, doing: str) -> Generator[pa.RecordBatch, None, None]:
        """The whole table in key order, a batch at a time from a server-side cursor."""
        import psycopg

        schema = arrow_schema(spec)
        sql = f"SELECT {', '.join(spec.names)} FROM {spec.name} ORDER BY {', '.join(spec.key)}"
        try:
            with (
                self._con.transaction(),
                self._con.cursor(name=f"stockpred_export_{spec.name}") as cursor,
            ):
                cursor.execute(sql)
                while rows := cursor.fetchmany(_EXPORT_BATCH_ROWS):
                    yield from rows_to_table(rows, schema).to_batches()
        except psycopg.Error as exc:
            raise self._failure(doing, exc) from exc

    def export_parquet(
        self, table: str, directory: Path, *, partition_by: str | None = None
    ) -> Path:
        spec = TABLES.get(table)
        if spec is None:
            registry = self._registry()
            spec = registry.table(table)
            if spec is None:
                names = [*TABLES, *sorted(registry.owners)]
                raise StoreError(f"unknown table {table!r}; tables: {', '.join(names)}")
        if partition_by is not None and partition_by not in spec.names:
            raise StoreError(
                f"cannot partition {table} by {partition_by!r}; "
                f"its columns: {', '.join(spec.names)}"
            )
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / (table if partition_by else f"{table}.parquet")
        doing = f"exporting {table} to {target}"
        schema = arrow_schema(spec)
        batches = self._batches(spec, doing)
        try:
            if partition_by is None:
                with pa_parquet.ParquetWriter(target, schema) as writer:
                    for batch in batches:
                        writer.write_batch(batch)
            else:
                target.mkdir(parents=True, exist_ok=True)
                pa_dataset.write_dataset(
                    pa.RecordBatchReader.from_batches(schema, batches),
                    target,
                    format="parquet",
                    partitioning=[partition_by],
                    partitioning_flavor="hive",
                    existing_data_behavior="overwrite_or_ignore",
                    preserve_order=True,
                )
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"{doing} failed: {first_line(exc)}") from exc
        finally:
            batches.close()
        return target


def _bound(value: pd.Timestamp, name: str, *, lower: bool) -> datetime:
    """A read bound in UTC at the microseconds PostgreSQL stores: a lower bound rounds up and an
    upper bound rounds down, so no stored instant moves across it."""
    stamp = utc_timestamp(value, name)
    rounded = stamp.ceil("us") if lower else stamp.floor("us")
    moment: datetime = rounded.to_pydatetime()
    return moment
