"""The model registry protocol: versions of trained models, and which one is the champion.

One registered model per forecast horizon, named by :func:`model_name` (``stockpred-h5`` for the
five-bar horizon): versions of one name are interchangeable forecasters of the same target, so
"the champion" is well defined per horizon. A version is a saved model directory (what
``Model.save`` wrote) plus string metadata that says what it was trained on and how it scored
(:data:`REQUIRED_METADATA`, built by :func:`training_metadata`).

The alias ``champion`` marks the version that serves. :meth:`ModelRegistry.promote` moves it and
records why; :meth:`ModelRegistry.rollback` moves it back to the champion before, so the
promotions form an undo stack: promote 1, promote 2, promote 3, then two rollbacks leave 1.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

__all__ = [
    "CHAMPION",
    "NAME_PATTERN",
    "REQUIRED_METADATA",
    "ChampionChange",
    "ModelRegistry",
    "ModelVersion",
    "horizon_of",
    "metrics_json",
    "model_name",
    "training_metadata",
]

# The alias that marks the serving version of a registered model.
CHAMPION = "champion"

# Registered model names: letters, digits, dot, dash and underscore; safe in URLs and file names.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")

# What every version's metadata says about how it came to be.
REQUIRED_METADATA: tuple[str, ...] = (
    "data_start",  # ISO 8601 UTC: first feature timestamp of the training rows
    "data_end",  # ISO 8601 UTC: last feature timestamp of the training rows
    "universe",  # tickers, sorted and comma-joined
    "universe_size",  # how many tickers
    "universe_hash",  # first 16 hex digits of the SHA-256 of ``universe``
    "feature_set",  # key of the feature set the model reads
    "horizon",  # bars ahead the model predicts
    "model_kind",  # Model.name: ridge, lightgbm, random_walk ...
    "params",  # JSON object of the hyperparameters
    "metrics",  # JSON object of the evaluation metrics (written by ``register``)
    "code_version",  # stockpred.__version__ at training time
    "git_commit",  # commit of the code, or "unknown"
    "training_seconds",  # wall time of the fit, seconds
)


def model_name(horizon: int) -> str:
    """The registered model name for forecasts ``horizon`` bars ahead: ``stockpred-h{horizon}``."""
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 bar, got {horizon}")
    return f"stockpred-h{horizon}"


def horizon_of(name: str) -> int | None:
    """The horizon of a registered name made by :func:`model_name`, or None for another name."""
    prefix, _, number = name.partition("-h")
    if prefix != "stockpred" or not number.isdigit():
        return None
    return int(number)


def _utc_iso(value: datetime, what: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got the naive {value.isoformat()}")
    return value.astimezone(UTC).isoformat()


def metrics_json(metrics: Mapping[str, float]) -> str:
    """``metrics`` as a JSON object with sorted keys; NaN and infinities become null."""
    clean = {
        str(key): (float(value) if math.isfinite(float(value)) else None)
        for key, value in metrics.items()
    }
    return json.dumps(clean, sort_keys=True)


def training_metadata(
    *,
    data_start: datetime,
    data_end: datetime,
    tickers: Sequence[str],
    feature_set: str,
    horizon: int,
    model_kind: str,
    params: Mapping[str, object],
    code_version: str,
    git_commit: str | None,
    training_seconds: float,
) -> dict[str, str]:
    """The metadata of one trained model, every value a string, ready for ``register``.

    ``data_start``/``data_end`` are the first and last feature timestamps of the training rows
    (UTC-aware); ``params`` must be JSON-serialisable (other values are written with ``str``);
    ``git_commit`` is None when the code does not come from a git checkout. ``metrics`` is added
    by :meth:`ModelRegistry.register` from its ``metrics`` argument.
    """
    start = _utc_iso(data_start, "data_start")
    end = _utc_iso(data_end, "data_end")
    if data_end < data_start:
        raise ValueError(f"data_end {end} is before data_start {start}")
    if training_seconds < 0:
        raise ValueError(f"training_seconds must be >= 0, got {training_seconds}")
    members = sorted({str(t) for t in tickers})
    universe = ",".join(members)
    return {
        "data_start": start,
        "data_end": end,
        "universe": universe,
        "universe_size": str(len(members)),
        "universe_hash": hashlib.sha256(universe.encode()).hexdigest()[:16],
        "feature_set": feature_set,
        "horizon": str(horizon),
        "model_kind": model_kind,
        "params": json.dumps(dict(params), sort_keys=True, default=str),
        "code_version": code_version,
        "git_commit": git_commit or "unknown",
        "training_seconds": f"{training_seconds:.3f}",
    }


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model.

    ``metadata`` holds :data:`REQUIRED_METADATA` and, once promoted or rolled back, the
    bookkeeping tags ``promoted_at``, ``promoted_from``, ``promotion_reason`` (and
    ``rolled_back_at``, ``rollback_reason`` on a version the champion left by rollback).
    """

    name: str
    version: int
    run_id: str
    created_at: datetime
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_champion(self) -> bool:
        return CHAMPION in self.aliases

    @property
    def metrics(self) -> dict[str, float]:
        """The evaluation metrics from ``metadata["metrics"]`` (NaN where null)."""
        raw = json.loads(self.metadata.get("metrics", "{}"))
        return {str(k): (math.nan if v is None else float(v)) for k, v in raw.items()}

    @property
    def params(self) -> dict[str, object]:
        """The hyperparameters from ``metadata["params"]``."""
        parsed: dict[str, object] = json.loads(self.metadata.get("params", "{}"))
        return parsed


@dataclass(frozen=True, slots=True)
class ChampionChange:
    """One move of the ``champion`` alias: when, which way, from and to which version, why.

    ``from_version`` is None for the first promotion of a model.
    """

    at: datetime
    action: Literal["promote", "rollback"]
    from_version: int | None
    to_version: int
    reason: str

    def as_dict(self) -> dict[str, str | int | None]:
        """JSON-ready: ``{"at": ISO UTC, "action", "from", "to", "reason"}``."""
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "from": self.from_version,
            "to": self.to_version,
            "reason": self.reason,
        }


@runtime_checkable
class ModelRegistry(Protocol):
    """Versions of trained models and the champion of each; implementations translate their
    backend's errors into :class:`~stockpred.domain.errors.NotFoundError` (unknown name,
    version or alias) and :class:`~stockpred.domain.errors.ModelError` (everything else)."""

    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        metadata: Mapping[str, str],
        metrics: Mapping[str, float],
    ) -> ModelVersion:
        """Store the files under ``model_dir`` as a new version of ``name`` (created if new).

        ``metadata`` must hold every key of :data:`REQUIRED_METADATA` but ``metrics``, which is
        written from ``metrics``. The new version is not promoted.
        """
        ...

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        ...

    def get(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``."""
        ...

    def champion(self, name: str) -> ModelVersion | None:
        """The version ``name`` serves, or None before the first promotion."""
        ...

    def promote(self, name: str, version: int, *, reason: str) -> None:
        """Make ``version`` the champion of ``name``, recording the previous one and why."""
        ...

    def rollback(self, name: str, *, reason: str) -> ModelVersion:
        """Make the champion before the current one champion again, and return it; a
        ModelError when there is none."""
        ...

    def download(self, name: str, version: int, directory: Path) -> Path:
        """Copy the files of ``version`` under ``directory`` and return the model directory
        (a folder inside ``directory``) to load it from."""
        ...

    def history(self, name: str) -> list[ChampionChange]:
        """Every promotion and rollback of ``name``, oldest first."""
        ...
