"""Intraday bars from a file: times with their UTC offset, the interval from the spacing, bad
rows refused naming file and row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stockpred.domain.errors import InputFileError
from stockpred.sources.feeds.intraday import read_intraday_bars

HEADER = "ticker,timestamp,open,high,low,close,volume\n"


def _write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "minutes.csv"
    path.write_text(HEADER + "".join(f"{r}\n" for r in rows))
    return path


def test_bars_come_in_time_order_in_utc_with_the_interval_of_their_spacing(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        [
            "MSFT,2024-03-01 09:36:00-05:00,10,11,9,10.5,300",
            "AAPL,2024-03-01T14:35:00Z,20,21,19,20.5,100",
            "AAPL,2024-03-01T14:40:00Z,20.5,22,20,21.5,200",
            "MSFT,2024-03-01 09:41:00-05:00,10.5,12,10,11,400",
        ],
    )

    bars = read_intraday_bars(path)

    assert [(b.ticker, b.ts) for b in bars] == [
        ("AAPL", datetime(2024, 3, 1, 14, 35, tzinfo=UTC)),
        ("MSFT", datetime(2024, 3, 1, 14, 36, tzinfo=UTC)),
        ("AAPL", datetime(2024, 3, 1, 14, 40, tzinfo=UTC)),
        ("MSFT", datetime(2024, 3, 1, 14, 41, tzinfo=UTC)),
    ]
    assert {b.interval for b in bars} == {"5m"}
    assert bars[0].close == 20.5
    assert bars[0].volume == 100
    assert bars[0].adj_close is None
    assert bars[0].source == "file"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["AAPL,2024-03-01 14:35:00,1,2,0.5,1.5,10", "AAPL,2024-03-01 14:40:00,1,2,0.5,1.5,10"],
         "row 2: '2024-03-01 14:35:00' has no UTC offset"),
        (["AAPL,2024-03-01T14:35:00Z,1,2,0.5,x,10", "AAPL,2024-03-01T14:40:00Z,1,2,0.5,1,10"],
         "row 2: close 'x' is not a number"),
        (["AAPL,2024-03-01T14:35:00Z,1,2,0.5,1,10", "AAPL,2024-03-01T14:35:00Z,1,2,0.5,1,10"],
         "row 3: a second bar of AAPL"),
        (["AAPL,2024-03-01T14:35:00Z,1,0.5,2,1,10", "AAPL,2024-03-01T14:40:00Z,1,2,0.5,1,10"],
         "row 2: high under low"),
        (["AAPL,2024-03-01T14:35:00Z,1,2,0.5,1,10"], "gives no spacing"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_the_row(
    tmp_path: Path, rows: list[str], message: str
) -> None:
    with pytest.raises(InputFileError, match=message):
        read_intraday_bars(_write(tmp_path, rows))
