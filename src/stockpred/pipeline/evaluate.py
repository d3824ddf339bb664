"""``stockpred evaluate``: the stored features and bars → walk-forward predictions of every model
and baseline → scores, backtest and the leaderboard.

Features come from the store (``features build`` first); labels are built from the stored bars
with the exchange calendar. Index symbols (``^GSPC``) are context, not part of the universe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from stockpred.domain.errors import ModelError, NotFoundError
from stockpred.domain.instruments import STOCKS, Universe
from stockpred.features.sets import FeatureSet
from stockpred.models.backtest import BacktestResult, backtest
from stockpred.models.base import Model
from stockpred.models.baselines import BASELINES, make_baseline
from stockpred.models.catalog import DEFAULT_MODELS
from stockpred.models.evaluation import Candidate, EvaluationResult, evaluate_walk_forward
from stockpred.models.metrics import REFERENCE_MODEL, score, score_by_fold
from stockpred.models.targets import forward_returns, target_column
from stockpred.models.walkforward import Fold, WalkForward
from stockpred.store.base import Store

# The daily log return a GARCH interval is fitted on (a daily_v1 feature).
_DAILY_RETURN = "log_return_1"

__all__ = [
    "Evaluation",
    "EvaluationConfig",
    "build_candidates",
    "evaluate",
    "interval_coverage",
    "load_design",
    "predicts_returns",
    "run_walk_forward",
    "score_evaluation",
    "walk_forward_on",
]


@dataclass(frozen=True, slots=True)
class EvaluationConfig:
    """One evaluation, reproducible from these values and the stored data."""

    horizon: int = 5
    models: tuple[str, ...] = DEFAULT_MODELS
    tune: bool = True
    min_train: int = 504
    test_size: int = 63
    embargo: int = 5
    window: int | None = None
    holdout: int = 63
    coverage: float = 0.9
    cost_bps: float = 5.0
    top_k: int = 10
    # Portfolios re-formed every n traded dates and held in between (models/backtest.py).
    rebalance: int = 1
    seed: int = 0
    garch: bool = True
    # What models are fitted on: the forward return, its excess over the date's mean, or its
    # cross-sectional rank (models/evaluation.py, TARGETS).
    target: str = "return"
    tickers: tuple[str, ...] | None = None
    model_params: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    @property
    def walk_forward(self) -> WalkForward:
        return WalkForward(
            horizon=self.horizon,
            min_train=self.min_train,
            test_size=self.test_size,
            embargo=self.embargo,
            window=self.window,
        )


def load_design(
    store: Store,
    feature_set: FeatureSet,
    *,
    horizon: int,
    calendar: str,
    tickers: Sequence[str] | None = None,
    universe: Universe = STOCKS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The design frame (ticker, ts, the set's features) of the universe, and its labels
    (ticker, ts, actual, known_at, next_return) for ``horizon``. Instruments of kinds the
    ``universe`` does not model (indices, by default) are left out: they are context."""
    wanted = None if tickers is None else [t.strip().upper() for t in tickers]
    design = store.read_features(feature_set=feature_set.key, tickers=wanted)
    if design.empty:
        raise NotFoundError(
            f"no {feature_set.key} features stored"
            + (f" for {', '.join(wanted)}" if wanted else "")
            + "; run `stockpred features build` first"
        )
    design = design[universe.mask(design["ticker"])].reset_index(drop=True)
    if design.empty:
        raise NotFoundError(
            f"no instrument of the modelled kinds ({universe.describe()}) has features; ingest "
            "some, or model more kinds with the setting modelled_kinds"
        )
    bars = store.read_bars(tickers=sorted(set(design["ticker"])))
    targets = forward_returns(bars, horizons=[horizon], calendar=calendar)
    labels = targets.rename(
        columns={target_column(horizon): "actual", f"known_at_{horizon}": "known_at"}
    ).loc[:, ["ticker", "ts", "actual", "known_at", "next_return"]]
    return design, labels


def build_candidates(
    config: EvaluationConfig,
    *,
    catalog: Mapping[str, Callable[..., Model]],
    grids: Mapping[str, tuple[Mapping[str, object], ...]],
) -> list[Candidate]:
    """Every baseline, then the configured models from ``catalog`` with their tuning grids
    (fixed parameters from ``config.model_params`` override the grid's)."""
    candidates = [Candidate(name, _baseline_builder(name, config.horizon)) for name in BASELINES]
    unknown = [m for m in config.models if m not in catalog and m not in BASELINES]
    if unknown:
        raise ModelError(
            f"unknown model(s) {', '.join(unknown)}; models: {', '.join(sorted(catalog))}"
        )
    for name in config.models:
        if name in BASELINES:
            continue  # always a candidate, added above
        fixed = dict(config.model_params.get(name, {}))
        grid = grids.get(name, ({},)) if config.tune else ({},)
        factory = catalog[name]
        sequence = int(getattr(factory, "sequence_length", 0))
        if "horizon" in getattr(factory, "parameters", ()):
            # A model that purges its own validation tail must know the horizon.
            fixed.setdefault("horizon", config.horizon)
        if "holdout" in getattr(factory, "parameters", ()):
            fixed.setdefault("holdout", config.holdout)

        def build(
            params: Mapping[str, object],
            factory: Callable[..., Model] = factory,
            fixed: dict[str, object] = fixed,
        ) -> Model:
            return factory(**{**params, **fixed, "seed": config.seed})

        candidates.append(
            Candidate(name, build, grid=tuple(grid) or ({},), sequence_length=sequence)
        )
    return candidates


def _baseline_builder(name: str, horizon: int) -> Callable[[Mapping[str, object]], Model]:
    def build(_params: Mapping[str, object]) -> Model:
        return make_baseline(name, horizon=horizon)

    return build


def run_walk_forward(
    store: Store,
    feature_set: FeatureSet,
    config: EvaluationConfig,
    *,
    calendar: str,
    catalog: Mapping[str, Callable[..., Model]],
    grids: Mapping[str, tuple[Mapping[str, object], ...]],
    on_step: Callable[[Fold, str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    universe: Universe = STOCKS,
) -> EvaluationResult:
    """Walk-forward predictions of every baseline and configured model."""
    design, labels = load_design(
        store,
        feature_set,
        horizon=config.horizon,
        calendar=calendar,
        tickers=config.tickers,
        universe=universe,
    )
    return walk_forward_on(
        design, labels, config, catalog=catalog, grids=grids, on_step=on_step, on_start=on_start
    )


def walk_forward_on(
    design: pd.DataFrame,
    labels: pd.DataFrame,
    config: EvaluationConfig,
    *,
    catalog: Mapping[str, Callable[..., Model]],
    grids: Mapping[str, tuple[Mapping[str, object], ...]],
    on_step: Callable[[Fold, str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Walk-forward predictions of every baseline and configured model on a loaded design
    frame and its labels (:func:`load_design`)."""
    candidates = build_candidates(config, catalog=catalog, grids=grids)
    returns = _DAILY_RETURN if config.garch and _DAILY_RETURN in design.columns else None
    return evaluate_walk_forward(
        design,
        labels,
        candidates,
        spec=config.walk_forward,
        coverage=config.coverage,
        holdout=config.holdout,
        on_step=on_step,
        on_start=on_start,
        garch_returns=returns,
        target=config.target,
    )


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A finished evaluation: the walk-forward result, the scores (one row per model), the
    per-fold scores, the backtest, and the empirical coverage of each interval method."""

    config: EvaluationConfig
    result: EvaluationResult
    scores: pd.DataFrame
    fold_scores: pd.DataFrame
    backtest: BacktestResult
    intervals: pd.DataFrame


def interval_coverage(
    predictions: pd.DataFrame, *, coverage: float, return_units: bool = True
) -> pd.DataFrame:
    """Per model and interval method (``conformal``; ``garch`` when present): the share of
    actuals inside the interval, its mean width and the rows with an interval.

    ``return_units`` = False (models fitted on the cross-sectional rank): an interval around a
    percentile is not an interval of the return, so coverage and width are NaN for every model
    but the random walk (whose forecast, zero, is a return whatever it was fitted on)."""
    rows = []
    nan = float("nan")
    methods = {"conformal": ("lower", "upper"), "garch": ("lower_garch", "upper_garch")}
    for method, (low, high) in methods.items():
        if low not in predictions.columns:
            continue
        present = predictions[predictions[low].notna() & predictions[high].notna()]
        inside = (present[low] <= present["actual"]) & (present["actual"] <= present[high])
        for model, group in present.groupby("model"):
            meaningful = return_units or model == REFERENCE_MODEL
            rows.append(
                {
                    "model": model,
                    "method": method,
                    "nominal": coverage,
                    "coverage": float(inside.loc[group.index].mean()) if meaningful else nan,
                    "mean_width": float((group[high] - group[low]).mean()) if meaningful else nan,
                    "rows": len(group),
                }
            )
    return pd.DataFrame(
        rows, columns=["model", "method", "nominal", "coverage", "mean_width", "rows"]
    )


def predicts_returns(config: EvaluationConfig) -> bool:
    """Whether the models' predictions are returns: yes for the return target and its excess
    over the date's mean; no for the cross-sectional rank (a percentile minus 0.5)."""
    return config.target != "rank"


def score_evaluation(config: EvaluationConfig, result: EvaluationResult) -> Evaluation:
    """Scores, per-fold scores and the backtest of a walk-forward result. Models fitted on the
    rank target predict percentiles: their figures in return units are NaN."""
    units = predicts_returns(config)
    try:
        scores = score(result.predictions, seed=config.seed, return_units=units)
        fold_scores = score_by_fold(result.predictions, return_units=units)
        portfolios = backtest(
            result.predictions,
            k=config.top_k,
            cost_bps=config.cost_bps,
            rebalance=config.rebalance,
        )
    except ValueError as exc:
        raise ModelError(f"scoring the walk-forward predictions failed: {exc}") from exc
    intervals = interval_coverage(result.predictions, coverage=config.coverage, return_units=units)
    return Evaluation(config, result, scores, fold_scores, portfolios, intervals)


def evaluate(
    store: Store,
    feature_set: FeatureSet,
    config: EvaluationConfig,
    *,
    calendar: str,
    catalog: Mapping[str, Callable[..., Model]],
    grids: Mapping[str, tuple[Mapping[str, object], ...]],
    on_step: Callable[[Fold, str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    universe: Universe = STOCKS,
) -> Evaluation:
    """Walk-forward predictions of every baseline and model, scored and backtested."""
    result = run_walk_forward(
        store,
        feature_set,
        config,
        calendar=calendar,
        catalog=catalog,
        grids=grids,
        on_step=on_step,
        on_start=on_start,
        universe=universe,
    )
    return score_evaluation(config, result)
