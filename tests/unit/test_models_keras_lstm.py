"""The Keras 3 LSTM forecaster: it learns a dependence on a feature's recent history, is
deterministic for a seed, round-trips through save/load (also through the catalog), and says
which extra to install when TensorFlow is missing. Skipped without the tensorflow extra, except
the tests that the module (and the command line) import without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stockpred.models
from stockpred.domain.errors import MissingExtraError, ModelError
from stockpred.models.base import Model
from stockpred.models.catalog import MODELS, PARAM_GRIDS, load_model, make_model
from stockpred.models.keras_lstm import KerasLSTMForecaster, load_keras_lstm
from support.sequence_panel import generated_panel

HAS_TENSORFLOW = (
    importlib.util.find_spec("tensorflow") is not None
    and importlib.util.find_spec("keras") is not None
)
needs_tensorflow = pytest.mark.skipif(
    not HAS_TENSORFLOW,
    reason="the tensorflow extra is not installed (pip install 'stockpred[tensorflow]')",
)

TRAIN_DAYS = 300
# Tiny and fast, like the PyTorch LSTM's tests: the module runs in well under a minute.
SMALL = {
    "horizon": 5,
    "sequence_length": 8,
    "hidden_size": 16,
    "batch_size": 128,
    "epochs": 12,
    "patience": 3,
    "learning_rate": 5e-3,
}


@pytest.fixture(scope="module")
def panel() -> tuple[pd.DataFrame, pd.Series]:
    return generated_panel()


@pytest.fixture(scope="module")
def fitted(panel: tuple[pd.DataFrame, pd.Series]) -> KerasLSTMForecaster:
    if not HAS_TENSORFLOW:
        pytest.skip("the tensorflow extra is not installed (pip install 'stockpred[tensorflow]')")
    X, y = panel
    train = X["ts"] < X["ts"].unique()[TRAIN_DAYS]
    model = KerasLSTMForecaster(**SMALL, seed=1)
    model.fit(X[train], y[train])
    return model


def test_module_imports_without_tensorflow_and_fit_and_load_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.setitem(sys.modules, "keras", None)
    # The fresh import rebinds the package attribute; put the real module back afterwards.
    monkeypatch.setattr(stockpred.models, "keras_lstm", sys.modules["stockpred.models.keras_lstm"])
    monkeypatch.delitem(sys.modules, "stockpred.models.keras_lstm")
    fresh = importlib.import_module("stockpred.models.keras_lstm")
    X, y = generated_panel(2, 30)

    with pytest.raises(MissingExtraError, match=r"pip install 'stockpred\[tensorflow\]'"):
        fresh.KerasLSTMForecaster().fit(X, y)
    with pytest.raises(MissingExtraError, match=r"pip install 'stockpred\[tensorflow\]'"):
        fresh.load_keras_lstm(tmp_path)


def test_the_command_line_and_the_catalog_import_no_tensorflow() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from stockpred.cli.app import app\n"
        "import stockpred.models.catalog\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert done.stdout.strip() == "[]"


def test_keras_lstm_is_in_the_catalog_with_its_context_and_a_small_grid() -> None:
    model = make_model("keras_lstm", hidden_size=8)

    assert isinstance(model, KerasLSTMForecaster)
    assert MODELS["keras_lstm"].sequence_length == 20  # type: ignore[attr-defined]
    assert 1 <= len(PARAM_GRIDS["keras_lstm"]) <= 8
    # Keras' Adam decays weights decoupled, not as torch's L2 term: no parameter of that name.
    with pytest.raises(ModelError, match=r"unknown parameter\(s\) weight_decay"):
        make_model("keras_lstm", weight_decay=0.01)


def test_keras_lstm_is_a_model_with_the_context_it_needs() -> None:
    model = KerasLSTMForecaster(sequence_length=20)

    assert isinstance(model, Model)
    assert model.name == "keras_lstm"
    assert model.sequence_length == 20
    assert model.feature_names == ()
    assert model.window is None
    assert model.contributions(pd.DataFrame()) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_size": 0}, "hidden_size must be a whole number >= 1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"loss": "mae"}, "loss must be one of huber, mse"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
    ],
)
def test_a_parameter_out_of_range_is_an_error_naming_it(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        KerasLSTMForecaster(**params)  # type: ignore[arg-type]


def test_predict_before_fit_is_an_error_saying_what_to_do(
    panel: tuple[pd.DataFrame, pd.Series],
) -> None:
    with pytest.raises(ModelError, match=r"not fitted; call fit first \(or load_keras_lstm\)"):
        KerasLSTMForecaster().predict(panel[0])


@needs_tensorflow
def test_keras_lstm_beats_predicting_zero_on_a_later_block(
    panel: tuple[pd.DataFrame, pd.Series], fitted: KerasLSTMForecaster
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


@needs_tensorflow
def test_predict_gives_one_finite_float_per_row_in_the_frames_order(
    panel: tuple[pd.DataFrame, pd.Series], fitted: KerasLSTMForecaster
) -> None:
    X, _ = panel
    X = X[X["ts"] >= X["ts"].unique()[350]].reset_index(drop=True)
    shuffled = X.sample(frac=1.0, random_state=0)

    prediction = fitted.predict(X)

    assert prediction.shape == (len(X),)
    assert prediction.dtype == np.float64
    assert np.isfinite(prediction).all()
    np.testing.assert_array_equal(fitted.predict(shuffled), prediction[shuffled.index])
    assert fitted.predict(X.iloc[:0]).shape == (0,)


@needs_tensorflow
def test_early_stopping_reports_every_epoch_and_keeps_the_best() -> None:
    X, y = generated_panel(6, 200)
    seen: list[tuple[int, float, float]] = []
    model = KerasLSTMForecaster(**{**SMALL, "epochs": 4}, on_epoch=lambda *e: seen.append(e))

    model.fit(X, y)

    assert [e[0] for e in seen] == list(range(1, len(seen) + 1))
    assert all(math.isfinite(train) and math.isfinite(val) for _, train, val in seen)
    assert list(model.history) == seen
    assert model.best_epoch == min(seen, key=lambda e: e[2])[0]
    # Validation losses are per-row means in standardised units, like the training loss.
    assert all(0.01 < val < 10.0 for _, _, val in seen)


@needs_tensorflow
def test_same_seed_gives_identical_predictions_and_another_seed_does_not() -> None:
    X, y = generated_panel(6, 120)
    options = {**SMALL, "epochs": 2}
    python_state, numpy_state = random.getstate(), np.random.get_state()

    runs = []
    for seed in (3, 3, 4):
        model = KerasLSTMForecaster(**options, seed=seed)
        model.fit(X, y)
        runs.append(model.predict(X))

    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    # Seeding Keras leaves the caller's global random states as they were.
    assert random.getstate() == python_state
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])


@needs_tensorflow
def test_saved_model_loads_and_predicts_identically(
    panel: tuple[pd.DataFrame, pd.Series], fitted: KerasLSTMForecaster, tmp_path: Path
) -> None:
    X, _ = panel
    fitted.save(tmp_path / "keras")

    loaded = load_keras_lstm(tmp_path / "keras")
    through_catalog = load_model(tmp_path / "keras")

    assert sorted(p.name for p in (tmp_path / "keras").iterdir()) == [
        "model.json",
        "network.keras",
    ]
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert isinstance(through_catalog, KerasLSTMForecaster)
    np.testing.assert_array_equal(through_catalog.predict(X), fitted.predict(X))
    assert loaded.params == fitted.params
    assert loaded.feature_names == fitted.feature_names
    assert loaded.window == fitted.window
    assert loaded.sequence_length == fitted.sequence_length
    assert loaded.history == fitted.history


@needs_tensorflow
def test_loading_a_folder_without_a_saved_keras_lstm_says_what_is_missing(
    tmp_path: Path,
) -> None:
    with pytest.raises(ModelError, match=r"model\.json and network\.keras expected"):
        load_keras_lstm(tmp_path)


@needs_tensorflow
def test_a_rows_sequence_reads_only_its_tickers_rows_at_or_before_it(
    panel: tuple[pd.DataFrame, pd.Series], fitted: KerasLSTMForecaster
) -> None:
    X, _ = panel
    X = X[X["ts"] >= X["ts"].unique()[300]].reset_index(drop=True)
    at = X.index[(X["ticker"] == "T05") & (X["ts"] == X["ts"].unique()[40])][0]
    before = fitted.predict(X)[at]

    changed = X.copy()
    later_same = (changed["ticker"] == "T05") & (changed["ts"] > X.loc[at, "ts"])
    earlier_other = (changed["ticker"] == "T06") & (changed["ts"] < X.loc[at, "ts"])
    changed.loc[later_same | earlier_other, ["signal", "noise", "gappy"]] = 9.0
    earlier_same = X.index[(X["ticker"] == "T05") & (X["ts"] == X["ts"].unique()[38])][0]
    control = X.copy()
    control.loc[earlier_same, "signal"] = 9.0

    assert fitted.predict(changed)[at] == before
    assert fitted.predict(control)[at] != before


@needs_tensorflow
def test_predict_names_missing_features_and_rejects_duplicate_rows(
    panel: tuple[pd.DataFrame, pd.Series], fitted: KerasLSTMForecaster
) -> None:
    X, _ = panel
    with pytest.raises(ModelError, match=r"keras_lstm was fitted on feature.*gappy"):
        fitted.predict(X.drop(columns="gappy"))
    with pytest.raises(ModelError, match="more than once"):
        fitted.predict(pd.concat([X.iloc[:3], X.iloc[:1]]))
