"""The cross-sectional ensemble: the baselines' own forecasts and a cross-sectional model, put on
one scale, blended, and mapped back to return units.

Why: on US stocks nobody tuned on, pooled models fitted on the raw return mostly time the market
(their forecasts vary more from date to date than across stocks on a date), which a ranking
score does not reward, while per-ticker mean drift and AR(1) rank stocks well. So:

- *baseline members* (``mean_drift``, ``ar1``, ``reversal``, ``momentum``) are fitted as the
  baselines are;
- *model members* (any pooled kind of the catalogue, e.g. ``lightgbm``, ``ridge``) read only the
  per-date ranks of the features (``rank_*`` columns: cross-sectional, so they cannot split on
  the market's level or on the calendar) and are fitted on the per-date rank of the target
  (percentile minus 0.5), computed from the training rows of each date;
- each member's forecast is divided by its cross-sectional spread (the mean over dates of the
  per-date standard deviation of its forecasts) and the blend is the weighted sum;
- the blend is mapped to a return: ``intercept + slope * blend``, ``intercept`` the mean target
  of the training window, ``slope`` the least-squares slope of the date-demeaned target on the
  date-demeaned blend. The mapping is increasing (a slope at or below zero is floored at a tiny
  positive value and recorded), so the ranking is the blend's, and the value, its interval and
  P(up) are in return units.

The spreads, weights and slope are estimated on a held-out tail of the training window (members
fitted on the dates before it, minus a purge of ``horizon`` dates), never on the rows they
predict; then the members are refitted on the whole window. Weights: ``equal`` (1/m each), or
``tail`` (each member's positive mean daily rank IC on the tail, shrunk half-way to equal).
Nothing after the training window is read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.models.base import Model, TrainingWindow, as_target
from stockpred.models.baselines import BASELINES, Baseline, load_baseline
from stockpred.models.walkforward import inner_split

__all__ = ["DEFAULT_MEMBERS", "RANK_PREFIX", "Ensemble", "load_ensemble"]

_KIND = "ensemble"
_FORMAT = 1
_MANIFEST = "model.json"
RANK_PREFIX = "rank_"
DEFAULT_MEMBERS = "mean_drift,ar1,momentum,reversal,lightgbm"
_WEIGHTINGS = ("equal", "tail")
# The slope used when the tail shows no positive relation (keeps the order, shrinks the value).
_FLOOR_SLOPE = 1e-6

# Parameters of a model member: regularised, since a cross-sectional rank target is noisy.
_MEMBER_PARAMS: dict[str, dict[str, object]] = {
    "lightgbm": {
        "n_estimators": 200,
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_child_samples": 1000,
        "subsample": 0.7,
        "colsample_bytree": 0.5,
        "reg_lambda": 10.0,
    },
    "ridge": {"alpha": 10_000.0},
}


def _member_names(members: str) -> tuple[str, ...]:
    names = tuple(m.strip() for m in members.split(",") if m.strip())
    if not names:
        raise ModelError(f"{_KIND}: members is empty; e.g. members={DEFAULT_MEMBERS!r}")
    if len(set(names)) != len(names):
        raise ModelError(f"{_KIND}: members repeat: {members!r}")
    return names


def _rank_target(ts: pd.Series, y: np.ndarray) -> np.ndarray:
    """Per date: the percentile rank of ``y`` minus 0.5 (0 for a date with a single row)."""
    ranked = pd.Series(y).groupby(ts.to_numpy()).rank(pct=True).to_numpy(np.float64)
    counts = pd.Series(y).groupby(ts.to_numpy()).transform("size").to_numpy()
    return np.asarray(np.where(counts > 1, ranked - 0.5, 0.0), dtype=np.float64)


def _demean(ts: pd.Series, values: np.ndarray) -> np.ndarray:
    means = pd.Series(values).groupby(ts.to_numpy()).transform("mean").to_numpy(np.float64)
    return np.asarray(values - means, dtype=np.float64)


def _spread(ts: pd.Series, values: np.ndarray) -> float:
    """The mean over dates of the per-date standard deviation (dates with >= 2 rows)."""
    std = pd.Series(values).groupby(ts.to_numpy()).std(ddof=0).dropna()
    value = float(std.mean()) if len(std) else math.nan
    return value if math.isfinite(value) and value > 0 else 1.0


def _tail_rank_ic(ts: pd.Series, prediction: np.ndarray, actual: np.ndarray) -> float:
    frame = pd.DataFrame({"ts": ts.to_numpy(), "p": prediction, "a": actual})
    values = []
    for _, day in frame.groupby("ts", sort=False):
        if len(day) < 5 or day["p"].nunique() < 2:
            continue
        values.append(day["p"].rank().corr(day["a"].rank()))
    return float(np.nanmean(values)) if values else math.nan


class Ensemble:
    """A blend of baseline members and cross-sectional model members (module docstring)."""

    def __init__(
        self,
        *,
        members: str = DEFAULT_MEMBERS,
        weighting: str = "equal",
        horizon: int = 5,
        holdout: int = 63,
        seed: int = 0,
        build_member: Callable[..., Model] | None = None,
    ) -> None:
        if weighting not in _WEIGHTINGS:
            raise ModelError(f"{_KIND}: weighting must be one of {_WEIGHTINGS}, got {weighting!r}")
        if int(horizon) < 1 or int(holdout) < 5:
            raise ModelError(
                f"{_KIND}: horizon must be >= 1 and holdout >= 5, got {horizon}, {holdout}"
            )
        self._names = _member_names(members)
        self._build_member = build_member
        unknown_models = [n for n in self._names if n not in BASELINES and build_member is None]
        if unknown_models:
            raise ModelError(
                f"{_KIND}: model members {', '.join(unknown_models)} need a model catalogue"
            )
        self._params: dict[str, object] = {
            "members": ",".join(self._names),
            "weighting": weighting,
            "horizon": int(horizon),
            "holdout": int(holdout),
            "seed": int(seed),
        }
        self._members: dict[str, Model] = {}
        self._scales: dict[str, float] = {}
        self._weights: dict[str, float] = {}
        self._tail_ic: dict[str, float] = {}
        self._intercept = 0.0
        self._slope = _FLOOR_SLOPE
        self._slope_floored = False
        self._features: tuple[str, ...] = ()
        self._window: TrainingWindow | None = None

    # -- the Model protocol ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return _KIND

    @property
    def params(self) -> Mapping[str, object]:
        return dict(self._params)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._features

    @property
    def window(self) -> TrainingWindow | None:
        return self._window

    @property
    def weights(self) -> Mapping[str, float]:
        """The blend's weight per member (after fit)."""
        return dict(self._weights)

    @property
    def mapping(self) -> tuple[float, float]:
        """(intercept, slope) of the blend-to-return map (after fit)."""
        return self._intercept, self._slope

    def fit(self, X: pd.DataFrame, y: pd.Series) -> None:
        target = as_target(y)
        if len(X) != len(target) or len(X) == 0:
            raise ModelError(f"{_KIND}: X has {len(X)} rows and y {len(target)}; align them")
        frame = X.reset_index(drop=True)
        ts = pd.Series(pd.DatetimeIndex(frame["ts"]))
        dates = pd.DatetimeIndex(ts.unique()).sort_values()
        horizon, holdout = int(self._params["horizon"]), int(self._params["holdout"])  # type: ignore[call-overload]
        fit_dates, tail_dates = inner_split(dates, holdout=holdout, gap=horizon)
        inner = ts.isin(fit_dates).to_numpy()
        tail = ts.isin(tail_dates).to_numpy()
        fitted = self._fit_members(frame[inner], target[inner])
        tail_frame, tail_ts = frame[tail], ts[tail].reset_index(drop=True)
        raw = {n: m.predict(self._member_view(n, m, tail_frame)) for n, m in fitted.items()}
        self._scales = {n: _spread(tail_ts, p) for n, p in raw.items()}
        self._tail_ic = {n: _tail_rank_ic(tail_ts, p, target[tail]) for n, p in raw.items()}
        self._weights = self._weigh()
        blend = self._blend(raw)
        x = _demean(tail_ts, blend)
        z = _demean(tail_ts, target[tail])
        denominator = float(x @ x)
        slope = float(x @ z) / denominator if denominator > 0 else 0.0
        self._slope_floored = not (math.isfinite(slope) and slope > _FLOOR_SLOPE)
        self._slope = _FLOOR_SLOPE if self._slope_floored else slope
        self._intercept = float(np.mean(target))
        self._members = self._fit_members(frame, target)
        self._features = tuple(
            dict.fromkeys(c for m in self._members.values() for c in m.feature_names)
        )
        self._window = TrainingWindow.of(frame)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self._window is None:
            raise ModelError(f"{_KIND}: predict called before fit; call fit(X, y) first")
        frame = X.reset_index(drop=True)
        raw = {n: m.predict(self._member_view(n, m, frame)) for n, m in self._members.items()}
        return np.asarray(self._intercept + self._slope * self._blend(raw), dtype=np.float64)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Each member's part of the forecast (weight x scaled forecast x slope) and ``bias``."""
        if self._window is None:
            raise ModelError(f"{_KIND}: contributions called before fit; call fit(X, y) first")
        frame = X.reset_index(drop=True)
        parts = {
            n: self._slope
            * self._weights[n]
            * np.asarray(m.predict(self._member_view(n, m, frame)))
            / self._scales[n]
            for n, m in self._members.items()
        }
        table = pd.DataFrame(parts, index=X.index)
        table["bias"] = self._intercept
        return table

    def save(self, directory: Path) -> None:
        if self._window is None:
            raise ModelError(f"{_KIND}: save called before fit; call fit(X, y) first")
        directory.mkdir(parents=True, exist_ok=True)
        for name, member in self._members.items():
            member.save(directory / "members" / name)
        state = {
            "kind": _KIND,
            "format": _FORMAT,
            "params": self._params,
            "scales": self._scales,
            "weights": self._weights,
            "tail_rank_ic": {
                k: (v if math.isfinite(v) else None) for k, v in self._tail_ic.items()
            },
            "intercept": self._intercept,
            "slope": self._slope,
            "slope_floored": self._slope_floored,
            "features": list(self._features),
            "window": self._window.to_json(),
        }
        (directory / _MANIFEST).write_text(json.dumps(state, indent=2), encoding="utf-8")

    # -- inside ------------------------------------------------------------------------------

    def _fit_members(self, frame: pd.DataFrame, target: np.ndarray) -> dict[str, Model]:
        members: dict[str, Model] = {}
        ts = pd.Series(pd.DatetimeIndex(frame["ts"]))
        ranked = None
        for name in self._names:
            if name in BASELINES:
                model: Model = Baseline(name, horizon=int(self._params["horizon"]))  # type: ignore[call-overload]
                model.fit(frame, pd.Series(target))
            else:
                assert self._build_member is not None
                params = dict(_MEMBER_PARAMS.get(name, {}), seed=self._params["seed"])
                model = self._build_member(name, **params)
                if ranked is None:
                    ranked = _rank_target(ts, target)
                columns = ["ticker", "ts", *(c for c in frame.columns if c.startswith(RANK_PREFIX))]
                if len(columns) == 2:
                    raise ModelError(
                        f"{_KIND}: member {name} reads the per-date ranks (rank_* features), "
                        "which the design frame lacks; build a feature set that ranks its "
                        "features (daily_v1 does)"
                    )
                model.fit(frame.loc[:, columns], pd.Series(ranked))
            members[name] = model
        return members

    @staticmethod
    def _member_view(name: str, model: Model, frame: pd.DataFrame) -> pd.DataFrame:
        if name in BASELINES:
            return frame
        return frame.loc[:, ["ticker", "ts", *model.feature_names]]

    def _weigh(self) -> dict[str, float]:
        count = len(self._names)
        equal = dict.fromkeys(self._names, 1.0 / count)
        if self._params["weighting"] == "equal":
            return equal
        skill = {n: max(0.0, v) if math.isfinite(v) else 0.0 for n, v in self._tail_ic.items()}
        total = sum(skill.values())
        if total <= 0:
            return equal
        return {n: 0.5 * equal[n] + 0.5 * skill[n] / total for n in self._names}

    def _blend(self, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        total = np.zeros(len(next(iter(raw.values()))), dtype=np.float64)
        for name, values in raw.items():
            total += self._weights[name] * np.asarray(values, dtype=np.float64) / self._scales[name]
        return total

    def restore(self, state: Mapping[str, object], members: Mapping[str, Model]) -> None:
        """The fitted state read back by :func:`load_ensemble`."""
        self._members = dict(members)
        self._scales = {str(k): float(v) for k, v in dict(state["scales"]).items()}  # type: ignore[call-overload]
        self._weights = {str(k): float(v) for k, v in dict(state["weights"]).items()}  # type: ignore[call-overload]
        self._intercept = float(state["intercept"])  # type: ignore[arg-type]
        self._slope = float(state["slope"])  # type: ignore[arg-type]
        self._slope_floored = bool(state.get("slope_floored", False))
        self._features = tuple(str(f) for f in state.get("features", ()))  # type: ignore[attr-defined]
        self._window = TrainingWindow.from_json(dict(state["window"]))  # type: ignore[call-overload]


def load_ensemble(
    directory: Path,
    *,
    build_member: Callable[..., Model],
    load_member: Callable[[Path], Model],
) -> Ensemble:
    """Read back an ensemble written by ``save(directory)``."""
    try:
        state = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory}: cannot read the ensemble's {_MANIFEST}: {exc}") from exc
    if not isinstance(state, dict) or state.get("kind") != _KIND:
        raise ModelError(f"{directory}: {_MANIFEST} does not describe an ensemble")
    params = dict(state["params"])
    model = Ensemble(**params, build_member=build_member)
    members: dict[str, Model] = {}
    for name in _member_names(str(params["members"])):
        path = directory / "members" / name
        members[name] = load_baseline(path) if name in BASELINES else load_member(path)
    model.restore(state, members)
    return model
