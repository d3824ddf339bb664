"""Records on the wire: a JSON envelope with a schema version per record type.

``{"type": "bar", "v": 1, "data": {"ticker": "AAPL", "ts": "2024-03-01T21:00:00+00:00", ...}}``

Datetimes travel as ISO 8601 in UTC, dates as ``YYYY-MM-DD``; a figure that is NaN (the
domain's "missing") travels as ``null``, since JSON has no NaN. Each record type has a name and
a version; the fields of each version are listed here rather than read off the dataclass, so a
change to a record is a new version, decided on purpose (a test compares the two). A reader
refuses a type or version it does not know with :class:`MessageFormatError`, naming what it
reads instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from stockpred.bus.base import Record
from stockpred.domain.errors import MessageFormatError
from stockpred.domain.records import (
    Bar,
    FeaturesWritten,
    FeedHealth,
    Headline,
    MacroPoint,
    ModelPromoted,
    Prediction,
)

__all__ = ["SCHEMAS", "Schema", "decode_record", "encode_record"]

# "float": NaN on the wire as null; "float?": None as null; "bool": true or false;
# "strs": a tuple of strings;
# "pairs": a tuple of (string, number) pairs.
Kind = Literal["str", "str?", "float", "float?", "int", "bool", "datetime", "date", "strs", "pairs"]


@dataclass(frozen=True)
class Schema:
    """One version of one record type on the wire: its name and its fields in order."""

    name: str
    version: int
    record_type: type[Record]
    fields: tuple[tuple[str, Kind], ...]


# A new version appends to the fields of the one before it, so each is written once.
_BAR_V1: tuple[tuple[str, Kind], ...] = (
    ("ticker", "str"),
    ("ts", "datetime"),
    ("open", "float"),
    ("high", "float"),
    ("low", "float"),
    ("close", "float"),
    ("adj_close", "float?"),
    ("volume", "float"),
    ("source", "str"),
    ("ingested_at", "datetime"),
)

_PREDICTION_V1: tuple[tuple[str, Kind], ...] = (
    ("ticker", "str"),
    ("as_of", "datetime"),
    ("horizon", "int"),
    ("target", "str"),
    ("value", "float"),
    ("lower", "float"),
    ("upper", "float"),
    ("direction_prob", "float"),
    ("model", "str"),
    ("model_version", "str"),
    ("created_at", "datetime"),
    ("coverage", "float"),
    ("last_close", "float"),
    ("price", "float"),
    ("registered_name", "str"),
    ("contributions", "pairs"),
)

SCHEMAS: tuple[Schema, ...] = (
    Schema("bar", 1, Bar, _BAR_V1),
    # v2: the bar's interval ("1d" a session; "1m", "5m", "1h" within one); v1 bars are "1d".
    Schema("bar", 2, Bar, (*_BAR_V1, ("interval", "str"))),
    Schema(
        "headline",
        1,
        Headline,
        (
            ("id", "str"),
            ("ticker", "str"),
            ("published_at", "datetime"),
            ("source", "str"),
            ("title", "str"),
            ("url", "str?"),
            ("sentiment", "float?"),
        ),
    ),
    Schema(
        "macro_point",
        1,
        MacroPoint,
        (
            ("series_id", "str"),
            ("period", "date"),
            ("released_at", "datetime"),
            ("value", "float"),
            ("source", "str"),
        ),
    ),
    Schema("prediction", 1, Prediction, _PREDICTION_V1),
    # v2: provisional (a nowcast from a session still open); v1 predictions are committed.
    Schema("prediction", 2, Prediction, (*_PREDICTION_V1, ("provisional", "bool"))),
    # v3: degraded (its feed had a hole then); v1 and v2 predictions are not.
    Schema(
        "prediction",
        3,
        Prediction,
        (*_PREDICTION_V1, ("provisional", "bool"), ("degraded", "bool")),
    ),
    Schema(
        "features_written",
        1,
        FeaturesWritten,
        (
            ("feature_set", "str"),
            ("tickers", "strs"),
            ("last_ts", "datetime"),
            ("written_at", "datetime"),
        ),
    ),
    Schema(
        "feed_health",
        1,
        FeedHealth,
        (("feed", "str"), ("degraded", "strs"), ("at", "datetime")),
    ),
    Schema(
        "model_promoted",
        1,
        ModelPromoted,
        (
            ("name", "str"),
            ("version", "str"),
            ("horizon", "int"),
            ("promoted_at", "datetime"),
        ),
    ),
)

# The version each record type is written in: the newest one listed.
_WRITTEN: dict[type[Record], Schema] = {}
for _schema in SCHEMAS:
    _current = _WRITTEN.get(_schema.record_type)
    if _current is None or _current.version < _schema.version:
        _WRITTEN[_schema.record_type] = _schema
_READ: dict[tuple[str, int], Schema] = {(s.name, s.version): s for s in SCHEMAS}
_KNOWN = ", ".join(f"{s.name} v{s.version}" for s in SCHEMAS)


def _to_utc_text(value: object, where: str) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise MessageFormatError(f"{where} must be a UTC-aware datetime, got {value!r}")
    return value.astimezone(UTC).isoformat()


def _encode_date(value: object, where: str) -> str:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise MessageFormatError(f"{where} must be a date, got {value!r}")
    return value.isoformat()


def encode_record(record: Record) -> bytes:
    """The envelope of ``record`` as UTF-8 JSON bytes."""
    schema = _WRITTEN.get(type(record))
    if schema is None:
        raise MessageFormatError(
            f"{type(record).__name__} is not a record the bus carries; it carries: {_KNOWN}"
        )
    data: dict[str, object] = {}
    for name, kind in schema.fields:
        value = getattr(record, name)
        if kind == "datetime":
            if type(value) is not datetime or value.tzinfo is not UTC:
                value = _to_utc_text(value, f"{schema.name}.{name}")
            else:
                value = value.isoformat()
        elif kind == "float" and isinstance(value, float) and math.isnan(value):  # no NaN in JSON
            value = None
        elif kind == "date":
            value = _encode_date(value, f"{schema.name}.{name}")
        elif kind == "pairs":
            value = [[str(k), float(v)] for k, v in value]
        data[name] = value
    envelope = {"type": schema.name, "v": schema.version, "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _read_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    return value


def _read_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("a number")
    return float(value)


def _read_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an integer")
    return value


def _read_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _read_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError("an ISO 8601 UTC datetime string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TypeError("an ISO 8601 UTC datetime string") from exc
    if parsed.tzinfo is None:
        raise TypeError("an ISO 8601 datetime with its UTC offset")
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _read_date(value: object) -> date:
    if not isinstance(value, str):
        raise TypeError("an ISO 8601 date string (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise TypeError("an ISO 8601 date string (YYYY-MM-DD)") from exc


def _read_strs(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("a list of strings")
    return tuple(value)


def _read_pairs(value: object) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, list):
        raise TypeError("a list of [name, number] pairs")
    pairs = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], str):
            raise TypeError("a list of [name, number] pairs")
        pairs.append((pair[0], _read_float(pair[1])))
    return tuple(pairs)


_READERS: dict[str, Callable[[object], object]] = {
    "strs": _read_strs,
    "pairs": _read_pairs,
    "str": _read_str,
    "float": _read_float,
    "int": _read_int,
    "bool": _read_bool,
    "datetime": _read_datetime,
    "date": _read_date,
}
# Per schema, each field's name, reader and what null stands for (None, NaN, or nothing
# allowed): worked out once.
_NOT_NULL = object()
_PLANS: dict[tuple[str, int], tuple[tuple[str, Callable[[object], object], object], ...]] = {
    key: tuple(
        (
            n,
            _READERS[k.rstrip("?")],
            None if k.endswith("?") else math.nan if k == "float" else _NOT_NULL,
        )
        for n, k in schema.fields
    )
    for key, schema in _READ.items()
}


def decode_record(payload: bytes | str) -> Record:
    """The record in an envelope made by :func:`encode_record` (by this or an older version).

    Raises :class:`MessageFormatError` naming the type, version or field that is wrong.
    """
    try:
        envelope = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MessageFormatError(f"a bus message is not JSON: {_preview(payload)}") from exc
    if not isinstance(envelope, Mapping) or not {"type", "v", "data"} <= envelope.keys():
        raise MessageFormatError(
            'a bus message must be {"type": ..., "v": ..., "data": {...}}, got '
            f"{_preview(payload)}"
        )
    name, version, data = envelope["type"], envelope["v"], envelope["data"]
    schema = _READ.get((name, version)) if isinstance(name, str) else None
    if schema is None:
        versions = [s.version for s in SCHEMAS if s.name == name]
        if versions:
            raise MessageFormatError(
                f"{name} v{version} is not a schema version this code reads (it reads "
                f"{', '.join(f'v{v}' for v in versions)}); upgrade stockpred where it consumes"
            )
        raise MessageFormatError(
            f"unknown record type {name!r} (v{version}) on the bus; this code reads: {_KNOWN}"
        )
    if not isinstance(data, Mapping):
        raise MessageFormatError(f"{name} v{version}: data must be an object, got {data!r:.60}")
    values: dict[str, object] = {}
    for field_name, read, null in _PLANS[name, version]:
        if field_name not in data:
            raise MessageFormatError(f"{name} v{version} has no field {field_name!r}")
        value = data[field_name]
        if value is None and null is not _NOT_NULL:
            values[field_name] = null
            continue
        try:
            values[field_name] = read(value)
        except TypeError as exc:
            raise MessageFormatError(
                f"{name} v{version} field {field_name!r} must be {exc}, got {value!r:.60}"
            ) from exc
    build: Callable[..., Record] = schema.record_type
    return build(**values)


def _preview(payload: bytes | str) -> str:
    text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
    return repr(text[:60] + ("..." if len(text) > 60 else ""))
