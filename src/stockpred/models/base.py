"""The model contract: every estimator and every baseline is a :class:`Model`.

Frames are the currency. A *design frame* ``X`` holds one row per (ticker, ts): columns
``ticker`` and ``ts`` (UTC bar close the features were known at), then feature columns (float,
NaN where undefined). A target ``y`` is aligned with ``X`` row by row: the forward log return
over the horizon (see ``models/targets.py``). Predictions are forward log returns too.

A model is fitted on an explicit training window and records it, the features it used and its
parameters, so a stored model says what it knows (DESIGN.md, invariant 5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = ["KEY_COLUMNS", "Model", "TrainingWindow", "as_target", "feature_columns"]

# The key columns of a design frame; everything else is a feature.
KEY_COLUMNS = ("ticker", "ts")


@dataclass(frozen=True, slots=True)
class TrainingWindow:
    """What a fitted model was trained on: the first and last feature timestamps of its rows,
    the number of rows and the tickers."""

    start: pd.Timestamp
    end: pd.Timestamp
    rows: int
    tickers: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        """JSON-ready: ``{"start", "end" (ISO), "rows", "tickers"}``."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "tickers": list(self.tickers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> TrainingWindow:
        """The window written by :meth:`to_json` (KeyError, TypeError or ValueError if not)."""
        tickers = data.get("tickers", ())
        if not isinstance(tickers, list | tuple):
            raise TypeError(f"window tickers must be a list, got {tickers!r}")
        return cls(
            start=pd.Timestamp(str(data["start"])),
            end=pd.Timestamp(str(data["end"])),
            rows=int(str(data["rows"])),
            tickers=tuple(str(t) for t in tickers),
        )

    @classmethod
    def of(cls, X: pd.DataFrame) -> TrainingWindow:
        ts = pd.DatetimeIndex(X["ts"])
        return cls(
            start=ts.min(),
            end=ts.max(),
            rows=len(X),
            tickers=tuple(sorted(map(str, pd.unique(X["ticker"])))),
        )


def feature_columns(X: pd.DataFrame) -> tuple[str, ...]:
    """The feature columns of a design frame, in order."""
    return tuple(str(c) for c in X.columns if c not in KEY_COLUMNS)


@runtime_checkable
class Model(Protocol):
    """One forecaster of the forward log return.

    ``fit`` sees only the training window (rows of ``X`` and the aligned ``y``, no NaN in
    ``y``); ``predict`` returns one float per row of ``X`` (never NaN: a model that cannot use a
    row falls back to a stated default, e.g. zero). ``contributions`` explains predictions: per
    row, the additive contribution of each feature (SHAP values for trees, coefficient x
    standardised value for linear models) plus a ``bias`` column, summing to the prediction;
    None when the model has no such decomposition.
    """

    @property
    def name(self) -> str:
        """The kind, e.g. ``ridge``, ``lightgbm``, ``random_walk``."""
        ...

    @property
    def params(self) -> Mapping[str, object]:
        """The hyperparameters it was built (or tuned) with."""
        ...

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns it reads, in order; empty before ``fit``."""
        ...

    @property
    def window(self) -> TrainingWindow | None:
        """The training window of the last ``fit``; None before."""
        ...

    def fit(self, X: pd.DataFrame, y: pd.Series) -> None:
        """Fit on the training rows ``X`` and targets ``y`` (same length, same order)."""
        ...

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted forward log return per row of ``X``: float64, shape (len(X),)."""
        ...

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Per row, each feature's additive contribution and ``bias``; None if not available."""
        ...

    def save(self, directory: Path) -> None:
        """Write the fitted model under ``directory`` (created if missing)."""
        ...


def as_target(y: pd.Series | np.ndarray) -> np.ndarray:
    """``y`` as float64 without NaN, or a ValueError naming the problem."""
    values = np.asarray(y, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("the target holds NaN; drop unlabelled rows before fitting")
    return values
