"""The champion is the best thing measured: a baseline when every model loses to one, a model
only when it beats the best baseline, and a forced choice says what beat it."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from stockpred.domain.errors import ModelError
from stockpred.models.catalog import MODELS, PARAM_GRIDS
from stockpred.pipeline.evaluate import EvaluationConfig, score_evaluation, walk_forward_on
from stockpred.pipeline.train import evaluation_key, select_champion
from support.panels import HORIZON, drift_panel

CONFIG = EvaluationConfig(
    horizon=HORIZON, models=("ridge",), tune=False, min_train=200, test_size=60, embargo=2,
    holdout=40, garch=False,
)  # fmt: skip


def evaluated(design: pd.DataFrame, labels: pd.DataFrame, config: EvaluationConfig):  # type: ignore[no-untyped-def]
    result = walk_forward_on(design, labels, config, catalog=MODELS, grids=PARAM_GRIDS)
    return score_evaluation(config, result)


def noise_only(design: pd.DataFrame) -> pd.DataFrame:
    """The design frame with every column a model could learn from replaced by noise; the
    baselines' own inputs stay, so mean drift still finds each stock's drift."""
    keep = ["ticker", "ts", "log_return_1", f"log_return_{HORIZON}", "momentum_252_skip_21"]
    noise = design.drop(columns=keep).apply(lambda c: c.sample(frac=1.0, random_state=1).values)
    return pd.concat([design[keep], noise], axis=1)


def test_a_baseline_is_chosen_when_every_model_loses_to_it() -> None:
    design, labels = drift_panel(days=330)
    evaluation = evaluated(noise_only(design), labels, CONFIG)
    scores = evaluation.scores.set_index("model")["rank_ic_mean"]
    assert scores["mean_drift"] > scores["ridge"]

    selection = select_champion(evaluation)

    assert selection.kind == selection.best_baseline == "mean_drift"
    assert not selection.forced
    assert "no model beat it" in selection.reason
    assert "ridge (model)" in selection.reason


def test_a_model_that_beats_the_baselines_is_chosen() -> None:
    design, labels = drift_panel(days=330)
    config = dataclasses.replace(CONFIG, models=("ensemble",))
    evaluation = evaluated(design, labels, config)

    selection = select_champion(evaluation)

    assert selection.kind == "ensemble"
    assert "it beats the best baseline" in selection.reason


def test_a_forced_choice_records_what_measured_better() -> None:
    design, labels = drift_panel(days=330)
    evaluation = evaluated(noise_only(design), labels, CONFIG)

    selection = select_champion(evaluation, force="ridge")

    assert selection.kind == "ridge"
    assert selection.forced
    assert selection.reason.startswith("forced by the user: ridge (model)")
    assert "mean_drift (baseline)" in selection.reason
    with pytest.raises(ModelError, match="not evaluated"):
        select_champion(evaluation, force="xgboost")


def test_the_evaluation_key_changes_with_any_value_or_setting() -> None:
    design, labels = drift_panel(tickers=5, days=60)
    base = evaluation_key(design, labels, feature_set="f@1", config=CONFIG, code_version="1")
    assert base == evaluation_key(
        design, labels, feature_set="f@1", config=CONFIG, code_version="1"
    )
    corrected = labels.copy()
    corrected.loc[3, "actual"] = 0.5
    other = dataclasses.replace(CONFIG, seed=1)
    keys = {
        evaluation_key(design, corrected, feature_set="f@1", config=CONFIG, code_version="1"),
        evaluation_key(design, labels, feature_set="f@2", config=CONFIG, code_version="1"),
        evaluation_key(design, labels, feature_set="f@1", config=other, code_version="1"),
        evaluation_key(design, labels, feature_set="f@1", config=CONFIG, code_version="2"),
    }
    assert base not in keys
    assert len(keys) == 4
