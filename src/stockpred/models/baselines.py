"""Naive baselines, always evaluated beside the models: a model that does not beat them has
learned nothing worth serving.

- ``random_walk``: tomorrow's price is today's: a forward return of zero.
- ``mean_drift``: each ticker's mean forward return over its training window (the pooled mean
  for a ticker not seen in training).
- ``momentum``: the sign of 12-1 momentum (the return from 252 to 21 sessions ago), as a
  return of the training window's mean absolute size.
- ``reversal``: minus the sign of the last session's return, sized the same way (short-term
  reversal).
- ``ar1``: per ticker, the least-squares regression of the forward h-session return on the past
  h-session return (the pooled fit for a ticker with too few training rows).

The rules read features of ``daily_v1`` by name (``momentum_252_skip_21``, ``log_return_1``,
``log_return_{h}``); a missing feature is an error that names it. A NaN signal predicts zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.models.base import Model, TrainingWindow, as_target

__all__ = ["BASELINES", "Baseline", "load_baseline", "make_baseline"]

# Fewer training rows than this and a ticker's AR(1) uses the pooled fit.
_AR_MIN_ROWS = 60


class Baseline:
    """A rule with at most a few numbers fitted on the training window."""

    def __init__(self, name: str, *, horizon: int) -> None:
        if name not in _RULES:
            raise ModelError(f"unknown baseline {name!r}; baselines: {', '.join(_RULES)}")
        self._name = name
        self._horizon = horizon
        self._inputs = _RULES[name](horizon)
        self._window: TrainingWindow | None = None
        self._scale = 0.0
        self._pooled = (0.0, 0.0)
        self._per_ticker: dict[str, tuple[float, float]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def params(self) -> Mapping[str, object]:
        return {"horizon": self._horizon}

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._inputs if self._window is not None else ()

    @property
    def window(self) -> TrainingWindow | None:
        return self._window

    def _signal(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self._inputs if c not in X.columns]
        if missing:
            raise ModelError(
                f"baseline {self._name} needs feature(s) {', '.join(missing)}, which the "
                "design frame lacks; build the daily_v1 feature set"
            )
        if not self._inputs:
            return np.zeros(len(X))
        return X[self._inputs[0]].to_numpy(dtype="float64")

    def fit(self, X: pd.DataFrame, y: pd.Series) -> None:
        target = as_target(y)
        signal = self._signal(X)
        self._window = TrainingWindow.of(X)
        self._scale = float(np.mean(np.abs(target))) if len(target) else 0.0
        self._per_ticker = {}
        if self._name == "mean_drift":
            self._pooled = (float(np.mean(target)) if len(target) else 0.0, 0.0)
            means = pd.Series(target).groupby(X["ticker"].to_numpy()).mean()
            self._per_ticker = {str(t): (float(m), 0.0) for t, m in means.items()}
        elif self._name == "ar1":
            self._pooled = _least_squares(signal, target)
            for ticker, rows in pd.Series(np.arange(len(X))).groupby(X["ticker"].to_numpy()):
                index = rows.to_numpy()
                usable = ~np.isnan(signal[index])
                if usable.sum() >= _AR_MIN_ROWS:
                    self._per_ticker[str(ticker)] = _least_squares(signal[index], target[index])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self._window is None:
            raise ModelError(f"baseline {self._name} is not fitted; call fit first")
        signal = self._signal(X)
        if self._name == "random_walk":
            return np.zeros(len(X))
        if self._name == "momentum":
            return np.asarray(np.nan_to_num(np.sign(signal)) * self._scale, dtype="float64")
        if self._name == "reversal":
            return np.asarray(-np.nan_to_num(np.sign(signal)) * self._scale, dtype="float64")
        tickers = X["ticker"].astype(str).to_numpy()
        coefficients = np.array(
            [self._per_ticker.get(t, self._pooled) for t in tickers], dtype="float64"
        ).reshape(len(X), 2)
        if self._name == "mean_drift":
            return coefficients[:, 0]
        prediction = coefficients[:, 0] + coefficients[:, 1] * signal
        return np.asarray(np.nan_to_num(prediction), dtype="float64")

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        return None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "kind": self._name,
            "params": dict(self.params),
            "scale": self._scale,
            "pooled": list(self._pooled),
            "per_ticker": {t: list(c) for t, c in self._per_ticker.items()},
        }
        if self._window is not None:
            state["window"] = self._window.to_json()
        (directory / "model.json").write_text(json.dumps(state, indent=2), encoding="utf-8")

    def restore(self, state: Mapping[str, object]) -> None:
        """The fitted numbers read back by :func:`load_baseline`."""
        self._scale = float(state["scale"])  # type: ignore[arg-type]
        pooled = list(state["pooled"])  # type: ignore[call-overload]
        self._pooled = (float(pooled[0]), float(pooled[1]))
        table = dict(state["per_ticker"])  # type: ignore[call-overload]
        self._per_ticker = {str(t): (float(c[0]), float(c[1])) for t, c in table.items()}
        window = state.get("window")
        if isinstance(window, Mapping):
            self._window = TrainingWindow.from_json(window)
        else:
            # Written before windows were saved: fitted, window unknown.
            self._window = TrainingWindow(pd.Timestamp(0, tz="UTC"), pd.Timestamp(0, tz="UTC"), 0)


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of y on x over the rows where x is defined; (mean y, 0) if x does
    not vary."""
    usable = ~np.isnan(x)
    if usable.sum() < 2:
        return (float(np.mean(y)) if len(y) else 0.0, 0.0)
    xs, ys = x[usable], y[usable]
    spread = float(np.var(xs))
    if spread <= 0.0:
        return float(np.mean(ys)), 0.0
    slope = float(np.mean((xs - xs.mean()) * (ys - ys.mean())) / spread)
    return float(ys.mean() - slope * xs.mean()), slope


_RULES: dict[str, Callable[[int], tuple[str, ...]]] = {
    "random_walk": lambda h: (),
    "mean_drift": lambda h: (),
    "momentum": lambda h: ("momentum_252_skip_21",),
    "reversal": lambda h: ("log_return_1",),
    "ar1": lambda h: (f"log_return_{h}",),
}
BASELINES: tuple[str, ...] = tuple(_RULES)


def make_baseline(name: str, *, horizon: int) -> Model:
    """The baseline ``name`` for forecasts ``horizon`` sessions ahead."""
    return Baseline(name, horizon=horizon)


def load_baseline(directory: Path) -> Baseline:
    """Read back a baseline written by ``save(directory)``: it predicts exactly as before."""
    path = directory / "model.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the baseline at {path}: {exc}") from exc
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind not in _RULES:
        raise ModelError(f"{path} does not hold a baseline (kind {kind!r}); baselines: {BASELINES}")
    params = state.get("params", {})
    horizon = params.get("horizon") if isinstance(params, dict) else None
    if not isinstance(horizon, int) or horizon < 1:
        raise ModelError(f"{path}: the baseline's horizon is missing or invalid: {horizon!r}")
    try:
        model = Baseline(str(kind), horizon=horizon)
        model.restore(state)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{path} is not a valid baseline file: {exc!r}") from exc
    return model
