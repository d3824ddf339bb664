"""The same data, configuration and seed give the same leaderboard, to the last bit; another
seed gives another LightGBM (so the seed is really used)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from stockpred.features.sets import get_feature_set
from stockpred.models.catalog import MODELS, PARAM_GRIDS
from stockpred.pipeline.evaluate import EvaluationConfig, evaluate
from stockpred.pipeline.features import build_features
from stockpred.pipeline.ingest import ingest_sample
from stockpred.store.duckdb import DuckDBStore

NOW = datetime(2026, 1, 5, tzinfo=UTC)
CONFIG = EvaluationConfig(
    horizon=5, models=("ridge", "lightgbm"), tune=False, min_train=756, test_size=504
)


def test_same_data_config_and_seed_give_identical_scores(tmp_path: Path) -> None:
    fs = get_feature_set("daily_v1")
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        ingest_sample(store, calendar="XNYS", now=NOW)
        build_features(store, fs, now=NOW)
        runs = [
            evaluate(store, fs, config, calendar="XNYS", catalog=MODELS, grids=PARAM_GRIDS)
            for config in (CONFIG, CONFIG, dataclasses.replace(CONFIG, seed=7))
        ]

    first, second, other = runs
    pd.testing.assert_frame_equal(first.scores, second.scores, check_exact=True)
    pd.testing.assert_frame_equal(
        first.result.predictions, second.result.predictions, check_exact=True
    )
    pd.testing.assert_frame_equal(first.backtest.summary, second.backtest.summary)
    lightgbm = first.result.predictions["model"] == "lightgbm"
    assert not first.result.predictions.loc[lightgbm, "prediction"].equals(
        other.result.predictions.loc[lightgbm, "prediction"]
    )
    ridge = first.result.predictions["model"] == "ridge"
    pd.testing.assert_series_equal(
        first.result.predictions.loc[ridge, "prediction"],
        other.result.predictions.loc[ridge, "prediction"],
    )
