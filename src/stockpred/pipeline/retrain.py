"""``stockpred retrain``: challenge the champion with freshly trained candidates, fairly.

1. Features are brought up to date (new bars → new rows).
2. The *decision window* is the most recent ``recent`` labelled dates that lie after the
   champion's training data (plus the purge gap), so the champion never saw them.
3. The challengers (the champion's kind, re-tuned, the configured models and every baseline)
   are fitted on everything known before that window (purged), and all predict the window: the
   same rows, out of sample for all. The best challenger by mean daily rank IC there is a
   baseline whenever no model beats the baselines, so a model a baseline beat is never promoted.
4. The best challenger wins when its rank IC beats the champion's by ``margin``. It is then
   refitted on all labelled data, registered and promoted; otherwise it is registered for the
   record and the champion stays. Either way the reason is written on the version, and beside
   its model goes the leaderboard of the decision window (``pipeline/leaderboard.py``): every
   challenger, baseline and the champion scored and backtested on those same unseen rows, as
   the walk-forward of ``train`` is (the champion as ``champion v<N> (<kind>)``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError, StockpredError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.domain.records import FeaturesWritten
from stockpred.features.sets import FeatureSet
from stockpred.models.base import KEY_COLUMNS, Model
from stockpred.models.baselines import BASELINES
from stockpred.models.catalog import model_family
from stockpred.models.evaluation import (
    EvaluationResult,
    cross_sectional_target,
    fit_candidate,
    predict_candidate,
)
from stockpred.pipeline.evaluate import (
    EvaluationConfig,
    build_candidates,
    load_design,
    score_evaluation,
)
from stockpred.pipeline.features import build_features
from stockpred.pipeline.leaderboard import leaderboard_document
from stockpred.pipeline.predict import load_champion
from stockpred.pipeline.train import register_fitted
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name
from stockpred.store.base import Store

__all__ = ["RetrainResult", "retrain"]

# Fewer new labelled dates than this since the champion was trained: nothing to decide on.
MIN_WINDOW_DATES = 20
_LOG = logging.getLogger("stockpred.retrain")


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What retraining did and why."""

    champion_before: int
    challenger: ModelVersion | None
    promoted: bool
    reason: str
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    challenger_rank_ic: float = math.nan
    champion_rank_ic: float = math.nan
    # What asked for this retrain (the schedule, a person, or an alert and its summary).
    trigger: str | None = None


def _mean_rank_ic(ts: pd.Series, prediction: np.ndarray, actual: pd.Series) -> float:
    frame = pd.DataFrame({"ts": ts.to_numpy(), "p": prediction, "a": actual.to_numpy()})
    daily = [
        day["p"].rank().corr(day["a"].rank())
        for _, day in frame.groupby("ts")
        if len(day) >= 3 and day["p"].nunique() > 1
    ]
    return float(np.nanmean(daily)) if daily else math.nan


def _window_leaderboard(
    config: EvaluationConfig,
    test: pd.DataFrame,
    forecasts: Mapping[str, tuple[np.ndarray, float]],
    *,
    families: Mapping[str, str],
    basis: str,
) -> dict[str, object] | None:
    """The decision window's leaderboard: every forecaster's ``(predictions of test's rows,
    interval half-width)`` scored and backtested as a walk-forward fold is. Rows one of them
    could not forecast are left out for all, so all are scored on the same rows; None (and a
    warning) when nothing can be scored."""
    rows = test.reset_index(drop=True)
    frames = [
        pd.DataFrame(
            {
                "ticker": rows["ticker"],
                "ts": rows["ts"],
                "horizon": config.horizon,
                "model": model,
                "prediction": values,
                "lower": values - half,
                "upper": values + half,
                "actual": rows["actual"],
                "next_return": rows["next_return"],
                "fold": 0,
            }
        )
        for model, (values, half) in forecasts.items()
    ]
    unforecast = np.zeros(len(rows), dtype=bool)
    for frame in frames:
        unforecast |= frame["prediction"].isna().to_numpy()
    predictions = pd.concat([f[~unforecast] for f in frames], ignore_index=True)
    try:
        evaluation = score_evaluation(config, EvaluationResult(predictions, pd.DataFrame(), ()))
    except StockpredError as exc:
        _LOG.warning("no leaderboard of the decision window: %s", exc)
        return None
    return leaderboard_document(evaluation, basis=basis, families=families)


def retrain(
    store: Store,
    registry: ModelRegistry,
    feature_set: FeatureSet,
    config: EvaluationConfig,
    *,
    calendar: str,
    now: datetime,
    cache: Path,
    code_version: str,
    git_commit: str | None,
    catalog: Mapping[str, Callable[..., Model]],
    grids: Mapping[str, tuple[Mapping[str, object], ...]],
    recent: int = 63,
    margin: float = 0.0,
    universe: Universe = STOCKS,
    announce: Callable[[FeaturesWritten], None] | None = None,
    trigger: str | None = None,
) -> RetrainResult:
    """Challenge the champion of ``config.horizon``; see the module docstring. ``announce``
    is told of the feature rows the retrain's own build commits; ``trigger`` (what asked for
    the retrain, e.g. the alert) is kept on the result and on the challenger's record."""
    build_features(store, feature_set, now=now, universe=universe, announce=announce)
    champion, champion_model = load_champion(registry, horizon=config.horizon, cache=cache)
    kind = champion.metadata.get("model_kind", "")
    if kind not in catalog and kind not in BASELINES:
        raise ModelError(f"the champion's kind {kind!r} is not a known model; retrain by hand")
    design, labels = load_design(
        store,
        feature_set,
        horizon=config.horizon,
        calendar=calendar,
        tickers=config.tickers,
        universe=universe,
    )
    data = design.merge(labels, on=list(KEY_COLUMNS), how="left")
    data["fit_target"] = cross_sectional_target(data, config.target)
    cut = pd.Timestamp(now).tz_convert("UTC")
    known = pd.DatetimeIndex(data["known_at"])
    labelled = data[data["actual"].notna().to_numpy() & np.asarray(known <= cut)]
    dates = pd.DatetimeIndex(labelled["ts"]).unique().sort_values()
    trained_until = pd.Timestamp(champion.metadata["data_end"])
    gap = config.walk_forward.gap
    unseen = dates[dates > trained_until]
    unseen = unseen[gap:]
    if len(unseen) < MIN_WINDOW_DATES:
        return RetrainResult(
            champion.version,
            None,
            False,
            trigger=trigger,
            reason=f"only {len(unseen)} labelled dates since the champion's data ended "
            f"({trained_until:%Y-%m-%d}, plus a {gap}-date purge); need {MIN_WINDOW_DATES} to "
            "judge a challenger fairly; champion kept",
        )
    window = unseen[-recent:]
    start, end = window[0], window[-1]
    position = dates.searchsorted(start)
    before = dates[: max(0, position - gap)]
    features = [c for c in design.columns if c not in KEY_COLUMNS]
    kinds = tuple(dict.fromkeys([kind, *config.models]))
    challengers = build_candidates(
        dataclasses.replace(config, models=kinds), catalog=catalog, grids=grids
    )
    history = labelled[labelled["ts"].isin(before)]
    test = labelled[labelled["ts"].isin(window)]
    window_ic: dict[str, float] = {}
    window_predictions: dict[str, np.ndarray] = {}
    half_widths: dict[str, float] = {}
    for challenger in challengers:
        fitted = fit_candidate(
            challenger,
            history,
            features,
            holdout=config.holdout,
            gap=gap,
            coverage=config.coverage,
            context=data,
            label="fit_target",
        )
        predicted = predict_candidate(challenger, fitted.model, data, test, features)
        window_predictions[challenger.name] = predicted
        half_widths[challenger.name] = fitted.half_width
        window_ic[challenger.name] = _mean_rank_ic(test["ts"], predicted, test["actual"])
    ranked = pd.Series(window_ic).fillna(-math.inf)
    best = str(ranked.idxmax())
    candidate = next(c for c in challengers if c.name == best)
    challenger_ic = window_ic[best]
    champion_predicted = np.asarray(
        champion_model.predict(test[["ticker", "ts", *features]]), dtype="float64"
    )
    champion_ic = _mean_rank_ic(test["ts"], champion_predicted, test["actual"])
    wins = not math.isnan(challenger_ic) and (
        math.isnan(champion_ic) or challenger_ic > champion_ic + margin
    )
    baselines = {k: v for k, v in window_ic.items() if k in BASELINES}
    best_baseline = max(
        baselines, key=lambda k: -math.inf if math.isnan(baselines[k]) else baselines[k]
    )
    span = f"{start:%Y-%m-%d}..{end:%Y-%m-%d} ({len(window)} dates, out of sample for all)"
    reason = (
        f"best challenger {best} ({model_family(best)}) rank IC {challenger_ic:.4f} vs champion "
        f"v{champion.version} ({kind}) {champion_ic:.4f} on {span}, margin {margin:g}; best "
        f"baseline {best_baseline} {baselines[best_baseline]:.4f}: "
        + ("challenger promoted" if wins else "champion kept")
    )
    champion_row = f"champion v{champion.version} ({kind})"
    leaderboard = _window_leaderboard(
        config,
        test,
        {
            **{name: (window_predictions[name], half_widths[name]) for name in window_ic},
            champion_row: (
                champion_predicted,
                float(champion.metadata.get("interval_half_width", "nan")),
            ),
        },
        families={champion_row: model_family(kind)},
        basis=f"retrain decision window {span}: the challengers and baselines fitted on the "
        f"dates before it (purged) beside the champion; best challenger {best}, "
        + ("promoted" if wins else "champion kept"),
    )
    kind = best
    started = time.perf_counter()
    final = fit_candidate(
        candidate,
        labelled,
        features,
        holdout=config.holdout,
        gap=gap,
        coverage=config.coverage,
        label="fit_target",
    )
    version = register_fitted(
        registry,
        final,
        rows=labelled,
        features=features,
        feature_set=feature_set.key,
        config=config,
        kind=kind,
        seconds=time.perf_counter() - started,
        code=(code_version, git_commit),
        metrics={"window_rank_ic": challenger_ic, "champion_window_rank_ic": champion_ic},
        extra={
            "retrain_decision": reason,
            "model_family": model_family(kind),
            **({"retrain_trigger": trigger} if trigger else {}),
        },
        predictions=pd.DataFrame(
            {"ts": test["ts"].to_numpy(), "prediction": window_predictions[best]}
        ),
        leaderboard=leaderboard,
    )
    if wins:
        registry.promote(model_name(config.horizon), version.version, reason=reason)
    return RetrainResult(
        champion.version, version, wins, reason, start, end, challenger_ic, champion_ic, trigger
    )


def retrain_payload(result: RetrainResult) -> dict[str, object]:
    """What a retrain decided, as JSON-ready values."""
    return {
        "champion_before": result.champion_before,
        "challenger": None if result.challenger is None else result.challenger.version,
        "promoted": result.promoted,
        "reason": result.reason,
        "window": [
            None if result.window_start is None else result.window_start.isoformat(),
            None if result.window_end is None else result.window_end.isoformat(),
        ],
        "challenger_rank_ic": result.challenger_rank_ic,
        "champion_rank_ic": result.champion_rank_ic,
        "trigger": result.trigger,
    }
