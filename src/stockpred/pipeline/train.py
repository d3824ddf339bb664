"""``stockpred train``: evaluate the configured models walk-forward beside the baselines, fit on
every labelled row known now, register, and on the first run make the best the champion.

The selection rule is the evaluation's: the highest out-of-sample mean daily rank IC among the
models *and the baselines*. A model that a baseline beat out of sample is never promoted over it:
the baseline is registered and serves instead (a baseline is a model like any other: it saves,
loads and forecasts). Only ``force`` promotes a named candidate over a better one, and the reason
says so. An evaluation is stored under a key of the data, the feature set, the configuration and
the code version, so a second ``train`` on unchanged inputs reuses it instead of re-running the
walk-forward.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.features.sets import FeatureSet
from stockpred.models.base import KEY_COLUMNS, Model
from stockpred.models.baselines import BASELINES
from stockpred.models.catalog import model_family
from stockpred.models.drift import (
    DRIFT_REFERENCE_FILE,
    PREDICTION_SUBJECT,
    DriftReference,
    fit_reference,
)
from stockpred.models.evaluation import FittedCandidate, cross_sectional_target, fit_candidate
from stockpred.models.walkforward import Fold
from stockpred.pipeline.evaluate import (
    Evaluation,
    EvaluationConfig,
    build_candidates,
    load_design,
    score_evaluation,
    walk_forward_on,
)
from stockpred.pipeline.leaderboard import leaderboard_document, write_leaderboard_file
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name, training_metadata
from stockpred.store.base import Store

__all__ = [
    "Selection",
    "TrainResult",
    "champion_reason",
    "evaluation_key",
    "model_family",
    "register_fitted",
    "select_champion",
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


@dataclass(frozen=True, slots=True)
class Selection:
    """The candidate to serve, why, and whether a person forced it."""

    kind: str
    reason: str
    forced: bool
    best_baseline: str


def _rank_ics(evaluation: Evaluation) -> pd.Series:
    return evaluation.scores.set_index("model")["rank_ic_mean"].astype("float64")


def select_champion(evaluation: Evaluation, *, force: str | None = None) -> Selection:
    """The best candidate by out-of-sample mean rank IC, models and baselines alike; a model
    that loses to the best baseline is never chosen over it. ``force`` names a candidate to
    choose anyway (the reason records what beat it)."""
    config = evaluation.config
    scores = _rank_ics(evaluation)
    baselines = scores.reindex([b for b in BASELINES if b in scores.index]).dropna()
    models = scores.reindex([m for m in config.models if m not in BASELINES])
    candidates = pd.concat([models, baselines]).fillna(-math.inf)
    if candidates.empty:
        raise ModelError("the evaluation scored no candidate; is the data labelled?")
    best = str(candidates.idxmax())
    best_baseline = str(baselines.idxmax()) if not baselines.empty else "none"
    best_model = str(models.fillna(-math.inf).idxmax()) if not models.empty else "none"
    span = f"walk-forward, h={config.horizon}, {len(evaluation.result.folds)} folds"

    def figure(kind: str) -> str:
        value = float(scores.get(kind, math.nan))
        return f"{kind} ({model_family(kind)}) {value:.4f}"

    if force is not None:
        if force not in candidates.index:
            raise ModelError(
                f"cannot force {force!r}: it was not evaluated; candidates: "
                f"{', '.join(candidates.index)}"
            )
        beaten = "" if force == best else f" although {figure(best)} measured better"
        reason = f"forced by the user: {figure(force)}{beaten} (out-of-sample mean rank IC, {span})"
        return Selection(force, reason, True, best_baseline)
    if model_family(best) == "baseline":
        verdict = (
            f"no model beat it: the best model, {figure(best_model)}, loses to the baseline, so "
            "the baseline serves"
            if best_model != "none"
            else "no model was evaluated"
        )
    else:
        verdict = f"it beats the best baseline, {figure(best_baseline)}"
    reason = f"best out-of-sample mean rank IC: {figure(best)}; {verdict} ({span})"
    return Selection(best, reason, False, best_baseline)


def champion_reason(evaluation: Evaluation, model: str) -> str:
    """Why ``model`` would be chosen: its rank IC next to the best baseline's."""
    scores = _rank_ics(evaluation)
    baselines = scores.reindex([b for b in BASELINES if b in scores.index]).dropna()
    best_baseline = baselines.idxmax() if not baselines.empty else "none"
    ours = float(scores.get(model, math.nan))
    theirs = float(baselines.max()) if not baselines.empty else math.nan
    verdict = "beats" if ours > theirs else "does NOT beat"
    return (
        f"{model} ({model_family(model)}) out-of-sample mean rank IC {ours:.4f}; it {verdict} "
        f"the best baseline ({best_baseline} {theirs:.4f}) (walk-forward, "
        f"h={evaluation.config.horizon}, {len(evaluation.result.folds)} folds)"
    )


def evaluation_key(
    design: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    feature_set: str,
    config: EvaluationConfig,
    code_version: str,
) -> str:
    """A digest of everything an evaluation depends on: every design and label value, the
    feature set, the configuration and the code version. Equal keys, equal evaluations."""
    digest = hashlib.sha256()
    for frame in (design, labels):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        digest.update(",".join(map(str, frame.columns)).encode())
    settings = asdict(config)
    settings["model_params"] = {k: dict(v) for k, v in config.model_params.items()}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(f"{feature_set}|{code_version}".encode())
    return digest.hexdigest()[:32]


def _cached_evaluation(cache: Path | None, key: str) -> Evaluation | None:
    """The stored evaluation of ``key`` (a file this process family wrote), or None."""
    if cache is None:
        return None
    path = cache / f"{key}.pickle"
    if not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            # Our own cache file under HOME, written by _store_evaluation.
            stored = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None  # unreadable (another version wrote it): evaluate again
    return stored if isinstance(stored, Evaluation) else None


def _store_evaluation(cache: Path | None, key: str, evaluation: Evaluation) -> None:
    if cache is None:
        return
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"{key}.pickle.partial"
    with partial.open("wb") as handle:
        pickle.dump(evaluation, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(cache / f"{key}.pickle")


def _walk_forward_predictions(evaluation: Evaluation, kind: str) -> pd.DataFrame | None:
    """``kind``'s out-of-sample walk-forward predictions (ts, prediction), or None when it
    was not evaluated."""
    predictions = evaluation.result.predictions
    mine = predictions.loc[predictions["model"] == kind, ["ts", "prediction"]]
    return mine.reset_index(drop=True) if len(mine) else None


def _walk_forward_basis(evaluation: Evaluation) -> str:
    """What a training run's leaderboard measured: the folds and dates of its walk-forward."""
    stamps = pd.DatetimeIndex(evaluation.result.predictions["ts"])
    span = f", {stamps.min():%Y-%m-%d}..{stamps.max():%Y-%m-%d}" if len(stamps) else ""
    return (
        f"walk-forward, h={evaluation.config.horizon}, {len(evaluation.result.folds)} folds"
        f"{span}, out of sample for every candidate"
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
    predictions: pd.DataFrame | None = None,
    leaderboard: Mapping[str, object] | None = None,
) -> ModelVersion:
    """Save ``fitted`` and register it under the horizon's name with everything a version
    records: data range and universe of ``rows``, feature set and columns, parameters, interval,
    code version and commit, training time, and ``metrics`` (NaN left out).

    Beside the model goes its drift reference (``models/drift.py``): every feature's
    distribution on ``rows``, the training window, and the distribution of ``predictions``
    (ts, prediction), the kind's out-of-sample forecasts (walk-forward, or a retrain's
    decision window), which is what its live forecasts should look like; and, when given, the
    ``leaderboard`` that chose it (``pipeline/leaderboard.py``)."""
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
        start, end = metadata["data_start"], metadata["data_end"]
        reference = fit_reference(rows, features, start=start, end=end)
        if predictions is not None:
            outputs = predictions.rename(columns={"prediction": PREDICTION_SUBJECT})
            made = fit_reference(outputs, [PREDICTION_SUBJECT], start=start, end=end)
            reference = DriftReference({**reference.columns, **made.columns}, start, end)
        (directory / DRIFT_REFERENCE_FILE).write_text(reference.to_json(), encoding="utf-8")
        if leaderboard is not None:
            write_leaderboard_file(directory, leaderboard)
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
    evaluations: Path | None = None,
    force: str | None = None,
    on_reuse: Callable[[str], None] | None = None,
    universe: Universe = STOCKS,
) -> TrainResult:
    """Evaluate (or reuse the evaluation stored under ``evaluations`` for the same inputs), fit
    the configured models and the best baseline on everything labelled by ``now``, register
    them; promote the best candidate on the first run, or ``force``'s candidate on any run."""
    design, labels = load_design(
        store,
        feature_set,
        horizon=config.horizon,
        calendar=calendar,
        tickers=config.tickers,
        universe=universe,
    )
    key = evaluation_key(
        design, labels, feature_set=feature_set.key, config=config, code_version=code_version
    )
    evaluation = _cached_evaluation(evaluations, key)
    if evaluation is not None:
        if on_reuse is not None:
            on_reuse(key)
    else:
        result = walk_forward_on(
            design,
            labels,
            config,
            catalog=catalog,
            grids=grids,
            on_step=on_step,
            on_start=on_start,
        )
        evaluation = score_evaluation(config, result)
        _store_evaluation(evaluations, key, evaluation)
    selection = select_champion(evaluation, force=force)
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
    kinds = [m for m in config.models if m not in BASELINES]
    leaderboard = leaderboard_document(evaluation, basis=_walk_forward_basis(evaluation))
    for baseline in (selection.best_baseline, selection.kind):
        if baseline in BASELINES and baseline not in kinds:
            kinds.append(baseline)
    for kind in kinds:
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
            extra={
                "model_family": model_family(kind),
                "selection": champion_reason(evaluation, kind),
            },
            predictions=_walk_forward_predictions(evaluation, kind),
            leaderboard=leaderboard,
        )
    champion = registry.champion(name)
    if champion is not None and not selection.forced:
        reason = (
            f"champion stays version {champion.version}; `stockpred retrain` challenges it "
            f"(this run's best: {selection.reason})"
        )
        return TrainResult(name, versions, champion, False, reason, evaluation)
    reason = ("" if champion is not None else "first champion: ") + selection.reason
    registry.promote(name, versions[selection.kind].version, reason=reason)
    return TrainResult(name, versions, registry.champion(name), True, reason, evaluation)
