"""``stockpred data archive``: old bars move to Parquet and `data show` still reads them."""

from __future__ import annotations

import json

import pytest

from stockpred.cli.app import main


def test_archive_moves_old_bars_and_show_reads_across_archive_and_store(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ingest", "sample", "--json"]) == 0
    capsys.readouterr()
    assert main(["data", "show", "AAPL", "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)

    # Everything before about 2013 is older than 13 years on any day this test runs.
    assert main(["data", "archive", "--older-than-days", str(365 * 13 + 60), "--json"]) == 0
    moved = json.loads(capsys.readouterr().out)
    assert main(["data", "list", "--json"]) == 0
    stored = {row["ticker"]: row["rows"] for row in json.loads(capsys.readouterr().out)}
    assert main(["data", "show", "AAPL", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)

    assert moved["moved"] > 10_000
    assert stored.get("AAPL", 0) < 3270
    assert history == everything
