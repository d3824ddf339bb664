"""The World Bank's JSON: ``[page header, rows]``, and its ``[{"message": [...]}]`` errors.

A series id in our terms is ``COUNTRY:INDICATOR`` (``USA:NY.GDP.MKTP.CD``); without a colon the
country is :data:`~stockpred.sources.providers.worldbank.config.DEFAULT_COUNTRY`.

Point in time: the World Bank publishes no release date per value. The only date it gives is the
header's ``lastupdated``, the day the whole indicator was last refreshed. Values are therefore
taken as known at the end of that day (23:59:59 UTC): that is when they were certainly as served,
never earlier. A value that was in fact published long before is dated late, which can only make
features more conservative, never leak the future. Each refresh that the API reports with a new
``lastupdated`` becomes a new vintage (new rows), not an overwrite.

``period`` is the reference period's first day: ``"2023"`` is 2023-01-01, ``"2023M02"`` is
2023-02-01, ``"2023Q2"`` is 2023-04-01.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderError,
    UnknownSymbolError,
)
from stockpred.sources.providers.worldbank.config import DEFAULT_COUNTRY

__all__ = ["WorldBankPage", "parse_error", "parse_page", "parse_period", "split_series_id"]

_PERIOD = re.compile(r"^(\d{4})(?:([MQ])(\d{1,2}))?$")
# Message ids the API uses for "no such country" (120) and "no such indicator" (175).
_UNKNOWN_IDS = {"120", "175"}


@dataclass(frozen=True, slots=True)
class WorldBankPage:
    """One page: its rows as macro points, and the header's ``page`` and ``pages``."""

    frame: pd.DataFrame
    page: int
    pages: int
    total: int


def split_series_id(series_id: str) -> tuple[str, str]:
    """``"USA:NY.GDP.MKTP.CD"`` -> ``("USA", "NY.GDP.MKTP.CD")``; no colon means the default."""
    country, sep, indicator = series_id.strip().upper().rpartition(":")
    return (country if sep else DEFAULT_COUNTRY), indicator


def parse_period(text: str) -> date:
    """The first day of a World Bank period: ``2023``, ``2023M01`` or ``2023Q1``."""
    match = _PERIOD.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a year, YYYYMmm or YYYYQq")
    year, kind, number = int(match[1]), match[2], int(match[3] or 1)
    if kind == "M" and 1 <= number <= 12:
        return date(year, number, 1)
    if kind == "Q" and 1 <= number <= 4:
        return date(year, 3 * number - 2, 1)
    if kind is None:
        return date(year, 1, 1)
    raise ValueError(f"{text!r} has no month/quarter {number}")


def parse_error(body: object, *, series_id: str) -> ProviderError | None:
    """The API's ``[{"message": [{"id", "key", "value"}]}]`` as a stockpred error, if it is one."""
    if not isinstance(body, list) or not body or not isinstance(body[0], dict):
        return None
    messages = body[0].get("message")
    if not isinstance(messages, list) or not messages:
        return None
    first = messages[0] if isinstance(messages[0], dict) else {}
    ident = str(first.get("id", ""))
    text = f"{first.get('key', '')}: {first.get('value', '')}".strip(": ")
    if ident in _UNKNOWN_IDS:
        return UnknownSymbolError(
            f"worldbank does not know {series_id!r} ({text}); use COUNTRY:INDICATOR with an ISO "
            "alpha-3 country and an indicator id from data.worldbank.org, e.g. USA:NY.GDP.MKTP.CD",
            provider="worldbank",
            symbol=series_id,
        )
    return ProviderError(
        f"worldbank refused the request for {series_id} (message {ident}: {text})",
        provider="worldbank",
        symbol=series_id,
    )


def _malformed(series_id: str, what: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"worldbank's answer for {series_id} {what}", provider="worldbank", symbol=series_id
    )


def _header_int(header: dict[str, object], name: str, series_id: str) -> int:
    value = header.get(name)
    try:
        return int(str(value))
    except ValueError:
        raise _malformed(series_id, f"has no integer {name!r} in its header: {value!r}") from None


def parse_page(body: object, *, series_id: str) -> WorldBankPage:
    """Macro rows (series_id, period, released_at, value, source) of one page."""
    error = parse_error(body, series_id=series_id)
    if error is not None:
        raise error
    if not isinstance(body, list) or len(body) != 2 or not isinstance(body[0], dict):
        raise _malformed(series_id, "is not the [header, rows] pair the indicator API sends")
    header, rows = body[0], body[1]
    page = _header_int(header, "page", series_id)
    pages = _header_int(header, "pages", series_id)
    total = _header_int(header, "total", series_id)
    if rows is None:  # an empty answer: no observations at all
        rows = []
    if not isinstance(rows, list):
        raise _malformed(series_id, "has rows that are not a list")
    updated = header.get("lastupdated")
    try:
        known = pd.Timestamp(date.fromisoformat(str(updated)))
    except ValueError:
        raise _malformed(
            series_id, f"has no 'lastupdated' date (YYYY-MM-DD) in its header: {updated!r}"
        ) from None
    released = (known + pd.Timedelta(hours=23, minutes=59, seconds=59)).tz_localize("UTC")
    records: list[tuple[date, float]] = []
    for row in rows:
        if not isinstance(row, dict) or "date" not in row or "value" not in row:
            raise _malformed(series_id, f"has a row without 'date' and 'value': {row!r}")
        if row["value"] is None:  # not (yet) estimated for that period
            continue
        try:
            period = parse_period(str(row["date"]))
        except ValueError as exc:
            raise _malformed(series_id, f"has a row whose 'date' is unreadable: {exc}") from None
        try:
            number = float(row["value"])
        except (TypeError, ValueError):
            raise _malformed(
                series_id, f"has a non-numeric 'value' {row['value']!r} for {row['date']}"
            ) from None
        records.append((period, number))
    frame = pd.DataFrame(
        {
            "series_id": series_id,
            "period": [p for p, _ in records],
            "released_at": pd.Series([released] * len(records), dtype="datetime64[ns, UTC]"),
            "value": pd.Series([v for _, v in records], dtype=float),
            "source": "worldbank",
        }
    )
    return WorldBankPage(frame=frame, page=page, pages=pages, total=total)
