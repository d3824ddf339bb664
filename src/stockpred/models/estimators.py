"""What every fitted estimator shares: the design-matrix checks, the ``model.json`` manifest, the
:class:`Estimator` base class and the :class:`PerTicker` wrapper.

The concrete kinds live in ``linear.py`` (ridge, elastic net) and ``trees.py`` (histogram
gradient boosting, LightGBM, XGBoost); ``catalog.py`` names them, holds the tuning grids and
reads a saved model back.

A model directory holds ``model.json`` (kind, params, feature names, training window, library
versions, the artefact's file name) and the artefact in the library's own format. ``model.json``
is written last, so a directory without it is an unfinished save.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
import os
import platform
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from stockpred.domain.errors import ModelError
from stockpred.models.base import KEY_COLUMNS, Model, TrainingWindow, as_target, feature_columns

__all__ = [
    "BIAS_COLUMN",
    "MANIFEST_FILE",
    "Estimator",
    "Fallback",
    "Manifest",
    "PerTicker",
    "check_integer",
    "check_real",
    "design_matrix",
    "read_manifest",
    "write_manifest",
]

# The column of ``contributions`` holding the part of a prediction no feature explains.
BIAS_COLUMN = "bias"
MANIFEST_FILE = "model.json"
# Bumped when the layout of a model directory changes; load_model refuses newer formats.
MANIFEST_FORMAT = 1

Fallback = Literal["pooled", "zero"]


def check_integer(kind: str, name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int of at least ``minimum``, or a ModelError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ModelError(f"{kind}: {name} must be an integer, got {value!r}")
    number = operator.index(value)
    if number < minimum:
        raise ModelError(f"{kind}: {name} must be at least {minimum}, got {number}")
    return number


def check_real(
    kind: str,
    name: str,
    value: object,
    *,
    minimum: float,
    maximum: float = math.inf,
    open_minimum: bool = False,
) -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` (``(minimum, maximum]`` when
    ``open_minimum``), or a ModelError naming the parameter and the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ModelError(f"{kind}: {name} must be a number, got {value!r}")
    number = float(value)
    below = number <= minimum if open_minimum else number < minimum
    if not math.isfinite(number) or below or number > maximum:
        low = "(" if open_minimum else "["
        high = f"{maximum:g}]" if math.isfinite(maximum) else "inf)"
        raise ModelError(f"{kind}: {name} must lie in {low}{minimum:g}, {high}, got {value!r}")
    return number


def design_matrix(X: pd.DataFrame, feature_names: tuple[str, ...], *, kind: str) -> np.ndarray:
    """The columns ``feature_names`` of ``X`` as float64, shape (len(X), len(feature_names)).

    Columns of ``X`` not named are ignored; a named column that is missing or not numeric is a
    ModelError naming it. Missing values (NaN, pd.NA) and +-inf all become NaN: every estimator
    here treats them as "unknown" (the linear models impute, the trees route them).
    """
    missing = [name for name in feature_names if name not in X.columns]
    if missing:
        raise ModelError(
            f"{kind}: X lacks {len(missing)} of the {len(feature_names)} feature columns the "
            f"model was trained on: {', '.join(missing)}; build X with the same feature set"
        )
    duplicated = sorted({str(c) for c in X.columns[X.columns.duplicated()]} & set(feature_names))
    if duplicated:
        raise ModelError(f"{kind}: X has more than one column named {', '.join(duplicated)}")
    frame = X.loc[:, list(feature_names)]
    not_numeric = [
        name
        for name in feature_names
        if not (
            pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name])
        )
    ]
    if not_numeric:
        raise ModelError(
            f"{kind}: feature columns must be numeric; not numeric: {', '.join(not_numeric)}"
        )
    # A copy: never a view that the inf -> NaN step below would write through to X.
    matrix = np.ascontiguousarray(frame.to_numpy(dtype=np.float64, na_value=np.nan, copy=True))
    matrix[np.isinf(matrix)] = np.nan
    return matrix


def _training_features(kind: str, X: pd.DataFrame, y: pd.Series) -> tuple[str, ...]:
    """Check a training pair and return its feature columns (everything but ticker and ts)."""
    absent = [c for c in KEY_COLUMNS if c not in X.columns]
    if absent:
        raise ModelError(
            f"{kind}: a design frame needs the key columns {', '.join(KEY_COLUMNS)}; "
            f"missing: {', '.join(absent)}"
        )
    if len(X) != len(y):
        raise ModelError(f"{kind}: X has {len(X)} rows but y has {len(y)}; align them row by row")
    if len(X) == 0:
        raise ModelError(f"{kind}: cannot fit on an empty training window")
    names = feature_columns(X)
    if not names:
        raise ModelError(f"{kind}: X has no feature columns besides {', '.join(KEY_COLUMNS)}")
    if BIAS_COLUMN in names:
        raise ModelError(
            f"{kind}: a feature named {BIAS_COLUMN!r} would collide with the bias column of "
            "contributions; rename it"
        )
    return names


def _target(kind: str, y: pd.Series) -> np.ndarray:
    try:
        return as_target(y)
    except ValueError as exc:
        raise ModelError(f"{kind}: {exc}") from exc


def _library_versions(extra: Mapping[str, str]) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        **extra,
    }


@dataclass(frozen=True, slots=True)
class Manifest:
    """The contents of ``model.json``.

    ``artifact`` names the file holding the fitted estimator (None for a wrapper whose parts
    are model directories of their own); ``members`` is the wrapper's layout (empty otherwise).
    """

    kind: str
    params: Mapping[str, object]
    feature_names: tuple[str, ...]
    window: TrainingWindow
    libraries: Mapping[str, str]
    artifact: str | None = None
    members: Mapping[str, object] = field(default_factory=dict)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write ``model.json`` under ``directory``, replacing any older one in one step."""
    content = {
        "format": MANIFEST_FORMAT,
        "kind": manifest.kind,
        "params": dict(manifest.params),
        "feature_names": list(manifest.feature_names),
        "window": manifest.window.to_json(),
        "libraries": dict(manifest.libraries),
        "artifact": manifest.artifact,
        "members": dict(manifest.members),
    }
    partial = directory / f".{MANIFEST_FILE}.partial"
    partial.write_text(json.dumps(content, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(partial, directory / MANIFEST_FILE)


def read_manifest(directory: Path) -> Manifest:
    """Read ``model.json`` under ``directory``; a ModelError says what is missing or wrong."""
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise ModelError(
            f"no {MANIFEST_FILE} under {directory}; it is not a saved model (or the save did not "
            "finish): save the model again"
        )
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(content, dict):
            raise TypeError("the file does not hold a JSON object")
        version = content["format"]
        if not isinstance(version, int) or version > MANIFEST_FORMAT:
            raise ModelError(
                f"{path} has format {version!r}; this stockpred reads up to {MANIFEST_FORMAT}: "
                "upgrade stockpred"
            )
        window = content["window"]
        artifact = content.get("artifact")
        return Manifest(
            kind=str(content["kind"]),
            params=dict(content["params"]),
            feature_names=tuple(str(name) for name in content["feature_names"]),
            window=TrainingWindow.from_json(window),
            libraries={str(k): str(v) for k, v in content.get("libraries", {}).items()},
            artifact=None if artifact is None else str(artifact),
            members=dict(content.get("members") or {}),
        )
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelError(f"{path} is not a valid model manifest: {exc!r}") from exc


class Estimator(ABC):
    """A pooled estimator behind the :class:`Model` protocol.

    Subclasses set ``kind`` and implement the ``_fit_matrix``/``_predict_matrix`` pair on plain
    float64 matrices (NaN = unknown), ``_contributions_matrix`` (unless ``explains`` is
    False) and the artefact I/O.
    The base class owns the frame checks, the training window and ``model.json``.
    """

    kind: ClassVar[str]
    artifact_name: ClassVar[str]
    # Whether contributions() decomposes predictions (else it returns None).
    explains: ClassVar[bool] = True

    def __init__(self, params: Mapping[str, object], *, n_jobs: int) -> None:
        self._params: dict[str, object] = dict(params)
        self._n_jobs = n_jobs
        self._feature_names: tuple[str, ...] = ()
        self._window: TrainingWindow | None = None

    @property
    def name(self) -> str:
        return self.kind

    @property
    def params(self) -> Mapping[str, object]:
        return MappingProxyType(self._params)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._feature_names

    @property
    def window(self) -> TrainingWindow | None:
        return self._window

    def fit(self, X: pd.DataFrame, y: pd.Series) -> None:
        """Fit on the training rows; the features are every column but ``ticker`` and ``ts``."""
        names = _training_features(self.kind, X, y)
        target = _target(self.kind, y)
        self._fit_matrix(design_matrix(X, names, kind=self.kind), target)
        self._feature_names = names
        self._window = TrainingWindow.of(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted forward log return per row of ``X``: float64, shape (len(X),)."""
        matrix = self._fitted_matrix("predict", X)
        if len(matrix) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self._predict_matrix(matrix), dtype=np.float64).reshape(len(matrix))

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Per row of ``X``: each feature's additive part of the prediction plus ``bias``;
        the row sums equal :meth:`predict`. None for a kind without a cheap decomposition."""
        matrix = self._fitted_matrix("contributions", X)
        if not self.explains:
            return None
        columns = [*self._feature_names, BIAS_COLUMN]
        values = np.zeros((0, len(columns)))
        if len(matrix) > 0:
            values = self._contributions_matrix(matrix)
        return pd.DataFrame(np.asarray(values, dtype=np.float64), index=X.index, columns=columns)

    def save(self, directory: Path) -> None:
        """Write the artefact and ``model.json`` under ``directory`` (created if missing)."""
        if self._window is None:
            raise ModelError(f"{self.kind}: save called before fit; call fit(X, y) first")
        directory.mkdir(parents=True, exist_ok=True)
        self._save_artifact(directory / self.artifact_name)
        write_manifest(
            directory,
            Manifest(
                kind=self.kind,
                params=self._params,
                feature_names=self._feature_names,
                window=self._window,
                libraries=_library_versions(self._libraries()),
                artifact=self.artifact_name,
            ),
        )

    def restore(self, directory: Path, manifest: Manifest) -> None:
        """Load the fitted state saved under ``directory`` (see ``catalog.load_model``)."""
        if manifest.artifact is None:
            raise ModelError(f"{directory / MANIFEST_FILE} names no artefact for {self.kind}")
        path = directory / manifest.artifact
        if not path.is_file():
            raise ModelError(f"{self.kind}: the model file {path} is missing; save it again")
        self._load_artifact(path)
        self._feature_names = manifest.feature_names
        self._window = manifest.window

    def _fitted_matrix(self, action: str, X: pd.DataFrame) -> np.ndarray:
        if self._window is None:
            raise ModelError(f"{self.kind}: {action} called before fit; call fit(X, y) first")
        return design_matrix(X, self._feature_names, kind=self.kind)

    @abstractmethod
    def _fit_matrix(self, matrix: np.ndarray, target: np.ndarray) -> None: ...

    @abstractmethod
    def _predict_matrix(self, matrix: np.ndarray) -> np.ndarray: ...

    def _contributions_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Shape (n, features + 1), the last column the bias; only called when ``explains``."""
        raise NotImplementedError(f"{self.kind} has no contributions")

    @abstractmethod
    def _save_artifact(self, path: Path) -> None: ...

    @abstractmethod
    def _load_artifact(self, path: Path) -> None: ...

    @abstractmethod
    def _libraries(self) -> dict[str, str]:
        """The versions of the libraries the artefact depends on."""


class PerTicker:
    """One model per ticker, built by ``factory``, behind the :class:`Model` protocol.

    Every ticker with at least ``min_rows`` training rows gets its own model, fitted on its rows
    alone. The other rows, those of tickers unseen in training or with fewer rows, are served
    by the fallback:

    - ``"pooled"`` (default): one model from ``factory`` fitted on every training row, so a
      new listing gets the cross-sectional estimate rather than nothing;
    - ``"zero"``: a forward return of zero (the random walk), contributions all zero.

    ``name`` is the inner kind plus ``_per_ticker``; ``params`` are the inner model's plus
    ``fallback`` and ``min_rows``, so ``make_model(m.name, **m.params)`` rebuilds it.
    """

    def __init__(
        self,
        factory: Callable[[], Model],
        *,
        fallback: Fallback = "pooled",
        min_rows: int = 250,
    ) -> None:
        probe = factory()
        self._kind = f"{probe.name}_per_ticker"
        if fallback not in ("pooled", "zero"):
            raise ModelError(f"{self._kind}: fallback must be 'pooled' or 'zero', got {fallback!r}")
        self._factory = factory
        self._fallback: Fallback = fallback
        self._min_rows = check_integer(self._kind, "min_rows", min_rows, minimum=1)
        self._params: dict[str, object] = {
            **probe.params,
            "fallback": fallback,
            "min_rows": self._min_rows,
        }
        self._models: dict[str, Model] = {}
        self._pooled: Model | None = None
        self._feature_names: tuple[str, ...] = ()
        self._window: TrainingWindow | None = None

    @property
    def name(self) -> str:
        return self._kind

    @property
    def params(self) -> Mapping[str, object]:
        return MappingProxyType(self._params)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self._feature_names

    @property
    def window(self) -> TrainingWindow | None:
        return self._window

    @property
    def models(self) -> Mapping[str, Model]:
        """The fitted model of each ticker that has its own."""
        return MappingProxyType(self._models)

    @property
    def pooled(self) -> Model | None:
        """The fallback model fitted on every row; None with ``fallback="zero"``."""
        return self._pooled

    def fit(self, X: pd.DataFrame, y: pd.Series) -> None:
        """Fit the pooled fallback (if any) on every row and one model per ticker with at least
        ``min_rows`` rows."""
        names = _training_features(self._kind, X, y)
        target = pd.Series(_target(self._kind, y), index=X.index)
        models: dict[str, Model] = {}
        for ticker, rows in _rows_by_ticker(X).items():
            if len(rows) >= self._min_rows:
                model = self._factory()
                model.fit(X.iloc[rows], target.iloc[rows])
                models[ticker] = model
        pooled: Model | None = None
        if self._fallback == "pooled":
            pooled = self._factory()
            pooled.fit(X, target)
        self._models, self._pooled = models, pooled
        self._feature_names = names
        self._window = TrainingWindow.of(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Each row predicted by its ticker's model, or by the fallback."""
        result = np.zeros(len(X), dtype=np.float64)
        for model, rows in self._assignments("predict", X):
            if model is not None:
                result[rows] = model.predict(X.iloc[rows])
        return result

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame | None:
        """Each row explained by the model that predicted it (all zero for the zero fallback);
        None when the inner kind has no contributions."""
        assignments = self._assignments("contributions", X)
        representative = self._pooled or next(iter(self._models.values()), None)
        if representative is not None and representative.contributions(X.iloc[:0]) is None:
            return None
        columns = [*self._feature_names, BIAS_COLUMN]
        values = np.zeros((len(X), len(columns)), dtype=np.float64)
        for model, rows in assignments:
            if model is None:
                continue
            part = model.contributions(X.iloc[rows])
            if part is None:
                return None
            values[rows] = part.loc[:, columns].to_numpy(dtype=np.float64)
        return pd.DataFrame(values, index=X.index, columns=columns)

    def save(self, directory: Path) -> None:
        """Write each ticker's model under ``tickers/<n>/``, the pooled one under ``pooled/``
        and ``model.json`` with the ticker -> directory map."""
        if self._window is None:
            raise ModelError(f"{self._kind}: save called before fit; call fit(X, y) first")
        directory.mkdir(parents=True, exist_ok=True)
        # Numbered directories: a ticker (e.g. "BRK/B") is not always a safe file name.
        tickers: dict[str, str] = {}
        for number, (ticker, model) in enumerate(sorted(self._models.items())):
            relative = f"tickers/{number:05d}"
            model.save(directory / relative)
            tickers[ticker] = relative
        if self._pooled is not None:
            self._pooled.save(directory / "pooled")
        write_manifest(
            directory,
            Manifest(
                kind=self._kind,
                params=self._params,
                feature_names=self._feature_names,
                window=self._window,
                libraries=_library_versions({}),
                members={
                    "tickers": tickers,
                    "pooled": None if self._pooled is None else "pooled",
                },
            ),
        )

    def restore(
        self,
        manifest: Manifest,
        *,
        models: Mapping[str, Model],
        pooled: Model | None,
    ) -> None:
        """Take the fitted state read back by ``catalog.load_model``."""
        if (pooled is None) != (self._fallback == "zero"):
            raise ModelError(
                f"{self._kind}: fallback {self._fallback!r} but the saved model "
                f"{'lacks' if pooled is None else 'has'} a pooled model; save it again"
            )
        self._models = dict(models)
        self._pooled = pooled
        self._feature_names = manifest.feature_names
        self._window = manifest.window

    def _assignments(self, action: str, X: pd.DataFrame) -> list[tuple[Model | None, np.ndarray]]:
        """Which model serves which row positions of ``X`` (None: the zero fallback)."""
        if self._window is None:
            raise ModelError(f"{self._kind}: {action} called before fit; call fit(X, y) first")
        if "ticker" not in X.columns:
            raise ModelError(f"{self._kind}: X needs a ticker column to pick each row's model")
        design_matrix(X, self._feature_names, kind=self._kind)  # the same column checks as pooled
        served: list[tuple[Model | None, np.ndarray]] = []
        fallback_rows: list[np.ndarray] = []
        for ticker, rows in _rows_by_ticker(X).items():
            model = self._models.get(ticker)
            if model is None:
                fallback_rows.append(rows)
            else:
                served.append((model, rows))
        if fallback_rows:
            served.append((self._pooled, np.sort(np.concatenate(fallback_rows))))
        return served


def _rows_by_ticker(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row positions of each ticker, in order of first appearance."""
    tickers = X["ticker"].astype(str).to_numpy()
    codes, uniques = pd.factorize(tickers)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {
        str(ticker): order[bounds[code] : bounds[code + 1]] for code, ticker in enumerate(uniques)
    }
