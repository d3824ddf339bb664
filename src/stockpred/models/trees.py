"""Gradient-boosted trees: sklearn's histogram gradient boosting, LightGBM and XGBoost.

All three read NaN natively (each split learns which side unknown values go), so no imputation.
The defaults suit daily stock returns, where the signal is a few percent of the noise: small
trees (15-16 leaves), a learning rate of 0.05 over 300 rounds, leaves of at least 300 rows,
row and column subsampling of 0.8 and an L2 penalty on the leaf values. None stops early: that
would need a validation split, which belongs to walk-forward tuning, not to ``fit``.

Threads: ``n_jobs`` defaults to 1. OpenMP workers spin while they wait, so on a busy machine
(another fit, a benchmark, the walk-forward's other work) two threads on two cores ran a
14k-row LightGBM fit in 70 s against 1.1 s with one; raise it on a machine of your own.

Determinism: ``seed`` seeds every random draw and the thread count is fixed by ``n_jobs``
(LightGBM additionally runs with ``deterministic`` and row-wise histograms), so the same rows,
params and seed give bit-identical predictions.

Contributions: LightGBM and XGBoost compute TreeSHAP (exact, additive, last column the bias;
XGBoost's bias also takes up its float32 rounding, so it varies by ~1e-7 of a prediction from
row to row). TreeSHAP costs far more than predicting (~35-75 s for 200k rows x 68 features x
300 trees on two cores): explain the rows you show, not whole panels. sklearn has no TreeSHAP,
so ``hist_gradient_boosting`` returns None.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from stockpred.domain.errors import ModelError
from stockpred.models.estimators import Estimator, check_integer, check_real

if TYPE_CHECKING:
    import lightgbm
    import xgboost

__all__ = [
    "HistGradientBoostingModel",
    "LightGBMModel",
    "XGBoostModel",
    "hist_gradient_boosting",
    "lightgbm_model",
    "xgboost_model",
]


class HistGradientBoostingModel(Estimator):
    """sklearn's HistGradientBoostingRegressor (squared error, no early stopping)."""

    kind: ClassVar[str] = "hist_gradient_boosting"
    artifact_name: ClassVar[str] = "model.joblib"
    explains: ClassVar[bool] = False  # sklearn has no TreeSHAP

    def __init__(
        self,
        *,
        max_iter: int,
        learning_rate: float,
        max_leaf_nodes: int,
        min_samples_leaf: int,
        l2_regularization: float,
        max_features: float,
        seed: int,
        n_jobs: int,
    ) -> None:
        super().__init__(
            {
                "max_iter": max_iter,
                "learning_rate": learning_rate,
                "max_leaf_nodes": max_leaf_nodes,
                "min_samples_leaf": min_samples_leaf,
                "l2_regularization": l2_regularization,
                "max_features": max_features,
                "seed": seed,
                "n_jobs": n_jobs,
            },
            n_jobs=n_jobs,
        )
        self._regressor = HistGradientBoostingRegressor(
            loss="squared_error",
            max_iter=max_iter,
            learning_rate=learning_rate,
            max_leaf_nodes=max_leaf_nodes,
            min_samples_leaf=min_samples_leaf,
            l2_regularization=l2_regularization,
            max_features=max_features,
            early_stopping=False,
            random_state=seed,
        )
        self._fitted_regressor: HistGradientBoostingRegressor | None = None

    def _fitted(self) -> HistGradientBoostingRegressor:
        if self._fitted_regressor is None:
            raise ModelError(f"{self.kind}: the model is not fitted; call fit(X, y) first")
        return self._fitted_regressor

    def _fit_matrix(self, matrix: np.ndarray, target: np.ndarray) -> None:
        regressor = sklearn.clone(self._regressor)
        # The OpenMP thread count changes the order of floating-point sums: fix it.
        with threadpool_limits(limits=self._n_jobs, user_api="openmp"):
            regressor.fit(_fill_empty_columns(matrix), target)
        self._fitted_regressor = regressor

    def _predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=self._n_jobs, user_api="openmp"):
            return np.asarray(self._fitted().predict(matrix), dtype=np.float64)

    def _save_artifact(self, path: Path) -> None:
        joblib.dump(self._fitted(), path)

    def _load_artifact(self, path: Path) -> None:
        # joblib is pickle: load only model directories this system wrote.
        regressor = joblib.load(path)
        if not isinstance(regressor, HistGradientBoostingRegressor):
            raise ModelError(f"{path} does not hold a HistGradientBoostingRegressor")
        self._fitted_regressor = regressor

    def _libraries(self) -> dict[str, str]:
        return {"scikit-learn": str(sklearn.__version__), "joblib": str(joblib.__version__)}


def _fill_empty_columns(matrix: np.ndarray) -> np.ndarray:
    """sklearn's binning fails on a column with no value at all (e.g. a macro series not held):
    such a column becomes zero, a constant it never splits on. Other NaNs stay NaN."""
    empty = np.isnan(matrix).all(axis=0)
    if not empty.any():
        return matrix
    filled = matrix.copy()
    filled[:, empty] = 0.0
    return filled


class LightGBMModel(Estimator):
    """LightGBM (``lgb.train`` on the native API); saved as LightGBM's text model file."""

    kind: ClassVar[str] = "lightgbm"
    artifact_name: ClassVar[str] = "model.txt"

    def __init__(
        self,
        *,
        n_estimators: int,
        learning_rate: float,
        num_leaves: int,
        min_child_samples: int,
        subsample: float,
        colsample_bytree: float,
        reg_lambda: float,
        seed: int,
        n_jobs: int,
    ) -> None:
        super().__init__(
            {
                "n_estimators": n_estimators,
                "learning_rate": learning_rate,
                "num_leaves": num_leaves,
                "min_child_samples": min_child_samples,
                "subsample": subsample,
                "colsample_bytree": colsample_bytree,
                "reg_lambda": reg_lambda,
                "seed": seed,
                "n_jobs": n_jobs,
            },
            n_jobs=n_jobs,
        )
        self._rounds = n_estimators
        self._native: dict[str, object] = {
            "objective": "regression",
            "boosting_type": "gbdt",
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_data_in_leaf": min_child_samples,
            "bagging_fraction": subsample,
            "bagging_freq": 1 if subsample < 1.0 else 0,
            "feature_fraction": colsample_bytree,
            "lambda_l2": reg_lambda,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": n_jobs,
            "verbosity": -1,
        }
        self._booster: lightgbm.Booster | None = None

    def _fitted(self) -> lightgbm.Booster:
        if self._booster is None:
            raise ModelError(f"{self.kind}: the model is not fitted; call fit(X, y) first")
        return self._booster

    def _fit_matrix(self, matrix: np.ndarray, target: np.ndarray) -> None:
        import lightgbm as lgb

        # Plain arrays, no names: LightGBM rejects some characters in feature names, and the
        # names live in model.json anyway.
        dataset = lgb.Dataset(matrix, label=target, params=dict(self._native))
        self._booster = lgb.train(dict(self._native), dataset, num_boost_round=self._rounds)

    def _predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        values = self._fitted().predict(matrix, num_threads=self._n_jobs)
        return np.asarray(values, dtype=np.float64)

    def _contributions_matrix(self, matrix: np.ndarray) -> np.ndarray:
        values = self._fitted().predict(matrix, pred_contrib=True, num_threads=self._n_jobs)
        return np.asarray(values, dtype=np.float64)

    def _save_artifact(self, path: Path) -> None:
        self._fitted().save_model(str(path))

    def _load_artifact(self, path: Path) -> None:
        import lightgbm as lgb

        self._booster = lgb.Booster(model_file=str(path))

    def _libraries(self) -> dict[str, str]:
        import lightgbm as lgb

        return {"lightgbm": str(lgb.__version__)}


class XGBoostModel(Estimator):
    """XGBoost on CPU (``tree_method="hist"``); saved in XGBoost's binary UBJSON format."""

    kind: ClassVar[str] = "xgboost"
    artifact_name: ClassVar[str] = "model.ubj"

    def __init__(
        self,
        *,
        n_estimators: int,
        learning_rate: float,
        max_depth: int,
        min_child_weight: float,
        subsample: float,
        colsample_bytree: float,
        reg_lambda: float,
        seed: int,
        n_jobs: int,
    ) -> None:
        super().__init__(
            {
                "n_estimators": n_estimators,
                "learning_rate": learning_rate,
                "max_depth": max_depth,
                "min_child_weight": min_child_weight,
                "subsample": subsample,
                "colsample_bytree": colsample_bytree,
                "reg_lambda": reg_lambda,
                "seed": seed,
                "n_jobs": n_jobs,
            },
            n_jobs=n_jobs,
        )
        self._rounds = n_estimators
        self._native: dict[str, object] = {
            "objective": "reg:squarederror",
            "tree_method": "hist",
            "eta": learning_rate,
            "max_depth": max_depth,
            # Squared error has a hessian of 1 per row: this is the minimum rows per leaf.
            "min_child_weight": min_child_weight,
            "subsample": subsample,
            "colsample_bytree": colsample_bytree,
            "lambda": reg_lambda,
            "seed": seed,
            "nthread": n_jobs,
            "verbosity": 0,
        }
        self._booster: xgboost.Booster | None = None

    def _fitted(self) -> xgboost.Booster:
        if self._booster is None:
            raise ModelError(f"{self.kind}: the model is not fitted; call fit(X, y) first")
        return self._booster

    def _matrix(self, matrix: np.ndarray, target: np.ndarray | None = None) -> xgboost.DMatrix:
        import xgboost as xgb

        return xgb.DMatrix(matrix, label=target, missing=np.nan, nthread=self._n_jobs)

    def _fit_matrix(self, matrix: np.ndarray, target: np.ndarray) -> None:
        import xgboost as xgb

        self._booster = xgb.train(
            dict(self._native),
            self._matrix(matrix, target),
            num_boost_round=self._rounds,
            verbose_eval=False,
        )

    def _predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self._fitted().predict(self._matrix(matrix)), dtype=np.float64)

    def _contributions_matrix(self, matrix: np.ndarray) -> np.ndarray:
        data = self._matrix(matrix)
        values = np.asarray(self._fitted().predict(data, pred_contribs=True), dtype=np.float64)
        # XGBoost adds up in float32: the SHAP values miss the prediction by float32 rounding
        # (~1e-7 of its size). The bias takes up that remainder so that rows sum to predict.
        prediction = np.asarray(self._fitted().predict(data), dtype=np.float64)
        values[:, -1] = prediction - values[:, :-1].sum(axis=1)
        return values

    def _save_artifact(self, path: Path) -> None:
        self._fitted().save_model(str(path))

    def _load_artifact(self, path: Path) -> None:
        import xgboost as xgb

        booster = xgb.Booster(params={"nthread": self._n_jobs})
        booster.load_model(str(path))
        self._booster = booster

    def _libraries(self) -> dict[str, str]:
        import xgboost as xgb

        return {"xgboost": str(xgb.__version__)}


def hist_gradient_boosting(
    *,
    max_iter: int = 300,
    learning_rate: float = 0.05,
    max_leaf_nodes: int = 15,
    min_samples_leaf: int = 300,
    l2_regularization: float = 1.0,
    max_features: float = 0.8,
    seed: int = 0,
    n_jobs: int = 1,
) -> HistGradientBoostingModel:
    """sklearn histogram gradient boosting; ``max_features`` is the share of features drawn
    at each split (sklearn has no row subsampling here)."""
    kind = HistGradientBoostingModel.kind
    return HistGradientBoostingModel(
        max_iter=check_integer(kind, "max_iter", max_iter, minimum=1),
        learning_rate=check_real(
            kind, "learning_rate", learning_rate, minimum=0.0, open_minimum=True
        ),
        max_leaf_nodes=check_integer(kind, "max_leaf_nodes", max_leaf_nodes, minimum=2),
        min_samples_leaf=check_integer(kind, "min_samples_leaf", min_samples_leaf, minimum=1),
        l2_regularization=check_real(kind, "l2_regularization", l2_regularization, minimum=0.0),
        max_features=check_real(
            kind, "max_features", max_features, minimum=0.0, maximum=1.0, open_minimum=True
        ),
        seed=check_integer(kind, "seed", seed, minimum=0),
        n_jobs=check_integer(kind, "n_jobs", n_jobs, minimum=1),
    )


def lightgbm_model(
    *,
    n_estimators: int = 300,
    learning_rate: float = 0.05,
    num_leaves: int = 15,
    min_child_samples: int = 300,
    subsample: float = 0.8,
    colsample_bytree: float = 0.8,
    reg_lambda: float = 1.0,
    seed: int = 0,
    n_jobs: int = 1,
) -> LightGBMModel:
    """LightGBM gradient boosting; parameter names follow LightGBM's sklearn API
    (``min_child_samples`` = minimum rows per leaf, ``subsample`` = bagging fraction drawn
    every round, ``colsample_bytree`` = feature fraction per tree)."""
    kind = LightGBMModel.kind
    return LightGBMModel(
        n_estimators=check_integer(kind, "n_estimators", n_estimators, minimum=1),
        learning_rate=check_real(
            kind, "learning_rate", learning_rate, minimum=0.0, open_minimum=True
        ),
        num_leaves=check_integer(kind, "num_leaves", num_leaves, minimum=2),
        min_child_samples=check_integer(kind, "min_child_samples", min_child_samples, minimum=1),
        subsample=check_real(
            kind, "subsample", subsample, minimum=0.0, maximum=1.0, open_minimum=True
        ),
        colsample_bytree=check_real(
            kind, "colsample_bytree", colsample_bytree, minimum=0.0, maximum=1.0, open_minimum=True
        ),
        reg_lambda=check_real(kind, "reg_lambda", reg_lambda, minimum=0.0),
        seed=check_integer(kind, "seed", seed, minimum=0),
        n_jobs=check_integer(kind, "n_jobs", n_jobs, minimum=1),
    )


def xgboost_model(
    *,
    n_estimators: int = 300,
    learning_rate: float = 0.05,
    max_depth: int = 4,
    min_child_weight: float = 300.0,
    subsample: float = 0.8,
    colsample_bytree: float = 0.8,
    reg_lambda: float = 1.0,
    seed: int = 0,
    n_jobs: int = 1,
) -> XGBoostModel:
    """XGBoost gradient boosting (CPU, histogram method); names follow XGBoost's sklearn API
    (``min_child_weight`` is the minimum rows per leaf for squared error)."""
    kind = XGBoostModel.kind
    return XGBoostModel(
        n_estimators=check_integer(kind, "n_estimators", n_estimators, minimum=1),
        learning_rate=check_real(
            kind, "learning_rate", learning_rate, minimum=0.0, open_minimum=True
        ),
        max_depth=check_integer(kind, "max_depth", max_depth, minimum=1),
        min_child_weight=check_real(kind, "min_child_weight", min_child_weight, minimum=0.0),
        subsample=check_real(
            kind, "subsample", subsample, minimum=0.0, maximum=1.0, open_minimum=True
        ),
        colsample_bytree=check_real(
            kind, "colsample_bytree", colsample_bytree, minimum=0.0, maximum=1.0, open_minimum=True
        ),
        reg_lambda=check_real(kind, "reg_lambda", reg_lambda, minimum=0.0),
        seed=check_integer(kind, "seed", seed, minimum=0),
        n_jobs=check_integer(kind, "n_jobs", n_jobs, minimum=1),
    )
