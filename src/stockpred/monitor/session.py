"""``stockpred monitor``: after each session close, score the champions' matured forecasts and
measure their drift, and store both (tables ``model_performance`` and ``model_drift``).

For each horizon's champion:

1. **Accuracy.** The ledger (``predictions`` table) rows of that version made after its
   training data ended are joined with their realised returns (``monitor/accuracy.py``).
   For each matured session not yet scored (the latest ``catch_up`` of them), the last
   ``window`` matured dates up to it are scored, the champion beside every baseline; the
   baselines are fitted on the champion's training window and predict the same rows.
2. **Drift.** The features of the latest ``drift_window`` sessions, and the champion's stored
   forecasts of them, against the reference stored with the version (``models/drift.py``).

Nothing here reads the clock: ``now`` is passed in. A version trained before references
existed has no drift rows, and the result says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import NotFoundError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.models.base import KEY_COLUMNS, Model
from stockpred.models.baselines import BASELINES, make_baseline
from stockpred.models.drift import (
    DRIFT_REFERENCE_FILE,
    PREDICTION_SUBJECT,
    DriftReference,
    drift_figures,
    drifted,
)
from stockpred.models.evaluation import cross_sectional_target
from stockpred.models.targets import forward_returns, target_column
from stockpred.monitor.accuracy import (
    below_baseline_streak,
    matured,
    window_scores,
)
from stockpred.registry.base import ModelRegistry, ModelVersion, model_name
from stockpred.store.base import Store
from stockpred.store.schema import MODEL_DRIFT, MODEL_PERFORMANCE

__all__ = ["MonitorResult", "load_reference", "monitor_champion", "monitor_champions"]

# A quarter of sessions: enough dates for a rank IC with a standard error worth reading.
WINDOW = 63
DRIFT_WINDOW = 21
CATCH_UP = 20


@dataclass(frozen=True)
class MonitorResult:
    """What one run measured of one champion."""

    horizon: int
    model_version: str
    sessions_scored: list[pd.Timestamp] = field(default_factory=list)
    # Matured ledger rows after the training data, and the rows left out as in sample.
    matured_rows: int = 0
    in_sample_rows: int = 0
    below_baseline: int = 0
    drift_session: pd.Timestamp | None = None
    drifted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_reference(
    registry: ModelRegistry, version: ModelVersion, cache: Path
) -> DriftReference | None:
    """The drift reference saved beside ``version``'s model, downloaded once into ``cache``
    (None for a version trained before references were saved)."""
    folder = cache / version.name / str(version.version)
    if not (folder / "model").is_dir():
        registry.download(version.name, version.version, folder)
    path = folder / "model" / DRIFT_REFERENCE_FILE
    if not path.is_file():
        return None
    return DriftReference.from_json(path.read_text(encoding="utf-8"))


def _design(
    store: Store, version: ModelVersion, universe: Universe, calendar: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    features: list[str] = json.loads(version.metadata.get("features", "[]"))
    design = store.read_features(feature_set=version.metadata["feature_set"])
    design = design[universe.mask(design["ticker"])].reset_index(drop=True)
    horizon = int(version.metadata["horizon"])
    bars = store.read_bars(tickers=sorted(set(design["ticker"])))
    targets = forward_returns(bars, horizons=[horizon], calendar=calendar)
    labels = targets.rename(
        columns={target_column(horizon): "actual", f"known_at_{horizon}": "known_at"}
    ).loc[:, ["ticker", "ts", "actual", "known_at", "next_return"]]
    return design, labels, [f for f in features if f in design.columns]


def _fitted_baselines(
    design: pd.DataFrame,
    labels: pd.DataFrame,
    features: list[str],
    version: ModelVersion,
) -> dict[str, Model]:
    """Every baseline fitted on the champion's training window (rows labelled by its end),
    on the label the champion was fitted on."""
    start = pd.Timestamp(version.metadata["data_start"])
    end = pd.Timestamp(version.metadata["data_end"])
    data = design.merge(labels, on=list(KEY_COLUMNS), how="inner")
    train = data[(data["ts"] >= start) & (data["ts"] <= end) & data["actual"].notna()].reset_index(
        drop=True
    )
    target = version.metadata.get("target", "return")
    label = cross_sectional_target(train, target)
    fitted: dict[str, Model] = {}
    for name in BASELINES:
        baseline = make_baseline(name, horizon=int(version.metadata["horizon"]))
        baseline.fit(train[["ticker", "ts", *features]], label)
        fitted[name] = baseline
    return fitted


def monitor_champion(
    store: Store,
    registry: ModelRegistry,
    *,
    horizon: int,
    calendar: str,
    now: datetime,
    cache: Path,
    universe: Universe = STOCKS,
    window: int = WINDOW,
    drift_window: int = DRIFT_WINDOW,
    catch_up: int = CATCH_UP,
) -> MonitorResult:
    """Score and measure the champion of ``horizon``; see the module docstring."""
    version = registry.champion(model_name(horizon))
    if version is None:
        raise NotFoundError(
            f"no champion model for horizon {horizon}; run `stockpred train --horizon {horizon}`"
        )
    label = str(version.version)
    cut = stamp = pd.Timestamp(now).tz_convert("UTC")
    design, labels, features = _design(store, version, universe, calendar)
    trained_until = pd.Timestamp(version.metadata["data_end"])
    ledger = store.read_predictions()
    ledger = ledger[
        (ledger["horizon"] == horizon) & (ledger["model_version"] == label)
    ].reset_index(drop=True)
    notes: list[str] = []
    in_sample = int((ledger["as_of"] <= trained_until).sum())
    if in_sample:
        notes.append(
            f"{in_sample} stored forecasts of v{label} are dated within its training data "
            f"(up to {trained_until:%Y-%m-%d}): in sample, not scored"
        )
    ledger = ledger[ledger["as_of"] > trained_until]
    rows = matured(ledger, labels, now=cut)
    kind = version.metadata.get("model_kind", "champion")
    return_units = version.metadata.get("target", "return") != "rank"
    scored: list[pd.Timestamp] = []
    history = store.read_monitoring(MODEL_PERFORMANCE.name, horizon=horizon, model_version=label)
    below = 0
    if not rows.empty:
        dates = pd.DatetimeIndex(rows["ts"].unique()).sort_values()
        done = set(pd.DatetimeIndex(history["session"])) if not history.empty else set()
        todo = [d for d in dates[-catch_up:] if d not in done]
        predictions: dict[str, np.ndarray] = {}
        if todo:  # the baselines are fitted only when there is a session to score
            with_features = rows.merge(design, on=list(KEY_COLUMNS), how="left")
            predictions = {
                name: np.asarray(
                    model.predict(with_features[["ticker", "ts", *features]]), dtype="float64"
                )
                for name, model in _fitted_baselines(design, labels, features, version).items()
            }
        frames = []
        for session in todo:
            position = dates.searchsorted(session, side="right")
            span = dates[max(0, position - window) : position]
            inside = rows["ts"].isin(span).to_numpy()
            figures = window_scores(
                rows.loc[inside].reset_index(drop=True),
                {n: p[inside] for n, p in predictions.items()},
                horizon=horizon,
                champion=kind,
                return_units=return_units,
            )
            figures.insert(0, "window_sessions", len(span))
            figures.insert(0, "session", session)
            frames.append(figures)
            scored.append(session)
        if frames:
            new = pd.concat(frames, ignore_index=True).assign(
                horizon=horizon, model_version=label, computed_at=stamp
            )
            store.write_monitoring(
                MODEL_PERFORMANCE.name, new.loc[:, list(MODEL_PERFORMANCE.names)]
            )
            history = pd.concat([history, new], ignore_index=True)
        below = below_baseline_streak(history, list(dates))
    drift_session, past = _drift(
        store,
        registry,
        version,
        design=design,
        ledger=ledger,
        cache=cache,
        drift_window=drift_window,
        stamp=stamp,
        notes=notes,
    )
    return MonitorResult(
        horizon=horizon,
        model_version=label,
        sessions_scored=scored,
        matured_rows=len(rows),
        in_sample_rows=in_sample,
        below_baseline=below,
        drift_session=drift_session,
        drifted=past,
        notes=notes,
    )


def _drift(
    store: Store,
    registry: ModelRegistry,
    version: ModelVersion,
    *,
    design: pd.DataFrame,
    ledger: pd.DataFrame,
    cache: Path,
    drift_window: int,
    stamp: pd.Timestamp,
    notes: list[str],
) -> tuple[pd.Timestamp | None, list[str]]:
    reference = load_reference(registry, version, cache)
    if reference is None:
        notes.append(
            f"v{version.version} has no drift reference (trained before stockpred saved "
            "them); retrain to measure drift"
        )
        return None, []
    if design.empty:
        return None, []
    dates = pd.DatetimeIndex(design["ts"].unique()).sort_values()
    span = dates[-drift_window:]
    recent = design[design["ts"].isin(span)].reset_index(drop=True)
    forecasts = ledger[ledger["as_of"].isin(span)]
    recent = recent.merge(
        forecasts.rename(columns={"as_of": "ts", "value": PREDICTION_SUBJECT}).loc[
            :, ["ticker", "ts", PREDICTION_SUBJECT]
        ],
        on=list(KEY_COLUMNS),
        how="left",
    )
    figures = drift_figures(reference, recent)
    session = span[-1]
    out = figures.assign(
        horizon=int(version.metadata["horizon"]),
        model_version=str(version.version),
        session=session,
        window_sessions=len(span),
        computed_at=stamp,
    )
    store.write_monitoring(MODEL_DRIFT.name, out.loc[:, list(MODEL_DRIFT.names)])
    significant = figures[drifted(figures)]["subject"].tolist()
    return session, [str(s) for s in significant]


def monitor_champions(
    store: Store,
    registry: ModelRegistry,
    *,
    horizons: Sequence[int],
    calendar: str,
    now: datetime,
    cache: Path,
    universe: Universe = STOCKS,
) -> list[MonitorResult]:
    """:func:`monitor_champion` for each horizon that has a champion."""
    results = []
    for horizon in horizons:
        try:
            champion = registry.champion(model_name(horizon))
        except NotFoundError:  # never registered
            champion = None
        if champion is None:
            continue
        results.append(
            monitor_champion(
                store,
                registry,
                horizon=horizon,
                calendar=calendar,
                now=now,
                cache=cache,
                universe=universe,
            )
        )
    return results
