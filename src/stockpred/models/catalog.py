"""The catalogue of estimator kinds: an explicit table from a kind (``ridge``, ``lightgbm``, ...)
to a factory taking the parameters as keywords, the tuning grid of each kind, and the reader of
saved models.

Nothing registers itself at import time; adding a kind means adding a row to ``MODELS``, one
to ``PARAM_GRIDS`` and its name to ``models/kinds.py`` (which the command line's help lists).
Every pooled kind has a ``<kind>_per_ticker`` twin (:class:`PerTicker`) that takes the same
parameters plus ``fallback`` and ``min_rows``.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable, Mapping
from pathlib import Path

from stockpred.domain.errors import ModelError
from stockpred.models.base import Model
from stockpred.models.baselines import BASELINES, load_baseline
from stockpred.models.ensemble import DEFAULT_MEMBERS, Ensemble, load_ensemble
from stockpred.models.estimators import (
    Estimator,
    Fallback,
    PerTicker,
    check_integer,
    read_manifest,
)
from stockpred.models.keras_lstm import KerasLSTMForecaster, load_keras_lstm
from stockpred.models.kinds import DEFAULT_MODELS, PER_TICKER_SUFFIX
from stockpred.models.linear import elastic_net, ridge
from stockpred.models.lstm import LSTMForecaster, load_lstm
from stockpred.models.trees import hist_gradient_boosting, lightgbm_model, xgboost_model

__all__ = [
    "DEFAULT_MODELS",
    "MODELS",
    "PARAM_GRIDS",
    "load_model",
    "make_model",
    "model_parameters",
]


class _Factory:
    """A row of the catalogue: checks the parameter names, then builds the model.

    Calling ``MODELS[kind](**params)`` directly is as safe as ``make_model``: an unknown
    parameter is a ModelError listing the accepted ones, not a TypeError.
    """

    def __init__(
        self,
        kind: str,
        build: Callable[..., Model],
        *,
        parameters: tuple[str, ...],
        sequence_length: int = 0,
    ) -> None:
        self.kind = kind
        # Rows of history a sequence model reads before each predicted row (0: row models).
        self.sequence_length = sequence_length
        self.parameters = parameters
        self._build = build

    def __call__(self, **params: object) -> Model:
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise ModelError(
                f"{self.kind}: unknown parameter(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(self.parameters)}"
            )
        return self._build(**params)


def _pooled(kind: str, build: Callable[..., Model]) -> _Factory:
    return _Factory(kind, build, parameters=tuple(inspect.signature(build).parameters))


def _per_ticker(inner: _Factory) -> _Factory:
    """``<kind>_per_ticker``: the inner kind's parameters plus ``fallback`` and ``min_rows``."""
    kind = f"{inner.kind}{PER_TICKER_SUFFIX}"

    def build(**params: object) -> Model:
        fallback = params.pop("fallback", "pooled")
        if fallback not in ("pooled", "zero"):
            raise ModelError(f"{kind}: fallback must be 'pooled' or 'zero', got {fallback!r}")
        mode: Fallback = "zero" if fallback == "zero" else "pooled"
        min_rows = check_integer(kind, "min_rows", params.pop("min_rows", 250), minimum=1)
        # PerTicker builds one inner model at once, so bad inner parameters fail here.
        return PerTicker(lambda: inner(**params), fallback=mode, min_rows=min_rows)

    return _Factory(kind, build, parameters=(*inner.parameters, "fallback", "min_rows"))


_RIDGE = _pooled("ridge", ridge)
_ELASTIC_NET = _pooled("elastic_net", elastic_net)
_HIST_GRADIENT_BOOSTING = _pooled("hist_gradient_boosting", hist_gradient_boosting)
_LIGHTGBM = _pooled("lightgbm", lightgbm_model)
_XGBOOST = _pooled("xgboost", xgboost_model)

# The LSTM reads a sequence of rows before each predicted one; the evaluator prepends them.
# torch is optional: the class imports without it and fitting says which extra to install.
_LSTM = _Factory(
    "lstm",
    LSTMForecaster,
    parameters=tuple(p for p in inspect.signature(LSTMForecaster).parameters if p != "on_epoch"),
    sequence_length=20,
)
# The same LSTM on Keras 3 / TensorFlow (the ``tensorflow`` extra).
_KERAS_LSTM = _Factory(
    "keras_lstm",
    KerasLSTMForecaster,
    parameters=tuple(
        p for p in inspect.signature(KerasLSTMForecaster).parameters if p != "on_epoch"
    ),
    sequence_length=20,
)


def _ensemble(
    *,
    members: str = DEFAULT_MEMBERS,
    weighting: str = "equal",
    horizon: int = 5,
    holdout: int = 63,
    seed: int = 0,
) -> Model:
    """The cross-sectional ensemble (``models/ensemble.py``); model members from this table."""
    unknown = [
        m for m in members.split(",") if m.strip() and m.strip() not in (*BASELINES, *MODELS)
    ]
    if unknown:
        raise ModelError(
            f"ensemble: unknown member(s) {', '.join(unknown)}; members are baselines "
            f"({', '.join(BASELINES)}) or kinds of this catalogue"
        )
    return Ensemble(
        members=members,
        weighting=weighting,
        horizon=horizon,
        holdout=holdout,
        seed=seed,
        build_member=make_model,
    )


MODELS: dict[str, Callable[..., Model]] = {
    "lstm": _LSTM,
    "keras_lstm": _KERAS_LSTM,
    "ridge": _RIDGE,
    "elastic_net": _ELASTIC_NET,
    "hist_gradient_boosting": _HIST_GRADIENT_BOOSTING,
    "lightgbm": _LIGHTGBM,
    "xgboost": _XGBOOST,
    "ridge_per_ticker": _per_ticker(_RIDGE),
    "elastic_net_per_ticker": _per_ticker(_ELASTIC_NET),
    "hist_gradient_boosting_per_ticker": _per_ticker(_HIST_GRADIENT_BOOSTING),
    "lightgbm_per_ticker": _per_ticker(_LIGHTGBM),
    "xgboost_per_ticker": _per_ticker(_XGBOOST),
}
MODELS["ensemble"] = _pooled("ensemble", _ensemble)


def _grid(**axes: tuple[object, ...]) -> tuple[dict[str, object], ...]:
    """Every combination of the values of ``axes``, in a fixed order."""
    names = tuple(axes)
    return tuple(
        dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())
    )


_POOLED_GRIDS: dict[str, tuple[dict[str, object], ...]] = {
    "ridge": _grid(alpha=(1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0)),
    "elastic_net": _grid(alpha=(0.001, 0.003, 0.01), l1_ratio=(0.2, 0.8)),
    "hist_gradient_boosting": _grid(
        max_leaf_nodes=(15, 31), learning_rate=(0.03, 0.1), min_samples_leaf=(100, 500)
    ),
    "lightgbm": _grid(num_leaves=(15, 31), learning_rate=(0.03, 0.1), min_child_samples=(100, 500)),
    "xgboost": _grid(max_depth=(3, 5), learning_rate=(0.03, 0.1), min_child_weight=(100.0, 500.0)),
}

# The candidates nested tuning tries per kind (at most 8 each); a per-ticker kind tunes its
# inner model's parameters.
PARAM_GRIDS: dict[str, tuple[dict[str, object], ...]] = {
    **_POOLED_GRIDS,
    "lstm": _grid(hidden_size=(32, 64), dropout=(0.1, 0.3)),
    "keras_lstm": _grid(hidden_size=(32, 64), dropout=(0.1, 0.3)),
    # One candidate: the members keep fixed, regularised parameters (models/ensemble.py).
    "ensemble": ({},),
    **{f"{kind}{PER_TICKER_SUFFIX}": grid for kind, grid in _POOLED_GRIDS.items()},
}


def model_family(kind: str) -> str:
    """``baseline``, ``ensemble`` or ``model``: what kind of forecaster ``kind`` is."""
    if kind in BASELINES:
        return "baseline"
    return "ensemble" if kind == "ensemble" else "model"


def model_parameters(kind: str) -> tuple[str, ...]:
    """The keyword parameters ``make_model(kind, ...)`` accepts, in declaration order."""
    factory = _factory(kind)
    if isinstance(factory, _Factory):
        return factory.parameters
    return tuple(inspect.signature(factory).parameters)


def make_model(kind: str, **params: object) -> Model:
    """A new, unfitted model of ``kind`` with ``params`` (the rest at their defaults).

    An unknown kind or parameter, or a value out of range, is a ModelError that says what is
    accepted.
    """
    return _factory(kind)(**params)


def load_model(directory: Path) -> Model:
    """Read back a model written by ``save(directory)``: it predicts exactly as before.

    The sklearn kinds are stored with joblib (pickle): load only directories this system wrote.
    """
    kind = _kind_on_disk(directory)
    if kind == "lstm":
        return load_lstm(directory)
    if kind == "keras_lstm":
        return load_keras_lstm(directory)
    if kind in BASELINES:
        return load_baseline(directory)
    if kind == "ensemble":
        return load_ensemble(directory, build_member=make_model, load_member=load_model)
    manifest = read_manifest(directory)
    if manifest.kind not in MODELS:
        raise ModelError(
            f"{directory} holds a model of kind {manifest.kind!r}, which this stockpred does not "
            f"know; known kinds: {', '.join(MODELS)}"
        )
    model = make_model(manifest.kind, **manifest.params)
    if isinstance(model, Estimator):
        model.restore(directory, manifest)
    elif isinstance(model, PerTicker):
        inner_kind = manifest.kind.removesuffix(PER_TICKER_SUFFIX)
        tickers = manifest.members.get("tickers")
        pooled = manifest.members.get("pooled")
        if not isinstance(tickers, Mapping) or not (pooled is None or isinstance(pooled, str)):
            raise ModelError(f"{directory}: model.json lacks the per-ticker layout; save it again")
        models = {
            str(ticker): _load_member(directory, str(relative), inner_kind)
            for ticker, relative in tickers.items()
        }
        model.restore(
            manifest,
            models=models,
            pooled=None if pooled is None else _load_member(directory, pooled, inner_kind),
        )
    return model


def _kind_on_disk(directory: Path) -> str:
    """The ``kind`` a saved model's ``model.json`` names ("" when unreadable)."""
    try:
        manifest = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    kind = manifest.get("kind") if isinstance(manifest, dict) else None
    return kind if isinstance(kind, str) else ""


def _factory(kind: str) -> Callable[..., Model]:
    factory = MODELS.get(kind)
    if factory is None:
        raise ModelError(f"unknown model kind {kind!r}; known kinds: {', '.join(MODELS)}")
    return factory


def _load_member(directory: Path, relative: str, kind: str) -> Model:
    """A per-ticker part, which must lie inside ``directory`` and be of the inner kind."""
    path = (directory / relative).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise ModelError(f"{directory}: model.json points outside the model directory: {relative}")
    model = load_model(path)
    if model.name != kind:
        raise ModelError(f"{path} holds a {model.name} model where a {kind} model belongs")
    return model
