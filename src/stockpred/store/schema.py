"""The stored tables: columns, natural keys and migrations, shared by every backend.

Column names follow DESIGN.md's data contracts. Types are portable SQL understood by DuckDB and
PostgreSQL alike. Migrations only run forward; each is a list of statements applied in one
transaction, and the store records the version it reached.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from stockpred.domain.errors import StoreError
from stockpred.domain.records import (
    BAR_COLUMNS,
    FEATURE_KEY,
    HEADLINE_COLUMNS,
    MACRO_COLUMNS,
    PREDICTION_COLUMNS,
)

__all__ = [
    "FEATURE_SETS",
    "MIGRATIONS",
    "MODEL_DRIFT",
    "MODEL_PERFORMANCE",
    "MONITORING_TABLES",
    "SCHEMA_VERSION",
    "TABLES",
    "FeatureRegistry",
    "TableSpec",
    "feature_table",
    "feature_table_name",
    "monitoring_table",
]


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table: its columns with SQL types, natural key, and bookkeeping columns.

    Bookkeeping columns (when a row was ingested or created) do not make a row "changed": an
    upsert of identical values leaves the stored row, bookkeeping included, as it was.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    bookkeeping: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def compared(self) -> tuple[str, ...]:
        """Columns whose change makes an upsert an update."""
        return tuple(n for n in self.names if n not in self.key and n not in self.bookkeeping)

    def create_sql(self, *, primary_key: bool = True) -> str:
        """``CREATE TABLE``; without ``primary_key`` the writer keeps keys unique itself."""
        cols = ",\n  ".join(
            f"{name} {kind}{'' if name in self.nullable else ' NOT NULL'}"
            for name, kind in self.columns
        )
        if not primary_key:
            return f"CREATE TABLE {self.name} (\n  {cols}\n)"
        return f"CREATE TABLE {self.name} (\n  {cols},\n  PRIMARY KEY ({', '.join(self.key)})\n)"


_TS = "TIMESTAMPTZ"
_F = "DOUBLE PRECISION"
_S = "VARCHAR"

BARS = TableSpec(
    name="bars",
    columns=(
        ("ticker", _S),
        ("ts", _TS),
        ("open", _F),
        ("high", _F),
        ("low", _F),
        ("close", _F),
        ("adj_close", _F),
        ("volume", _F),
        ("source", _S),
        ("ingested_at", _TS),
    ),
    key=("ticker", "ts"),
    bookkeeping=("ingested_at",),
    nullable=("adj_close",),
)
HEADLINES = TableSpec(
    name="headlines",
    columns=(
        ("id", _S),
        ("ticker", _S),
        ("published_at", _TS),
        ("source", _S),
        ("title", _S),
        ("url", _S),
        ("sentiment", _F),
    ),
    key=("id", "ticker"),
    nullable=("url", "sentiment"),
)
MACRO = TableSpec(
    name="macro",
    columns=(
        ("series_id", _S),
        ("period", "DATE"),
        ("released_at", _TS),
        ("value", _F),
        ("source", _S),
    ),
    key=("series_id", "period", "released_at"),
)
# The long feature table of schema versions 1 and 2 (one row per value); version 3 replaced it
# with one wide table per feature set. Kept for migration 1, which must not change.
_LONG_FEATURES = TableSpec(
    name="features",
    columns=(
        ("ticker", _S),
        ("ts", _TS),
        ("feature_set", _S),
        ("name", _S),
        ("value", _F),
    ),
    key=("ticker", "ts", "feature_set", "name"),
    nullable=("value",),
)
PREDICTIONS = TableSpec(
    name="predictions",
    columns=(
        ("ticker", _S),
        ("as_of", _TS),
        ("horizon", "INTEGER"),
        ("target", _S),
        ("value", _F),
        ("lower", _F),
        ("upper", _F),
        ("direction_prob", _F),
        ("model", _S),
        ("model_version", _S),
        ("created_at", _TS),
    ),
    key=("ticker", "as_of", "horizon", "target", "model", "model_version"),
    bookkeeping=("created_at",),
    nullable=("lower", "upper", "direction_prob"),
)

SENTIMENT_DAILY = TableSpec(
    name="sentiment_daily",
    columns=(
        ("ticker", _S),
        ("day", _TS),
        ("scorer", _S),
        ("mean", _F),
        ("count", "INTEGER"),
        ("share_positive", _F),
        ("share_negative", _F),
        ("released_at", _TS),
    ),
    # A same-day recompute after a later item is a new row, like a macro revision.
    key=("ticker", "day", "scorer", "released_at"),
)

# Intraday bars (``interval`` other than 1d) as the stream received them: what a session so far
# is folded from, and what a restarted stream processor folds it from again.
INTRADAY_BARS = TableSpec(
    name="intraday_bars",
    columns=(*BARS.columns[:2], ("interval", _S), *BARS.columns[2:]),
    key=("ticker", "interval", "ts"),
    bookkeeping=BARS.bookkeeping,
    nullable=BARS.nullable,
)

# The feature sets stored, each with its wide table and its columns in order (comma-separated).
FEATURE_SETS = TableSpec(
    name="feature_sets",
    columns=(
        ("feature_set", _S),
        ("table_name", _S),
        ("columns", _S),
        ("created_at", _TS),
    ),
    key=("feature_set",),
    bookkeeping=("created_at",),
)

# What the monitor measured of a model version each session (monitor/session.py): its rolling
# realised accuracy beside each baseline's on the same matured rows, and the drift of every
# feature and of its forecasts against the reference fitted on its training window.
MODEL_PERFORMANCE = TableSpec(
    name="model_performance",
    columns=(
        ("horizon", "INTEGER"),
        ("model_version", _S),
        ("session", _TS),
        ("model", _S),
        ("role", _S),
        ("window_sessions", "INTEGER"),
        ("n_dates", "INTEGER"),
        ("n_rows", "INTEGER"),
        ("rank_ic", _F),
        ("hit_rate", _F),
        ("mae", _F),
        ("coverage", _F),
        ("computed_at", _TS),
    ),
    key=("horizon", "model_version", "session", "model"),
    bookkeeping=("computed_at",),
    nullable=("rank_ic", "hit_rate", "mae", "coverage"),
)
MODEL_DRIFT = TableSpec(
    name="model_drift",
    columns=(
        ("horizon", "INTEGER"),
        ("model_version", _S),
        ("session", _TS),
        ("subject", _S),
        ("window_sessions", "INTEGER"),
        ("psi", _F),
        ("psi_threshold", _F),
        ("ks_statistic", _F),
        ("ks_threshold", _F),
        ("ks_p_value", _F),
        ("n", "INTEGER"),
        ("missing_share", _F),
        ("computed_at", _TS),
    ),
    key=("horizon", "model_version", "session", "subject"),
    bookkeeping=("computed_at",),
    nullable=(
        "psi",
        "psi_threshold",
        "ks_statistic",
        "ks_threshold",
        "ks_p_value",
        "missing_share",
    ),
)
MONITORING_TABLES = (MODEL_PERFORMANCE.name, MODEL_DRIFT.name)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        BARS,
        HEADLINES,
        MACRO,
        PREDICTIONS,
        SENTIMENT_DAILY,
        INTRADAY_BARS,
        MODEL_PERFORMANCE,
        MODEL_DRIFT,
    )
}


def monitoring_table(name: str) -> TableSpec:
    """The spec of the monitoring table ``name``, or a ValueError naming the ones there are."""
    if name not in MONITORING_TABLES:
        raise ValueError(
            f"{name!r} is not a monitoring table; they are {', '.join(MONITORING_TABLES)}"
        )
    return TABLES[name]


for _spec, _contract in (
    (BARS, BAR_COLUMNS),
    (HEADLINES, HEADLINE_COLUMNS),
    (MACRO, MACRO_COLUMNS),
    (PREDICTIONS, PREDICTION_COLUMNS),
):
    assert _spec.names == _contract, f"{_spec.name} drifted from its data contract"

# version -> statements; append, never edit a released one.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: tuple(spec.create_sql() for spec in (BARS, HEADLINES, MACRO, _LONG_FEATURES, PREDICTIONS)),
    2: (SENTIMENT_DAILY.create_sql(),),
    # Features are derived data, rebuilt by `stockpred features build`: the long table goes.
    3: ("DROP TABLE features", FEATURE_SETS.create_sql()),
    4: (INTRADAY_BARS.create_sql(),),
    5: (MODEL_PERFORMANCE.create_sql(), MODEL_DRIFT.create_sql()),
}
SCHEMA_VERSION = max(MIGRATIONS)


# -- feature sets: one wide table each -------------------------------------------------------

_FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def feature_table_name(feature_set: str) -> str:
    """The table of a feature set key such as ``daily_v1@1``: ``features_daily_v1_1``."""
    slug = re.sub(r"[^a-z0-9]+", "_", feature_set.lower()).strip("_")
    if not slug:
        raise StoreError(f"feature set {feature_set!r} has no letters or digits to name a table")
    return f"features_{slug}"[:63]


def feature_table(table_name: str, columns: Sequence[str]) -> TableSpec:
    """The wide table of one feature set: ticker, ts, then one nullable float per feature.

    Feature names become column names, so they must be lower-case identifiers; a NaN value (a
    feature undefined at that date, e.g. during warm-up) is stored as null.
    """
    bad = [name for name in columns if not _FEATURE_NAME.match(name) or name in FEATURE_KEY]
    if bad:
        raise StoreError(
            f"feature name(s) {', '.join(map(repr, bad))} cannot be stored: a feature name is "
            "a lower-case identifier (letters, digits, _; at most 63 characters), not "
            f"{' or '.join(FEATURE_KEY)}"
        )
    if len(set(columns)) != len(columns):
        raise StoreError(f"feature names repeat in {list(columns)}; each must be unique")
    return TableSpec(
        name=table_name,
        columns=((FEATURE_KEY[0], _S), (FEATURE_KEY[1], _TS), *((c, _F) for c in columns)),
        key=FEATURE_KEY,
        nullable=tuple(columns),
    )


@dataclass(frozen=True, slots=True)
class FeatureRegistry:
    """The rows of ``feature_sets`` as every backend needs them: per stored set its table and
    columns. ``rows``: (table_name, feature_set, comma-joined columns) as stored."""

    rows: tuple[tuple[str, str, str], ...]

    @classmethod
    def of(cls, rows: Sequence[Sequence[object]]) -> FeatureRegistry:
        return cls(tuple((str(t), str(n), str(c)) for t, n, c in rows))

    def columns(self, feature_set: str) -> tuple[str, ...] | None:
        """The stored columns of ``feature_set``, or None if it was never written."""
        for _, name, columns in self.rows:
            if name == feature_set:
                return tuple(columns.split(","))
        return None

    def spec(self, feature_set: str) -> TableSpec | None:
        """The table of ``feature_set``, or None if it was never written."""
        for table, name, columns in self.rows:
            if name == feature_set:
                return feature_table(table, columns.split(","))
        return None

    def table(self, table_name: str) -> TableSpec | None:
        """The feature table named ``table_name``, or None."""
        for table, _, columns in self.rows:
            if table == table_name:
                return feature_table(table, columns.split(","))
        return None

    @property
    def owners(self) -> dict[str, str]:
        """Table name -> the set stored in it."""
        return {table: name for table, name, _ in self.rows}

    @property
    def sets(self) -> dict[str, tuple[str, ...]]:
        """Every stored set with its columns, by set name."""
        return {
            name: tuple(columns.split(","))
            for _, name, columns in sorted(self.rows, key=lambda r: r[1])
        }
