"""A champion as the service leaves it after months of work, built from the real sample: a
ridge champion of horizon 5 trained on the data up to ``cut``, the bars and features up to
``until``, and its forecast of every session after its training data in the ledger (as if it
had served each); :func:`build_monitored_home` then runs the monitor over them (realised
accuracy beside the baselines, drift).

The files sit where the settings of ``STOCKPRED_HOME=home`` look for them (the store
``stockpred.duckdb``, the registry ``mlflow.db`` and ``mlruns``, the model cache ``models``),
so the command line reads the home as a user's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from stockpred import __version__
from stockpred.features.sets import get_feature_set
from stockpred.models.catalog import MODELS, PARAM_GRIDS
from stockpred.monitor.session import monitor_champion
from stockpred.pipeline.evaluate import EvaluationConfig
from stockpred.pipeline.features import build_features
from stockpred.pipeline.ingest import ingest_sample
from stockpred.pipeline.predict import load_champion
from stockpred.pipeline.train import train_models
from stockpred.registry.base import ModelVersion
from stockpred.registry.mlflow import MLflowRegistry
from stockpred.store.duckdb import DuckDBStore
from support.ledger import forecasts_after_training

HORIZON = 5
CONFIG = EvaluationConfig(
    horizon=HORIZON, models=("ridge",), tune=False, min_train=756, test_size=504, holdout=63
)


@dataclass
class ServedChampion:
    """The open store, the registry, the champion and the ledger rows written of it."""

    store: DuckDBStore
    registry: MLflowRegistry
    version: ModelVersion
    ledger: pd.DataFrame


def serve_champion_after(
    home: Path,
    *,
    cut: pd.Timestamp,
    until: pd.Timestamp,
    now: datetime,
    store_name: str = "stockpred.duckdb",
    cache: str = "models",
) -> ServedChampion:
    """Train the champion by ``cut`` and write its forecasts of the sessions to ``until``
    (see the module's docstring); the store is left open for the caller to close."""
    home.mkdir(parents=True, exist_ok=True)
    feature_set = get_feature_set("daily_v1")
    registry = MLflowRegistry(
        f"sqlite:///{(home / 'mlflow.db').resolve()}", artifact_location=str(home / "mlruns")
    )
    with DuckDBStore(home / "sample.duckdb") as full:
        ingest_sample(full, calendar="XNYS", now=now)
        bars = full.read_bars()
        macro = full.read_macro()
    (home / "sample.duckdb").unlink()
    store = DuckDBStore(home / store_name)
    store.write_bars(bars[bars["ts"] <= cut])
    store.write_macro(macro)
    build_features(store, feature_set, now=cut.to_pydatetime())
    trained = train_models(
        store,
        registry,
        feature_set,
        CONFIG,
        calendar="XNYS",
        now=cut.to_pydatetime(),
        code_version=__version__,
        git_commit=None,
        catalog=MODELS,
        grids=PARAM_GRIDS,
        force="ridge",
    )
    assert trained.champion is not None
    store.write_bars(bars[(bars["ts"] > cut) & (bars["ts"] <= until)])
    build_features(store, feature_set, now=until.to_pydatetime())
    version, model = load_champion(registry, horizon=HORIZON, cache=home / cache)
    ledger = forecasts_after_training(store, version, model, created_at=pd.Timestamp(now))
    store.write_predictions(ledger)
    return ServedChampion(store, registry, version, ledger)


def build_monitored_home(
    home: Path, *, cut: pd.Timestamp, until: pd.Timestamp, now: datetime, catch_up: int = 40
) -> ModelVersion:
    """:func:`serve_champion_after`, then the monitor scores the last ``catch_up`` sessions.
    Returns the champion."""
    served = serve_champion_after(home, cut=cut, until=until, now=now)
    with served.store as store:
        monitor_champion(
            store,
            served.registry,
            horizon=HORIZON,
            calendar="XNYS",
            now=now,
            cache=home / "models",
            catch_up=catch_up,
        )
    return served.version
