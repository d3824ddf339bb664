"""Rendering of results as Rich tables and JSON-ready records. Pure: nothing here writes.

Tables are meant to be read in an 80-column terminal (:class:`~stockpred.cli.layout.FittedTable`
never cuts a value), with cells formatted compactly: dates without a time when there is none,
UTC times to the minute, large counts as ``47.2M`` where asked for.

pandas is imported by the functions that read frames: every command module imports this one,
and a command's ``--help`` should not pay for pandas.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from rich.text import Text

from stockpred.cli.layout import FittedTable

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FittedTable",
    "Formatter",
    "compact_count",
    "fraction",
    "frame_table",
    "records",
    "short_names",
]

Formatter = Callable[[object], str]


def compact_count(value: object) -> str:
    """A count in a few characters: ``9,999``, ``12.3K``, ``47.2M``, ``1.1B``; "" if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    number = float(value)  # type: ignore[arg-type]
    if abs(number) < 10_000:
        return f"{number:,.0f}"
    for size, suffix in ((1e3, "K"), (1e6, "M"), (1e9, "B")):
        scaled = f"{number / size:.1f}"
        if abs(float(scaled)) < 1_000:
            return scaled + suffix
    return f"{number / 1e12:,.1f}T"


def fraction(value: object, digits: int = 3) -> str:
    """A figure between -1 and 1 without its leading zero (``.023``, ``-.004``); "-" if
    missing."""
    if not isinstance(value, (int, float)) or math.isnan(float(value)):
        return "-"
    text = f"{value:.{digits}f}"
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def short_names(names: Sequence[str]) -> tuple[str | None, list[str]]:
    """The folder that every path in ``names`` shares, and each name relative to it.

    Names that are not file paths (``arch:sp500``) are kept as they are, and so is every name
    when they share no folder; a single file is shown by its file name."""
    paths = [PurePath(n) for n in names]
    if not names or any(not p.is_absolute() and p.parent == PurePath() for p in paths):
        return None, list(names)
    parents = [p.parent.parts for p in paths]
    common: list[str] = []
    for parts in zip(*parents, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    if not common:
        return None, list(names)
    folder = PurePath(*common)
    return str(folder), [str(p.relative_to(folder)) for p in paths]


def _cell(value: object) -> str:
    import pandas as pd

    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            return (
                value.date().isoformat()
                if value == value.normalize()
                else f"{value:%Y-%m-%d %H:%M}"
            )
        utc = value.tz_convert("UTC")
        if utc == utc.normalize():
            return utc.date().isoformat()
        return f"{utc:%Y-%m-%d %H:%M:%S}" if utc.second else f"{utc:%Y-%m-%d %H:%M}"
    return str(value)


def frame_table(
    frame: pd.DataFrame,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    limit: int | None = None,
    numeric: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    formats: Mapping[str, Formatter] | None = None,
) -> FittedTable:
    """A table of ``frame`` (first ``limit`` rows) that fits the terminal.

    Numbers (and the ``numeric`` columns) are right-aligned; they and dates never wrap. A
    header is ``headers[name]``, or the name with spaces for underscores so that it may wrap.
    ``formats`` turn a column's values into text (default: numbers to 4 decimals with
    separators, dates without a midnight time, UTC times to the minute)."""
    import pandas as pd

    names = list(columns or frame.columns)
    table = FittedTable(title=title, title_justify="left", header_style="bold")
    if title:
        # The title's longest word sets the narrowest the table may be, so it is never broken.
        table.min_width = max(len(word) for word in _plain(title).split() or [""]) or None
    for name in names:
        dtype = frame[name].dtype
        right = name in numeric or (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        )
        table.add_column(
            (headers or {}).get(name, name.replace("_", " ")),
            justify="right" if right else "left",
            no_wrap=right or pd.api.types.is_datetime64_any_dtype(dtype),
            overflow="fold",
        )
    shown = frame if limit is None else frame.head(limit)
    cells = [(formats or {}).get(name, _cell) for name in names]
    for row in shown[names].itertuples(index=False):
        table.add_row(*(format_(v) for format_, v in zip(cells, row, strict=True)))
    if limit is not None and len(frame) > limit:
        table.caption = f"first {limit} of {len(frame):,} rows"
    return table


def _plain(text: str) -> str:
    return Text.from_markup(text).plain


def _json_value(value: object) -> Any:
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None and value == value.normalize():
            return value.date().isoformat()
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame`` as JSON-ready dicts: ISO dates, None for missing values."""
    return [
        {str(k): _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]
