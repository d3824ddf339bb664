"""The model registry: versions of trained models, their metadata, and the champion per horizon.

The protocol and its records are in ``base``; ``mlflow`` holds the MLflow adapter (imported by
the composition root, not here, so that importing the registry's types never loads MLflow).
"""

from stockpred.registry.base import (
    CHAMPION,
    REQUIRED_METADATA,
    ChampionChange,
    ModelRegistry,
    ModelVersion,
    metrics_json,
    model_name,
    training_metadata,
)

__all__ = [
    "CHAMPION",
    "REQUIRED_METADATA",
    "ChampionChange",
    "ModelRegistry",
    "ModelVersion",
    "metrics_json",
    "model_name",
    "training_metadata",
]
