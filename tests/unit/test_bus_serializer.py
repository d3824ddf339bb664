"""The bus serializer: every record type round-trips; what it cannot read is refused by name."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from stockpred.bus.base import Record
from stockpred.bus.serializer import SCHEMAS, decode_record, encode_record
from stockpred.domain.errors import BusError, MessageFormatError
from stockpred.domain.records import (
    Bar,
    FeaturesWritten,
    FeedHealth,
    Headline,
    MacroPoint,
    ModelPromoted,
    Prediction,
)

T0 = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
nan = math.nan
RECORDS: list[Record] = [
    Bar("AAPL", T0, 1.0, 2.5, 0.5, 2.0, None, 1e6, "stooq", T0 + timedelta(hours=2)),
    Headline("h1", "AAPL", T0, "rss", 'Apple \u2192 up, "quoted"', None, 0.25),
    MacroPoint("UNRATE", date(2024, 2, 1), T0, 3.9, "fred"),
    Prediction(
        "AAPL", T0, 5, "log_return", 0.01, -0.02, 0.04, 0.6, "ridge", "12", T0,
        coverage=0.8, last_close=187.5, price=189.4, registered_name="daily_h5",
        contributions=(("rsi_14", 0.004), ("mom_20", -0.001)),
    ),
    FeaturesWritten("daily_v1", ("AAPL", "BRK.B"), T0, T0 + timedelta(minutes=1)),
    ModelPromoted("daily_h5", "12", 5, T0),
    FeedHealth("alpaca", ("AAPL", "MSFT"), T0),
    Prediction(
        "MSFT", T0, 1, "log_return", 0.0, -0.01, 0.01, 0.5, "ridge", "3", T0,
        provisional=True, degraded=True,
    ),
]  # fmt: skip


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_type_round_trips(record: Record) -> None:
    assert decode_record(encode_record(record)) == record


def test_the_envelope_names_type_and_version_and_writes_datetimes_as_iso_utc() -> None:
    new_york = timezone(timedelta(hours=-5))
    bar = dataclasses.replace(RECORDS[0], ts=T0.astimezone(new_york))

    envelope = json.loads(encode_record(bar))

    assert envelope["type"] == "bar"
    assert envelope["v"] == 2
    assert envelope["data"]["interval"] == "1d"
    assert envelope["data"]["ts"] == "2024-03-01T21:00:00+00:00"
    assert decode_record(encode_record(bar)).ts.tzinfo == UTC  # type: ignore[union-attr]


_NEWEST = [s for s in SCHEMAS if s.version == max(t.version for t in SCHEMAS if t.name == s.name)]


@pytest.mark.parametrize("schema", _NEWEST, ids=lambda s: f"{s.name}-v{s.version}")
def test_each_newest_schema_lists_its_record_s_fields_in_order(schema: object) -> None:
    # A record that gains or loses a field needs a new schema version, decided on purpose.
    assert [name for name, _ in schema.fields] == [  # type: ignore[attr-defined]
        f.name
        for f in dataclasses.fields(schema.record_type)  # type: ignore[attr-defined]
    ]


def test_a_bar_of_the_first_version_is_read_as_a_session_bar() -> None:
    envelope = json.loads(encode_record(dataclasses.replace(RECORDS[0], interval="5m")))
    del envelope["data"]["interval"]
    envelope["v"] = 1

    back = decode_record(json.dumps(envelope))

    assert back == RECORDS[0]
    assert isinstance(back, Bar)
    assert back.interval == "1d"


def test_a_missing_figure_travels_as_null_and_comes_back_as_nan() -> None:
    prediction = Prediction("AAPL", T0, 1, "log_return", 0.01, nan, nan, nan, "ridge", "1", T0)

    envelope = json.loads(encode_record(prediction))
    back = decode_record(encode_record(prediction))

    assert envelope["data"]["lower"] is None
    assert envelope["data"]["coverage"] is None
    assert isinstance(back, Prediction)
    assert math.isnan(back.lower)
    assert math.isnan(back.price)
    assert back.value == 0.01


def test_an_unknown_type_is_refused_naming_the_types_read() -> None:
    with pytest.raises(MessageFormatError, match=r"unknown record type 'tick' \(v1\).*bar v1"):
        decode_record(b'{"type": "tick", "v": 1, "data": {}}')


def test_an_unknown_version_is_refused_naming_the_versions_read() -> None:
    with pytest.raises(MessageFormatError, match=r"prediction v7 is not a schema version.*v1"):
        decode_record(b'{"type": "prediction", "v": 7, "data": {}}')


def test_a_missing_field_is_refused_by_name() -> None:
    envelope = json.loads(encode_record(RECORDS[2]))
    del envelope["data"]["released_at"]

    with pytest.raises(MessageFormatError, match=r"macro_point v1 has no field 'released_at'"):
        decode_record(json.dumps(envelope))


def test_a_field_of_the_wrong_type_is_refused_by_name() -> None:
    envelope = json.loads(encode_record(RECORDS[3]))
    envelope["data"]["horizon"] = "five"

    with pytest.raises(MessageFormatError, match=r"field 'horizon' must be an integer"):
        decode_record(json.dumps(envelope))


def test_a_datetime_without_its_utc_offset_is_refused() -> None:
    envelope = json.loads(encode_record(RECORDS[1]))
    envelope["data"]["published_at"] = "2024-03-01T21:00:00"

    with pytest.raises(MessageFormatError, match=r"'published_at' must be an ISO 8601 datetime"):
        decode_record(json.dumps(envelope))


def test_a_naive_datetime_is_not_published() -> None:
    naive = dataclasses.replace(RECORDS[0], ts=datetime(2024, 3, 1, 21, 0))  # noqa: DTZ001

    with pytest.raises(MessageFormatError, match=r"bar.ts must be a UTC-aware datetime"):
        encode_record(naive)


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"type": "bar"}'])
def test_what_is_not_an_envelope_is_refused(payload: bytes) -> None:
    with pytest.raises(MessageFormatError):
        decode_record(payload)


def test_a_format_error_is_a_bus_error() -> None:
    assert issubclass(MessageFormatError, BusError)
