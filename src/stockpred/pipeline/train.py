"""``stockpred train``: evaluate the configured models walk-forward, fit each on every labelled
row known now, register the fitted models, and on the first run make the best the champion.

The selection rule is the evaluation's: the highest out-of-sample mean daily rank IC. Whether it
beats the baselines is recorded with the promotion, good or bad; a champion that does not beat
them is still served (something must answer) but says so in its reason.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.features.sets import FeatureSet
from stockpred.models.base import KEY_COLUMNS, Model
from stockpred.models.evaluation import FittedCandidate, cross_sectional_target, fit_candidate
from stockpred.models.walkforward import Fold
from stockpred.pipeline.evaluate import (
    Evaluation,
    EvaluationConfig,
    build_candidates,
    evaluate,
    load_design,
)
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name, training_metadata
from stockpred.store.base import Store

__all__ = [
    "TrainResult",
    "champion_reason",
    "register_fitted",
    "selection_metrics",
    "train_models",
]

# Figures of the evaluation recorded with each version (and compared by the rule).
_RECORDED = (
    "rank_ic_mean",
    "rank_ic_t",
    "ic_mean",
    "da",
    "r2_oos",
    "theil_u",
    "dm_p_value",
    "coverage",
)


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Versions registered this run by model kind, the champion after it, and why."""

    name: str
    versions: Mapping[str, ModelVersion]
    champion: ModelVersion | None
    promoted: bool
    reason: str
    evaluation: Evaluation


def selection_metrics(evaluation: Evaluation, model: str) -> dict[str, float]:
    """The recorded out-of-sample figures of ``model`` (NaN dropped: MLflow refuses them)."""
    rows = evaluation.scores[evaluation.scores["model"] == model]
    if rows.empty:
        raise ModelError(f"model {model} has no evaluation scores")
    figures = {
        name: float(rows[name].astype("float64").iloc[0])
        for name in _RECORDED
        if name in rows.columns
    }
    summary = evaluation.backtest.summary
    for kind in ("long_short", "long_only"):
        chosen = summary[(summary["model"] == model) & (summary["kind"] == kind)]
        if not chosen.empty:
            figures[f"{kind}_sharpe_net"] = float(chosen["sharpe_net"].iloc[0])
    return {k: v for k, v in figures.items() if not math.isnan(v)}


def champion_reason(evaluation: Evaluation, model: str) -> str:
    """Why ``model`` is chosen: its rank IC next to the best baseline's."""
    scores = evaluation.scores.set_index("model")["rank_ic_mean"]
    config = evaluation.config
    baselines = scores.drop(index=list(config.models), errors="ignore").dropna()
    best_baseline = baselines.idxmax() if not baselines.empty else "none"
    ours = float(scores.get(model, math.nan))
    theirs = float(baselines.max()) if not baselines.empty else math.nan
    verdict = "beats" if ours > theirs else "does NOT beat"
    return (
        f"best out-of-sample mean rank IC among {', '.join(config.models)}: {model} "
        f"{ours:.4f}; it {verdict} the best baseline ({best_baseline} {theirs:.4f}) "
        f"(walk-forward, h={config.horizon}, {len(evaluation.result.folds)} folds)"
    )


def register_fitted(
    registry: ModelRegistry,
    fitted: FittedCandidate,
    *,
    rows: pd.DataFrame,
    features: list[str],
    feature_set: str,
    config: EvaluationConfig,
    kind: str,
    seconds: float,
    code: tuple[str, str | None],
    metrics: Mapping[str, float],
    extra: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Save ``fitted`` and register it under the horizon's name with everything a version
    records: data range and universe of ``rows``, feature set and columns, parameters, interval,
    code version and commit, training time, and ``metrics`` (NaN left out)."""
    ts = pd.DatetimeIndex(rows["ts"])
    metadata = training_metadata(
        data_start=ts.min().to_pydatetime(),
        data_end=ts.max().to_pydatetime(),
        tickers=sorted(map(str, rows["ticker"].unique())),
        feature_set=feature_set,
        horizon=config.horizon,
        model_kind=kind,
        params=fitted.params,
        code_version=code[0],
        git_commit=code[1],
        training_seconds=seconds,
    )
    metadata["interval_half_width"] = repr(fitted.half_width)
    metadata["interval_coverage"] = repr(config.coverage)
    metadata["features"] = json.dumps(features)
    metadata["target"] = config.target
    metadata.update(extra or {})
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "model"
        fitted.model.save(directory)
        return registry.register(
            model_name(config.horizon),
            directory,
            metadata=metadata,
            metrics={k: v for k, v in metrics.items() if not math.isnan(v)},
        )


def train_models(
    store: Store,
    registry: ModelRegistry,
    feature_set: FeatureSet,
    config: EvaluationConfig,
    *,
    calendar: str,
    now: datetime,
    code_version: str,
    git_commit: str | None,
    catalog: Mapping[str, Callable[..., Model]],
    grids: Mapping[str, tuple[Mapping[str, object], ...]],
    on_step: Callable[[Fold, str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> TrainResult:
    """Evaluate, fit on everything labelled by ``now``, register; promote on the first run."""
    evaluation = evaluate(
        store,
        feature_set,
        config,
        calendar=calendar,
        catalog=catalog,
        grids=grids,
        on_step=on_step,
        on_start=on_start,
    )
    design, labels = load_design(
        store, feature_set, horizon=config.horizon, calendar=calendar, tickers=config.tickers
    )
    data = design.merge(labels, on=list(KEY_COLUMNS), how="left")
    data["fit_target"] = cross_sectional_target(data, config.target)
    cut = pd.Timestamp(now).tz_convert("UTC")
    known = pd.DatetimeIndex(data["known_at"])
    train = data[data["actual"].notna().to_numpy() & np.asarray(known <= cut)]
    if train.empty:
        raise ModelError(f"no labelled rows known by {cut}; ingest more history")
    features = [c for c in design.columns if c not in KEY_COLUMNS]
    candidates = {c.name: c for c in build_candidates(config, catalog=catalog, grids=grids)}
    name = model_name(config.horizon)
    versions: dict[str, ModelVersion] = {}
    gap = config.walk_forward.gap
    for kind in config.models:
        started = time.perf_counter()
        fitted = fit_candidate(
            candidates[kind],
            train,
            features,
            holdout=config.holdout,
            gap=gap,
            coverage=config.coverage,
            label="fit_target",
        )
        versions[kind] = register_fitted(
            registry,
            fitted,
            rows=train,
            features=features,
            feature_set=feature_set.key,
            config=config,
            kind=kind,
            seconds=time.perf_counter() - started,
            code=(code_version, git_commit),
            metrics=selection_metrics(evaluation, kind),
        )
    champion = registry.champion(name)
    if champion is not None:
        reason = f"champion stays version {champion.version}; `stockpred retrain` challenges it"
        return TrainResult(name, versions, champion, False, reason, evaluation)
    ranked = evaluation.scores.set_index("model")["rank_ic_mean"].reindex(list(config.models))
    best = str(ranked.fillna(-math.inf).idxmax())
    reason = "first champion: " + champion_reason(evaluation, best)
    registry.promote(name, versions[best].version, reason=reason)
    return TrainResult(name, versions, registry.champion(name), True, reason, evaluation)
