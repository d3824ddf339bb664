"""``stockpred data export``: the stored tables as Parquet files anyone can read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from stockpred.cli.app import main


def test_export_writes_every_table_and_bars_read_back_equal_to_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "sample", "--json"]) == 0
    assert main(["features", "build", "--tickers", "IBM", "--json"]) == 0
    capsys.readouterr()

    code = main(["data", "export", "--out", str(tmp_path / "out"), "--json"])

    assert code == 0
    written = {item["table"]: Path(item["path"]) for item in json.loads(capsys.readouterr().out)}
    assert set(written) == {
        "bars",
        "headlines",
        "macro",
        "features_daily_v1_3",
        "intraday_bars",
        "predictions",
        "model_performance",
        "model_drift",
        "sentiment_daily",
    }
    bars = pd.read_parquet(written["bars"])
    assert len(bars) == 22_216
    assert set(bars["ticker"]) == {"AAPL", "FB", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"}
    macro = pd.read_parquet(written["macro"])
    assert set(macro["series_id"]) == {"VIXCLS", "CPILFESL", "AAA", "BAA"}
    features = pd.read_parquet(written["features_daily_v1_3"])
    assert set(features["ticker"]) == {"IBM"}
    assert features.columns[:3].tolist() == ["ticker", "ts", "log_return_1"]


def test_export_partitioned_by_ticker_skips_tables_without_that_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "sample", "--json"]) == 0
    capsys.readouterr()

    code = main(
        ["data", "export", "bars", "macro", "--out", str(tmp_path), "--partition-by", "ticker"]
    )

    assert code == 0
    assert (tmp_path / "bars" / "ticker=AAPL").is_dir()
    assert (tmp_path / "macro.parquet").is_file()


def test_export_of_an_unknown_table_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["data", "export", "trades", "--out", str(tmp_path)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: unknown table 'trades'")
    assert err.count("\n") == 1
