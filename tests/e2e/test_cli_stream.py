"""`stockpred stream` as a user runs it: a replay of the last sessions through the in-process
bus, features written, forecasts made, a summary printed; bad options get one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockpred.cli.app import main
from stockpred.features.sets import get_feature_set
from stockpred.settings import load_settings
from stockpred.store.duckdb import DuckDBStore


def test_a_replay_writes_the_sessions_features_and_forecasts_with_both_champions(
    home_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = get_feature_set("daily_v1").key
    with DuckDBStore(load_settings().store_path) as store:
        before = store.read_features(feature_set=key)

    code = main(["stream", "--from", "2013-02-19", "--fast", "--json"])

    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    # 2013-02-19 .. 2013-03-01: 9 sessions of the 5 stocks.
    assert summary["sessions"] == 9
    assert summary["rows"] == 9 * 5
    assert summary["forecasts"] == 2 * summary["rows"]
    with DuckDBStore(load_settings().store_path) as store:
        after = store.read_features(feature_set=key)
    # The replayed sessions were stored already: rewritten equal, nothing added.
    assert len(after) == len(before)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--from", "2013-13-01"], "--from '2013-13-01' is not a date"),
        (["--from", "2013-03-01", "--to", "2013-02-01"], "is not before --to"),
        (["--feed", "alpaca"], "--feed alpaca needs --tickers"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    home_copy: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    code = main(["stream", *arguments])

    err = capsys.readouterr().err
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1
