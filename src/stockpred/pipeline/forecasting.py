"""The champions as the stream processor's ``Forecaster``: forecasts from feature rows handed
in, rather than read from the store (``pipeline/serving.py`` reads them for the API)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pandas as pd

from stockpred.domain.records import Prediction
from stockpred.pipeline.predict import context_rows, forecasts_from_rows, latest_rows
from stockpred.pipeline.serving import ChampionCache

__all__ = ["ChampionForecaster"]


class ChampionForecaster:
    """Every champion of ``champions`` that reads ``feature_set`` (its key)."""

    def __init__(self, champions: ChampionCache, *, feature_set: str) -> None:
        self._champions = champions
        self._feature_set = feature_set

    @property
    def horizons(self) -> list[int]:
        return sorted(
            h for h, m in self._champions.models.items() if m.feature_set == self._feature_set
        )

    @property
    def context_rows(self) -> int:
        served = self._champions.models.values()
        return max([context_rows(m.model) for m in served], default=1)

    def forecast(
        self, rows: pd.DataFrame, *, last_close: Mapping[str, float], now: datetime
    ) -> list[Prediction]:
        forecasts: list[Prediction] = []
        for horizon in self.horizons:
            served = self._champions.models[horizon]
            forecasts += forecasts_from_rows(
                served.version,
                served.model,
                latest_rows(rows, served.model),
                horizon=horizon,
                last_close=last_close,
                now=now,
            )
        return forecasts

    def reload(self) -> bool:
        return bool(self._champions.reload())
