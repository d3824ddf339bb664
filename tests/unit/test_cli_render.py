"""Tables for an 80-column terminal: text wraps at spaces before a word breaks, numbers and dates
never wrap, nothing is cut with an ellipsis; and the compact cell formats."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.cells import cell_len
from rich.console import Console, RenderableType

from stockpred.cli.layout import FittedTable
from stockpred.cli.render import compact_count, fraction, frame_table, short_names


def rendered(table: RenderableType, width: int = 80) -> list[str]:
    """The lines ``table`` prints in a terminal ``width`` columns wide."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, legacy_windows=False).print(table)
    return buffer.getvalue().splitlines()


def cells(lines: list[str]) -> list[list[str]]:
    """The stripped cells of each table row line (between the vertical rules)."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│")]


def assert_fits(lines: list[str], width: int = 80) -> None:
    assert lines
    assert max(cell_len(line) for line in lines) <= width, "\n".join(lines)
    assert not any("…" in line for line in lines), "\n".join(lines)


def test_a_column_wraps_at_its_spaces_before_another_column_breaks_a_word() -> None:
    # `features show daily_v1`: Rich alone shrank params and outputs alike and cut
    # "bollinger_bandwidth_20_2"; params can wrap at its commas instead.
    frame = pd.DataFrame(
        {
            "kind": ["high_low_distance", "bollinger", "macd"],
            "params": ["period=252", "period=20, width=2.0", "fast=12, slow=26, signal=9"],
            "outputs": [
                "close_to_high_252, close_to_low_252",
                "bollinger_pctb_20_2, bollinger_bandwidth_20_2",
                "macd_12_26_9, macd_signal_12_26_9, macd_hist_12_26_9",
            ],
            "lookback": [251, 19, 33],
        }
    )

    lines = rendered(frame_table(frame, title="daily_v1@3"))

    assert_fits(lines)
    text = "\n".join(lines)
    for word in ("bollinger_bandwidth_20_2", "macd_signal_12_26_9", "high_low_distance"):
        assert word in text


def test_numbers_and_dates_stay_on_one_line_while_text_wraps() -> None:
    frame = pd.DataFrame(
        {
            "reason": ["low is above min(open, close) and the volume is missing as well"] * 2,
            "date": pd.to_datetime(["2014-11-06", "2015-07-17"]),
            "value": [1234567.25, 44.66],
            "rows": [82_186, 205_282],
            "note": ["a long explanation of what went wrong with this row, in words"] * 2,
        }
    )

    lines = rendered(frame_table(frame), width=60)

    assert_fits(lines, width=60)
    text = "\n".join(lines)
    for value in ("2014-11-06", "2015-07-17", "1,234,567", "82,186", "205,282"):
        assert value in text
    assert len(lines) > 6  # the text columns wrapped


def test_a_word_too_long_for_any_layout_is_folded_and_kept_whole() -> None:
    path = "/a/very/deep/folder/with/a/long/name/that/goes/on/and/on/prices-2024.csv"
    frame = pd.DataFrame({"file": [path], "rows": [12], "reason": ["not a date"]})

    lines = rendered(frame_table(frame), width=40)

    assert_fits(lines, width=40)
    assert "".join(row[0] for row in cells(lines)) == path
    assert any(row[1] == "12" for row in cells(lines))


def test_a_table_that_fits_is_laid_out_as_rich_would() -> None:
    frame = pd.DataFrame({"ticker": ["AAPL", "MSFT"], "rows": [1_259, 1_259]})

    lines = rendered(frame_table(frame))

    assert cells(lines) == [["AAPL", "1,259"], ["MSFT", "1,259"]]
    assert cell_len(lines[0]) < 30


def test_a_long_title_word_is_never_broken() -> None:
    store = "/tmp/a-data-home-with-a-long-name/stockpred.duckdb"
    table = frame_table(pd.DataFrame({"ticker": ["A"]}), title=f"1 ticker in {store}")

    lines = rendered(table)

    assert_fits(lines)
    assert any(store in line for line in lines)


def test_headers_wrap_at_the_spaces_that_replace_underscores() -> None:
    frame = pd.DataFrame({"ticker": ["AAPL"], "confirmed_by_adj_close": [True]})

    lines = rendered(frame_table(frame), width=24)

    assert_fits(lines, width=24)
    header = [row.split("┃")[2].strip() for row in lines if row.startswith("┃")]
    assert " ".join(header).split() == ["confirmed", "by", "adj", "close"]


def test_a_no_wrap_column_is_wrapped_rather_than_cropped_when_nothing_else_fits() -> None:
    table = FittedTable()
    table.add_column("id", no_wrap=True, overflow="fold")
    table.add_column("scopes", overflow="fold")
    table.add_row("cl_AbCdEfGhIjKlMnOpQr", "predictions:read bars:read")

    lines = rendered(table, width=16)

    assert_fits(lines, width=16)
    assert "".join(row[0] for row in cells(lines)) == "cl_AbCdEfGhIjKlMnOpQr"


def test_missing_values_are_blank_and_times_are_utc_to_the_minute() -> None:
    frame = pd.DataFrame(
        {
            "released": pd.to_datetime(
                ["2018-10-31T12:30:00+00:00", "2018-11-30T00:00:00+00:00", None], utc=True
            ),
            "value": [258.441, np.nan, 1.5],
        }
    )

    lines = rendered(frame_table(frame))

    assert cells(lines) == [["2018-10-31 12:30", "258.441"], ["2018-11-30", ""], ["", "1.5"]]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (9_999, "9,999"),
        (12_345, "12.3K"),
        (999_960, "1.0M"),
        (47_230_123, "47.2M"),
        (4_096_000_000, "4.1B"),
        (float("nan"), ""),
        (None, ""),
    ],
)
def test_compact_count(value: float | None, text: str) -> None:
    assert compact_count(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0749, ".075"), (-0.0038, "-.004"), (0.5, ".500"), (1.0, "1.000"), (float("nan"), "-")],
)
def test_fraction_drops_the_leading_zero(value: float, text: str) -> None:
    assert fraction(value) == text


def test_short_names_of_one_file_are_its_name_and_its_folder() -> None:
    assert short_names(["/srv/market/prices/sp500_5yr_dev.csv"]) == (
        "/srv/market/prices",
        ["sp500_5yr_dev.csv"],
    )


def test_short_names_keep_what_tells_files_apart() -> None:
    folder, names = short_names(["/data/yahoo/2023/SPY.csv", "/data/yahoo/2024/SPY.csv"])

    assert folder == "/data/yahoo"
    assert names == ["2023/SPY.csv", "2024/SPY.csv"]


def test_short_names_leave_names_that_are_not_paths() -> None:
    names = ["bokeh-sampledata:stocks", "arch:sp500"]

    assert short_names(names) == (None, names)


def test_a_capped_column_leaves_the_room_to_the_others() -> None:
    # `config show`: a meaning holding a long word (a URL) must not take the room of a path.
    table = FittedTable()
    table.add_column("setting: meaning", max_width=12, overflow="fold")
    table.add_column("value", overflow="fold")
    path = "/tmp/a-long-data-home-folder/of/someone/"
    table.add_row("home " + "x" * 30, path)

    lines = rendered(table, width=60)

    assert_fits(lines, width=60)
    assert len(path) == 40
    assert path in "\n".join(lines)
