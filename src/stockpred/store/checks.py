"""Checks every backend applies before it touches the database, so all refuse the same batches
with the same messages: missing columns, naive timestamps, missing required values, repeated keys.
"""

from __future__ import annotations

import pandas as pd

from stockpred.domain.errors import StoreError
from stockpred.store.schema import TableSpec

__all__ = ["check_batch", "utc_timestamp"]


def check_batch(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The contract columns of ``frame`` in table order, as a copy, ready to write.

    Raises :class:`StoreError` (nothing written) when a column is missing, a time column is not
    UTC-aware, a required column holds a missing value, or two rows share a key. An empty frame
    is returned as is once its columns are checked.
    """
    missing = [c for c in spec.names if c not in frame.columns]
    if missing:
        raise StoreError(f"cannot write {spec.name}: columns {missing} are missing")
    # A copy: some database scans cannot read the views pandas hands out (a reversed slice).
    data = frame.loc[:, list(spec.names)].copy()
    if data.empty:
        return data
    naive = [
        name
        for name, kind in spec.columns
        if kind == "TIMESTAMPTZ"
        and not isinstance(data[name].dtype, pd.DatetimeTZDtype)
        and data[name].notna().any()
    ]
    if naive:
        raise StoreError(
            f"cannot write {spec.name}: column(s) {naive} hold timestamps without a time "
            "zone; convert them to UTC-aware timestamps (nothing was written)"
        )
    required = [c for c in spec.names if c not in spec.nullable]
    nulls = data[required].isna().any()
    if bool(nulls.any()):
        raise StoreError(
            f"cannot write {spec.name}: column(s) {list(nulls[nulls].index)} hold missing "
            "values; nothing was written"
        )
    if bool(data.duplicated(list(spec.key)).any()):
        raise StoreError(
            f"cannot write {spec.name}: several rows share a key {spec.key}; nothing was written"
        )
    return data


def utc_timestamp(value: pd.Timestamp, name: str) -> pd.Timestamp:
    """``value`` in UTC; a read bound without a time zone is refused, never guessed."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise StoreError(f"{name}={stamp} has no time zone; pass a UTC-aware timestamp")
    return stamp.tz_convert("UTC")
