"""`stockpred evaluate / train / models / predict` as a user drives them, on the packaged sample:
the leaderboard next to the baselines, the exported predictions recompute its figures, the
first training makes a champion, and a forecast is traceable to it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.cli.app import main
from stockpred.settings import load_settings
from stockpred.store.duckdb import DuckDBStore

FAST = ["--models", "ridge", "--no-tune", "--test-size", "504", "--min-train", "756"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def sample_features(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "ingest", "sample", "--json")[0] == 0
    assert run(capsys, "features", "build", "--json")[0] == 0


@pytest.mark.usefixtures("sample_features")
def test_evaluate_prints_models_beside_baselines_and_exports_what_it_scored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    export = tmp_path / "oos.parquet"
    code, out, err = run(
        capsys, "evaluate", *FAST, "--out", str(tmp_path / "report"), "--export", str(export),
        "--json",
    )  # fmt: skip

    assert code == 0, err
    result = json.loads(out)
    models = {row["model"] for row in result["leaderboard"]}
    assert models == {"ridge", "random_walk", "mean_drift", "momentum", "reversal", "ar1"}
    assert (tmp_path / "report" / "leaderboard.html").read_text().count("ridge") >= 1
    intervals = json.loads((tmp_path / "report" / "intervals.json").read_text())
    assert {row["method"] for row in intervals} == {"conformal", "garch"}
    assert all(0.5 < row["coverage"] < 1.0 for row in intervals)
    predictions = pd.read_parquet(export)
    assert set(predictions["model"]) == models
    # The exported rows recompute the leaderboard: ridge's RMSE and the random walk's.
    by_model = {row["model"]: row for row in result["leaderboard"]}
    for name in ("ridge", "random_walk"):
        rows = predictions[predictions["model"] == name]
        rmse = float(np.sqrt(np.mean((rows["prediction"] - rows["actual"]) ** 2)))
        assert by_model[name]["rmse"] == pytest.approx(rmse, rel=1e-9)


@pytest.mark.usefixtures("sample_features")
def test_train_registers_a_champion_and_predict_serves_it_traceably(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "train", *FAST, "--json")
    assert code == 0, err
    trained = json.loads(out)
    assert trained["promoted"] is True
    # ridge and the best baseline are registered; the champion is the better of the two.
    assert "ridge" in trained["versions"]
    assert len(trained["versions"]) == 2
    (baseline,) = set(trained["versions"]) - {"ridge"}
    assert baseline in ("random_walk", "mean_drift", "momentum", "reversal", "ar1")
    served = next(k for k, v in trained["versions"].items() if v == trained["champion"])
    assert "baseline" in trained["reason"]
    if served == baseline:
        assert "no model beat it" in trained["reason"]
    else:
        assert "it beats the best baseline" in trained["reason"]
    code, out, err = run(capsys, "predict", "aapl", "--json")
    assert code == 0, err
    forecast = json.loads(out)
    assert forecast["model_version"] == str(trained["champion"])  # a string, as in the API
    assert forecast["model"] == served
    assert forecast["model_family"] == ("baseline" if served == baseline else "model")
    assert forecast["as_of"].startswith("2013-03-01")
    # The sample ends in 2013: the forecast says it is stale, in JSON and in text.
    assert forecast["freshness"]["stale"] is True
    assert forecast["freshness"]["sessions_behind"] > 2000
    code, text, _ = run(capsys, "predict", "AAPL")
    assert code == 0
    assert "STALE: the features are" in text
    assert forecast["lower"] < forecast["log_return"] < forecast["upper"]
    assert 0.0 < forecast["direction_prob"] < 1.0
    assert forecast["price"] == pytest.approx(
        forecast["last_close"] * np.exp(forecast["log_return"])
    )
    # A linear model explains its forecast; a baseline has nothing to decompose.
    assert len(forecast["contributions"]) == (0 if served == baseline else 5)
    # Traceable: the served forecast is stored with its model version and feature time.
    with DuckDBStore(load_settings().store_path) as store:
        stored = store.read_predictions(tickers=["AAPL"])
    assert len(stored) == 1
    assert stored["model_version"].iloc[0] == str(trained["champion"])
    assert stored["as_of"].iloc[0] == pd.Timestamp(forecast["as_of"])
    assert stored["value"].iloc[0] == pytest.approx(forecast["log_return"])

    code, out, _ = run(capsys, "models", "list", "--json")
    assert code == 0
    assert sorted(row["champion"] for row in json.loads(out)) == ["", "yes"]

    code, out, err = run(capsys, "models", "rollback", "--reason", "test")
    assert code == 1
    assert "error:" in err

    # The same data and settings again: the stored evaluation is reused, the champion stays;
    # --force serves ridge whatever it measured, and says what beat it.
    code, out, err = run(capsys, "train", *FAST, "--force", "ridge", "--json")
    assert code == 0, err
    assert "reusing the stored evaluation" in err
    forced = json.loads(out)
    assert forced["promoted"] is True
    assert forced["champion"] == forced["versions"]["ridge"]
    assert forced["reason"].startswith("forced by the user: ridge (model)")
    # ... and a rollback undoes the forced promotion.
    code, out, err = run(capsys, "models", "rollback", "--reason", "forced by mistake")
    assert code == 0, err


def test_predict_without_a_champion_says_how_to_get_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "predict", "AAPL")

    assert code == 1
    assert "stockpred train --horizon 5" in err


@pytest.mark.usefixtures("sample_features")
def test_an_unknown_model_is_refused_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate", "--models", "prophet", "--no-tune")

    assert code == 1
    assert "unknown model(s) prophet" in err
    assert "lightgbm" in err


@pytest.mark.usefixtures("sample_features")
def test_evaluate_says_when_it_reduced_the_top_k(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Five stocks: a leg holds at most two of them, so the default 10 is cut to 2.
    code, out, err = run(capsys, "evaluate", *FAST, "--out", str(tmp_path / "report"))

    assert code == 0, err
    assert "--top-k 10 was reduced to 2 per leg" in " ".join(out.split())
