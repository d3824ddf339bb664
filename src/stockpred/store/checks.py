"""Checks every backend applies before it touches the database, so all refuse the same batches
with the same messages: missing columns, naive timestamps, missing required values, repeated keys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockpred.domain.errors import StoreError
from stockpred.domain.records import FEATURE_KEY
from stockpred.store.schema import FeatureRegistry, TableSpec, feature_table, feature_table_name

__all__ = [
    "check_batch",
    "check_features",
    "empty_feature_coverage",
    "empty_features",
    "utc_timestamp",
]


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


def check_features(
    feature_set: str,
    frame: pd.DataFrame,
    *,
    registry: FeatureRegistry,
) -> tuple[TableSpec, pd.DataFrame]:
    """The wide table of ``feature_set`` and ``frame`` checked for it, ready to write.

    ``registry``: the sets already stored (their tables and columns). Raises
    :class:`StoreError` (nothing written) when the key columns are missing or hold gaps or
    naive times, a key repeats, the feature columns differ from the stored ones, or a value is
    not a number.
    """
    absent = [c for c in FEATURE_KEY if c not in frame.columns]
    if absent:
        raise StoreError(f"cannot write feature set {feature_set}: columns {absent} are missing")
    columns = tuple(str(c) for c in frame.columns if c not in FEATURE_KEY)
    stored = registry.columns(feature_set)
    if not columns:
        raise StoreError(
            f"cannot write feature set {feature_set}: the frame has no feature columns"
        )
    if stored is not None and columns != stored:
        added = [c for c in columns if c not in stored]
        dropped = [c for c in stored if c not in columns]
        detail = (
            f"new {added}, missing {dropped}"
            if added or dropped
            else "the same names in another order"
        )
        raise StoreError(
            f"feature set {feature_set} is stored with {len(stored)} other columns ({detail}); "
            "a set whose outputs change needs a new version (nothing was written)"
        )
    name = feature_table_name(feature_set)
    owner = registry.owners.get(name)
    if owner is not None and owner != feature_set:
        raise StoreError(
            f"feature sets {owner} and {feature_set} would share the table {name}; rename one"
        )
    spec = feature_table(name, columns)
    # Not check_batch: a feature batch can hold a hundred million values, so the checks avoid
    # copying it (the caller converts it to the database's format once).
    if not isinstance(frame["ts"].dtype, pd.DatetimeTZDtype):
        raise StoreError(
            f"cannot write feature set {feature_set}: ts holds timestamps without a time zone; "
            "convert them to UTC-aware timestamps (nothing was written)"
        )
    if bool(frame["ticker"].isna().any()) or bool(frame["ts"].isna().any()):
        raise StoreError(
            f"cannot write feature set {feature_set}: ticker or ts holds missing values; "
            "nothing was written"
        )
    if _repeats_a_key(frame):
        raise StoreError(
            f"cannot write feature set {feature_set}: several rows share a key (ticker, ts); "
            "nothing was written"
        )
    data = frame.loc[:, list(spec.names)]
    odd = [c for c in columns if data[c].dtype != np.float64]
    if odd:
        try:
            data = data.astype(dict.fromkeys(odd, np.float64))
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"cannot write feature set {feature_set}: a feature value is not a number "
                f"({exc}); nothing was written"
            ) from exc
    return spec, data


def _repeats_a_key(frame: pd.DataFrame) -> bool:
    """Whether two rows share (ticker, ts); linear when rows are sorted, as builds write them."""
    codes = pd.factorize(frame["ticker"])[0]
    nanos = pd.DatetimeIndex(frame["ts"]).as_unit("ns").asi8
    step = np.diff(codes)
    if (step >= 0).all() and (np.diff(nanos)[step == 0] > 0).all():
        return False
    return bool(frame.duplicated(["ticker", "ts"]).any())


def utc_timestamp(value: pd.Timestamp, name: str) -> pd.Timestamp:
    """``value`` in UTC; a read bound without a time zone is refused, never guessed."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise StoreError(f"{name}={stamp} has no time zone; pass a UTC-aware timestamp")
    return stamp.tz_convert("UTC")


def empty_features() -> pd.DataFrame:
    """What reading a feature set never written gives: no rows, the key columns only."""
    return pd.DataFrame(
        {"ticker": pd.Series(dtype=object), "ts": pd.Series(dtype="datetime64[us, UTC]")}
    )


def empty_feature_coverage() -> pd.DataFrame:
    """The coverage of a feature set never written."""
    stamps = pd.Series(dtype="datetime64[us, UTC]")
    return pd.DataFrame(
        {
            "ticker": pd.Series(dtype=object),
            "first": stamps,
            "last": stamps.copy(),
            "rows": pd.Series(dtype="int64"),
        }
    )
