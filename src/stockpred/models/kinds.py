"""The names of the model kinds that ``models/catalog.py`` builds, and those run by default.

Plain data, no imports: the command line shows these in its help without loading a model
library. ``catalog.MODELS`` holds a factory for each of these names and no other (checked by
``tests/unit/test_model_kinds.py``).
"""

from __future__ import annotations

__all__ = ["DEFAULT_MODELS", "MODEL_KINDS", "PER_TICKER_SUFFIX"]

# A pooled kind's twin that fits one model per ticker is named <kind>_per_ticker.
PER_TICKER_SUFFIX = "_per_ticker"

# In the catalogue's order.
MODEL_KINDS: tuple[str, ...] = (
    "lstm",
    "keras_lstm",
    "ridge",
    "elastic_net",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
    "ridge_per_ticker",
    "elastic_net_per_ticker",
    "hist_gradient_boosting_per_ticker",
    "lightgbm_per_ticker",
    "xgboost_per_ticker",
    "ensemble",
)

# What `evaluate` and `train` run when no --models is given (the baselines always run).
DEFAULT_MODELS: tuple[str, ...] = ("ensemble", "ridge")
