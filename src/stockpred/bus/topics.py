"""The topics stockpred's processes publish to, and what each carries (DESIGN.md, "Events and
writers"). A record's key is given beside it."""

from __future__ import annotations

__all__ = ["BARS", "FEATURES", "MODELS", "PREDICTIONS"]

# Bars as they arrive from a feed; key: the ticker.
BARS = "bars"
# FeaturesWritten, once a writer has committed feature rows; key: the feature set.
FEATURES = "features"
# ModelPromoted, once a registered model's champion alias moved; key: the registered name.
MODELS = "models"
# Prediction, each new forecast served; key: the ticker.
PREDICTIONS = "predictions"
