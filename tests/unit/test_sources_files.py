"""Bar files in the layouts people have: Yahoo, Kaggle, any long file, Parquet, gzip; and errors."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import InputFileError
from stockpred.sources import files
from stockpred.sources.files import expand_paths, parse_column_mapping, read_bar_file

YAHOO = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2013-12-02,1806.550049,1810.020020,1798.599976,1800.900024,1800.900024,3095430000\n"
    "2013-12-03,1800.099976,1800.099976,1787.849976,1795.150024,1795.150024,3727410000\n"
)
KAGGLE = (
    "date,open,high,low,close,volume,Name\n"
    "2013-02-08,15.07,15.12,14.63,14.75,8407500,AAL\n"
    "2013-02-11,14.89,15.01,14.26,14.46,8882000,AAL\n"
    "2013-02-08,67.7142,68.4014,66.8928,67.8542,158168416,AAPL\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- layouts ------------------------------------------------------------------------------------


def test_yahoo_download_takes_its_ticker_from_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path / "SPY.csv", YAHOO)
    result = read_bar_file(path)

    assert result.layout == "single-ticker"
    assert result.ticker_from == "file name"
    frame = result.frame
    assert list(frame.columns) == [
        "file",
        "ticker",
        "date",
        "open",
        "high",
        "low",
        "close",
        "adj_close",
        "volume",
        "row",
    ]
    assert list(frame["ticker"]) == ["SPY", "SPY"]
    # The path as given, so files of the same name in two folders stay apart.
    assert list(frame["file"]) == [str(path), str(path)]
    assert list(frame["date"]) == ["2013-12-02", "2013-12-03"]
    assert frame.loc[0, "close"] == pytest.approx(1800.900024)
    assert frame.loc[1, "volume"] == 3727410000


def test_index_symbol_with_a_caret_is_taken_from_the_file_name(tmp_path: Path) -> None:
    result = read_bar_file(write(tmp_path / "^GSPC.csv", YAHOO))

    assert set(result.frame["ticker"]) == {"^GSPC"}


def test_ticker_option_names_a_single_ticker_file(tmp_path: Path) -> None:
    result = read_bar_file(write(tmp_path / "download (3).csv", YAHOO), ticker="MSFT")

    assert set(result.frame["ticker"]) == {"MSFT"}
    assert result.ticker_from == "--ticker"


def test_kaggle_long_file_takes_tickers_from_its_name_column(tmp_path: Path) -> None:
    result = read_bar_file(write(tmp_path / "all_stocks_5yr.csv", KAGGLE))

    assert result.layout == "long"
    assert result.ticker_from == "column Name"
    assert list(result.frame["ticker"]) == ["AAL", "AAL", "AAPL"]
    assert list(result.frame["row"]) == [2, 3, 4]
    assert "adj_close" not in result.frame.columns
    assert result.frame.loc[2, "close"] == pytest.approx(67.8542)


def test_generic_long_file_with_odd_names_is_read_through_a_column_mapping(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "export.csv",
        "Sym,Dt,O,H,L,C,Vol,Exchange\n"
        "IBM,2013-12-02,179.46,179.59,177.12,177.48,4560000,NYSE\n"
        "IBM,2013-12-03,177.00,178.29,175.71,176.08,5370000,NYSE\n",
    )
    mapping = parse_column_mapping("Sym=ticker,Dt=date,O=open,H=high,L=low,C=close,Vol=volume")

    result = read_bar_file(path, columns=mapping)

    assert result.ticker_from == "column Sym"
    frame = result.frame
    assert list(frame["ticker"]) == ["IBM", "IBM"]
    assert list(frame["date"]) == ["2013-12-02", "2013-12-03"]
    assert list(frame["low"]) == [177.12, 175.71]
    # Columns that are not ours are left out.
    assert "Exchange" not in frame.columns


def test_column_mapping_matches_file_columns_regardless_of_case(tmp_path: Path) -> None:
    path = write(
        tmp_path / "export.csv", "SYM,When,open,high,low,close,volume\nIBM,2013-12-02,1,2,1,2,3\n"
    )

    result = read_bar_file(path, columns=parse_column_mapping("sym=ticker, when=DATE"))

    assert list(result.frame["ticker"]) == ["IBM"]
    assert list(result.frame["date"]) == ["2013-12-02"]


def test_parquet_long_file_numbers_rows_from_one(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    pd.DataFrame(
        {
            "symbol": ["AAPL", "MSFT"],
            "timestamp": pd.to_datetime(["2013-12-02", "2013-12-02"]),
            "open": [556.7, 38.09],
            "high": [560.0, 38.78],
            "low": [551.66, 38.06],
            "close": [551.23, 38.45],
            "volume": [11_000_000, 42_000_000],
        }
    ).to_parquet(path, index=False)

    result = read_bar_file(path)

    assert list(result.frame["row"]) == [1, 2]
    assert list(result.frame["ticker"]) == ["AAPL", "MSFT"]
    assert list(result.frame["date"]) == [pd.Timestamp("2013-12-02")] * 2
    assert result.ticker_from == "column symbol"


def test_parquet_with_the_date_as_its_index_keeps_the_date(tmp_path: Path) -> None:
    path = tmp_path / "IBM.parquet"
    pd.DataFrame(
        {
            "Open": [179.46],
            "High": [179.59],
            "Low": [177.12],
            "Close": [177.48],
            "Adj Close": [160.1],
            "Volume": [4_560_000],
        },
        index=pd.DatetimeIndex(["2013-12-02"], name="Date"),
    ).to_parquet(path)

    result = read_bar_file(path)

    assert list(result.frame["date"]) == [pd.Timestamp("2013-12-02")]
    assert list(result.frame["ticker"]) == ["IBM"]
    assert list(result.frame["adj_close"]) == [160.1]


def test_gzipped_csv_reads_like_the_plain_file(tmp_path: Path) -> None:
    plain = read_bar_file(write(tmp_path / "SPY.csv", YAHOO)).frame
    path = tmp_path / "gz" / "SPY.csv.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(YAHOO.encode()))

    result = read_bar_file(path)

    assert list(result.frame["ticker"]) == ["SPY", "SPY"]
    pd.testing.assert_frame_equal(
        result.frame.drop(columns="file"), plain.drop(columns="file"), check_dtype=False
    )


def test_gzipped_csv_without_gz_suffix_is_read(tmp_path: Path) -> None:
    path = tmp_path / "SPY.csv"
    path.write_bytes(gzip.compress(YAHOO.encode()))

    result = read_bar_file(path)

    assert list(result.frame["ticker"]) == ["SPY", "SPY"]


def test_row_is_the_csv_line_number_and_blank_lines_do_not_shift_it(tmp_path: Path) -> None:
    path = write(
        tmp_path / "AAPL.csv",
        "Date,Open,High,Low,Close,Volume\n"  # line 1
        "2013-12-02,1,2,1,2,10\n"  # line 2
        "\n"  # line 3
        "2013-12-03,1,2,1,2,10\n"  # line 4
        "\n"  # line 5
        "\n"  # line 6
        "2013-12-04,1,2,1,2,10\n",  # line 7
    )

    result = read_bar_file(path)

    assert list(result.frame["row"]) == [2, 4, 7]
    assert list(result.frame["date"]) == ["2013-12-02", "2013-12-03", "2013-12-04"]


def test_bad_values_are_returned_as_read_for_validation_to_judge(tmp_path: Path) -> None:
    path = write(
        tmp_path / "AAPL.csv",
        "Date,Open,High,Low,Close,Volume\n2013-12-02,abc,2,1,2,10\n2013-12-03,,2,1,2,-5\n",
    )

    frame = read_bar_file(path).frame

    assert frame.loc[0, "open"] == "abc"
    assert pd.isna(frame.loc[1, "open"])
    assert list(frame["row"]) == [2, 3]


def test_line_of_empty_fields_is_kept_as_a_row_for_validation(tmp_path: Path) -> None:
    path = write(
        tmp_path / "AAPL.csv",
        "Date,Open,High,Low,Close,Volume\n2013-12-02,1,2,1,2,10\n,,,,,\n2013-12-04,1,2,1,2,10\n",
    )

    assert list(read_bar_file(path).frame["row"]) == [2, 3, 4]


def test_trailing_comma_on_each_line_does_not_shift_the_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path / "AAPL.csv",
        "Date,Open,High,Low,Close,Volume\n2013-12-02,1,2,0.5,1.5,10,\n2013-12-03,1,2,0.5,1.5,10,\n",
    )

    frame = read_bar_file(path).frame

    assert list(frame["date"]) == ["2013-12-02", "2013-12-03"]
    assert list(frame["volume"]) == [10, 10]


# --- whole-file errors ---------------------------------------------------------------------------


def test_empty_file_is_an_input_file_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "EMPTY.csv"
    path.write_bytes(b"")

    with pytest.raises(InputFileError, match=r"EMPTY\.csv.*empty"):
        read_bar_file(path)


def test_header_only_file_is_an_input_file_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "HEADER.csv", "Date,Open,High,Low,Close,Volume\n\n")

    with pytest.raises(InputFileError, match=r"HEADER\.csv has a header but no data rows"):
        read_bar_file(path)


def test_file_without_a_date_column_names_the_columns_it_has(tmp_path: Path) -> None:
    path = write(tmp_path / "NODATE.csv", "When,Open,High,Low,Close,Volume\nx,1,2,1,2,10\n")

    with pytest.raises(InputFileError, match=r"NODATE\.csv has no date column") as caught:
        read_bar_file(path)

    assert "When" in str(caught.value)
    assert "--columns" in str(caught.value)


def test_file_without_a_price_column_names_what_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "NOCLOSE.csv", "Date,Open,High,Low,Volume\n2013-12-02,1,2,1,10\n")

    with pytest.raises(InputFileError, match=r"NOCLOSE\.csv lacks the column\(s\) close"):
        read_bar_file(path)


def test_column_mapping_naming_a_column_the_file_lacks_names_it(tmp_path: Path) -> None:
    path = write(tmp_path / "SPY.csv", YAHOO)

    with pytest.raises(InputFileError, match=r"'Sym'.*SPY\.csv") as caught:
        read_bar_file(path, columns={"Sym": "ticker"})

    assert "Adj Close" in str(caught.value)


def test_column_mapping_to_an_unknown_target_names_it_and_lists_ours() -> None:
    with pytest.raises(InputFileError, match=r"'Px'.*'price'") as caught:
        parse_column_mapping("Dt=date,Px=price")

    assert "adj_close" in str(caught.value)


@pytest.mark.parametrize("text", ["Sym", "Sym=", "=ticker"])
def test_column_mapping_item_without_both_sides_is_an_error(text: str) -> None:
    with pytest.raises(InputFileError, match="FILE_COLUMN=OUR_COLUMN"):
        parse_column_mapping(text)


@pytest.mark.parametrize("text", [None, "", " , "])
def test_no_column_mapping_is_an_empty_mapping(text: str | None) -> None:
    assert parse_column_mapping(text) == {}


def test_column_mapping_trims_spaces_and_lowercases_targets() -> None:
    assert parse_column_mapping(" Sym = Ticker , Dt=DATE,") == {"Sym": "ticker", "Dt": "date"}


def test_binary_file_is_an_input_file_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")

    with pytest.raises(InputFileError, match=r"prices\.csv is binary"):
        read_bar_file(path)


def test_text_that_is_not_utf8_is_an_input_file_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Date,Open,High,Low,Close,Volume,Börse\n".encode("latin-1") * 3)

    with pytest.raises(InputFileError, match=r"latin1\.csv is not UTF-8"):
        read_bar_file(path)


def test_ticker_option_for_a_file_with_a_ticker_column_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "all_stocks_5yr.csv", KAGGLE)

    with pytest.raises(InputFileError, match=r"all_stocks_5yr\.csv has a ticker column \(Name\)"):
        read_bar_file(path, ticker="AAL")


def test_input_file_error_is_a_data_source_error() -> None:
    from stockpred.domain.errors import DataSourceError, StockpredError

    assert issubclass(InputFileError, DataSourceError)
    assert issubclass(InputFileError, StockpredError)


# --- bounds: size, line length ------------------------------------------------------------------


def gzip_with_a_long_line(path: Path, *, line_bytes: int) -> Path:
    """A Yahoo file with one good row, then a line of ``line_bytes`` x's, gzipped as it streams
    (a few hundred KB on disk for tens of MB of text)."""
    block = b"x" * (1024 * 1024)
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(YAHOO.encode().splitlines(keepends=True)[0] + YAHOO.encode().splitlines()[1])
        out.write(b"\n")
        for _ in range(line_bytes // len(block)):
            out.write(block)
        out.write(b"x" * (line_bytes % len(block)) + b"\n")
    return path


def test_gzip_with_one_huge_line_is_refused_naming_the_line_the_limit_and_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = gzip_with_a_long_line(tmp_path / "HUGE.csv.gz", line_bytes=20 * 1024 * 1024)

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("pandas must not parse a file that breaks a bound")

    monkeypatch.setattr(pd, "read_csv", never)
    with pytest.raises(InputFileError) as caught:
        read_bar_file(path, max_line_bytes=65_536)

    message = str(caught.value)
    assert message.startswith(f"{path}: line 3 is longer than 65,536 bytes")
    assert "ingest_max_line_bytes" in message
    assert "STOCKPRED_INGEST_MAX_LINE_BYTES" in message
    assert "\n" not in message


def test_huge_line_is_measured_in_bounded_memory_not_read_whole(tmp_path: Path) -> None:
    # The limit is passed only after 24 MiB of one line: reading the line whole would show.
    path = gzip_with_a_long_line(tmp_path / "HUGE.csv.gz", line_bytes=32 * 1024 * 1024)

    tracemalloc.start()
    try:
        with pytest.raises(InputFileError, match="line 3 is longer than 25,165,824 bytes"):
            read_bar_file(path, max_line_bytes=24 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024 * 1024


def test_gzip_bomb_stops_as_soon_as_the_decompressed_limit_is_passed(tmp_path: Path) -> None:
    # 64 MiB of good bars from 64 gzip members of 1 MiB each, then bytes that are no gzip at
    # all: a check that inflated the whole file would fail on them, not on the limit.
    line = b"2013-12-02,1806.55,1810.02,1798.6,1800.9,1800.9,3095430000\n"
    member = gzip.compress(YAHOO.encode().splitlines(keepends=True)[0])
    body = gzip.compress(line * (1024 * 1024 // len(line)), compresslevel=9)
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(member + body * 64 + b"\x1f\x8b" + b"\xff" * 64)
    assert path.stat().st_size < 1024 * 1024

    with pytest.raises(InputFileError) as caught:
        read_bar_file(path, max_decompressed_bytes=4 * 1024 * 1024)

    message = str(caught.value)
    assert message.startswith(f"{path} decompresses to more than 4.0 MiB")
    assert "STOCKPRED_INGEST_MAX_DECOMPRESSED_BYTES" in message


def test_plain_csv_larger_than_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "SPY.csv", YAHOO + YAHOO.split("\n", 1)[1] * 20)

    with pytest.raises(InputFileError, match=r"SPY\.csv is more than 1\.0 KiB, the limit"):
        read_bar_file(path, max_decompressed_bytes=1024)


def test_file_within_the_bounds_is_read_as_before(tmp_path: Path) -> None:
    path = write(tmp_path / "SPY.csv", YAHOO)
    longest = max(len(line) for line in YAHOO.splitlines())

    result = read_bar_file(path, max_line_bytes=longest, max_decompressed_bytes=len(YAHOO))

    assert list(result.frame["row"]) == [2, 3]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 13, 1024])
def test_line_length_excludes_the_line_break_and_lines_are_numbered_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str, chunk: int
) -> None:
    monkeypatch.setattr(files, "_CHUNK", chunk)
    rows = ["Date,Open,High,Low,Close,Volume", "2013-12-02,1,2,1,2,10", "2013-12-03,1,2,1,2,10"]
    limit = max(len(r) for r in rows)
    fits = write(tmp_path / "fits.csv", ending.join(rows) + ending)
    too_long = write(tmp_path / "long.csv", ending.join([*rows, "x" * (limit + 1), *rows[1:]]))

    assert len(read_bar_file(fits, max_line_bytes=limit).frame) == 2
    with pytest.raises(InputFileError, match=f"line 4 is longer than {limit} bytes"):
        read_bar_file(too_long, max_line_bytes=limit)


def test_parquet_larger_than_the_limit_uncompressed_is_refused_from_its_metadata(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bars.parquet"
    n = 100_000
    pd.DataFrame(
        {
            "ticker": ["AAPL"] * n,
            "date": pd.bdate_range("1990-01-01", periods=n),
            **{c: np.linspace(1.0, 2.0, n) for c in ("open", "high", "low", "close", "volume")},
        }
    ).to_parquet(path, index=False)

    with pytest.raises(InputFileError, match=r"bars\.parquet holds .* MiB of column data"):
        read_bar_file(path, max_decompressed_bytes=1024 * 1024)
    assert len(read_bar_file(path).frame) == n


# --- paths and globs -----------------------------------------------------------------------------


def test_non_existent_path_is_an_input_file_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"

    with pytest.raises(InputFileError, match=r"nope\.csv' does not exist"):
        expand_paths([str(missing)])


def test_directory_is_an_input_file_error_suggesting_a_glob(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"is a directory.*\*\.csv"):
        expand_paths([str(tmp_path)])


def test_glob_matching_nothing_is_an_input_file_error_naming_it(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.parquet")

    with pytest.raises(InputFileError, match=r"no files match .*\*\.parquet"):
        expand_paths([pattern])


def test_globs_expand_sorted_and_each_file_is_listed_once(tmp_path: Path) -> None:
    for name in ("MSFT.csv", "AAPL.csv", "IBM.csv"):
        write(tmp_path / name, YAHOO)
    write(tmp_path / "notes.txt", "not bars")

    paths = expand_paths([str(tmp_path / "IBM.csv"), str(tmp_path / "*.csv")])

    assert [p.name for p in paths] == ["IBM.csv", "AAPL.csv", "MSFT.csv"]
