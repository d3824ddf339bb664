"""Validation and cleaning of daily bars against the data contract and a trading calendar.

Input is a frame with the canonical columns (``ticker, date, open, high, low, close, volume`` and
optionally ``adj_close``) holding values as they were read, plus ``file`` and ``row`` naming where
each row came from. Output is the clean rows, typed, with ``ts`` set to the UTC close of the
exchange session, and a report of every rejected row: file, row, field, value and reason. A bad
row never takes good rows down with it, and no report line holds more than a short preview of an
over-long value.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.tseries.api import guess_datetime_format
from pandera.errors import SchemaErrors

from stockpred.domain.calendar import get_trading_calendar
from stockpred.domain.errors import InputFileError

__all__ = [
    "DEFAULT_RULES",
    "PRICE_COLUMNS",
    "REJECT_COLUMNS",
    "REQUIRED_COLUMNS",
    "TICKER_PATTERN",
    "BarRules",
    "BarValidation",
    "decide_date_format",
    "validate_bars",
]

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
REQUIRED_COLUMNS: tuple[str, ...] = ("ticker", "date", *PRICE_COLUMNS, "volume")
REJECT_COLUMNS: tuple[str, ...] = ("file", "row", "ticker", "date", "field", "value", "reason")
# Exchange symbols as written by data vendors: BRK.B, BRK-B, ^GSPC, EURUSD=X, RDS/A.
TICKER_PATTERN = r"^[A-Z0-9^][A-Z0-9.^=_/\-]{0,19}$"
# Characters of an over-long value the report keeps: enough to see what it is.
_PREVIEW_CHARS = 40
_VALUE_COLUMNS: tuple[str, ...] = ("ticker", "date", *PRICE_COLUMNS, "adj_close", "volume")

_TICKER_CHECK = "ticker_symbol"
_HIGH_CHECK = "high_below_open_or_close"
_LOW_CHECK = "low_above_open_or_close"
# pandera check name -> (field it concerns or None for "the check's column", reason)
_REASONS: dict[str, tuple[str | None, str]] = {
    "not_nullable": (None, "missing value"),
    "greater_than(0)": (None, "must be greater than 0"),
    "greater_than_or_equal_to(0)": (None, "must not be negative"),
    _TICKER_CHECK: (None, "not a valid ticker symbol"),
    _HIGH_CHECK: ("high", "high is below max(open, close)"),
    _LOW_CHECK: ("low", "low is above min(open, close)"),
}


def _valid_symbols(tickers: pd.Series) -> pd.Series:
    # A file holds few distinct symbols: match each once, not once per row.
    pattern = re.compile(TICKER_PATTERN)
    valid = [t for t in tickers.dropna().unique() if pattern.match(str(t))]
    return tickers.isin(valid) | tickers.isna()


def _usable(values: pd.Series) -> np.ndarray:
    # A missing or non-positive price is reported once, by its own check, and not again as a
    # failed range check against it (Yahoo's open of 0.0 for old index bars, say).
    array = values.to_numpy(dtype=float)
    return np.where(array > 0, array, np.nan)


def _high_covers_body(frame: pd.DataFrame) -> pd.Series:
    body = np.fmax(_usable(frame["open"]), _usable(frame["close"]))
    high = _usable(frame["high"])
    return pd.Series((high >= body) | np.isnan(high) | np.isnan(body), index=frame.index)


def _low_covers_body(frame: pd.DataFrame) -> pd.Series:
    body = np.fmin(_usable(frame["open"]), _usable(frame["close"]))
    low = _usable(frame["low"])
    return pd.Series((low <= body) | np.isnan(low) | np.isnan(body), index=frame.index)


def _bar_schema() -> pa.DataFrameSchema:
    positive = [pa.Check.gt(0)]
    return pa.DataFrameSchema(
        {
            "ticker": pa.Column("string", pa.Check(_valid_symbols, name=_TICKER_CHECK)),
            "date": pa.Column("datetime64[ns]"),
            **{name: pa.Column(float, positive) for name in PRICE_COLUMNS},
            "adj_close": pa.Column(float, positive, nullable=True, required=False),
            "volume": pa.Column(float, pa.Check.ge(0)),
        },
        checks=[
            pa.Check(_high_covers_body, name=_HIGH_CHECK),
            pa.Check(_low_covers_body, name=_LOW_CHECK),
        ],
        strict=False,
        coerce=False,
    )


@dataclass(frozen=True, slots=True)
class BarValidation:
    """Result of :func:`validate_bars`.

    ``clean``: ticker, date (naive session date), ts (UTC close), open, high, low, close,
    adj_close, volume, file, row; sorted by ticker and ts.
    ``rejects``: one line per (row, field) problem, columns :data:`REJECT_COLUMNS`.
    ``rejected_rows``: how many input rows were rejected (a row may have several problems).
    """

    clean: pd.DataFrame
    rejects: pd.DataFrame
    rejected_rows: int
    input_rows: int


def _as_text(values: pd.Series) -> pd.Series:
    """Values as the strings shown in a report; missing values as ""."""
    return values.astype(object).where(values.notna(), "").astype(str)


def _present(values: pd.Series) -> pd.Series:
    """Whether a raw cell holds something (not missing, not blank text)."""
    present = values.notna()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        present &= values.astype("string").str.strip().fillna("") != ""
    return present


@dataclass(frozen=True, slots=True)
class BarRules:
    """What a plausible bar is, beyond the data contract; defaults match the settings'.

    ``earliest``: the first session date accepted. Before 1900 exchange calendars and time
    zones are not modelled (New York closes fall in local mean time, 20:56:02 UTC), so such a
    date is a typo (0213 for 2013) or a file of another kind, not a bar.
    ``max_price`` and ``max_volume``: above these a value is a unit or parsing error (1e308).
    ``date_format``: the strftime format of non-ISO dates (``%d/%m/%Y``), or None to decide it
    per file from all of the file's values.
    ``max_field_chars``: the longest raw value (characters), far beyond any date, symbol or
    number; a longer one rejects its row, reported once as a short preview and its length.
    """

    earliest: date = date(1900, 1, 1)
    max_price: float = 1e7
    max_volume: float = 1e12
    date_format: str | None = None
    max_field_chars: int = 256


DEFAULT_RULES = BarRules()

# Far beyond any bar: later dates are typos (2107 for 2017), reported as not a date.
_LATEST = pd.Timestamp("2200-01-01")
# Unique non-ISO values sampled for candidate formats; every value is then tried with each.
_FORMAT_SAMPLES = 200


def _swap_day_month(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _candidate_formats(values: np.ndarray) -> list[str]:
    found: dict[str, None] = {}
    with warnings.catch_warnings():
        # It warns when a value can only be day-first (14/01/2013): that is the point.
        warnings.simplefilter("ignore", UserWarning)
        for sample in values[:_FORMAT_SAMPLES]:
            for dayfirst in (False, True):
                guessed = guess_datetime_format(str(sample), dayfirst=dayfirst)
                if guessed is not None:
                    found[guessed] = None
                    if "%d" in guessed and "%m" in guessed:
                        found[_swap_day_month(guessed)] = None
    # Year, day, month (2017/06/09 read as 6 September) is no one's layout.
    return [f for f in found if not _year_day_month(f)]


def _year_day_month(fmt: str) -> bool:
    if not all(d in fmt for d in ("%Y", "%d", "%m")):
        return False
    return fmt.index("%Y") < fmt.index("%d") < fmt.index("%m")


def decide_date_format(values: pd.Series, *, file: str) -> str | None:
    """The one format that reads the non-ISO date strings of one file, decided from all of them.

    Day/month order is never guessed from one value: ``06/09/2017`` next to ``13/09/2017`` is
    day-first because the second can only be. A file whose values read both ways (every day
    <= 12), or some only one way and others only the other, raises :class:`InputFileError`
    naming ``--date-format``. None when no format reads any value (they are then "not a date").
    """
    unique = pd.Series(values.dropna().astype(str).unique())
    if unique.empty:
        return None
    readable: dict[str, pd.Series] = {}
    parsed: dict[str, pd.Series] = {}
    for fmt in _candidate_formats(unique.to_numpy()):
        dates = pd.to_datetime(unique, errors="coerce", format=fmt)
        if bool(dates.notna().any()):
            readable[fmt], parsed[fmt] = dates.notna(), dates
    if not readable:
        return None
    best = max(readable, key=lambda f: int(readable[f].sum()))
    rivals = [f for f in readable if f != best]
    hint = (
        "give the order with --date-format, e.g. --date-format '%d/%m/%Y' (day first) or "
        "'%m/%d/%Y' (month first)"
    )
    for rival in rivals:
        both = readable[best] & readable[rival]
        if bool(readable[best].all()) and bool(readable[rival].all()):
            if bool((parsed[best] == parsed[rival]).all()):
                continue
            example = unique[both & (parsed[best] != parsed[rival])].iloc[0]
            raise InputFileError(
                f"{file}: the dates cannot be read one way only: every value reads as "
                f"{best!r} and as {rival!r} (e.g. {example!r}); {hint}"
            )
        only_rival = readable[rival] & ~readable[best]
        if bool(only_rival.any()):
            mine = unique[readable[best] & ~readable[rival]]
            theirs = unique[only_rival].iloc[0]
            example = f"{mine.iloc[0]!r} reads only as {best!r}, " if len(mine) else ""
            raise InputFileError(
                f"{file}: the dates mix layouts: {example}{theirs!r} only as {rival!r}; "
                f"fix the file or {hint}"
            )
    return best


def _parse_dates(
    raw: pd.Series, files: pd.Series, *, date_format: str | None, earliest: pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """Session dates (naive, normalised; NaT where unreadable or too early) and a mask of the
    dates that were read but fall before ``earliest``."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = raw
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
    else:
        text = raw.astype("string").str.strip()
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
        # Not ISO (e.g. 1/4/1999): one format per file, decided from all its values (or given),
        # so a day-first file is never read month-first row by row.
        retry = parsed.isna() & text.notna() & (text != "")
        if bool(retry.any()):
            for name, rows in text[retry].groupby(files[retry], sort=False):
                fmt = date_format or decide_date_format(rows, file=str(name))
                if fmt is not None:
                    parsed.loc[rows.index] = pd.to_datetime(rows, errors="coerce", format=fmt)
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    parsed = pd.to_datetime(parsed)
    # Compared before the cast to nanoseconds, which cannot hold the year 213.
    early = parsed.notna() & (parsed < earliest)
    parsed = parsed.where(~early & (parsed < _LATEST))
    return parsed.astype("datetime64[ns]").dt.normalize(), early


def _problems(index: pd.Index, field: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"position": np.asarray(index, dtype=np.int64), "field": field, "reason": reason}
    )


def _preview(value: str) -> str:
    return f"{value[:_PREVIEW_CHARS]}… ({len(value):,} chars)"


@dataclass(frozen=True, slots=True)
class _OverLong:
    """Values longer than the limit: ``judged`` has them missing (so parsing never meets them),
    ``shown`` has them as previews (for the report), ``problems`` one line per row."""

    judged: pd.DataFrame
    shown: pd.DataFrame
    problems: pd.DataFrame


def _over_long(frame: pd.DataFrame, *, limit: int) -> _OverLong:
    found: dict[int, tuple[str, int]] = {}
    judged, shown = frame, frame
    for name in _VALUE_COLUMNS:
        column = frame.get(name)
        if column is None or not (
            column.dtype == object or pd.api.types.is_string_dtype(column.dtype)
        ):
            continue  # numbers and dates as typed (Parquet, providers) are short by nature
        lengths = column.astype("string").str.len()
        long = (lengths > limit).fillna(False).to_numpy(dtype=bool)
        if not long.any():
            continue
        if judged is frame:
            judged, shown = frame.copy(), frame.copy()
        text = column[long].astype(str)
        shown[name] = shown[name].astype(object)
        shown.loc[long, name] = text.map(_preview).to_numpy()
        judged[name] = judged[name].mask(long)
        for position, value in zip(np.flatnonzero(long), text, strict=True):
            found.setdefault(int(position), (name, len(value)))
    problems = pd.DataFrame(
        {
            "position": np.fromiter(found, dtype=np.int64, count=len(found)),
            "field": [field for field, _ in found.values()],
            "reason": [
                f"{length:,} characters, more than the {limit:,} a value may have "
                "(setting ingest_max_field_chars)"
                for _, length in found.values()
            ],
        }
    )
    return _OverLong(judged=judged, shown=shown, problems=problems)


def validate_bars(
    raw: pd.DataFrame,
    *,
    calendar: str,
    carry: Sequence[str] = (),
    now: pd.Timestamp | None = None,
    rules: BarRules = DEFAULT_RULES,
) -> BarValidation:
    """Split ``raw`` bars into clean rows and a reject report.

    Rules: dates parse and are sessions of ``calendar``; prices are numbers > 0; volume >= 0;
    high >= max(open, close); low <= min(open, close); ticker is a symbol; no two rows share
    (ticker, date) unless identical (then the first is kept and the repeat reported).
    ``carry`` names extra columns of ``raw`` (e.g. provenance) copied to the clean rows.
    ``now`` (UTC-aware), when given, rejects bars of sessions that had not closed by then.
    ``rules`` bound dates and values (:class:`BarRules`); an undecidable day/month order in a
    file raises :class:`InputFileError` before anything is judged. A value longer than
    ``rules.max_field_chars`` rejects its row with that one problem, shown shortened in the
    report, and is never parsed.
    """
    over_long = _over_long(raw.reset_index(drop=True), limit=rules.max_field_chars)
    frame = over_long.judged
    n = len(frame)
    problems: list[pd.DataFrame] = []

    typed = pd.DataFrame(index=frame.index)
    typed["ticker"] = frame["ticker"].astype("string").str.strip().str.upper()
    earliest = pd.Timestamp(rules.earliest)
    typed["date"], early = _parse_dates(
        frame["date"], frame["file"], date_format=rules.date_format, earliest=earliest
    )
    problems.append(
        _problems(
            frame.index[early],
            "date",
            f"before {earliest:%Y-%m-%d}, the earliest date accepted (setting "
            "ingest_earliest_date)",
        )
    )
    bad_date = typed["date"].isna() & _present(frame["date"]) & ~early
    problems.append(_problems(frame.index[bad_date], "date", "not a date"))

    numeric = [*PRICE_COLUMNS, "volume"] + (["adj_close"] if "adj_close" in frame else [])
    for name in numeric:
        column = frame[name]
        values = pd.to_numeric(column, errors="coerce").astype(float)
        # inf and 1e400 parse as numbers but are none.
        values = values.where(np.isfinite(values))
        not_number = values.isna() & _present(column)
        problems.append(_problems(frame.index[not_number], name, "not a number"))
        limit, setting = (
            (rules.max_volume, "ingest_max_volume")
            if name == "volume"
            else (rules.max_price, "ingest_max_price")
        )
        huge = values > limit
        problems.append(
            _problems(
                frame.index[huge], name, f"above {limit:g}, the most plausible (setting {setting})"
            )
        )
        typed[name] = values.where(~huge)

    try:
        _bar_schema().validate(typed, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna()]
        for check, group in cases.groupby("check", sort=False):
            field, reason = _REASONS.get(str(check), (None, str(check)))
            if field is not None:
                rows = group.drop_duplicates("index")["index"].astype(np.int64)
                problems.append(_problems(pd.Index(rows), field, reason))
            else:
                for column, sub in group.groupby("column", sort=False):
                    index = pd.Index(sub["index"].astype(np.int64))
                    problems.append(_problems(index, str(column), reason))

    valid_date = typed["date"].notna()
    if bool(valid_date.any()):
        dates = pd.DatetimeIndex(typed.loc[valid_date, "date"])
        cal = get_trading_calendar(calendar, dates.min(), dates.max())
        off = valid_date.copy()
        off.loc[valid_date] = ~cal.is_session(dates).to_numpy()
        problems.append(
            _problems(frame.index[off], "date", f"not a trading session of the {cal.name} calendar")
        )
        if now is not None:
            sessions = valid_date & ~off
            closes = cal.session_closes(pd.DatetimeIndex(typed.loc[sessions, "date"]))
            future = pd.Series(False, index=frame.index)
            future.loc[sessions] = closes > pd.Timestamp(now).tz_convert("UTC")
            problems.append(
                _problems(
                    frame.index[future],
                    "date",
                    f"session not closed yet at {now:%Y-%m-%d %H:%M} UTC",
                )
            )
    else:
        cal = None

    found = pd.concat(problems, ignore_index=True)
    found = found.drop_duplicates(["position", "field"], keep="first")
    if not over_long.problems.empty:
        # An over-long value is its row's one line: the rest follows from it (a line that lost
        # its commas leaves every other field missing) and would only repeat it.
        follows = found["position"].isin(over_long.problems["position"])
        found = pd.concat([found[~follows], over_long.problems], ignore_index=True)
    bad = np.zeros(n, dtype=bool)
    bad[found["position"].to_numpy()] = True

    # Duplicates among the rows that passed every other rule: an identical repeat is dropped
    # (the first copy kept); rows that disagree on the same (ticker, date) are all rejected,
    # since nothing says which one is right.
    key_cols = ["ticker", "date"]
    candidates = typed[~bad].copy()
    candidates["row"] = frame.loc[~bad, "row"]
    value_cols = [c for c in typed.columns if c not in key_cols]
    identical = candidates.duplicated([*key_cols, *value_cols], keep="first")
    if bool(identical.any()):
        first_row = candidates.groupby([*key_cols, *value_cols], dropna=False)["row"].transform(
            "first"
        )
        repeats = candidates.index[identical]
        reasons = "duplicate of row " + first_row[identical].astype(str) + " (identical; kept once)"
        found = pd.concat(
            [
                found,
                pd.DataFrame({"position": repeats, "field": "date", "reason": reasons.to_numpy()}),
            ],
            ignore_index=True,
        )
        bad[repeats.to_numpy()] = True
        candidates = candidates[~identical]
    conflicting = candidates.duplicated(key_cols, keep=False)
    if bool(conflicting.any()):
        clash = candidates[conflicting]
        rows = clash.groupby(key_cols)["row"].transform(lambda r: ", ".join(map(str, r)))
        reasons = "conflicting values for the same ticker and date in rows " + rows
        found = pd.concat(
            [
                found,
                pd.DataFrame(
                    {"position": clash.index, "field": "date", "reason": reasons.to_numpy()}
                ),
            ],
            ignore_index=True,
        )
        bad[clash.index.to_numpy()] = True

    clean = typed[~bad].copy()
    for name in ("file", "row", *carry):
        clean[name] = frame.loc[~bad, name]
    if "adj_close" not in clean:
        clean["adj_close"] = np.nan
    if cal is not None and len(clean):
        closes = cal.session_closes(pd.DatetimeIndex(clean["date"]))
        clean["ts"] = pd.Series(closes.array, index=clean.index)
    else:
        clean["ts"] = pd.Series(pd.DatetimeIndex([], tz="UTC"))
    clean = clean.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    columns = ["ticker", "date", "ts", "open", "high", "low", "close", "adj_close", "volume"]
    clean = clean[[*columns, "file", "row", *carry]]

    return BarValidation(
        clean=clean,
        rejects=_reject_report(over_long.shown, found),
        rejected_rows=int(bad.sum()),
        input_rows=n,
    )


def _reject_report(frame: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    if found.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in REJECT_COLUMNS})
    positions = found["position"].to_numpy()
    rows = frame.iloc[positions].reset_index(drop=True)
    values = [
        rows[field].iat[i] if field in rows else None for i, field in enumerate(found["field"])
    ]
    report = pd.DataFrame(
        {
            "file": rows["file"].to_numpy(),
            "row": rows["row"].to_numpy(),
            "ticker": _as_text(rows["ticker"]).to_numpy(),
            "date": _as_text(rows["date"]).to_numpy(),
            "field": found["field"].to_numpy(),
            "value": _as_text(pd.Series(values, dtype=object)).to_numpy(),
            "reason": found["reason"].to_numpy(),
        }
    )
    return report.sort_values(["file", "row", "field"], kind="stable").reset_index(drop=True)
