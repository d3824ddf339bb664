"""Bar files as people have them: CSV (optionally gzipped) or Parquet, in three layouts.

* Yahoo downloads: ``Date,Open,High,Low,Close,Adj Close,Volume``; one ticker per file, taken from
  ``--ticker`` or the file name (``AAPL.csv`` -> AAPL).
* Kaggle-style long files: ``date,open,high,low,close,volume,Name``.
* Any long file with a ticker column; ``columns`` maps its names onto ours.

Reading never judges values: it returns them as read, under canonical column names, with ``file``
and ``row`` (the line number in a CSV file, header = 1; the 1-based row in a Parquet file), so
validation can name exactly where each bad value is.

Before pandas sees a file, its size once decompressed and its longest line are bounded: a bar file
has short lines, and a 200 KB gzip of one 190 MB line (or a gzip bomb) must fail in a moment with
bounded memory instead of being parsed.
"""

from __future__ import annotations

import glob
import gzip
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import InputFileError

__all__ = [
    "CANONICAL_COLUMNS",
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "BarFile",
    "expand_paths",
    "parse_column_mapping",
    "read_bar_file",
]

CANONICAL_COLUMNS: tuple[str, ...] = (
    "ticker",
    "date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
)
_REQUIRED = ("date", "open", "high", "low", "close", "volume")
_ALIASES: dict[str, str] = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "time": "date",
    "day": "date",
    "trade_date": "date",
    "ticker": "ticker",
    "symbol": "ticker",
    "name": "ticker",
    "ticker_symbol": "ticker",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "adjusted_close": "adj_close",
    "volume": "volume",
    "vol": "volume",
}
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF = 8192
# The defaults of the settings ingest_max_decompressed_bytes and ingest_max_line_bytes.
DEFAULT_MAX_DECOMPRESSED_BYTES = 2 * 1024**3
DEFAULT_MAX_LINE_BYTES = 64 * 1024
# Bytes read (decompressed) at a time by the bounds check: its memory, whatever the file.
_CHUNK = 256 * 1024
_LF, _CR = 0x0A, 0x0D


@dataclass(frozen=True, slots=True)
class BarFile:
    """One file read into canonical columns plus ``file`` and ``row``.

    ``ticker_from``: "column <name>", "--ticker" or "file name".
    """

    path: Path
    frame: pd.DataFrame
    layout: str
    ticker_from: str


def expand_paths(patterns: Iterable[str]) -> list[Path]:
    """Paths and globs to existing files, in the order given, each once."""
    found: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise InputFileError(f"no files match {pattern!r}")
            paths = [Path(m) for m in matches]
        else:
            paths = [Path(pattern)]
        for path in paths:
            if not path.exists():
                raise InputFileError(f"{str(path)!r} does not exist; check the path")
            if path.is_dir():
                raise InputFileError(
                    f"{str(path)!r} is a directory; pass files or a glob such as '{path}/*.csv'"
                )
            if path not in found:
                found.append(path)
    return found


def parse_column_mapping(text: str | None) -> dict[str, str]:
    """``"Sym=ticker,Dt=date"`` -> ``{"Sym": "ticker", "Dt": "date"}``, targets checked."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        source, sep, target = item.partition("=")
        source, target = source.strip(), target.strip().lower()
        if not sep or not source or not target:
            raise InputFileError(
                f"--columns item {item.strip()!r} is not FILE_COLUMN=OUR_COLUMN, "
                "e.g. --columns 'Sym=ticker,Dt=date'"
            )
        if target not in CANONICAL_COLUMNS:
            raise InputFileError(
                f"--columns maps {source!r} to {target!r}, which is not one of ours; "
                f"use one of: {', '.join(CANONICAL_COLUMNS)}"
            )
        mapping[source] = target
    return mapping


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-_.]+", "_", name.strip().lower()).strip("_")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv", ".parquet", ".pq", ".txt"):
        name = name.removesuffix(suffix)
    return name


def _kind(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF)
    if not head:
        raise InputFileError(f"{path} is empty (0 bytes); nothing to ingest")
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.startswith(_GZIP_MAGIC):
        return "csv.gz"
    if b"\x00" in head:
        raise InputFileError(
            f"{path} is binary, not CSV text or Parquet; stockpred reads .csv, .csv.gz and .parquet"
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut multi-byte character at the end of the sniffed block is fine.
        if exc.start < len(head) - 4:
            raise InputFileError(
                f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"
            ) from exc
    return "csv"


def _size(n: int) -> str:
    """``n`` bytes for people: 2.0 GiB, 64.0 KiB, 512 bytes."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _too_long(path: Path, line: int, limit: int) -> InputFileError:
    return InputFileError(
        f"{path}: line {line:,} is longer than {limit:,} bytes, the limit (setting "
        "ingest_max_line_bytes, env STOCKPRED_INGEST_MAX_LINE_BYTES); a line of bars is short, "
        "so this is not a bar file or its line breaks were lost"
    )


def _check_text_bounds(
    path: Path, kind: str, *, max_decompressed_bytes: int, max_line_bytes: int
) -> None:
    """Raise :class:`InputFileError` when the CSV text of ``path`` (decompressed if gzip) is
    larger than ``max_decompressed_bytes`` or has a line longer than ``max_line_bytes``.

    One pass over fixed-size chunks, so memory stays at a few chunks whatever the file holds, and
    it stops at the first byte past a limit: a gzip bomb is not inflated to its end. A line ends
    at LF, CR LF or a lone CR (as pandas reads it); numbering counts those ends from 1.
    """
    what = "decompresses to" if kind == "csv.gz" else "is"

    def too_large() -> InputFileError:
        return InputFileError(
            f"{path} {what} more than {_size(max_decompressed_bytes)}, the limit (setting "
            "ingest_max_decompressed_bytes, env STOCKPRED_INGEST_MAX_DECOMPRESSED_BYTES); split "
            "the file or raise the limit"
        )

    if kind == "csv" and path.stat().st_size > max_decompressed_bytes:
        raise too_large()
    opener = gzip.open if kind == "csv.gz" else open
    total = 0
    line = 1  # the number of the line the chunk continues
    run = 0  # bytes of that line in earlier chunks
    after_cr = False  # the previous chunk ended in CR: a LF starting this one ends no line
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
                if total > max_decompressed_bytes:
                    raise too_large()
                data = np.frombuffer(chunk, dtype=np.uint8)
                lf, cr = data == _LF, data == _CR
                if after_cr and lf[0]:
                    lf[0] = False
                    data, lf, cr = data[1:], lf[1:], cr[1:]
                # CR LF is one line end, at the LF; its CR is not part of the line.
                crlf = np.zeros_like(lf)
                crlf[1:] = cr[:-1] & lf[1:]
                cr[:-1] &= ~lf[1:]
                ends = np.flatnonzero(lf | cr)
                if ends.size == 0:
                    run += len(data)
                else:
                    lengths = np.diff(ends, prepend=-1) - 1 - crlf[ends].astype(np.int64)
                    lengths[0] += run
                    worst = int(np.argmax(lengths))
                    if int(lengths[worst]) > max_line_bytes:
                        raise _too_long(path, line + worst, max_line_bytes)
                    line += int(ends.size)
                    run = len(data) - int(ends[-1]) - 1
                if run > max_line_bytes:
                    raise _too_long(path, line, max_line_bytes)
                after_cr = bool(len(data)) and bool(cr[-1])
    except (OSError, EOFError, zlib.error) as exc:
        raise InputFileError(f"{path} could not be read as {kind.upper()}: {exc}") from exc


def _check_parquet_bounds(path: Path, *, max_decompressed_bytes: int) -> None:
    """Raise :class:`InputFileError` when the column data of a Parquet file, uncompressed, is
    larger than ``max_decompressed_bytes``, from its metadata alone (nothing is decoded).

    The metadata counts dictionary-encoded text once per distinct value, so a file of a few
    values repeated can still take more memory once read; its rows are still bounded.
    """
    import pyarrow.parquet as pq

    metadata = pq.read_metadata(path)
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if size > max_decompressed_bytes:
        raise InputFileError(
            f"{path} holds {_size(size)} of column data uncompressed, more than "
            f"{_size(max_decompressed_bytes)}, the limit (setting ingest_max_decompressed_bytes, "
            "env STOCKPRED_INGEST_MAX_DECOMPRESSED_BYTES); split the file or raise the limit"
        )


def _read(path: Path, kind: str, *, max_decompressed_bytes: int) -> pd.DataFrame:
    try:
        if kind == "parquet":
            _check_parquet_bounds(path, max_decompressed_bytes=max_decompressed_bytes)
            frame = pd.read_parquet(path)
            if not isinstance(frame.index, pd.RangeIndex):
                frame = frame.reset_index()
            frame["row"] = range(1, len(frame) + 1)
            return frame
        # index_col=False: a trailing comma on every line must not turn the dates into an index.
        frame = pd.read_csv(
            path,
            skip_blank_lines=False,
            low_memory=False,
            index_col=False,
            compression="gzip" if kind == "csv.gz" else None,
        )
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path} has no header and no rows; nothing to ingest") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"{path} could not be parsed as {kind.upper()}: {first}") from exc
    frame["row"] = range(2, len(frame) + 2)
    # Blank lines keep their line numbers but are not rows; a line of empty fields (",,,,")
    # is a row with missing values, left for validation to reject.
    empty = frame.drop(columns="row").isna().all(axis=1)
    if bool(empty.any()):
        blank = _blank_lines(path, kind, set(frame.loc[empty, "row"]))
        frame = frame[~frame["row"].isin(blank)]
    return frame


def _blank_lines(path: Path, kind: str, candidates: set[int]) -> set[int]:
    """Which of the candidate line numbers (1-based) hold only whitespace."""
    opener = gzip.open if kind == "csv.gz" else open
    blank: set[int] = set()
    last = max(candidates)
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if number in candidates and not line.strip():
                blank.add(number)
            if number >= last:
                break
    # Lines past the end of the file (a final newline) are blank too.
    return blank | {n for n in candidates if n > number}


def read_bar_file(
    path: Path,
    *,
    ticker: str | None = None,
    columns: Mapping[str, str] | None = None,
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> BarFile:
    """Read one file of daily bars into canonical columns; whole-file problems raise
    :class:`InputFileError` (nothing of the file is used), row problems are left to validation.

    ``max_decompressed_bytes``: the most text a CSV file may hold once decompressed (bytes; for
    Parquet, its column data uncompressed). ``max_line_bytes``: the longest line of a CSV file
    (bytes). Both are checked before the file is parsed, in bounded memory.
    """
    kind = _kind(path)
    if kind != "parquet":
        _check_text_bounds(
            path, kind, max_decompressed_bytes=max_decompressed_bytes, max_line_bytes=max_line_bytes
        )
    frame = _read(path, kind, max_decompressed_bytes=max_decompressed_bytes)
    original = [str(c) for c in frame.columns if c != "row"]
    if not original:
        raise InputFileError(f"{path} has no columns; nothing to ingest")

    renames: dict[str, str] = {}
    for source, target in (columns or {}).items():
        match = source if source in original else None
        if match is None:
            folded = [c for c in original if c.lower() == source.lower()]
            match = folded[0] if folded else None
        if match is None:
            raise InputFileError(
                f"--columns names {source!r}, which {path.name} does not have; "
                f"its columns are: {', '.join(original)}"
            )
        renames[match] = target
    for name in original:
        if name not in renames:
            alias = _ALIASES.get(_normalise(name))
            if alias is not None and alias not in renames.values():
                renames[name] = alias
    frame = frame.rename(columns=renames)
    if len(set(renames.values())) != len(renames):
        clash = sorted({t for t in renames.values() if list(renames.values()).count(t) > 1})
        raise InputFileError(
            f"{path.name}: several columns map to {clash[0]!r}; name one with --columns"
        )

    missing = [c for c in _REQUIRED if c not in frame.columns]
    if "date" in missing:
        raise InputFileError(
            f"{path.name} has no date column (looked for Date, date, timestamp, datetime); "
            f"its columns are: {', '.join(original)}; map one with --columns 'YourDate=date'"
        )
    if missing:
        raise InputFileError(
            f"{path.name} lacks the column(s) {', '.join(missing)}; its columns are: "
            f"{', '.join(original)}; map them with --columns 'Theirs=ours'"
        )
    if frame.empty:
        raise InputFileError(f"{path.name} has a header but no data rows; nothing to ingest")

    if "ticker" in frame.columns:
        if ticker is not None:
            raise InputFileError(
                f"{path.name} has a ticker column ({_source_of(renames, 'ticker')}); "
                "--ticker is for single-ticker files such as Yahoo downloads"
            )
        ticker_from = f"column {_source_of(renames, 'ticker')}"
        layout = "long"
    else:
        frame["ticker"] = ticker if ticker is not None else _stem(path)
        ticker_from = "--ticker" if ticker is not None else "file name"
        layout = "single-ticker"

    keep = [c for c in CANONICAL_COLUMNS if c in frame.columns]
    out = frame[[*keep, "row"]].copy()
    # The path as given, so 2023/SPY.csv and 2024/SPY.csv stay two inputs in every report.
    out.insert(0, "file", str(path))
    return BarFile(
        path=path, frame=out.reset_index(drop=True), layout=layout, ticker_from=ticker_from
    )


def _source_of(renames: Mapping[str, str], target: str) -> str:
    return next((s for s, t in renames.items() if t == target), target)
