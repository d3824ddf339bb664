"""Small pieces every page uses: calling the API without letting a failure break the page,
and the formats numbers and times are shown in."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.elements.lib.column_types import ColumnConfig

from stockpred.dashboard.client import ApiClient, ApiError

__all__ = [
    "attempt",
    "choose_horizon",
    "format_age",
    "format_percent",
    "format_price",
    "format_time",
    "in_percent",
    "percent_column",
]

T = TypeVar("T")


def attempt(call: Callable[[], T], *, what: str) -> T | None:
    """``call()``, or None with the API's message shown in its place: a missing route or
    record (404) as a note, anything else as an error. The page goes on either way."""
    try:
        return call()
    except ApiError as exc:
        if exc.not_found:
            st.info(f"{what}: {exc}")
        else:
            st.error(f"{what}: {exc}")
        return None


def format_percent(value: float | None, *, digits: int = 2, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.{digits}%}" if signed else f"{value:.{digits}%}"


def format_price(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.2f}"


def format_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def format_age(seconds: float | None) -> str:
    """``seconds`` ago in words a glance reads: 'just now', '42 s ago', '3 min ago'."""
    if seconds is None:
        return "never"
    if seconds < 2:
        return "just now"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def in_percent(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A copy of ``frame`` with ``columns`` (fractions) in percent points, for
    :func:`percent_column`: Streamlit's own percent format drops trailing zeros, so a column
    would read 0.3% beside 6.45%."""
    present = [c for c in columns if c in frame.columns]
    return frame.assign(**{c: pd.to_numeric(frame[c], errors="coerce") * 100 for c in present})


def percent_column(label: str, *, signed: bool = True, help: str | None = None) -> ColumnConfig:
    """A column of percent points shown with two decimals (see :func:`in_percent`)."""
    return st.column_config.NumberColumn(label, format="%+.2f%%" if signed else "%.2f%%", help=help)


def choose_horizon(api: ApiClient, *, into: DeltaGenerator, key: str) -> int:
    """A chooser of the served horizons (5 sessions when served) in ``into``; the horizon
    chosen. Without an answer from the API, 5."""
    models = attempt(api.models, what="served models") or []
    horizons = sorted({m.horizon for m in models}) or [5]
    chosen = into.selectbox(
        "Horizon",
        horizons,
        index=horizons.index(5) if 5 in horizons else 0,
        format_func=lambda h: f"{h} sessions",
        key=key,
    )
    return int(chosen if chosen is not None else horizons[0])
