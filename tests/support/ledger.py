"""A champion's forecasts of every stored session after its training data, as the prediction
ledger would hold them had it served each session: what the monitor's tests score."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from stockpred.models.base import Model
from stockpred.registry.base import ModelVersion
from stockpred.store.base import Store


def forecasts_after_training(
    store: Store, version: ModelVersion, model: Model, *, created_at: pd.Timestamp
) -> pd.DataFrame:
    """Rows of the ``predictions`` table: ``model``'s forecast of each stored feature row of
    its set dated after ``version``'s training data (indices left out), with its conformal
    interval."""
    design = store.read_features(feature_set=version.metadata["feature_set"])
    design = design[design["ts"] > pd.Timestamp(version.metadata["data_end"])]
    design = design[~design["ticker"].str.startswith("^")].reset_index(drop=True)
    features = json.loads(version.metadata["features"])
    value = np.asarray(model.predict(design[["ticker", "ts", *features]]), dtype="float64")
    half = float(version.metadata["interval_half_width"])
    return pd.DataFrame(
        {
            "ticker": design["ticker"],
            "as_of": design["ts"],
            "horizon": int(version.metadata["horizon"]),
            "target": "log_return",
            "value": value,
            "lower": value - half,
            "upper": value + half,
            "direction_prob": 0.5,
            "model": f"{version.name}/{version.metadata['model_kind']}",
            "model_version": str(version.version),
            "created_at": created_at,
        }
    )
