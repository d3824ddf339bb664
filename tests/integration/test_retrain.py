"""Retraining on the real sample: a champion trained on data up to mid-2011 is challenged on a
window it never saw, by a challenger fitted only before that window; the decision and its
reason are recorded, and a champion with nothing new to be judged on is kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from stockpred import __version__
from stockpred.features.sets import get_feature_set
from stockpred.models.catalog import MODELS, PARAM_GRIDS
from stockpred.pipeline.evaluate import EvaluationConfig
from stockpred.pipeline.features import build_features
from stockpred.pipeline.ingest import ingest_sample
from stockpred.pipeline.leaderboard import version_leaderboard
from stockpred.pipeline.retrain import RetrainResult, retrain
from stockpred.pipeline.train import train_models
from stockpred.registry.mlflow import MLflowRegistry
from stockpred.store.duckdb import DuckDBStore

CUT = pd.Timestamp("2011-06-30", tz="UTC")
LATER = datetime(2026, 1, 5, tzinfo=UTC)
CONFIG = EvaluationConfig(
    horizon=5, models=("ridge",), tune=False, min_train=756, test_size=504, holdout=63
)


def test_a_challenger_is_judged_on_a_window_neither_saw_and_the_reason_is_kept(
    tmp_path: Path,
) -> None:
    fs = get_feature_set("daily_v1")
    registry = MLflowRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=str(tmp_path / "mlruns")
    )
    common = {
        "calendar": "XNYS",
        "code_version": __version__,
        "git_commit": None,
        "catalog": MODELS,
        "grids": PARAM_GRIDS,
    }
    with DuckDBStore(tmp_path / "full.duckdb") as full:
        ingest_sample(full, calendar="XNYS", now=LATER)
        bars = full.read_bars()
        macro = full.read_macro()
    with DuckDBStore(tmp_path / "store.duckdb") as store:
        store.write_bars(bars[bars["ts"] <= CUT])
        store.write_macro(macro)
        build_features(store, fs, now=CUT.to_pydatetime())
        trained = train_models(store, registry, fs, CONFIG, now=CUT.to_pydatetime(), **common)
        assert trained.promoted
        champion = trained.champion
        assert champion is not None
        assert pd.Timestamp(champion.metadata["data_end"]) < CUT

        store.write_bars(bars[bars["ts"] > CUT])
        result = retrain(
            store, registry, fs, CONFIG, now=LATER, cache=tmp_path / "cache", recent=63, **common
        )

        assert result.challenger is not None
        assert result.window_start is not None
        assert result.window_end is not None
        # The window lies after the champion's data, by more than the purge.
        assert result.window_start > pd.Timestamp(champion.metadata["data_end"])
        assert "out of sample for all" in result.reason
        assert result.challenger.metadata["retrain_decision"] == result.reason
        after = registry.champion("stockpred-h5")
        assert after is not None
        if result.promoted:
            assert after.version == result.challenger.version
            assert result.challenger_rank_ic > result.champion_rank_ic
        else:
            assert after.version == champion.version
            assert "champion kept" in result.reason
        _assert_leaderboards(registry, champion.version, result, cache=tmp_path / "cache")

        again = retrain(
            store, registry, fs, CONFIG, now=LATER, cache=tmp_path / "cache", recent=63, **common
        )
        if result.promoted:
            assert again.challenger is None
            assert "champion kept" in again.reason
            assert "labelled dates since" in again.reason


def _assert_leaderboards(
    registry: MLflowRegistry, trained: int, result: RetrainResult, *, cache: Path
) -> None:
    """The trained version keeps the walk-forward that chose it; the challenger the decision
    window's comparison: every challenger and baseline beside the champion, on those dates."""
    assert result.challenger is not None
    walk = version_leaderboard(registry, name="stockpred-h5", version=trained, cache=cache)
    assert walk["basis"].startswith("walk-forward, h=5")
    models = {r["model"]: r for r in walk["records"]}
    assert {"ridge", "random_walk", "mean_drift"} <= set(models)
    assert models["ridge"]["family"] == "model"
    assert models["random_walk"]["family"] == "baseline"

    window = version_leaderboard(
        registry, name="stockpred-h5", version=result.challenger.version, cache=cache
    )
    assert str(window["basis"]).startswith("retrain decision window")
    rows = {r["model"]: r for r in window["records"]}
    champion_row = f"champion v{trained} (ridge)"
    assert {"ridge", "random_walk", "mean_drift", champion_row} <= set(rows)
    assert rows[champion_row]["family"] == "model"
    # The figures of the decision: the same rank ICs the reason quotes, on the same dates.
    assert rows[champion_row]["n_dates"] == 63
    assert rows[champion_row]["rank_ic_mean"] == pytest.approx(result.champion_rank_ic)
    best = result.challenger.metadata["model_kind"]
    assert rows[best]["rank_ic_mean"] == pytest.approx(result.challenger_rank_ic)
    equity = window["equity"]
    assert isinstance(equity, dict)
    assert len(equity["dates"]) <= 63
    assert equity["dates"][-1] <= f"{result.window_end:%Y-%m-%d}"
    assert equity["dates"][0] >= f"{result.window_start:%Y-%m-%d}"
    assert set(equity["series"]) == set(rows)


def test_retrain_without_a_champion_says_to_train_first(tmp_path: Path) -> None:
    from stockpred.domain.errors import NotFoundError

    registry = MLflowRegistry(
        f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=str(tmp_path / "mlruns")
    )
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        ingest_sample(store, calendar="XNYS", now=LATER)
        with pytest.raises(NotFoundError, match="train"):
            retrain(
                store,
                registry,
                get_feature_set("daily_v1"),
                CONFIG,
                calendar="XNYS",
                now=LATER,
                cache=tmp_path / "cache",
                code_version=__version__,
                git_commit=None,
                catalog=MODELS,
                grids=PARAM_GRIDS,
            )
