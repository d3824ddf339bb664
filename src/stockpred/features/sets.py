"""Feature sets declared as data: a name, a version, the indicators with their parameters and
the context features (market, macro, sentiment, calendar, cross-section) to join.

A set is built from a plain dict (or TOML text) and validated against the indicator catalogue,
so a typo fails with a message that names the indicator and the known kinds. Pure: no disk, no
clock; reading a TOML file is the caller's job.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from stockpred.domain.errors import FeatureError
from stockpred.features.catalog import CATALOG
from stockpred.features.defaults import DEFAULT_FEATURE_SET
from stockpred.features.library import Indicator

__all__ = [
    "DEFAULT_FEATURE_SET",
    "ContextSpec",
    "FeatureSet",
    "IndicatorSpec",
    "MacroFeature",
    "MacroSpread",
    "default_feature_sets",
    "feature_set_from_dict",
    "feature_set_from_toml",
    "get_feature_set",
]

Transform = Literal["level", "change", "pct_change"]
_TRANSFORMS: tuple[str, ...] = ("level", "change", "pct_change")


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One indicator of a set: a catalogue ``kind`` and its keyword parameters."""

    kind: str
    params: Mapping[str, int | float] = field(default_factory=dict)

    def build(self) -> Indicator:
        """The indicator with these parameters (unvalidated; :class:`FeatureSet` validates)."""
        return CATALOG[self.kind](**self.params)


@dataclass(frozen=True, slots=True)
class MacroFeature:
    """A macro series joined as of its release: its latest first-released value (``level``),
    or the change / relative change over ``periods`` releases (monthly CPI: 12 = a year)."""

    name: str
    series: str
    transform: Transform = "level"
    periods: int = 1


@dataclass(frozen=True, slots=True)
class MacroSpread:
    """``long`` minus ``short``, each the latest value known at the bar (e.g. BAA - AAA)."""

    name: str
    long: str
    short: str


@dataclass(frozen=True, slots=True)
class ContextSpec:
    """Features beyond one ticker's bars.

    ``index_ticker``: market index for ``mkt_return`` (log return, 1 bar), ``mkt_vol_{w}``
    (annualised std of its daily log returns over ``index_volatility_window`` bars) and
    ``beta_{w}`` (the stock's rolling beta over ``beta_window`` bars); None leaves them out.
    ``sentiment_scorer``: the daily aggregates to join (None: none); an aggregate older than
    ``sentiment_max_age_days`` is not carried forward. ``calendar``: exchange for the calendar
    features. ``ranks``: feature names ranked per date across the tickers built together
    (index symbols, starting with ``^``, left out), as ``rank_<name>`` in (0, 1].
    """

    index_ticker: str | None = "^GSPC"
    beta_window: int = 60
    index_volatility_window: int = 20
    macro: tuple[MacroFeature, ...] = ()
    spreads: tuple[MacroSpread, ...] = ()
    sentiment_scorer: str | None = "loughran_mcdonald"
    sentiment_max_age_days: int = 3
    calendar: str | None = "XNYS"
    ranks: tuple[str, ...] = ()

    @property
    def market_outputs(self) -> tuple[str, ...]:
        if self.index_ticker is None:
            return ()
        return (
            "mkt_return",
            f"mkt_vol_{self.index_volatility_window}",
            f"beta_{self.beta_window}",
        )

    @property
    def macro_outputs(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.macro) + tuple(s.name for s in self.spreads)

    @property
    def sentiment_outputs(self) -> tuple[str, ...]:
        if self.sentiment_scorer is None:
            return ()
        return (
            "sentiment_mean",
            "sentiment_count",
            "sentiment_share_positive",
            "sentiment_share_negative",
        )

    @property
    def calendar_outputs(self) -> tuple[str, ...]:
        if self.calendar is None:
            return ()
        return (
            "day_of_week",
            "days_to_month_end",
            "sessions_to_month_end",
            "days_since_last_session",
            "sessions_since_last_bar",
        )

    @property
    def lookback(self) -> int:
        """Bars the market context needs (returns need one bar more than their window)."""
        if self.index_ticker is None:
            return 0
        return max(self.beta_window, self.index_volatility_window) + 1


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """A named, versioned list of indicators plus context features; validated on creation.

    ``key`` (``name@version``) is what the store records with every value.
    """

    name: str
    version: str
    indicators: tuple[IndicatorSpec, ...]
    context: ContextSpec = field(default_factory=ContextSpec)
    description: str = ""
    built: tuple[Indicator, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise FeatureError(
                f"feature set name {self.name!r} is not valid; use letters, digits and _"
            )
        if not self.version:
            raise FeatureError(f"feature set {self.name!r} needs a version, e.g. '1'")
        if not self.indicators:
            raise FeatureError(f"feature set {self.key!r} declares no indicators")
        built = tuple(_build(i, spec) for i, spec in enumerate(self.indicators, start=1))
        object.__setattr__(self, "built", built)
        _check_context(self.key, self.context)
        seen: dict[str, str] = {}
        for spec, indicator in zip(self.indicators, built, strict=True):
            for output in indicator.outputs:
                if output in seen:
                    raise FeatureError(
                        f"feature set {self.key!r}: output {output!r} of {spec.kind} "
                        f"{dict(spec.params)} is also produced by {seen[output]}; "
                        "remove one of them"
                    )
                seen[output] = f"{spec.kind} {dict(spec.params)}"
        context_names = (
            self.context.market_outputs
            + self.context.macro_outputs
            + self.context.sentiment_outputs
            + self.context.calendar_outputs
        )
        for name in context_names:
            if name in seen:
                raise FeatureError(
                    f"feature set {self.key!r}: context feature {name!r} clashes with an "
                    f"output of {seen[name]}; rename it"
                )
            seen[name] = "the context"
        for name in self.context.ranks:
            if name not in seen:
                raise FeatureError(
                    f"feature set {self.key!r}: cannot rank {name!r}, which no indicator or "
                    f"context feature produces; known outputs: {', '.join(sorted(seen))}"
                )

    @property
    def key(self) -> str:
        """``name@version``, stored in the ``feature_set`` column."""
        return f"{self.name}@{self.version}"

    @property
    def indicator_outputs(self) -> tuple[str, ...]:
        return tuple(o for ind in self.built for o in ind.outputs)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every feature column, in panel order."""
        ctx = self.context
        return (
            self.indicator_outputs
            + ctx.market_outputs
            + ctx.macro_outputs
            + ctx.sentiment_outputs
            + ctx.calendar_outputs
            + tuple(f"rank_{n}" for n in ctx.ranks)
        )

    @property
    def lookback(self) -> int:
        """Bars needed before the first defined value of every feature: the largest of the
        indicators' lookbacks and the market context's windows."""
        return max([ind.lookback for ind in self.built] + [self.context.lookback])


def _build(position: int, spec: IndicatorSpec) -> Indicator:
    if spec.kind not in CATALOG:
        raise FeatureError(
            f"indicator #{position} has unknown kind {spec.kind!r}; "
            f"known kinds: {', '.join(sorted(CATALOG))}"
        )
    for key, value in spec.params.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FeatureError(
                f"indicator #{position} ({spec.kind}): parameter {key}={value!r} must be a number"
            )
    try:
        return spec.build()
    except (TypeError, ValueError, FeatureError) as exc:
        raise FeatureError(
            f"indicator #{position} ({spec.kind} {dict(spec.params)}) is not valid: {exc}"
        ) from exc


def _check_context(key: str, ctx: ContextSpec) -> None:
    for label, window in (
        ("beta_window", ctx.beta_window),
        ("index_volatility_window", ctx.index_volatility_window),
        ("sentiment_max_age_days", ctx.sentiment_max_age_days),
    ):
        if window < 1:
            raise FeatureError(f"feature set {key!r}: {label} must be >= 1, got {window}")
    names: set[str] = set()
    for feature in ctx.macro:
        if feature.transform not in _TRANSFORMS:
            raise FeatureError(
                f"feature set {key!r}: macro feature {feature.name!r} has transform "
                f"{feature.transform!r}; use one of {', '.join(_TRANSFORMS)}"
            )
        if feature.periods < 1:
            raise FeatureError(
                f"feature set {key!r}: macro feature {feature.name!r} needs periods >= 1, "
                f"got {feature.periods}"
            )
    for name in ctx.macro_outputs:
        if name in names:
            raise FeatureError(f"feature set {key!r}: macro feature {name!r} is declared twice")
        names.add(name)


# -- loading from data ----------------------------------------------------------------------


def _table(data: Mapping[str, object], key: str, where: str) -> Mapping[str, object]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise FeatureError(f"{where}: {key!r} must be a table, got {type(value).__name__}")
    return cast(Mapping[str, object], value)


def _list(data: Mapping[str, object], key: str, where: str) -> Sequence[object]:
    value = data.get(key, [])
    if not isinstance(value, list | tuple):
        raise FeatureError(f"{where}: {key!r} must be a list, got {type(value).__name__}")
    return cast(Sequence[object], value)


def _unknown(data: Mapping[str, object], allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise FeatureError(
            f"{where}: unknown field(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}"
        )


def _indicator_spec(position: int, item: object) -> IndicatorSpec:
    where = f"indicator #{position}"
    if not isinstance(item, Mapping):
        raise FeatureError(f"{where} must be a table with 'kind' and parameters, got {item!r}")
    entry = cast(Mapping[str, object], item)
    kind = entry.get("kind")
    if not isinstance(kind, str):
        raise FeatureError(f"{where} has no 'kind' (e.g. kind = \"sma\"); got {dict(entry)}")
    params = entry.get("params", {k: v for k, v in entry.items() if k != "kind"})
    if not isinstance(params, Mapping):
        raise FeatureError(f"{where} ({kind}): 'params' must be a table, got {params!r}")
    return IndicatorSpec(kind=kind, params=dict(cast(Mapping[str, int | float], params)))


def _context(data: Mapping[str, object], where: str) -> ContextSpec:
    default = ContextSpec()
    allowed = {
        "index_ticker",
        "beta_window",
        "index_volatility_window",
        "macro",
        "spreads",
        "sentiment_scorer",
        "sentiment_max_age_days",
        "calendar",
        "ranks",
    }
    _unknown(data, allowed, where)
    macro = []
    for item in _list(data, "macro", where):
        if not isinstance(item, Mapping):
            raise FeatureError(f"{where}: each macro entry must be a table, got {item!r}")
        entry = cast(Mapping[str, object], item)
        _unknown(entry, {"name", "series", "transform", "periods"}, f"{where} macro entry")
        try:
            macro.append(
                MacroFeature(
                    name=str(entry["name"]),
                    series=str(entry["series"]),
                    transform=cast(Transform, entry.get("transform", "level")),
                    periods=int(cast(int, entry.get("periods", 1))),
                )
            )
        except KeyError as exc:
            raise FeatureError(f"{where}: macro entry {dict(entry)} lacks {exc}") from exc
    spreads = []
    for item in _list(data, "spreads", where):
        if not isinstance(item, Mapping):
            raise FeatureError(f"{where}: each spread must be a table, got {item!r}")
        entry = cast(Mapping[str, object], item)
        _unknown(entry, {"name", "long", "short"}, f"{where} spread")
        try:
            spreads.append(
                MacroSpread(
                    name=str(entry["name"]), long=str(entry["long"]), short=str(entry["short"])
                )
            )
        except KeyError as exc:
            raise FeatureError(f"{where}: spread {dict(entry)} lacks {exc}") from exc

    def optional_str(key: str, fallback: str | None) -> str | None:
        value = data.get(key, fallback)
        if value is None or value == "":
            return None
        return str(value)

    def integer(key: str, fallback: int) -> int:
        value = data.get(key, fallback)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FeatureError(f"{where}: {key} must be an integer, got {value!r}")
        return value

    return ContextSpec(
        index_ticker=optional_str("index_ticker", default.index_ticker),
        beta_window=integer("beta_window", default.beta_window),
        index_volatility_window=integer("index_volatility_window", default.index_volatility_window),
        macro=tuple(macro),
        spreads=tuple(spreads),
        sentiment_scorer=optional_str("sentiment_scorer", default.sentiment_scorer),
        sentiment_max_age_days=integer("sentiment_max_age_days", default.sentiment_max_age_days),
        calendar=optional_str("calendar", default.calendar),
        ranks=tuple(str(r) for r in _list(data, "ranks", where)),
    )


def feature_set_from_dict(data: Mapping[str, object]) -> FeatureSet:
    """A feature set from plain data::

        {"name": "daily", "version": "1", "description": "...",
         "indicators": [{"kind": "sma", "window": 20}, {"kind": "rsi", "params": {"window": 14}}],
         "context": {"index_ticker": "^GSPC", "ranks": ["rsi_14"],
                     "macro": [{"name": "vix", "series": "VIXCLS"}],
                     "spreads": [{"name": "credit_spread", "long": "BAA", "short": "AAA"}]}}

    Raises :class:`FeatureError` naming the field or indicator at fault.
    """
    name = data.get("name")
    where = f"feature set {name!r}" if name else "feature set"
    _unknown(data, {"name", "version", "description", "indicators", "context"}, where)
    if not isinstance(name, str) or not name:
        raise FeatureError(f"{where}: 'name' is required (a string such as 'daily_v1')")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, str | int):
        raise FeatureError(f"{where}: 'version' is required (a string such as '1')")
    indicators = tuple(
        _indicator_spec(i, item) for i, item in enumerate(_list(data, "indicators", where), start=1)
    )
    return FeatureSet(
        name=name,
        version=str(version),
        indicators=indicators,
        context=_context(_table(data, "context", where), f"{where} context"),
        description=str(data.get("description", "")),
    )


def feature_set_from_toml(text: str) -> FeatureSet:
    """A feature set from TOML text (the layout of :func:`feature_set_from_dict`, with
    ``[[indicators]]`` tables and a ``[context]`` table)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeatureError(f"feature set TOML does not parse: {exc}") from exc
    return feature_set_from_dict(data)


# -- the built-in sets ----------------------------------------------------------------------

_DAILY_CONTEXT: dict[str, object] = {
    "index_ticker": "^GSPC",
    "beta_window": 60,
    "index_volatility_window": 20,
    "macro": [
        {"name": "vix", "series": "VIXCLS", "transform": "level"},
        {"name": "vix_change_5", "series": "VIXCLS", "transform": "change", "periods": 5},
        {"name": "cpi_core_yoy", "series": "CPILFESL", "transform": "pct_change", "periods": 12},
        {"name": "yield_aaa", "series": "AAA", "transform": "level"},
        {"name": "yield_baa", "series": "BAA", "transform": "level"},
        {"name": "yield_10y", "series": "DGS10", "transform": "level"},
        {"name": "unemployment_change", "series": "UNRATE", "transform": "change", "periods": 1},
    ],
    "spreads": [
        {"name": "credit_spread", "long": "BAA", "short": "AAA"},
        {"name": "term_spread_10y_3m", "long": "DGS10", "short": "DGS3MO"},
    ],
    "sentiment_scorer": "loughran_mcdonald",
    "sentiment_max_age_days": 3,
    "calendar": "XNYS",
}

# Indicators of daily_v1; a kind the catalogue lacks is left out rather than failing the set.
# EMAs stay short (<= 26 bars) so that, recomputed from the set's lookback (252 bars), their
# SMA seed has decayed below 1e-8 and incremental builds match a full rebuild (the lookback
# is 504 bars since version 3).
_DAILY_INDICATORS: tuple[Mapping[str, object], ...] = (
    # 120 to 504: the long-run drift the per-ticker mean-drift baseline exploits, as features.
    *({"kind": "log_return", "period": p} for p in (1, 5, 10, 20, 60, 120, 252, 504)),
    *({"kind": "sma_distance", "period": p} for p in (10, 20, 50, 200)),
    *({"kind": "ema_distance", "period": p} for p in (10, 20)),
    {"kind": "rsi", "period": 14},
    {"kind": "macd", "fast": 12, "slow": 26, "signal": 9},
    {"kind": "bollinger", "period": 20, "width": 2.0},
    {"kind": "atr", "period": 14},
    *({"kind": "volatility", "period": p} for p in (5, 20, 60)),
    {"kind": "parkinson", "period": 20},
    {"kind": "garman_klass", "period": 20},
    *({"kind": "momentum", "period": p} for p in (5, 10, 20, 60, 120)),
    {"kind": "momentum_skip", "period": 252, "skip": 21},
    {"kind": "volume_zscore", "period": 20},
    {"kind": "obv_slope", "period": 20},
    {"kind": "high_low_distance", "period": 252},
    *({"kind": "max_drawdown", "period": p} for p in (60, 252)),
)
# Market context that is a stock's own (the rest of the context is the same for every stock
# on a date) and is ranked too.
_RANKED_CONTEXT: tuple[str, ...] = ("beta_60",)
# Indicator outputs not ranked: their rank repeats another output's (a price distance and its
# percentage twin rank alike) or carries no cross-sectional meaning.
_UNRANKED: frozenset[str] = frozenset(
    {
        *(f"momentum_{p}" for p in (5, 10, 20, 60, 120)),  # price units; roc_<p> is ranked
        "atr_14",  # price units; atr_ratio_14 is ranked
        "macd_12_26_9",  # price units
        "macd_signal_12_26_9",
        "macd_hist_12_26_9",
    }
)


def _daily_v1() -> FeatureSet:
    indicators = [dict(i) for i in _DAILY_INDICATORS if i["kind"] in CATALOG]
    probe = feature_set_from_dict(
        {"name": "daily_v1", "version": "1", "indicators": indicators, "context": _DAILY_CONTEXT}
    )
    # Every stock-level output is also ranked per date across the universe: a cross-sectional
    # model reads only the ranks, so it cannot split on the market's level or on time.
    ranked = [o for o in probe.indicator_outputs if o not in _UNRANKED]
    ranked += [o for o in _RANKED_CONTEXT if o in probe.outputs]
    context = dict(_DAILY_CONTEXT, ranks=ranked)
    return feature_set_from_dict(
        {
            "name": "daily_v1",
            # 2: max drawdowns, the 10y yield, the term spread and unemployment change added.
            # 3: log returns over 120, 252 and 504 sessions; every stock-level output ranked.
            "version": "3",
            "description": "Daily bars: returns, trend, momentum, volatility, volume, market "
            "context, macro as of release, sentiment, calendar and cross-sectional ranks.",
            "indicators": indicators,
            "context": context,
        }
    )


def default_feature_sets() -> dict[str, FeatureSet]:
    """The built-in feature sets by name."""
    daily = _daily_v1()
    return {daily.name: daily}


def get_feature_set(name: str, sets: Mapping[str, FeatureSet] | None = None) -> FeatureSet:
    """The feature set ``name`` (``name`` or ``name@version``) among ``sets`` (default: the
    built-in ones)."""
    known = default_feature_sets() if sets is None else sets
    base, _, version = name.partition("@")
    found = known.get(base)
    if found is None or (version and version != found.version):
        listed = ", ".join(f"{s.key}" for s in known.values())
        raise FeatureError(f"unknown feature set {name!r}; known sets: {listed}")
    return found
