"""Frames to PostgreSQL COPY payloads, and fetched rows back to frames, through Arrow.

Reads build Arrow tables with the types of schema.py, so frames come out with the same dtypes as
the DuckDB store's (which hands over Arrow too).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

from stockpred.domain.errors import StoreError
from stockpred.store.schema import TableSpec

__all__ = [
    "COVERAGE_SCHEMA",
    "FEATURE_COVERAGE_SCHEMA",
    "arrow_schema",
    "csv_payload",
    "rows_to_frame",
    "rows_to_table",
]

# SQL types of schema.py as Arrow types.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "DOUBLE PRECISION": pa.float64(),
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "DATE": pa.date32(),
}
COVERAGE_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("first", pa.timestamp("us", tz="UTC")),
        ("last", pa.timestamp("us", tz="UTC")),
        ("rows", pa.int64()),
        ("sources", pa.string()),
    ]
)
FEATURE_COVERAGE_SCHEMA = pa.schema(
    [
        ("ticker", pa.string()),
        ("first", pa.timestamp("us", tz="UTC")),
        ("last", pa.timestamp("us", tz="UTC")),
        ("rows", pa.int64()),
    ]
)


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema of a table's columns."""
    try:
        return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in spec.columns])
    except KeyError as exc:
        raise StoreError(
            f"table {spec.name} has a column type {exc.args[0]!r} the PostgreSQL store cannot "
            "read yet; add it to _ARROW_TYPES in store/postgres_copy.py"
        ) from exc


def _as_text(values: pd.Series, kind: str) -> pa.Array:
    """One column as the text PostgreSQL parses, missing values as nulls.

    Typed columns convert in Arrow (floats in their shortest exact form, timestamps as UTC
    microseconds); object columns go value by value, so a wrong value reaches the database and
    is refused there with the row and column it sits in.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps = pa.array(values, from_pandas=True).cast(pa.timestamp("us", tz="UTC"), safe=False)
        # The zone-less cast of the UTC value plus "Z": ten times faster than casting the zoned
        # timestamp, the same text.
        utc = stamps.cast(pa.timestamp("us")).cast(pa.string())
        return pa_compute.binary_join_element_wise(utc, "Z", "")
    if values.dtype != object:
        typed = pa.array(values, from_pandas=True)
        if kind == "DATE" and pa.types.is_timestamp(typed.type):
            typed = typed.cast(pa.date32())
        return typed.cast(pa.string())
    present = values.notna().to_numpy()
    return pa.array(
        [str(v) if keep else None for v, keep in zip(values.tolist(), present, strict=True)],
        type=pa.string(),
    )


def csv_payload(spec: TableSpec, data: pd.DataFrame) -> bytes:
    """``data`` (checked, contract columns in order) as CSV for ``COPY ... (FORMAT csv)``."""
    columns = [_as_text(data[name], kind) for name, kind in spec.columns]
    table = pa.Table.from_arrays(columns, names=list(spec.names))
    buffer = io.BytesIO()
    # Every non-null value is quoted and nulls are bare empty fields: PostgreSQL's CSV COPY
    # tells an empty string from NULL exactly that way.
    pa_csv.write_csv(
        table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    )
    return buffer.getvalue()


def rows_to_table(rows: Sequence[tuple[object, ...]], schema: pa.Schema) -> pa.Table:
    """Fetched rows (tuples in ``schema``'s column order) as an Arrow table."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [
        pa.array(list(values), type=field.type)
        for values, field in zip(columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def rows_to_frame(rows: Sequence[tuple[object, ...]], schema: pa.Schema) -> pd.DataFrame:
    """Fetched rows as a frame with the dtypes of ``schema``."""
    frame: pd.DataFrame = rows_to_table(rows, schema).to_pandas()
    return frame
