"""`stockpred features build/list/show` as a user drives them, on the packaged sample data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stockpred.cli.app import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def as_json(out: str) -> Any:
    return json.loads(out)


def test_build_writes_the_sample_then_nothing_the_second_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "ingest", "sample", "--json")[0] == 0
    code, out, err = run(capsys, "features", "build", "--json")
    assert code == 0, err
    first = as_json(out)
    assert first["feature_set"] == "daily_v1@3"
    # The two indices are market context, not modelled: five stocks get features.
    assert first["tickers"] == 5
    assert set(first["new_rows"]) == {"AAPL", "FB", "GOOG", "IBM", "MSFT"}
    assert first["rows"] == first["inserted"] == 12_154
    assert first["new_rows"]["AAPL"] == 3270
    assert any("sentiment" in w for w in first["warnings"])

    code, out, _ = run(capsys, "features", "build", "--json")
    assert code == 0
    second = as_json(out)
    assert second["rows"] == 0
    assert second["inserted"] == second["updated"] == 0

    code, out, err = run(capsys, "features", "build")
    assert code == 0
    assert "0 new rows" in out


def test_build_of_named_tickers_and_a_table_for_people(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "ingest", "sample", "--json")[0] == 0
    code, out, err = run(capsys, "features", "build", "--set", "daily_v1", "--tickers", "ibm", "FB")
    assert code == 0, err
    assert "daily_v1@3: 3,466 new rows x 101 features for 2 tickers" in " ".join(out.split())
    assert "warning: no daily sentiment" in " ".join(err.split())


def test_indices_get_features_when_asked_for_or_when_their_kind_is_modelled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "ingest", "sample", "--json")[0] == 0
    code, out, err = run(capsys, "features", "build", "--tickers", "^GSPC", "--json")
    assert code == 0, err
    assert as_json(out)["new_rows"]["^GSPC"] > 0

    monkeypatch.setenv("STOCKPRED_MODELLED_KINDS", '["stock", "index"]')
    code, out, err = run(capsys, "features", "build", "--json")
    assert code == 0, err
    assert as_json(out)["tickers"] == 7


def test_build_of_an_unknown_ticker_or_set_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "ingest", "sample", "--json")[0] == 0
    code, _, err = run(capsys, "features", "build", "--tickers", "ZZZZ")
    assert code == 1
    assert err.startswith("error: no bars stored for ZZZZ")
    code, _, err = run(capsys, "features", "build", "--set", "weekly_v7")
    assert code == 1
    assert "unknown feature set 'weekly_v7'; known sets: daily_v1@3" in err


def test_list_shows_sets_with_version_indicators_and_lookback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "features", "list", "--json")
    assert code == 0
    rows = as_json(out)
    assert [r["name"] for r in rows] == ["daily_v1"]
    assert rows[0]["version"] == "3"
    assert rows[0]["lookback"] == 504
    assert rows[0]["indicators"] >= 20
    code, out, _ = run(capsys, "features", "list")
    assert code == 0
    assert "daily_v1" in out
    assert "504" in out


def test_show_lists_indicators_params_outputs_and_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "features", "show", "daily_v1", "--json")
    assert code == 0
    shown = as_json(out)
    assert shown["key"] == "daily_v1@3"
    rsi = next(i for i in shown["indicators"] if i["kind"] == "rsi")
    assert rsi == {"kind": "rsi", "params": {"period": 14}, "outputs": ["rsi_14"], "lookback": 14}
    assert shown["context"]["index_ticker"] == "^GSPC"
    assert "beta_60" in shown["outputs"]
    code, out, _ = run(capsys, "features", "show", "daily_v1")
    assert code == 0
    text = " ".join(out.split())
    assert "daily_v1@3: 101 features, lookback 504 bars" in text
    assert "credit_spread=BAA-AAA" in text


def test_a_set_declared_in_a_toml_file_can_be_shown_and_built(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\nversion = "2"\n[[indicators]]\nkind = "rsi"\nperiod = 5\n'
        '[context]\nsentiment_scorer = ""\n',
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "features", "show", str(path), "--json")
    assert code == 0
    assert as_json(out)["key"] == "mine@2"
    assert run(capsys, "ingest", "sample", "--json")[0] == 0
    code, out, err = run(
        capsys, "features", "build", "--set", str(path), "--tickers", "FB", "--json"
    )
    assert code == 0, err
    built = as_json(out)
    assert built["feature_set"] == "mine@2"
    assert built["rows"] == 196
    assert built["warnings"] == []


@pytest.mark.parametrize("command", ["build", "list", "show"])
def test_every_features_command_has_an_example_in_its_help(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, _ = run(capsys, "features", command, "--help")
    assert code == 0
    assert "Example" in out
    assert "stockpred features" in out
