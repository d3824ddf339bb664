"""The LSTM forecaster: it learns a dependence on a feature's recent history, is deterministic,
round-trips through save/load, and a row's sequence reads only its own ticker's rows at or
before it. Skipped without the torch extra, except the test that the module imports without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stockpred.models
from stockpred.domain.errors import MissingExtraError, ModelError
from stockpred.models.base import Model
from stockpred.models.lstm import LSTMForecaster, load_lstm
from support.sequence_panel import generated_panel

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="the torch extra is not installed (pip install 'stockpred[torch]')",
)

TICKERS = 20
DAYS = 400
TRAIN_DAYS = 300
# Small and fast: the whole module stays within a few seconds on two cores.
SMALL = {
    "horizon": 5,
    "sequence_length": 8,
    "hidden_size": 16,
    "batch_size": 128,
    "epochs": 12,
    "patience": 3,
    "learning_rate": 5e-3,
    # One thread: tiny batches gain nothing from two, and OpenMP's spinning threads slow
    # down tenfold when other work shares the two cores.
    "threads": 1,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def panel() -> tuple[pd.DataFrame, pd.Series]:
    return generated_panel(TICKERS, DAYS)


@pytest.fixture(scope="module")
def fitted(panel: tuple[pd.DataFrame, pd.Series]) -> LSTMForecaster:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the torch extra is not installed (pip install 'stockpred[torch]')")
    X, y = panel
    train = X["ts"] < X["ts"].unique()[TRAIN_DAYS]
    model = LSTMForecaster(**SMALL, seed=1)
    model.fit(X[train], y[train])
    return model


def test_module_imports_without_torch_and_fit_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    # The fresh import rebinds the package attribute; put the real module back afterwards.
    monkeypatch.setattr(stockpred.models, "lstm", sys.modules["stockpred.models.lstm"])
    monkeypatch.delitem(sys.modules, "stockpred.models.lstm")
    fresh = importlib.import_module("stockpred.models.lstm")
    X, y = generated_panel(2, 30)

    with pytest.raises(MissingExtraError, match=r"pip install 'stockpred\[torch\]'"):
        fresh.LSTMForecaster().fit(X, y)


@needs_torch
def test_lstm_is_a_model_with_the_context_it_needs() -> None:
    model = LSTMForecaster(sequence_length=20)

    assert isinstance(model, Model)
    assert model.name == "lstm"
    assert model.sequence_length == 20
    assert model.feature_names == ()
    assert model.window is None
    assert model.contributions(pd.DataFrame()) is None


@needs_torch
def test_lstm_beats_predicting_zero_on_a_later_block(
    panel: tuple[pd.DataFrame, pd.Series], fitted: LSTMForecaster
) -> None:
    X, y = panel
    later = (X["ts"] >= X["ts"].unique()[TRAIN_DAYS]).to_numpy()

    # Predicting on the whole frame gives the later rows their real history as context.
    prediction = fitted.predict(X)[later]
    actual = y.to_numpy()[later]

    mse, zero_mse = np.mean((prediction - actual) ** 2), np.mean(actual**2)
    # The best model of one row's features explains only half the signal (MSE ~0.56 of zero's).
    assert mse < 0.3 * zero_mse
    assert fitted.window is not None
    assert fitted.window.end < X["ts"][later].min()
    assert fitted.feature_names == ("signal", "noise", "gappy")


@needs_torch
def test_early_stopping_reports_every_epoch_and_keeps_the_best() -> None:
    X, y = generated_panel(6, 200)
    seen: list[tuple[int, float, float]] = []
    model = LSTMForecaster(**{**SMALL, "epochs": 4}, on_epoch=lambda *e: seen.append(e))

    model.fit(X, y)

    assert [e[0] for e in seen] == list(range(1, len(seen) + 1))
    assert all(math.isfinite(train) and math.isfinite(val) for _, train, val in seen)
    assert list(model.history) == seen
    best = min(seen, key=lambda e: e[2])
    assert model.best_epoch == best[0]


@needs_torch
def test_validation_tail_is_the_last_dates_after_a_purge_of_horizon_dates() -> None:
    X, _ = generated_panel(3, 200)
    model = LSTMForecaster(horizon=5, validation_fraction=0.1)
    order = np.arange(len(X))
    ts = pd.DatetimeIndex(X["ts"])
    dates = ts.unique().sort_values()

    train, validation = model._split(X, order)

    assert set(ts[validation]) == set(dates[-20:])
    assert ts[train].max() == dates[-20 - 5 - 1]
    assert len(train) + len(validation) == len(X) - 5 * 3


@needs_torch
def test_same_seed_gives_identical_predictions_and_another_seed_does_not() -> None:
    X, y = generated_panel(6, 120)
    options = {**SMALL, "epochs": 2}

    runs = []
    for seed in (3, 3, 4):
        model = LSTMForecaster(**options, seed=seed)
        model.fit(X, y)
        runs.append(model.predict(X))

    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@needs_torch
def test_saved_model_loads_and_predicts_identically(
    panel: tuple[pd.DataFrame, pd.Series], fitted: LSTMForecaster, tmp_path: Path
) -> None:
    X, _ = panel
    fitted.save(tmp_path / "lstm")

    loaded = load_lstm(tmp_path / "lstm")

    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.params == fitted.params
    assert loaded.feature_names == fitted.feature_names
    assert loaded.window == fitted.window
    assert loaded.sequence_length == fitted.sequence_length
    assert loaded.history == fitted.history


@needs_torch
def test_loading_a_folder_without_a_saved_lstm_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.json and weights\.pt expected"):
        load_lstm(tmp_path)


@needs_torch
def test_rows_of_an_unseen_ticker_are_predicted_like_any_other(
    panel: tuple[pd.DataFrame, pd.Series], fitted: LSTMForecaster
) -> None:
    X, _ = panel
    known = X[X["ticker"] == "T03"].iloc[-60:]
    unseen = known.assign(ticker="NEW")

    prediction = fitted.predict(unseen)

    assert prediction.shape == (60,)
    assert np.isfinite(prediction).all()
    np.testing.assert_array_equal(prediction, fitted.predict(known))


@needs_torch
def test_a_rows_sequence_reads_only_its_tickers_rows_at_or_before_it(
    panel: tuple[pd.DataFrame, pd.Series], fitted: LSTMForecaster
) -> None:
    X, _ = panel
    X = X[X["ts"] >= X["ts"].unique()[300]].reset_index(drop=True)
    at = X.index[(X["ticker"] == "T05") & (X["ts"] == X["ts"].unique()[40])][0]
    before = fitted.predict(X)[at]

    changed = X.copy()
    later_same = (changed["ticker"] == "T05") & (changed["ts"] > X.loc[at, "ts"])
    earlier_other = (changed["ticker"] == "T06") & (changed["ts"] < X.loc[at, "ts"])
    changed.loc[later_same | earlier_other, ["signal", "noise", "gappy"]] = 9.0
    # One earlier row of the same ticker inside the sequence: this one must matter.
    earlier_same = X.index[(X["ticker"] == "T05") & (X["ts"] == X["ts"].unique()[38])][0]
    control = X.copy()
    control.loc[earlier_same, "signal"] = 9.0

    assert fitted.predict(changed)[at] == before
    assert fitted.predict(control)[at] != before


@needs_torch
def test_row_order_of_the_frame_does_not_matter(
    panel: tuple[pd.DataFrame, pd.Series], fitted: LSTMForecaster
) -> None:
    X, _ = panel
    X = X[X["ts"] >= X["ts"].unique()[350]].reset_index(drop=True)
    shuffled = X.sample(frac=1.0, random_state=0)

    np.testing.assert_array_equal(fitted.predict(shuffled), fitted.predict(X)[shuffled.index])


@needs_torch
def test_a_row_without_predecessors_is_padded_with_itself(
    panel: tuple[pd.DataFrame, pd.Series], fitted: LSTMForecaster
) -> None:
    X, _ = panel
    row = X.iloc[[100]]
    stamps = pd.DatetimeIndex(X["ts"].unique()[100 - fitted.sequence_length + 1 : 101])
    repeated = pd.concat([row] * fitted.sequence_length, ignore_index=True).assign(ts=stamps)

    alone = fitted.predict(row)[0]

    # Batches of one and of several rows take different BLAS paths: equal to float32 precision.
    assert fitted.predict(repeated)[-1] == pytest.approx(alone, rel=1e-5, abs=1e-9)


@needs_torch
def test_predict_names_missing_features_and_rejects_duplicate_rows(
    panel: tuple[pd.DataFrame, pd.Series], fitted: LSTMForecaster
) -> None:
    X, _ = panel
    with pytest.raises(ModelError, match="gappy"):
        fitted.predict(X.drop(columns="gappy"))
    with pytest.raises(ModelError, match="more than once"):
        fitted.predict(pd.concat([X.iloc[:3], X.iloc[:1]]))
    with pytest.raises(ModelError, match="not fitted"):
        LSTMForecaster().predict(X)
