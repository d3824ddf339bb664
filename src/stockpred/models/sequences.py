"""What the sequence models (the PyTorch and the Keras LSTM) share, free of any framework.

A sequence model reads, for a row of ticker T at ts t, the ``sequence_length`` rows of T at or
before t (rows ordered by ts within the ticker). This module holds the parts that do not depend on
the network library:

- :func:`layout` sorts a design frame by ticker then ts and finds each ticker's first row;
  :func:`sequence_positions` turns row positions into the positions of their sequences (padding
  a ticker's first rows by repeating its earliest row);
- :class:`Scaling` standardises the features with the training window's mean and standard
  deviation (clipped, NaN set to 0 after standardising, plus a 0/1 mask channel for every
  feature that was ever NaN in the training window) and the target with its mean and spread;
- :func:`validation_split` picks the early-stopping tail: the last ``validation_fraction`` of
  the dates, after a purge of ``horizon`` dates (:func:`stockpred.models.walkforward.inner_split`);
- :class:`EarlyStopping` keeps the epoch history and says when to keep weights and when to stop;
- :func:`write_manifest` and :func:`read_manifest` store all of that next to the weights in
  ``model.json``, one layout for both frameworks.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.models.base import TrainingWindow, as_target, feature_columns
from stockpred.models.walkforward import inner_split

__all__ = [
    "MANIFEST_FILE",
    "EarlyStopping",
    "EpochCallback",
    "Scaling",
    "SequenceManifest",
    "TrainingRows",
    "Verdict",
    "check_features",
    "check_sequence_parameters",
    "layout",
    "raw_values",
    "read_manifest",
    "sequence_positions",
    "training_rows",
    "validation_split",
    "write_manifest",
]

# (epoch from 1, mean training loss, validation loss or NaN without validation)
EpochCallback = Callable[[int, float, float], None]

MANIFEST_FILE = "model.json"


def check_sequence_parameters(
    kind: str,
    *,
    whole: Mapping[str, object],
    dropout: float,
    validation_fraction: float,
    learning_rate: float,
    clip: float,
) -> None:
    """ModelError unless every value of ``whole`` is an int >= 1 and the rest are in range."""
    for key, value in whole.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{kind} {key} must be a whole number >= 1, got {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ModelError(f"{kind} dropout must be in [0, 1), got {dropout!r}")
    if not 0.0 <= validation_fraction < 0.5:
        raise ModelError(
            f"{kind} validation_fraction must be in [0, 0.5), got {validation_fraction!r}"
        )
    if not (learning_rate > 0.0 and clip > 0.0):
        raise ModelError(
            f"{kind} learning_rate and clip must be > 0, got {learning_rate!r}, {clip!r}"
        )


def layout(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``X`` sorted by ticker then ts: ``order`` (sorted position -> row of X) and
    ``starts`` (sorted position -> sorted position of its ticker's first row), both int64.
    A (ticker, ts) that occurs twice is a ModelError."""
    for column in ("ticker", "ts"):
        if column not in X.columns:
            raise ModelError(f"the design frame lacks the {column!r} column")
    codes, _ = pd.factorize(X["ticker"].astype(str), sort=False)
    ts = pd.DatetimeIndex(X["ts"])
    stamps = ts.asi8 if ts.tz is None else ts.tz_convert("UTC").asi8
    order = np.lexsort((stamps, codes)).astype(np.int64)
    sorted_codes, sorted_stamps = codes[order], stamps[order]
    new_ticker = np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]
    repeated = ~new_ticker & np.r_[False, sorted_stamps[1:] == sorted_stamps[:-1]]
    if repeated.any():
        at = order[int(np.flatnonzero(repeated)[0])]
        raise ModelError(
            f"the design frame holds (ticker, ts) {X['ticker'].iloc[at]!r}, "
            f"{X['ts'].iloc[at]} more than once; drop duplicate rows first"
        )
    starts = np.maximum.accumulate(np.where(new_ticker, np.arange(len(order)), 0))
    return order, starts.astype(np.int64)


def raw_values(X: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """The feature columns as float64 (rows, features), infinities as NaN."""
    values = X.loc[:, list(features)].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def sequence_positions(rows: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """For sorted row positions ``rows`` (n,), the positions of their sequences (n, length),
    int64: the ``length`` rows ending at each row, never before its ticker's first row (the
    padding repeats that first row)."""
    steps = np.arange(1 - length, 1, dtype=np.int64)[np.newaxis, :]
    positions: np.ndarray = np.maximum(rows[:, np.newaxis] + steps, starts[rows][:, np.newaxis])
    return positions


def validation_split(
    ts: pd.DatetimeIndex, *, validation_fraction: float, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``ts`` (the rows' feature times, in sorted row order) of the rows trained on
    and of the validation rows: the last ``validation_fraction`` of the dates, after a purge of
    ``horizon`` dates. Too few dates for that: every row trains and there is no validation."""
    everything = np.arange(len(ts), dtype=np.int64)
    dates = ts.unique().sort_values()
    holdout = round(validation_fraction * len(dates))
    if holdout < 1:
        return everything, everything[:0]
    try:
        fit_dates, holdout_dates = inner_split(dates, holdout=holdout, gap=horizon)
    except ModelError:
        return everything, everything[:0]
    train = everything[ts.isin(fit_dates)]
    validation = everything[ts.isin(holdout_dates)]
    if len(train) == 0 or len(validation) == 0:
        return everything, everything[:0]
    return train, validation


@dataclass(frozen=True, slots=True)
class Scaling:
    """Feature and target standardisation fitted on a training window.

    ``mean``, ``scale`` (float64, shape (features,)): per feature; ``masked`` (bool, same
    shape): the features that get a missing-value channel; ``clip``: standardised values are
    clipped to +-clip; ``target_mean`` and ``target_scale``: the target's, in log-return units.
    """

    mean: np.ndarray
    scale: np.ndarray
    masked: np.ndarray
    clip: float
    target_mean: float = 0.0
    target_scale: float = 1.0

    @classmethod
    def fit(cls, values: np.ndarray, target: np.ndarray, *, nan_mask: bool, clip: float) -> Scaling:
        """Fitted on raw feature ``values`` (rows, features; NaN where missing) and ``target``
        (rows,). An all-NaN or constant feature standardises to 0; a constant target keeps a
        scale of 1."""
        with warnings.catch_warnings():
            # An all-NaN column has no mean; it standardises to 0 below.
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(values, axis=0)
            scale = np.nanstd(values, axis=0)
        usable = np.isfinite(scale) & (scale > 0.0)
        masked = np.isnan(values).any(axis=0) if nan_mask else np.zeros(values.shape[1], bool)
        spread = float(target.std())
        return cls(
            mean=np.where(np.isfinite(mean), mean, 0.0),
            scale=np.where(usable, scale, 1.0),
            masked=masked,
            clip=float(clip),
            target_mean=float(target.mean()),
            target_scale=spread if math.isfinite(spread) and spread > 0.0 else 1.0,
        )

    @property
    def width(self) -> int:
        """Network inputs per time step: the features plus the mask channels."""
        return len(self.mean) + int(self.masked.sum())

    def inputs(self, values: np.ndarray) -> np.ndarray:
        """Raw feature values (rows, features) -> network inputs (rows, width), float32."""
        missing = np.isnan(values)
        scaled = np.clip((values - self.mean) / self.scale, -self.clip, self.clip)
        scaled[missing] = 0.0
        if self.masked.any():
            scaled = np.concatenate([scaled, missing[:, self.masked]], axis=1)
        return np.ascontiguousarray(scaled, dtype=np.float32)

    def labels(self, target: np.ndarray) -> np.ndarray:
        """Targets (rows,) in log-return units -> standardised, float32."""
        return ((target - self.target_mean) / self.target_scale).astype(np.float32)

    def returns(self, predicted: np.ndarray) -> np.ndarray:
        """Standardised network outputs (rows,) -> forward log returns, float64."""
        return np.asarray(predicted, dtype=np.float64) * self.target_scale + self.target_mean


@dataclass(frozen=True, slots=True)
class TrainingRows:
    """A training window laid out for a sequence model: ``order`` and ``starts`` as
    :func:`layout` gives them, ``values`` the raw features in sorted order (rows, features),
    ``target`` (rows,) in sorted order, ``train`` and ``validation`` the sorted positions of
    :func:`validation_split`."""

    features: tuple[str, ...]
    order: np.ndarray
    starts: np.ndarray
    values: np.ndarray
    target: np.ndarray
    train: np.ndarray
    validation: np.ndarray


def training_rows(
    kind: str,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    validation_fraction: float,
    horizon: int,
) -> TrainingRows:
    """Check ``X`` and ``y`` (same rows, no NaN in ``y``, some feature) and lay them out."""
    target = as_target(y)
    if len(target) != len(X):
        raise ModelError(f"X has {len(X)} rows but y has {len(target)}; align them first")
    if len(X) == 0:
        raise ModelError(f"the {kind} cannot be fitted on an empty training window")
    features = feature_columns(X)
    if not features:
        raise ModelError("the design frame has no feature columns besides ticker and ts")
    order, starts = layout(X)
    train, validation = validation_split(
        pd.DatetimeIndex(X["ts"])[order],
        validation_fraction=validation_fraction,
        horizon=horizon,
    )
    return TrainingRows(
        features=features,
        order=order,
        starts=starts,
        values=raw_values(X, features)[order],
        target=target[order],
        train=train,
        validation=validation,
    )


def check_features(kind: str, X: pd.DataFrame, features: tuple[str, ...]) -> None:
    """ModelError naming the fitted features that ``X`` lacks."""
    missing = [c for c in features if c not in X.columns]
    if missing:
        raise ModelError(
            f"the {kind} was fitted on feature(s) the design frame lacks: {', '.join(missing)}"
        )


class Verdict(Enum):
    """What to do after an epoch: keep its weights as the best, go on, or stop."""

    BEST = "best"
    CONTINUE = "continue"
    STOP = "stop"


class EarlyStopping:
    """Epoch bookkeeping: the history, the best epoch and patience on the validation loss.

    Without validation (NaN loss) every epoch is the best, so the last one is kept.
    """

    def __init__(self, *, patience: int, on_epoch: EpochCallback | None = None) -> None:
        self._patience = patience
        self._on_epoch = on_epoch
        self._best_loss = math.inf
        self._stale = 0
        self.best_epoch = 0
        self.history: list[tuple[int, float, float]] = []

    def record(self, epoch: int, train_loss: float, validation_loss: float) -> Verdict:
        """Note an epoch's losses; the verdict says whether to keep its weights or stop."""
        self.history.append((epoch, train_loss, validation_loss))
        if self._on_epoch is not None:
            self._on_epoch(epoch, train_loss, validation_loss)
        if math.isnan(validation_loss):
            self.best_epoch = epoch
            return Verdict.CONTINUE
        if validation_loss < self._best_loss:
            self._best_loss, self._stale, self.best_epoch = validation_loss, 0, epoch
            return Verdict.BEST
        self._stale += 1
        return Verdict.STOP if self._stale >= self._patience else Verdict.CONTINUE


@dataclass(frozen=True, slots=True)
class SequenceManifest:
    """The contents of a saved sequence model's ``model.json`` besides kind and format."""

    params: dict[str, object]
    features: tuple[str, ...]
    window: TrainingWindow
    scaling: Scaling
    best_epoch: int = 0
    history: tuple[tuple[int, float, float], ...] = field(default=())


def write_manifest(
    directory: Path, *, kind: str, format_version: int, manifest: SequenceManifest
) -> None:
    """Write ``model.json`` under ``directory`` (which must exist)."""
    window, scaling = manifest.window, manifest.scaling
    content = {
        "kind": kind,
        "format": format_version,
        "params": manifest.params,
        "feature_names": list(manifest.features),
        "window": {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "rows": window.rows,
            "tickers": list(window.tickers),
        },
        "scaler": {
            "mean": scaling.mean.tolist(),
            "scale": scaling.scale.tolist(),
            "masked": scaling.masked.tolist(),
        },
        "target": {"mean": scaling.target_mean, "scale": scaling.target_scale},
        "training": {
            "best_epoch": manifest.best_epoch,
            "history": [list(entry) for entry in manifest.history],
        },
    }
    text = json.dumps(content, indent=2, allow_nan=True)
    (directory / MANIFEST_FILE).write_text(text, encoding="utf-8")


def read_manifest(
    directory: Path, *, kind: str, format_version: int, weights: str
) -> SequenceManifest:
    """Read ``model.json`` of a saved ``kind`` model whose weights file is ``weights``; a
    ModelError says what is missing or of another kind."""
    manifest_path, weights_path = directory / MANIFEST_FILE, directory / weights
    if not manifest_path.is_file() or not weights_path.is_file():
        raise ModelError(
            f"{str(directory)!r} holds no saved {kind} ({MANIFEST_FILE} and {weights} "
            f"expected); save a fitted {kind} model there first"
        )
    content = json.loads(manifest_path.read_text(encoding="utf-8"))
    if content.get("kind") != kind or content.get("format") != format_version:
        raise ModelError(
            f"{str(manifest_path)!r} describes kind {content.get('kind')!r} format "
            f"{content.get('format')!r}, not a {kind} model of format {format_version}"
        )
    params = dict(content["params"])
    window, scaler, target = content["window"], content["scaler"], content["target"]
    training = content["training"]
    return SequenceManifest(
        params=params,
        features=tuple(str(name) for name in content["feature_names"]),
        window=TrainingWindow(
            start=pd.Timestamp(window["start"]),
            end=pd.Timestamp(window["end"]),
            rows=int(window["rows"]),
            tickers=tuple(str(t) for t in window["tickers"]),
        ),
        scaling=Scaling(
            mean=np.asarray(scaler["mean"], dtype=np.float64),
            scale=np.asarray(scaler["scale"], dtype=np.float64),
            masked=np.asarray(scaler["masked"], dtype=bool),
            clip=float(params["clip"]),
            target_mean=float(target["mean"]),
            target_scale=float(target["scale"]),
        ),
        best_epoch=int(training["best_epoch"]),
        history=tuple((int(e), float(t), float(v)) for e, t, v in training["history"]),
    )
