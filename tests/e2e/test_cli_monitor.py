"""`stockpred monitor` as a user runs it on the served home (two ridge champions trained on the
whole sample): drift of every feature and of the forecasts against each champion's reference,
stored; a forecast dated inside the training data is reported as in sample, never scored."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from stockpred.cli.app import main
from stockpred.compose import open_registry
from stockpred.settings import load_settings
from stockpred.store.duckdb import DuckDBStore
from stockpred.store.schema import MODEL_DRIFT, MODEL_PERFORMANCE


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_monitor_measures_drift_of_every_champion_and_keeps_in_sample_forecasts_out(
    home_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings()
    champion = open_registry(settings).champion("stockpred-h5")
    assert champion is not None
    inside = pd.Timestamp(champion.metadata["data_end"])
    with DuckDBStore(home_copy / "stockpred.duckdb") as store:
        store.write_predictions(
            pd.DataFrame(
                {
                    "ticker": ["AAPL"],
                    "as_of": [inside],
                    "horizon": [5],
                    "target": ["log_return"],
                    "value": [0.01],
                    "lower": [-0.02],
                    "upper": [0.04],
                    "direction_prob": [0.6],
                    "model": ["stockpred-h5/ridge"],
                    "model_version": [str(champion.version)],
                    "created_at": [pd.Timestamp("2026-01-01", tz="UTC")],
                }
            )
        )

    code, out, err = _run(capsys, "monitor", "--json")
    assert code == 0, err
    payload = {entry["horizon"]: entry for entry in json.loads(out)}
    assert set(payload) == {1, 5}
    features = json.loads(champion.metadata["features"])
    for entry in payload.values():
        subjects = {d["subject"] for d in entry["drift"]}
        assert subjects == {*features, "prediction"}
        assert entry["drift_session"] is not None
    assert payload[5]["in_sample_rows"] == 1
    assert any("in sample" in note for note in payload[5]["notes"])
    assert payload[5]["matured_rows"] == 0
    assert payload[5]["sessions"] == []

    with DuckDBStore(home_copy / "stockpred.duckdb") as store:
        drift = store.read_monitoring(MODEL_DRIFT.name)
        assert set(drift["horizon"]) == {1, 5}
        assert store.read_monitoring(MODEL_PERFORMANCE.name).empty

    code, out, err = _run(capsys, "monitor", "--horizons", "5")
    assert code == 0, err
    assert out.startswith(f"stockpred-h5 v{champion.version}: ")
    assert "columns past their threshold" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_monitor_refuses_horizons_that_are_not_numbers(
    home_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "monitor", "--horizons", "five")
    assert code != 0
    assert "whole numbers" in err


def test_the_scheduler_runs_the_monitor_after_the_session_close(
    home_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_UNIVERSE", '["AAPL", "MSFT"]')
    code, out, err = _run(capsys, "scheduler", "--list", "--json")
    assert code == 0, err
    jobs = {job["job"]: job for job in json.loads(out)}
    assert "session close" in jobs["monitor"]["when"]
    assert jobs["monitor"]["disabled"] is None

    code, out, err = _run(capsys, "scheduler", "--run", "monitor", "--json")
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert summary.startswith("h1 v")
    assert "h5 v" in summary
    with DuckDBStore(home_copy / "stockpred.duckdb") as store:
        assert set(store.read_monitoring(MODEL_DRIFT.name)["horizon"]) == {1, 5}
