"""Records and the column contracts of the stored tables (DESIGN.md, "Data contracts").

Column names here are stable API: the store, the API and exported files use them verbatim.
Frames are the bulk currency between layers; the record classes are for single items (a stream
tick, an API response) and carry the same fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

__all__ = [
    "BAR_COLUMNS",
    "FEATURE_KEY",
    "HEADLINE_COLUMNS",
    "MACRO_COLUMNS",
    "PREDICTION_COLUMNS",
    "Bar",
    "FeaturesWritten",
    "FeedHealth",
    "Headline",
    "MacroPoint",
    "ModelPromoted",
    "Prediction",
]

BAR_COLUMNS: tuple[str, ...] = (
    "ticker",
    "ts",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "source",
    "ingested_at",
)
HEADLINE_COLUMNS: tuple[str, ...] = (
    "id",
    "ticker",
    "published_at",
    "source",
    "title",
    "url",
    "sentiment",
)
MACRO_COLUMNS: tuple[str, ...] = ("series_id", "period", "released_at", "value", "source")
# A feature set is stored wide: these key columns, then one float column per feature, named as
# the set's outputs (``stockpred features show SET``).
FEATURE_KEY: tuple[str, ...] = ("ticker", "ts")
PREDICTION_COLUMNS: tuple[str, ...] = (
    "ticker",
    "as_of",
    "horizon",
    "target",
    "value",
    "lower",
    "upper",
    "direction_prob",
    "model",
    "model_version",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class Bar:
    """One daily (or intraday) bar. ``ts`` is the UTC close of the bar; prices in quote currency.
    ``interval``: ``"1d"`` for a session bar (what the store holds), or an intraday length such
    as ``"1m"``, ``"5m"``, ``"1h"`` for a bar within a session (the stream's nowcasts)."""

    ticker: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    adj_close: float | None
    volume: float
    source: str
    ingested_at: datetime
    interval: str = "1d"


@dataclass(frozen=True, slots=True)
class Headline:
    """A news item or post mapped to one ticker; ``published_at`` is UTC."""

    id: str
    ticker: str
    published_at: datetime
    source: str
    title: str
    url: str | None
    sentiment: float | None


@dataclass(frozen=True, slots=True)
class MacroPoint:
    """One value of a macro series: ``period`` is the reference date, ``released_at`` when it
    became known (UTC). A revision is a new point with a later ``released_at``."""

    series_id: str
    period: date
    released_at: datetime
    value: float
    source: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """A served prediction, traceable to its model version and the feature timestamp it used:
    the one record the API serves, the stream publishes and the ``predictions`` table keeps.

    ``value``: the forecast of ``target`` (the forward log return over ``horizon`` sessions);
    ``lower``/``upper``: its interval at ``coverage``; ``price``: ``last_close`` x exp(value);
    ``direction_prob``: P(return > 0) under a normal error whose spread matches the interval
    (an approximation, stated with it). ``model``: the model kind (``ridge``);
    ``registered_name`` and ``model_version``: the registry entry. ``contributions``: the
    largest feature contributions, (feature, value). A missing figure is NaN.
    """

    ticker: str
    as_of: datetime
    horizon: int
    target: str
    value: float
    lower: float
    upper: float
    direction_prob: float
    model: str
    model_version: str
    created_at: datetime
    coverage: float = math.nan
    last_close: float = math.nan
    price: float = math.nan
    registered_name: str = ""
    contributions: tuple[tuple[str, float], ...] = ()
    # A nowcast: "if the session closed now", from a bar within a session still open; never
    # stored as the day's forecast (the session's close commits that).
    provisional: bool = False
    # Its ticker's feed has a hole (a lost connection, failed polls) not filled yet: the
    # session so far misses bars, and so may the forecast.
    degraded: bool = False


# -- events: what a writer announces once it has committed ----------------------------------


@dataclass(frozen=True, slots=True)
class FeaturesWritten:
    """Rows of ``feature_set`` for ``tickers`` were committed to the store, the newest at
    ``last_ts``: whoever serves forecasts from them recomputes those tickers."""

    feature_set: str
    tickers: tuple[str, ...]
    last_ts: datetime
    written_at: datetime


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """The tickers of feed ``feed`` whose history has a hole at ``at`` (none: all whole):
    published on ``bars`` when that set changes, so the stream marks their forecasts."""

    feed: str
    degraded: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class ModelPromoted:
    """Version ``version`` of the registered model ``name`` (horizon ``horizon``) became its
    champion: servers load it."""

    name: str
    version: str
    horizon: int
    promoted_at: datetime
