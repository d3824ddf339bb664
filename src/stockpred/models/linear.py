"""Penalised linear models: ridge and elastic net.

Each is an sklearn pipeline fitted on the training window only: median imputation (a feature
that is all NaN in training is imputed with zero), standardisation, then the regression. The
target is divided by its training standard deviation before fitting and the coefficients scaled
back afterwards, so ``alpha`` means the same for a one-day and a twenty-day horizon (ridge is
unchanged by this; the elastic net's penalty would otherwise be tied to the units of ``y``).

``contributions`` is coefficient x standardised (imputed) value per feature plus the intercept
as ``bias``: exactly the terms ``predict`` adds up.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

import joblib
import numpy as np
import sklearn
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from stockpred.domain.errors import ModelError
from stockpred.models.estimators import Estimator, check_integer, check_real

__all__ = ["ElasticNetModel", "LinearModel", "RidgeModel", "elastic_net", "ridge"]


class LinearModel(Estimator):
    """Impute (median), standardise, regress; see the module docstring."""

    artifact_name: ClassVar[str] = "model.joblib"

    def __init__(self, params: dict[str, object], *, seed: int, n_jobs: int) -> None:
        super().__init__({**params, "seed": seed, "n_jobs": n_jobs}, n_jobs=n_jobs)
        self._seed = seed
        self._pipeline: Pipeline | None = None

    @abstractmethod
    def _regressor(self) -> Ridge | ElasticNet:
        """A fresh, unfitted regressor with this model's parameters."""

    def _fit_matrix(self, matrix: np.ndarray, target: np.ndarray) -> None:
        scale = float(np.std(target))
        scale = scale if scale > 0.0 else 1.0
        pipeline = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
                ("regress", self._regressor()),
            ]
        )
        with threadpool_limits(limits=self._n_jobs):
            pipeline.fit(matrix, target / scale)
        # Back to the units of y: predict and the contributions then need no extra state.
        regressor = pipeline.named_steps["regress"]
        regressor.coef_ = np.asarray(regressor.coef_, dtype=np.float64) * scale
        regressor.intercept_ = float(regressor.intercept_) * scale
        self._pipeline = pipeline

    def _fitted(self) -> Pipeline:
        if self._pipeline is None:
            raise ModelError(f"{self.kind}: the model is not fitted; call fit(X, y) first")
        return self._pipeline

    def _predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=self._n_jobs):
            return np.asarray(self._fitted().predict(matrix), dtype=np.float64)

    def _contributions_matrix(self, matrix: np.ndarray) -> np.ndarray:
        pipeline = self._fitted()
        regressor = pipeline.named_steps["regress"]
        with threadpool_limits(limits=self._n_jobs):
            standardised = np.asarray(pipeline[:-1].transform(matrix), dtype=np.float64)
        terms = standardised * np.asarray(regressor.coef_, dtype=np.float64)
        bias = np.full((len(matrix), 1), float(regressor.intercept_))
        return np.hstack([terms, bias])

    def _save_artifact(self, path: Path) -> None:
        joblib.dump(self._fitted(), path)

    def _load_artifact(self, path: Path) -> None:
        # joblib is pickle: load only model directories this system wrote.
        pipeline = joblib.load(path)
        if not isinstance(pipeline, Pipeline):
            raise ModelError(f"{path} does not hold an sklearn pipeline for {self.kind}")
        self._pipeline = pipeline

    def _libraries(self) -> dict[str, str]:
        return {"scikit-learn": str(sklearn.__version__), "joblib": str(joblib.__version__)}

    @property
    def coefficients(self) -> dict[str, float]:
        """Fitted coefficient per feature, per standard deviation of the feature (units of y)."""
        regressor = self._fitted().named_steps["regress"]
        return {
            name: float(value)
            for name, value in zip(self.feature_names, regressor.coef_, strict=True)
        }


class RidgeModel(LinearModel):
    """Ridge regression: L2 penalty ``alpha`` on the standardised coefficients."""

    kind: ClassVar[str] = "ridge"

    def __init__(self, *, alpha: float, seed: int, n_jobs: int) -> None:
        super().__init__({"alpha": alpha}, seed=seed, n_jobs=n_jobs)
        self._alpha = alpha

    def _regressor(self) -> Ridge:
        return Ridge(alpha=self._alpha, random_state=self._seed)


class ElasticNetModel(LinearModel):
    """Elastic net: ``alpha`` x (``l1_ratio`` L1 + (1 - ``l1_ratio``)/2 L2), on a unit-variance
    target (see the module docstring), fitted by cyclic coordinate descent (deterministic)."""

    kind: ClassVar[str] = "elastic_net"

    def __init__(
        self, *, alpha: float, l1_ratio: float, max_iter: int, seed: int, n_jobs: int
    ) -> None:
        super().__init__(
            {"alpha": alpha, "l1_ratio": l1_ratio, "max_iter": max_iter}, seed=seed, n_jobs=n_jobs
        )
        self._alpha = alpha
        self._l1_ratio = l1_ratio
        self._max_iter = max_iter

    def _regressor(self) -> ElasticNet:
        return ElasticNet(
            alpha=self._alpha,
            l1_ratio=self._l1_ratio,
            max_iter=self._max_iter,
            selection="cyclic",
            random_state=self._seed,
        )


def ridge(*, alpha: float = 1_000.0, seed: int = 0, n_jobs: int = 1) -> RidgeModel:
    """Ridge regression on standardised features.

    ``alpha`` is sklearn's (the loss is a sum over rows, so its pull shrinks as rows grow:
    1,000 shrinks a well-determined direction by ~0.5% on 200k rows, much more on the nearly
    collinear directions that technical features are full of, and ~50% on one ticker's 1,000
    rows). ``seed`` is recorded for uniformity (the solver is deterministic).
    """
    kind = RidgeModel.kind
    return RidgeModel(
        alpha=check_real(kind, "alpha", alpha, minimum=0.0, open_minimum=True),
        seed=check_integer(kind, "seed", seed, minimum=0),
        n_jobs=check_integer(kind, "n_jobs", n_jobs, minimum=1),
    )


def elastic_net(
    *,
    alpha: float = 0.003,
    l1_ratio: float = 0.5,
    max_iter: int = 10_000,
    seed: int = 0,
    n_jobs: int = 1,
) -> ElasticNetModel:
    """Elastic net on standardised features and a unit-variance target.

    With both standardised, a feature survives the L1 part only if its (partial) correlation
    with the target exceeds ``alpha * l1_ratio``; daily-return correlations are ~0.01-0.05,
    hence ``alpha`` of 0.001-0.01.
    """
    kind = ElasticNetModel.kind
    return ElasticNetModel(
        alpha=check_real(kind, "alpha", alpha, minimum=0.0, open_minimum=True),
        l1_ratio=check_real(kind, "l1_ratio", l1_ratio, minimum=0.0, maximum=1.0),
        max_iter=check_integer(kind, "max_iter", max_iter, minimum=1),
        seed=check_integer(kind, "seed", seed, minimum=0),
        n_jobs=check_integer(kind, "n_jobs", n_jobs, minimum=1),
    )
