"""Models: baselines, estimators, walk-forward evaluation, metrics and backtests.

Pure: imports only ``stockpred.domain`` and ``stockpred.features``. Built in the models issue.
"""
