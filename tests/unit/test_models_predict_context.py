"""A forecast is made from as many rows as its model reads: one for a row model, the sequence
for a sequence model (the LSTM), never a single row padded into a fake sequence."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from stockpred.pipeline.predict import context_rows, forecasts_from_rows, latest_rows
from stockpred.registry.base import ModelVersion

NOW = datetime(2024, 1, 8, 12, tzinfo=UTC)

CHAMPION = ModelVersion(
    name="stockpred-h1",
    version=3,
    run_id="r",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
    metadata={"interval_half_width": "0.1", "interval_coverage": "0.9", "model_kind": "fake"},
)


class MeanOfLast:
    """Predicts, per row, the mean of feature f over the row and its predecessors in the frame
    (up to ``sequence_length`` rows), as the LSTM builds its sequences."""

    def __init__(self, sequence_length: int) -> None:
        self.sequence_length = sequence_length

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        means = X.groupby("ticker", sort=False)["f"].transform(
            lambda s: s.rolling(self.sequence_length, min_periods=1).mean()
        )
        return means.to_numpy(np.float64)

    def contributions(self, X: pd.DataFrame) -> None:
        return None


class RowModel:
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["f"].to_numpy(np.float64) / 100

    def contributions(self, X: pd.DataFrame) -> None:
        return None


def design() -> pd.DataFrame:
    ts = pd.date_range("2024-01-02 21:00", periods=5, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "ticker": ["A"] * 5 + ["B"] * 3,
            "ts": list(ts) + list(ts[:3]),
            "f": [1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0, 30.0],
        }
    )


def test_a_sequence_model_forecasts_from_its_last_sequence_length_rows() -> None:
    model = MeanOfLast(sequence_length=3)
    rows = latest_rows(design(), model)  # type: ignore[arg-type]

    forecasts = forecasts_from_rows(
        CHAMPION,
        model,  # type: ignore[arg-type]
        rows,
        horizon=1,
        last_close={"A": 50.0, "B": 60.0},
        now=NOW,
    )

    assert context_rows(model) == 3  # type: ignore[arg-type]
    assert list(rows["f"]) == [3.0, 4.0, 5.0, 10.0, 20.0, 30.0]
    assert [(f.ticker, f.value) for f in forecasts] == [("A", 4.0), ("B", 20.0)]
    assert forecasts[0].as_of == pd.Timestamp("2024-01-06 21:00", tz="UTC")
    assert forecasts[0].price == pytest.approx(50.0 * np.exp(4.0))


def test_a_row_model_forecasts_from_each_tickers_last_row() -> None:
    model = RowModel()
    rows = latest_rows(design(), model)  # type: ignore[arg-type]

    forecasts = forecasts_from_rows(
        CHAMPION,
        model,  # type: ignore[arg-type]
        rows,
        horizon=1,
        last_close={"A": 50.0, "B": 60.0},
        now=NOW,
    )

    assert context_rows(model) == 1  # type: ignore[arg-type]
    assert list(rows["f"]) == [5.0, 30.0]
    assert [(f.ticker, f.value) for f in forecasts] == [("A", 0.05), ("B", 0.3)]
    assert [f.model_version for f in forecasts] == ["3", "3"]  # a string, as the API gives it
    assert {f.created_at for f in forecasts} == {NOW}
