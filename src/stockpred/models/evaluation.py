"""Walk-forward evaluation: every candidate (models and baselines alike) refitted fold by fold,
tuned and calibrated inside its training window only, and scored on the dates after it.

Per fold and candidate:

1. training rows are the fold's training dates whose label was *known before the first test
   date* (the purge of :class:`WalkForward` guarantees it by dates; the label times check it
   again row by row);
2. with more than one parameter set, each is fitted on the training window minus a held-out
   tail (after a purge gap) and scored there by mean daily rank IC; the best is kept (nested:
   the test block is never looked at);
3. split-conformal interval: the chosen parameters are fitted on the window minus its tail, the
   absolute errors on the tail give the half-width at the nominal coverage (finite-sample
   quantile); this calibration, like the tuning, never sees the test block;
4. the chosen parameters are refitted on the whole window and predict the test rows.

The result is the out-of-sample predictions frame that ``models/metrics.py`` and
``models/backtest.py`` score, and the parameters each fold chose.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.models.base import KEY_COLUMNS, Model
from stockpred.models.garch import garch_sigma, interval_halfwidth
from stockpred.models.walkforward import Fold, WalkForward, inner_split

__all__ = [
    "TARGETS",
    "Candidate",
    "EvaluationResult",
    "FittedCandidate",
    "cross_sectional_target",
    "evaluate_walk_forward",
    "fit_candidate",
    "predict_candidate",
]

LABEL_COLUMNS = ("ticker", "ts", "actual", "known_at", "next_return")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model (or baseline) to evaluate: ``build(params)`` returns a fresh unfitted model;
    ``grid`` the parameter sets to tune over (one set: no tuning); ``sequence_length`` the
    rows of history a sequence model reads before each predicted row (0 for row models)."""

    name: str
    build: Callable[[Mapping[str, object]], Model]
    grid: tuple[Mapping[str, object], ...] = field(default=({},))
    sequence_length: int = 0


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """``predictions``: ticker, ts, horizon, model, prediction, lower, upper, actual,
    next_return, fold. ``choices``: per fold and candidate the parameters chosen, the tuning
    score, the interval half-width and the training window."""

    predictions: pd.DataFrame
    choices: pd.DataFrame
    folds: tuple[Fold, ...]


def _rank_ic(frame: pd.DataFrame, prediction: np.ndarray) -> float:
    """Mean over dates of the Spearman correlation of prediction and actual (dates with fewer
    than 3 rows or no spread skipped); NaN if no date counts."""
    scored = pd.DataFrame({"ts": frame["ts"].to_numpy(), "p": prediction, "a": frame["actual"]})
    values = []
    for _, day in scored.groupby("ts", sort=False):
        if len(day) < 3 or day["p"].nunique() < 2 or day["a"].nunique() < 2:
            continue
        values.append(day["p"].rank().corr(day["a"].rank()))
    return float(np.mean(values)) if values else math.nan


def _conformal_half_width(errors: np.ndarray, coverage: float) -> float:
    """The ceil((n + 1) * coverage)-th smallest absolute error (split conformal); infinite
    when there are too few errors for that coverage."""
    n = len(errors)
    rank = math.ceil((n + 1) * coverage)
    if n == 0 or rank > n:
        return math.inf
    return float(np.sort(np.abs(errors))[rank - 1])


def evaluate_walk_forward(
    design: pd.DataFrame,
    labels: pd.DataFrame,
    candidates: Sequence[Candidate],
    *,
    spec: WalkForward,
    coverage: float = 0.9,
    holdout: int = 63,
    on_step: Callable[[Fold, str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    garch_returns: str | None = None,
    target: str = "return",
) -> EvaluationResult:
    """Evaluate ``candidates`` walk-forward over ``design`` (ticker, ts, features).

    ``labels``: ticker, ts, actual (forward log return over ``spec.horizon``), known_at (when
    the actual became known), next_return; rows without an actual are never trained on or
    scored. ``holdout``: dates held out at the end of each training window for tuning and
    calibration. ``on_start`` gets the number of steps (folds x candidates), ``on_step`` is
    called after each candidate of each fold (progress). ``garch_returns``: a design column of
    daily log returns (e.g. ``log_return_1``); when given, every prediction also gets a GARCH
    interval (``lower_garch``, ``upper_garch``), fitted per ticker on each training window.
    ``target``: what the models are fitted on: ``return`` (the forward log return), ``excess``
    (minus that date's cross-sectional mean) or ``rank`` (that date's cross-sectional
    percentile minus 0.5). Each transform uses only labels of the same date, so it is known
    when they are; predictions are always scored against the raw return.
    """
    if not 0.0 < coverage < 1.0:
        raise ModelError(f"coverage must be between 0 and 1, got {coverage}")
    names = [c.name for c in candidates]
    if len(set(names)) != len(names):
        raise ModelError(f"candidate names repeat: {names}")
    absent = [c for c in LABEL_COLUMNS if c not in labels.columns]
    if absent:
        raise ModelError(f"labels lack column(s) {', '.join(absent)}")
    data = design.merge(labels.loc[:, list(LABEL_COLUMNS)], on=list(KEY_COLUMNS), how="left")
    data = data.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    features = [c for c in design.columns if c not in KEY_COLUMNS]
    labelled = data["actual"].notna().to_numpy()
    data["fit_target"] = cross_sectional_target(data, target)
    dates = pd.DatetimeIndex(data.loc[labelled, "ts"]).unique().sort_values()
    folds = spec.folds(dates)
    if on_start is not None:
        on_start(len(folds) * len(candidates))
    ts = pd.DatetimeIndex(data["ts"])
    known = pd.DatetimeIndex(data["known_at"])

    pieces: list[pd.DataFrame] = []
    choices: list[dict[str, object]] = []
    for fold in folds:
        test_start = fold.test[0]
        # NaT compares False: a row whose label time is unknown is never trained on.
        in_train = ts.isin(fold.train) & labelled & np.asarray(known < test_start)
        in_test = ts.isin(fold.test) & labelled
        train = data.loc[in_train]
        test = data.loc[in_test]
        if train.empty or test.empty:
            continue
        garch = None
        if garch_returns is not None:
            returns = data.loc[:, ["ticker", "ts", garch_returns]].rename(
                columns={garch_returns: "ret"}
            )
            sigma = garch_sigma(returns, train_end=fold.train[-1], horizon=spec.horizon)
            garch = interval_halfwidth(
                test.loc[:, ["ticker", "ts"]]
                .merge(sigma, on=["ticker", "ts"], how="left")["sigma"]
                .to_numpy(),
                coverage,
            )
        for candidate in candidates:
            fitted = fit_candidate(
                candidate,
                train,
                features,
                holdout=holdout,
                gap=spec.gap,
                coverage=coverage,
                context=data,
                label="fit_target",
            )
            model, params, score, half = (
                fitted.model,
                fitted.params,
                fitted.tuning_rank_ic,
                fitted.half_width,
            )
            prediction = _predict(candidate, model, data, test, features)
            piece = pd.DataFrame(
                {
                    "ticker": test["ticker"].to_numpy(),
                    "ts": test["ts"].to_numpy(),
                    "horizon": spec.horizon,
                    "model": candidate.name,
                    "prediction": prediction,
                    "lower": prediction - half,
                    "upper": prediction + half,
                    "actual": test["actual"].to_numpy(dtype="float64"),
                    "next_return": test["next_return"].to_numpy(dtype="float64"),
                    "fold": fold.number,
                }
            )
            if garch is not None:
                piece["lower_garch"] = prediction - garch
                piece["upper_garch"] = prediction + garch
            pieces.append(piece)
            choices.append(
                {
                    "fold": fold.number,
                    "model": candidate.name,
                    "params": dict(params),
                    "tuning_rank_ic": score,
                    "half_width": half,
                    "train_start": fold.train[0],
                    "train_end": fold.train[-1],
                    "test_start": fold.test[0],
                    "test_end": fold.test[-1],
                    "train_rows": len(train),
                }
            )
            if on_step is not None:
                on_step(fold, candidate.name)
    if not pieces:
        raise ModelError("no fold had both training and test rows; is the data labelled?")
    predictions = pd.concat(pieces, ignore_index=True)
    predictions["ts"] = pd.DatetimeIndex(predictions["ts"]).tz_convert("UTC")
    return EvaluationResult(predictions, pd.DataFrame(choices), tuple(folds))


TARGETS = ("return", "excess", "rank")


def cross_sectional_target(data: pd.DataFrame, target: str) -> pd.Series:
    """The label models are fitted on: ``actual`` itself, or per date its excess over the
    date's mean, or its percentile rank minus 0.5 (NaN where ``actual`` is NaN)."""
    if target not in TARGETS:
        raise ModelError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    actual = data["actual"].astype("float64")
    if target == "return":
        return actual
    by_date = actual.groupby(data["ts"])
    if target == "excess":
        return actual - by_date.transform("mean")
    return by_date.rank(pct=True) - 0.5


@dataclass(frozen=True, slots=True)
class FittedCandidate:
    """A candidate fitted on a training window: the model, the parameters tuning chose (and
    their held-out mean rank IC, NaN without tuning) and the conformal interval half-width."""

    model: Model
    params: Mapping[str, object]
    tuning_rank_ic: float
    half_width: float


def fit_candidate(
    candidate: Candidate,
    train: pd.DataFrame,
    features: Sequence[str],
    *,
    holdout: int,
    gap: int,
    coverage: float,
    context: pd.DataFrame | None = None,
    label: str = "actual",
) -> FittedCandidate:
    """Tune ``candidate`` on ``train`` minus its held-out tail, calibrate its interval on that
    tail, then fit the chosen parameters on all of ``train`` (rows: ticker, ts, features,
    actual). ``context`` holds the rows a sequence model may read before the tail; ``label``
    the column the models are fitted on (``actual``, or a cross-sectional transform of it); the
    interval is always calibrated on ``actual``."""
    columns = list(features)
    train_dates = pd.DatetimeIndex(train["ts"]).unique().sort_values()
    fit_dates, tail_dates = inner_split(train_dates, holdout=holdout, gap=gap)
    inner = train[train["ts"].isin(fit_dates)]
    tail = train[train["ts"].isin(tail_dates)]
    params, score = _tune(candidate, inner, tail, columns, label)
    calibrator = candidate.build(params)
    calibrator.fit(inner[["ticker", "ts", *columns]], inner[label])
    source = train if context is None else context
    tail_prediction = _predict(candidate, calibrator, source, tail, columns)
    half = _conformal_half_width(
        tail_prediction - tail["actual"].to_numpy(dtype="float64"), coverage
    )
    model = candidate.build(params)
    model.fit(train[["ticker", "ts", *columns]], train[label])
    return FittedCandidate(model, params, score, half)


def predict_candidate(
    candidate: Candidate,
    model: Model,
    data: pd.DataFrame,
    rows: pd.DataFrame,
    features: Sequence[str],
) -> np.ndarray:
    """Predictions of a fitted candidate for ``rows`` (a sequence model reads the rows'
    history from ``data``)."""
    return _predict(candidate, model, data, rows, list(features))


def _tune(
    candidate: Candidate,
    inner: pd.DataFrame,
    tail: pd.DataFrame,
    features: list[str],
    label: str,
) -> tuple[Mapping[str, object], float]:
    """The parameter set with the best mean daily rank IC on the held-out tail."""
    if len(candidate.grid) == 1:
        return candidate.grid[0], math.nan
    best: tuple[Mapping[str, object], float] | None = None
    for params in candidate.grid:
        model = candidate.build(params)
        model.fit(inner[["ticker", "ts", *features]], inner[label])
        prediction = model.predict(tail[["ticker", "ts", *features]])
        score = _rank_ic(tail, prediction)
        if best is None or (not math.isnan(score) and (math.isnan(best[1]) or score > best[1])):
            best = (params, score)
    assert best is not None
    return best


def _predict(
    candidate: Candidate,
    model: Model,
    data: pd.DataFrame,
    rows: pd.DataFrame,
    features: list[str],
) -> np.ndarray:
    """Predictions for ``rows``; a sequence model also reads the rows' preceding history
    (features only, never labels) and its predictions for that history are dropped."""
    columns = ["ticker", "ts", *features]
    if candidate.sequence_length <= 1:
        return np.asarray(model.predict(rows[columns]), dtype="float64")
    first = pd.Timestamp(rows["ts"].min())
    dates = pd.DatetimeIndex(data["ts"]).unique().sort_values()
    start = max(0, int(dates.searchsorted(first)) - candidate.sequence_length + 1)
    context = data[(data["ts"] >= dates[start]) & (data["ts"] <= rows["ts"].max())]
    context = context[context["ticker"].isin(rows["ticker"].unique())]
    predicted = pd.Series(
        np.asarray(model.predict(context[columns]), dtype="float64"), index=context.index
    )
    return predicted.loc[rows.index].to_numpy()
