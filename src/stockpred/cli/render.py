"""Rendering of results as Rich tables and JSON-ready records. Pure: nothing here writes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from rich.table import Table

__all__ = ["frame_table", "records"]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None and value == value.normalize():
            return value.date().isoformat()
        return value.isoformat()
    return str(value)


def frame_table(
    frame: pd.DataFrame,
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    limit: int | None = None,
    numeric: Sequence[str] = (),
) -> Table:
    """A Rich table of ``frame`` (first ``limit`` rows); numbers right-aligned."""
    names = list(columns or frame.columns)
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in names:
        right = name in numeric or pd.api.types.is_numeric_dtype(frame[name].dtype)
        table.add_column(name, justify="right" if right else "left")
    shown = frame if limit is None else frame.head(limit)
    for row in shown[names].itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    if limit is not None and len(frame) > limit:
        table.caption = f"first {limit} of {len(frame):,} rows"
    return table


def _json_value(value: object) -> Any:
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
