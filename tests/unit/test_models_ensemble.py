"""The cross-sectional ensemble: it ranks what its members know, its output is an increasing map
of its blend in return units, its model members read only per-date ranks, everything it fits
comes from the training window, and it saves and loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockpred.domain.errors import ModelError
from stockpred.models.baselines import load_baseline, make_baseline
from stockpred.models.catalog import load_model, make_model
from stockpred.models.evaluation import Candidate, evaluate_walk_forward
from stockpred.models.walkforward import WalkForward
from support.panels import HORIZON, drift_panel


def split(design: pd.DataFrame, labels: pd.DataFrame, at: int) -> tuple[pd.DataFrame, ...]:
    dates = pd.DatetimeIndex(design["ts"]).unique().sort_values()
    data = design.merge(labels[["ticker", "ts", "actual"]], on=["ticker", "ts"])
    train = data[data["ts"] < dates[at - HORIZON]].dropna(subset=["actual"])
    test = data[data["ts"] >= dates[at]].dropna(subset=["actual"])
    features = list(design.columns)
    return train[features], train["actual"], test[features], test["actual"], test


def daily_rank_ic(ts: pd.Series, prediction: np.ndarray, actual: pd.Series) -> float:
    frame = pd.DataFrame({"ts": ts.to_numpy(), "p": prediction, "a": actual.to_numpy()})
    return float(frame.groupby("ts").apply(lambda d: d["p"].corr(d["a"], method="spearman")).mean())


def ensemble(members: str = "mean_drift,lightgbm", **params: object):  # type: ignore[no-untyped-def]
    return make_model("ensemble", members=members, horizon=HORIZON, holdout=40, **params)


def test_the_ensemble_ranks_better_than_either_member_alone() -> None:
    design, labels = drift_panel()
    X, y, X_test, _, test = split(design, labels, 260)
    scores = {}
    for members in ("mean_drift", "lightgbm", "mean_drift,lightgbm"):
        model = ensemble(members)
        model.fit(X, y)
        scores[members] = daily_rank_ic(test["ts"], model.predict(X_test), test["actual"])
    assert scores["mean_drift"] > 0.05
    assert scores["lightgbm"] > 0.05
    assert scores["mean_drift,lightgbm"] > max(scores["mean_drift"], scores["lightgbm"])


def test_the_output_is_an_increasing_map_of_the_blend_in_return_units() -> None:
    design, labels = drift_panel()
    X, y, X_test, _, _ = split(design, labels, 260)
    model = ensemble()
    model.fit(X, y)
    predicted = model.predict(X_test)
    parts = model.contributions(X_test)
    assert parts is not None
    blend = parts.drop(columns=["bias"]).sum(axis=1).to_numpy()
    # Same order as the blend, tie for tie; the parts and the bias add up to the forecast.
    assert pd.Series(predicted).rank().equals(pd.Series(blend).rank())
    np.testing.assert_allclose(blend + parts["bias"].to_numpy(), predicted, rtol=1e-9)
    intercept, slope = model.mapping
    assert slope > 0
    assert intercept == pytest.approx(float(np.mean(y)))
    # Return units: centred on the training mean, spread well inside the returns' spread.
    assert abs(float(np.mean(predicted)) - float(np.mean(y))) < 0.005
    assert 0 < float(np.std(predicted)) < float(np.std(y))


def test_model_members_read_only_the_per_date_ranks() -> None:
    design, labels = drift_panel()
    X, y, *_ = split(design, labels, 260)
    model = ensemble("lightgbm")
    model.fit(X, y)
    assert set(model.feature_names) == {"rank_signal", "rank_noise"}


def test_a_model_member_without_rank_columns_says_what_to_build() -> None:
    design, labels = drift_panel()
    X, y, *_ = split(design, labels, 260)
    with pytest.raises(ModelError, match="rank_"):
        ensemble("lightgbm").fit(X.drop(columns=["rank_signal", "rank_noise"]), y)


def test_unknown_members_and_weightings_are_refused() -> None:
    with pytest.raises(ModelError, match="unknown member"):
        make_model("ensemble", members="mean_drift,oracle")
    with pytest.raises(ModelError, match="weighting"):
        make_model("ensemble", weighting="best")


def test_data_after_a_fold_never_changes_its_forecasts() -> None:
    """Weights, scales and the return map are fitted inside each training window: rewriting
    every feature and label after the first test block leaves that block's forecasts as they
    were."""
    design, labels = drift_panel(days=330)
    spec = WalkForward(horizon=HORIZON, min_train=200, test_size=40, embargo=2)

    def candidates() -> list[Candidate]:
        return [
            Candidate("ensemble", lambda p: ensemble("mean_drift,ar1,lightgbm", weighting="tail"))
        ]

    first = evaluate_walk_forward(design, labels, candidates(), spec=spec, holdout=40)
    fold = first.folds[0]
    after = fold.test[-1]
    rng = np.random.default_rng(99)
    changed_design = design.copy()
    late = changed_design["ts"] > after
    for column in ("rank_signal", "rank_noise", "log_return_1", f"log_return_{HORIZON}"):
        changed_design.loc[late, column] = rng.uniform(size=int(late.sum()))
    changed_labels = labels.copy()
    late_labels = (changed_labels["ts"] > after) & changed_labels["actual"].notna()
    changed_labels.loc[late_labels, "actual"] = rng.normal(size=int(late_labels.sum()))
    second = evaluate_walk_forward(
        changed_design, changed_labels, candidates(), spec=spec, holdout=40
    )

    def block(result: pd.DataFrame) -> pd.DataFrame:
        rows = result[result["fold"] == fold.number]
        return rows.loc[:, ["ticker", "ts", "prediction", "lower", "upper"]].reset_index(drop=True)

    pd.testing.assert_frame_equal(block(first.predictions), block(second.predictions))
    later = second.predictions["fold"] > fold.number
    assert not np.allclose(
        first.predictions.loc[later, "prediction"], second.predictions.loc[later, "prediction"]
    )


def test_a_saved_ensemble_loads_and_forecasts_the_same(tmp_path: Path) -> None:
    design, labels = drift_panel()
    X, y, X_test, *_ = split(design, labels, 260)
    model = ensemble("mean_drift,ar1,lightgbm", weighting="tail")
    model.fit(X, y)
    model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert loaded.name == "ensemble"
    assert dict(loaded.params) == dict(model.params)
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))
    # One row at a time forecasts as the whole cross-section does (serving reads one ticker).
    one = X_test.iloc[[7]]
    assert loaded.predict(one)[0] == pytest.approx(model.predict(X_test)[7], rel=1e-12)


@pytest.mark.parametrize("name", ["random_walk", "mean_drift", "momentum", "reversal", "ar1"])
def test_a_saved_baseline_loads_and_forecasts_the_same(tmp_path: Path, name: str) -> None:
    design, labels = drift_panel()
    X, y, X_test, *_ = split(design, labels, 260)
    baseline = make_baseline(name, horizon=HORIZON)
    baseline.fit(X, y)
    baseline.save(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert loaded.name == name
    assert loaded.window == baseline.window
    np.testing.assert_array_equal(loaded.predict(X_test), baseline.predict(X_test))


def test_a_file_that_is_not_a_baseline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"kind": "oracle"}', encoding="utf-8")
    with pytest.raises(ModelError, match="does not hold a baseline"):
        load_baseline(tmp_path)
