"""The leaderboard saved beside a model version: the records of the evaluation with each
candidate's family, the long-short equity thinned to at most 500 dates (first and last kept),
valid JSON, and a clear 404 for a version saved without one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import NotFoundError
from stockpred.models.evaluation import EvaluationResult
from stockpred.models.metrics import PREDICTION_COLUMNS
from stockpred.pipeline.evaluate import EvaluationConfig, score_evaluation
from stockpred.pipeline.leaderboard import (
    LEADERBOARD_FILE,
    equity_curves,
    leaderboard_document,
    version_leaderboard,
    write_leaderboard_file,
)
from stockpred.registry.base import ChampionChange, ModelVersion

DATES = 700


def _predictions() -> pd.DataFrame:
    """random_walk, mean_drift and ridge on 700 dates x 6 tickers; ridge has a signal."""
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2020-01-02", periods=DATES, tz="UTC") + pd.Timedelta(hours=21)
    keys = pd.MultiIndex.from_product(
        [dates, [f"T{i}" for i in range(6)]], names=["ts", "ticker"]
    ).to_frame(index=False)
    signal = rng.normal(0, 0.01, len(keys))
    actual = signal + rng.normal(0, 0.02, len(keys))
    forecasts = {
        "random_walk": np.zeros(len(keys)),
        "mean_drift": rng.normal(0, 0.001, len(keys)),
        "ridge": signal,
    }
    parts = []
    for name, prediction in forecasts.items():
        part = keys.copy()
        part["horizon"] = 5
        part["model"] = name
        part["prediction"] = prediction
        part["lower"] = prediction - 0.03
        part["upper"] = prediction + 0.03
        part["actual"] = actual
        part["next_return"] = signal / 5 + rng.normal(0, 0.01, len(keys))
        part["fold"] = 0
        parts.append(part)
    return pd.concat(parts, ignore_index=True)[list(PREDICTION_COLUMNS)]


@pytest.fixture(scope="module")
def document() -> dict[str, object]:
    config = EvaluationConfig(horizon=5, top_k=2)
    evaluation = score_evaluation(config, EvaluationResult(_predictions(), pd.DataFrame(), ()))
    return leaderboard_document(
        evaluation, basis="walk-forward, test", families={"ridge": "ensemble"}
    )


def test_the_document_holds_every_candidate_best_first_with_its_family(
    document: dict[str, object],
) -> None:
    records = document["records"]
    assert isinstance(records, list)
    assert records[0]["model"] == "ridge"
    assert {r["model"] for r in records} == {"random_walk", "mean_drift", "ridge"}
    family = {r["model"]: r["family"] for r in records}
    # Named explicitly for ridge; from the kind for the others.
    assert family == {"ridge": "ensemble", "random_walk": "baseline", "mean_drift": "baseline"}
    ridge = records[0]
    assert ridge["rank_ic_low"] < ridge["rank_ic_mean"] < ridge["rank_ic_high"]
    assert isinstance(ridge["long_short_sharpe_net"], float)
    assert document["horizon"] == 5
    assert document["basis"] == "walk-forward, test"


def test_the_equity_is_thinned_to_500_dates_keeping_the_first_and_last(
    document: dict[str, object],
) -> None:
    equity = document["equity"]
    assert isinstance(equity, Mapping)
    assert equity["kind"] == "long_short"
    assert equity["cost_bps"] == 5.0
    dates = equity["dates"]
    assert len(dates) == 500
    assert dates == sorted(dates)
    assert dates[0] == "2020-01-02"
    assert dates[-1] == pd.bdate_range("2020-01-02", periods=DATES)[-1].date().isoformat()
    series = equity["series"]
    assert set(series) == {"random_walk", "mean_drift", "ridge"}
    assert all(len(values) == 500 for values in series.values())
    # The random walk holds nothing long-short: its cumulative return stays 0.
    assert set(series["random_walk"]) == {0.0}
    # A signal that predicts next_return makes money over 700 days, net of costs.
    assert series["ridge"][-1] > 0


def test_the_last_point_is_the_cumulative_net_return_of_the_whole_backtest() -> None:
    config = EvaluationConfig(horizon=5, top_k=2)
    evaluation = score_evaluation(config, EvaluationResult(_predictions(), pd.DataFrame(), ()))
    daily = evaluation.backtest.daily
    ridge = daily[(daily["model"] == "ridge") & (daily["kind"] == "long_short")]
    expected = float(np.prod(1.0 + ridge["net"].to_numpy()) - 1.0)

    curves = equity_curves(evaluation.backtest, max_points=10)

    assert len(curves["dates"]) == 10  # type: ignore[arg-type]
    assert curves["series"]["ridge"][-1] == pytest.approx(expected)  # type: ignore[index]


def test_the_file_is_strict_json(document: dict[str, object], tmp_path: Path) -> None:
    path = write_leaderboard_file(tmp_path, document)
    assert path.name == LEADERBOARD_FILE
    assert json.loads(path.read_text(encoding="utf-8")) == document


class _Registry:
    """One version of stockpred-h5, whose files hold ``files``; counts downloads."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.downloads = 0
        self.version = ModelVersion("stockpred-h5", 1, "run", datetime(2024, 1, 2, tzinfo=UTC))

    def get(self, name: str, version: int) -> ModelVersion:
        if (name, version) != ("stockpred-h5", 1):
            raise NotFoundError(f"no version {version} of {name!r} (its versions: 1)")
        return self.version

    def download(self, name: str, version: int, directory: Path) -> Path:
        self.downloads += 1
        folder = directory / "model"
        folder.mkdir(parents=True)
        for file, text in self.files.items():
            (folder / file).write_text(text, encoding="utf-8")
        return folder

    # The rest of the protocol is not used here.
    def versions(self, name: str) -> list[ModelVersion]:
        return [self.version]

    def history(self, name: str) -> list[ChampionChange]:
        return []


def test_a_leaderboard_is_downloaded_once_then_read_from_the_cache(tmp_path: Path) -> None:
    registry = _Registry({LEADERBOARD_FILE: json.dumps({"horizon": 5, "records": []})})

    for _ in range(2):
        found = version_leaderboard(
            registry,  # type: ignore[arg-type]
            name="stockpred-h5",
            version=1,
            cache=tmp_path,
        )
        assert found == {"horizon": 5, "records": []}

    assert registry.downloads == 1
    assert (tmp_path / "stockpred-h5" / "1" / "model" / LEADERBOARD_FILE).is_file()
    assert [p.name for p in (tmp_path / "stockpred-h5").iterdir()] == ["1"]


def test_a_version_saved_without_a_leaderboard_is_not_found_and_a_retrain_is_named(
    tmp_path: Path,
) -> None:
    registry = _Registry({"drift_reference.json": "{}"})
    with pytest.raises(NotFoundError, match=r"trained before leaderboards were saved.*retrain"):
        version_leaderboard(
            registry,  # type: ignore[arg-type]
            name="stockpred-h5",
            version=1,
            cache=tmp_path,
        )
    with pytest.raises(NotFoundError, match="its versions: 1"):
        version_leaderboard(
            registry,  # type: ignore[arg-type]
            name="stockpred-h5",
            version=2,
            cache=tmp_path,
        )
