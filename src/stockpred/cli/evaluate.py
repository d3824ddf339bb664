"""``stockpred evaluate``: walk-forward evaluation of the models and the baselines, side by side."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockpred.cli.features import resolve_feature_set
from stockpred.cli.render import FittedTable, fraction, frame_table, records
from stockpred.cli.runtime import runtime_of
from stockpred.domain.errors import InvalidInputError
from stockpred.features.defaults import DEFAULT_FEATURE_SET
from stockpred.models.kinds import DEFAULT_MODELS, MODEL_KINDS

# pandas, the store and the models load in the functions that use them, so that `--help` does
# not pay for them.
if TYPE_CHECKING:
    import pandas as pd

    from stockpred.pipeline.evaluate import Evaluation

__all__ = [
    "evaluate_command",
    "export_predictions",
    "leaderboard_frame",
    "leaderboard_notes",
    "leaderboard_table",
]

_EXPORT_COLUMNS = (
    "ticker", "ts", "horizon", "prediction", "lower", "upper", "actual", "model", "fold",
    "next_return",
)  # fmt: skip


def export_predictions(evaluation: Evaluation, path: Path) -> Path:
    """Every out-of-sample prediction as Parquet (``.parquet``) or CSV (anything else), so the
    metrics can be recomputed independently."""
    predictions = evaluation.result.predictions
    extra = [c for c in ("lower_garch", "upper_garch") if c in predictions.columns]
    frame = predictions.loc[:, [*_EXPORT_COLUMNS, *extra]]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _ic_interval(record: Mapping[str, object]) -> str:
    """``.023 [.008,.038]``: the mean rank IC and its 95% interval, in 18 characters at most."""
    value = fraction(record.get("rank_ic_mean"))
    low, high = fraction(record.get("rank_ic_low")), fraction(record.get("rank_ic_high"))
    if value == "-" or "-" in (low, high):
        return value
    return f"{value} [{low},{high}]"


def _number(value: object, digits: int = 3) -> str:
    if not isinstance(value, (int, float)) or math.isnan(float(value)):
        return "-"
    return f"{value:.{digits}f}"


def _r2(value: object) -> str:
    """Out-of-sample R² to 2 decimals; a model far worse than the random walk as "<-9.99"."""
    if isinstance(value, (int, float)) and float(value) < -9.99:
        return "<-9.99"
    return _number(value, 2)


def leaderboard_frame(evaluation: Evaluation, *, wide: bool = False) -> pd.DataFrame:
    """The terminal leaderboard: a row per model, the figures a desk reads first ("-" where a
    figure is missing or has no meaning); ``wide`` adds the Diebold-Mariano p-value and the
    interval coverage (also in the coverage table and the leaderboard files)."""
    import pandas as pd

    from stockpred.pipeline.report import leaderboard_records

    rows = []
    for record in leaderboard_records(evaluation.scores, backtest=evaluation.backtest):
        row = {
            "model": record["model"],
            "rank IC [95%]": _ic_interval(record),
            "t": _number(record.get("rank_ic_t"), 1),
            "dir acc": fraction(record.get("da")),
            "R² oos": _r2(record.get("r2_oos")),
        }
        if wide:
            row["DM p"] = _number(record.get("dm_p_value"), 2)
            row["cover"] = _number(record.get("coverage"), 2)
        row["L/S SR"] = _number(record.get("long_short_sharpe_net"), 2)
        row["long SR"] = _number(record.get("long_only_sharpe_net"), 2)
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard_table(evaluation: Evaluation, *, title: str, wide: bool = False) -> FittedTable:
    """:func:`leaderboard_frame` as a table: figures right-aligned and never wrapped, model
    names whole; the default view fits 80 columns."""
    frame = leaderboard_frame(evaluation, wide=wide)
    return frame_table(frame, title=title, numeric=[c for c in frame.columns if c != "model"])


def leaderboard_notes(evaluation: Evaluation) -> list[str]:
    """What the reader of the leaderboard must know: a parameter that was reduced, and why a
    figure is "-" (null in JSON) where it has no meaning."""
    from stockpred.models.backtest import PORTFOLIO_KINDS, picks_nothing
    from stockpred.pipeline.evaluate import predicts_returns

    config = evaluation.config
    notes = []
    used = evaluation.backtest.k
    if used < config.top_k:
        notes.append(
            f"--top-k {config.top_k} was reduced to {used} per leg: a leg holds at most half of "
            "the median number of tickers per date."
        )
    if not predicts_returns(config):
        notes.append(
            f"models were fitted on the {config.target} target, so they predict percentiles, "
            "not returns: their figures in return units (R², RMSE, direction, Diebold-Mariano, "
            'interval coverage) are shown as "-"; read the ranking figures (rank IC, IC, '
            "portfolios)."
        )
    elif config.target != "return":
        notes.append(
            f"models were fitted on the {config.target} target, so their predictions are not "
            "in return units: read the ranking figures (rank IC, IC, portfolios), not RMSE, R² "
            "or the Diebold-Mariano test."
        )
    summary = evaluation.backtest.summary
    legs = summary[summary["kind"] == PORTFOLIO_KINDS[0]]
    for model, tied, days in zip(legs["model"], legs["tied_dates"], legs["days"], strict=True):
        if days and picks_nothing(tied_dates=int(tied), days=int(days)):
            notes.append(
                f"{model}: its forecasts are equal across tickers on {int(tied):,} of "
                f"{int(days):,} dates, so its portfolios pick nothing: their figures are "
                'shown as "-".'
            )
    return notes


def evaluate_command(
    ctx: typer.Context,
    set_name: str = typer.Option(DEFAULT_FEATURE_SET, "--set", help="Feature set (built first)."),
    horizon: int = typer.Option(5, "--horizon", min=1, help="Sessions ahead to forecast."),
    models: str = typer.Option(
        ",".join(DEFAULT_MODELS),
        "--models",
        help=f"Comma-separated models ({', '.join(sorted(MODEL_KINDS))}); the baselines "
        "always run.",
    ),
    tune: bool = typer.Option(
        True, "--tune/--no-tune", help="Tune each model's parameters inside every training window."
    ),
    min_train: int = typer.Option(504, "--min-train", min=20, help="Dates in the first fold."),
    test_size: int = typer.Option(
        63, "--test-size", min=1, help="Dates per test block: the model is refitted this often."
    ),
    embargo: int = typer.Option(5, "--embargo", min=0, help="Dates skipped after the purge."),
    window: int | None = typer.Option(
        None, "--window", min=20, help="Rolling training window in dates (default: expanding)."
    ),
    holdout: int = typer.Option(
        63,
        "--holdout",
        min=5,
        help="Dates at the end of each training window for tuning and interval calibration.",
    ),
    coverage: float = typer.Option(0.9, "--coverage", min=0.5, max=0.99, help="Interval level."),
    cost_bps: float = typer.Option(5.0, "--cost-bps", min=0.0, help="Costs per unit turnover."),
    top_k: int = typer.Option(10, "--top-k", min=1, help="Stocks per leg of the portfolios."),
    rebalance: int = typer.Option(
        1,
        "--rebalance",
        min=1,
        help="Re-form the portfolios every N dates and hold in between (cuts turnover).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every model and of the bootstrap."),
    target: str = typer.Option(
        "return",
        "--target",
        help="What models are fitted on: return, excess (minus the date's mean) or rank (the "
        "date's percentile); always scored against the return.",
    ),
    tickers: str | None = typer.Option(
        None, "--tickers", help="Universe, e.g. AAPL,MSFT (default: every stock with features)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for leaderboard.json/.html (default: HOME/reports/...)."
    ),
    export: Path | None = typer.Option(
        None, "--export", help="Write every out-of-sample prediction to this .parquet or .csv."
    ),
    wide: bool = typer.Option(
        False,
        "--wide",
        help="Also the Diebold-Mariano p-value and the interval coverage in the leaderboard "
        "(the default view fits 80 columns).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the leaderboard as JSON."),
) -> None:
    """Walk-forward evaluation, purged and embargoed, of the models next to the random walk and
    the other baselines: accuracy, IC, Diebold-Mariano, interval coverage and a backtest after
    costs, each with its uncertainty."""
    from stockpred.compose import open_store, universe
    from stockpred.models.catalog import MODELS, PARAM_GRIDS
    from stockpred.pipeline.evaluate import EvaluationConfig, evaluate
    from stockpred.pipeline.report import leaderboard_records, write_leaderboard

    runtime = runtime_of(ctx)
    feature_set = resolve_feature_set(set_name)
    chosen = tuple(m.strip() for m in models.split(",") if m.strip())
    if not chosen:
        raise InvalidInputError("--models is empty; name at least one, e.g. --models ridge")
    config = EvaluationConfig(
        horizon=horizon,
        models=chosen,
        tune=tune,
        min_train=min_train,
        test_size=test_size,
        embargo=embargo,
        window=window,
        holdout=holdout,
        coverage=coverage,
        cost_bps=cost_bps,
        top_k=top_k,
        rebalance=rebalance,
        seed=seed,
        target=target,
        tickers=tuple(t for t in (tickers or "").replace(",", " ").split() if t) or None,
    )
    started = time.perf_counter()
    with open_store(runtime.settings) as store, runtime.steps("walk-forward") as steps:
        evaluation = evaluate(
            store,
            feature_set,
            config,
            calendar=runtime.settings.calendar,
            catalog=MODELS,
            grids=PARAM_GRIDS,
            on_start=steps.start,
            on_step=lambda fold, name: steps.advance(f"fold {fold.number} {name}"),
            universe=universe(runtime.settings),
        )
    seconds = time.perf_counter() - started
    stamp = runtime.clock().strftime("%Y%m%dT%H%M%SZ")
    folder = out or runtime.settings.home / "reports" / f"evaluate-h{horizon}-{stamp}"
    files = write_leaderboard(
        folder,
        scores=evaluation.scores,
        folds=evaluation.fold_scores,
        backtest=evaluation.backtest,
        title=f"stockpred walk-forward, {feature_set.key}, horizon {horizon}",
    )
    # Coverage of each interval method (conformal, GARCH) beside the leaderboard files.
    (folder / "intervals.json").write_text(
        json.dumps(records(evaluation.intervals), indent=2), encoding="utf-8"
    )
    exported = export_predictions(evaluation, export) if export is not None else None
    notes = leaderboard_notes(evaluation)
    if as_json:
        runtime.print_json(
            {
                "horizon": horizon,
                "target": target,
                "feature_set": feature_set.key,
                "folds": len(evaluation.result.folds),
                "seconds": round(seconds, 1),
                "leaderboard": leaderboard_records(evaluation.scores, backtest=evaluation.backtest),
                "intervals": records(evaluation.intervals),
                "files": {"json": str(files.json), "html": str(files.html)},
                "export": None if exported is None else str(exported),
                "notes": notes,
            }
        )
        return
    predictions = evaluation.result.predictions
    title = (
        f"walk-forward {feature_set.key}, h={horizon}: {len(evaluation.result.folds)} folds, "
        f"{predictions['ts'].nunique():,} test dates, {predictions['ticker'].nunique()} tickers "
        f"({seconds:.0f}s)"
    )
    runtime.out.print(leaderboard_table(evaluation, title=title, wide=wide))
    extra = (
        f"DM p (Diebold-Mariano, against the random walk); cover: share inside the "
        f"{coverage:.0%} interval; "
        if wide
        else ""
    )
    runtime.out.print(
        "rank IC: mean daily Spearman correlation of prediction and outcome [95% interval] "
        "(t: Newey-West); dir acc: share of signs right; R² oos: against the random walk; "
        f"{extra}SR: annualised Sharpe after {cost_bps:g} bps costs of long top-k / short "
        "bottom-k (L/S) and long top-k. Every figure, with its interval, is in the leaderboard "
        "files" + ("." if wide else "; --wide adds DM p and coverage."),
        markup=False,
        highlight=False,
    )
    for note in notes:
        runtime.out.print(f"note: {note}", markup=False, highlight=False)
    if not evaluation.intervals.empty:
        coverage_table = evaluation.intervals.pivot(
            index="model", columns="method", values="coverage"
        ).reset_index()
        methods = [c for c in coverage_table.columns if c != "model"]
        runtime.out.print(
            frame_table(
                coverage_table,
                title=f"interval coverage (nominal {coverage:.0%})",
                # NaN: no interval of the return to cover (a model fitted on ranks).
                formats=dict.fromkeys(methods, lambda v: _number(v, 4)),
            )
        )
    runtime.out.print(f"leaderboard: {files.html}", markup=False, highlight=False)
    if exported is not None:
        runtime.out.print(f"predictions: {exported}", markup=False, highlight=False)
