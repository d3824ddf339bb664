"""FRED's JSON: observations with their real-time periods, and its error bodies.

With ``realtime_start=1776-07-04`` and ``realtime_end=9999-12-31`` FRED returns every vintage: each
observation row carries the first day (``realtime_start``) its value was the published one. That
day is when the value became known, so it is our ``released_at``; FRED gives no time of day, so the
end of that day in New York is used, which is never early.
"""

from __future__ import annotations

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExhaustedError,
    UnknownSymbolError,
)

__all__ = ["FredPage", "parse_error", "parse_observations"]

_NEW_YORK = "America/New_York"


class FredPage:
    """One page of observations: the rows, and FRED's total ``count``."""

    def __init__(self, frame: pd.DataFrame, count: int) -> None:
        self.frame = frame
        self.count = count


def parse_error(status: int, body: object, *, series_id: str) -> ProviderError:
    """FRED's ``{"error_code": ..., "error_message": ...}`` as a stockpred error."""
    message = ""
    if isinstance(body, dict):
        message = str(body.get("error_message", ""))
    lowered = message.lower()
    if "api_key" in lowered:
        reason = message.split(".")[1].strip() if "." in message else message
        return ProviderAuthError(
            f"fred refused the API key ({reason}); "
            "set STOCKPRED_FRED_API_KEY to a registered key (free at fred.stlouisfed.org)",
            provider="fred",
            symbol=series_id,
        )
    if "does not exist" in lowered:
        return UnknownSymbolError(
            f"fred has no series {series_id!r}; check the id on fred.stlouisfed.org",
            provider="fred",
            symbol=series_id,
        )
    if status == 429:
        return QuotaExhaustedError(
            "fred: rate limit exceeded (120 requests a minute)", provider="fred", symbol=series_id
        )
    return ProviderError(
        f"fred answered HTTP {status} for {series_id}: {message or body!r}",
        provider="fred",
        symbol=series_id,
    )


def _field(row: object, name: str, series_id: str) -> str:
    if not isinstance(row, dict) or name not in row:
        raise MalformedResponseError(
            f"fred observation of {series_id} lacks the field {name!r}: {row!r}",
            provider="fred",
            symbol=series_id,
        )
    return str(row[name])


def parse_observations(body: object, *, series_id: str) -> FredPage:
    """Macro rows (series_id, period, released_at, value, source) of one page."""
    if not isinstance(body, dict) or not isinstance(body.get("observations"), list):
        raise MalformedResponseError(
            f"fred's answer for {series_id} has no 'observations' list",
            provider="fred",
            symbol=series_id,
        )
    rows = body["observations"]
    count = body.get("count")
    if not isinstance(count, int):
        raise MalformedResponseError(
            f"fred's answer for {series_id} has no integer 'count'",
            provider="fred",
            symbol=series_id,
        )
    records = []
    for row in rows:
        value = _field(row, "value", series_id)
        if value == ".":  # FRED's marker for "no value for this period"
            continue
        try:
            number = float(value)
        except ValueError as exc:
            raise MalformedResponseError(
                f"fred observation of {series_id} has a non-numeric value {value!r}",
                provider="fred",
                symbol=series_id,
            ) from exc
        records.append(
            (_field(row, "date", series_id), _field(row, "realtime_start", series_id), number)
        )
    frame = pd.DataFrame(records, columns=["date", "realtime_start", "value"])
    try:
        period = pd.to_datetime(frame["date"], format="%Y-%m-%d")
        known = pd.to_datetime(frame["realtime_start"], format="%Y-%m-%d")
    except ValueError as exc:
        raise MalformedResponseError(
            f"fred observation of {series_id} has a date not in YYYY-MM-DD: {exc}",
            provider="fred",
            symbol=series_id,
        ) from exc
    released = (known + pd.Timedelta(hours=23, minutes=59, seconds=59)).dt.tz_localize(_NEW_YORK)
    out = pd.DataFrame(
        {
            "series_id": series_id,
            "period": period.dt.date,
            "released_at": released.dt.tz_convert("UTC"),
            "value": frame["value"].astype(float),
            "source": "fred",
        }
    )
    return FredPage(out, count)
