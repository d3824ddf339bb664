"""``stockpred train``, ``stockpred models ...`` and ``stockpred predict``: the registry of
trained models, its champion, and the champion's forecasts."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockpred import __version__
from stockpred.cli.evaluate import leaderboard_notes, leaderboard_table
from stockpred.cli.features import resolve_feature_set
from stockpred.cli.job_report import reports_job
from stockpred.cli.render import frame_table
from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.domain.errors import InvalidInputError
from stockpred.features.defaults import DEFAULT_FEATURE_SET
from stockpred.models.kinds import DEFAULT_MODELS, MODEL_KINDS
from stockpred.registry.base import ModelVersion, model_name

# The store, the registry, pandas and the models load in the commands that use them, so that
# `--help` does not pay for them.
if TYPE_CHECKING:
    from collections.abc import Callable

    from stockpred.pipeline.retrain import RetrainResult

__all__ = [
    "models_app",
    "predict_command",
    "retrain_command",
    "retrain_summary",
    "train_command",
]

MIN_RECENT = 20

models_app = typer.Typer(
    help="Trained models in the registry: list, show, promote, roll back.",
    no_args_is_help=True,
    epilog="Example: stockpred models list; stockpred models promote 3 --reason 'better IC'",
)


def _git_commit() -> str | None:
    """The commit of the code when it runs from a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


@reports_job("train")
def train_command(
    ctx: typer.Context,
    set_name: str = typer.Option(DEFAULT_FEATURE_SET, "--set", help="Feature set (built first)."),
    horizon: int = typer.Option(5, "--horizon", min=1, help="Sessions ahead to forecast."),
    models: str = typer.Option(
        ",".join(DEFAULT_MODELS),
        "--models",
        help=f"Comma-separated: {', '.join(sorted(MODEL_KINDS))}; the baselines always compete.",
    ),
    tune: bool = typer.Option(True, "--tune/--no-tune", help="Nested tuning in every window."),
    min_train: int = typer.Option(504, "--min-train", min=20, help="Dates in the first fold."),
    test_size: int = typer.Option(63, "--test-size", min=1, help="Dates per test block."),
    seed: int = typer.Option(0, "--seed", help="Seed of every model."),
    force: str | None = typer.Option(
        None,
        "--force",
        help="Promote this candidate (a model or a baseline) even if another measured better; "
        "the reason records what beat it.",
    ),
    reuse: bool = typer.Option(
        True,
        "--reuse/--no-reuse",
        help="Reuse the stored evaluation when data, feature set and settings are unchanged.",
    ),
    wide: bool = typer.Option(
        False,
        "--wide",
        help="Also the Diebold-Mariano p-value and the interval coverage in the leaderboard.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Evaluate the models walk-forward beside the baselines, fit on all labelled data and
    register them; the first run makes the best candidate (out-of-sample mean rank IC, a
    baseline if no model beats it) the champion.

    Examples: `stockpred train`; `stockpred train --horizon 1 --models ensemble,lightgbm`;
    `stockpred train --force ensemble` (serve it even if a baseline measured better)."""
    from stockpred.compose import open_registry, open_store, universe
    from stockpred.models.catalog import MODELS, PARAM_GRIDS
    from stockpred.pipeline.evaluate import EvaluationConfig
    from stockpred.pipeline.train import train_models

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
        seed=seed,
    )
    registry = open_registry(runtime.settings, announcer=runtime.announcer())

    def reused(key: str) -> None:
        runtime.err.print(
            f"reusing the stored evaluation {key} (same data, feature set and settings; "
            "--no-reuse evaluates again)",
            markup=False,
            highlight=False,
        )

    evaluations = runtime.settings.home / "cache" / "evaluations" if reuse else None
    with open_store(runtime.settings) as store, runtime.steps("walk-forward") as steps:
        result = train_models(
            store,
            registry,
            feature_set,
            config,
            calendar=runtime.settings.calendar,
            now=runtime.clock(),
            code_version=__version__,
            git_commit=_git_commit(),
            catalog=MODELS,
            grids=PARAM_GRIDS,
            on_start=steps.start,
            on_step=lambda fold, name: steps.advance(f"fold {fold.number} {name}"),
            evaluations=evaluations,
            force=force,
            on_reuse=reused,
            universe=universe(runtime.settings),
        )
    payload = {
        "registered_model": result.name,
        "versions": {kind: v.version for kind, v in result.versions.items()},
        "champion": None if result.champion is None else result.champion.version,
        "promoted": result.promoted,
        "reason": result.reason,
    }
    if as_json:
        runtime.print_json(payload)
        return
    runtime.out.print(leaderboard_table(result.evaluation, title="walk-forward", wide=wide))
    for note in leaderboard_notes(result.evaluation):
        runtime.out.print(f"note: {note}", markup=False, highlight=False)
    for kind, version in result.versions.items():
        runtime.out.print(
            f"registered {result.name} version {version.version} ({kind})",
            markup=False,
            highlight=False,
        )
    runtime.out.print(
        f"champion: {payload['champion']} - {result.reason}", markup=False, highlight=False
    )


def _version_row(version: ModelVersion) -> dict[str, object]:
    metrics = version.metrics
    return {
        "version": version.version,
        "kind": version.metadata.get("model_kind", ""),
        "champion": "yes" if version.is_champion else "",
        "data": f"{version.metadata.get('data_start', '')[:10]} .. "
        f"{version.metadata.get('data_end', '')[:10]}",
        "tickers": version.metadata.get("universe_size", ""),
        "rank IC": metrics.get("rank_ic_mean", math.nan),
        "created": version.created_at.strftime("%Y-%m-%d %H:%M"),
    }


@models_app.command("list", epilog="Example: stockpred models list --horizon 5")
def list_models(
    ctx: typer.Context,
    horizon: int = typer.Option(5, "--horizon", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Every registered version of the horizon's model, oldest first."""
    import pandas as pd

    from stockpred.compose import open_registry

    runtime = runtime_of(ctx)
    versions = open_registry(runtime.settings).versions(model_name(horizon))
    rows = [_version_row(v) for v in versions]
    if as_json:
        runtime.print_json(rows)
        return
    runtime.out.print(frame_table(pd.DataFrame(rows), title=model_name(horizon)))


@models_app.command("show", epilog="Example: stockpred models show 2")
def show_model(
    ctx: typer.Context,
    version: int = typer.Argument(..., help="Version number (see `models list`)."),
    horizon: int = typer.Option(5, "--horizon", min=1),
) -> None:
    """One version: its metadata (data range, universe, features, parameters, code) and
    out-of-sample metrics, as JSON."""
    from stockpred.compose import open_registry

    runtime = runtime_of(ctx)
    found = open_registry(runtime.settings).get(model_name(horizon), version)
    runtime.print_json(
        {
            "name": found.name,
            "version": found.version,
            "aliases": list(found.aliases),
            "created_at": found.created_at.isoformat(),
            "metadata": {k: v for k, v in found.metadata.items() if k != "metrics"},
            "metrics": found.metrics,
        }
    )


@models_app.command(
    "promote", epilog="Example: stockpred models promote 3 --reason 'wins the last quarter'"
)
def promote_model(
    ctx: typer.Context,
    version: int = typer.Argument(..., help="Version to make the champion."),
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the history)."),
    horizon: int = typer.Option(5, "--horizon", min=1),
) -> None:
    """Make a version the champion, the one `predict` and the API serve."""
    from stockpred.compose import open_registry

    runtime = runtime_of(ctx)
    registry = open_registry(runtime.settings, announcer=runtime.announcer())
    registry.promote(model_name(horizon), version, reason=reason)
    runtime.out.print(f"{model_name(horizon)} champion: version {version}", markup=False)


@models_app.command("rollback", epilog="Example: stockpred models rollback --reason 'drift'")
def rollback_model(
    ctx: typer.Context,
    reason: str = typer.Option(..., "--reason", help="Why (recorded in the history)."),
    horizon: int = typer.Option(5, "--horizon", min=1),
) -> None:
    """Give the champion alias back to the previous champion."""
    from stockpred.compose import open_registry

    runtime = runtime_of(ctx)
    registry = open_registry(runtime.settings, announcer=runtime.announcer())
    back = registry.rollback(model_name(horizon), reason=reason)
    runtime.out.print(f"{model_name(horizon)} champion: version {back.version}", markup=False)


@models_app.command("history", epilog="Example: stockpred models history")
def champion_history(
    ctx: typer.Context,
    horizon: int = typer.Option(5, "--horizon", min=1),
) -> None:
    """Every promotion and rollback with its time and reason, as JSON."""
    from stockpred.compose import open_registry

    runtime = runtime_of(ctx)
    changes = open_registry(runtime.settings).history(model_name(horizon))
    runtime.print_json([change.as_dict() for change in changes])


def predict_command(
    ctx: typer.Context,
    ticker: str = typer.Argument(..., help="Ticker, e.g. AAPL."),
    horizon: int = typer.Option(5, "--horizon", min=1, help="Sessions ahead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The champion's forecast from the ticker's latest features: return and price with the
    interval, direction probability, model version, feature time and top contributions."""
    import pandas as pd

    from stockpred.compose import open_registry, open_store, universe
    from stockpred.models.catalog import model_family
    from stockpred.pipeline.predict import predict_ticker
    from stockpred.pipeline.serving import freshness_of

    runtime = runtime_of(ctx)
    registry = open_registry(runtime.settings)
    with open_store(runtime.settings) as store:
        forecast = predict_ticker(
            store,
            registry,
            ticker=ticker,
            horizon=horizon,
            cache=runtime.settings.home / "models",
            now=runtime.clock(),
            universe=universe(runtime.settings),
        )
    fresh = freshness_of(
        pd.Timestamp(forecast.as_of), calendar=runtime.settings.calendar, now=runtime.clock()
    )
    freshness = {
        "feature_ts": fresh.feature_ts.isoformat(),
        "latest_close": None if fresh.expected_ts is None else fresh.expected_ts.isoformat(),
        "sessions_behind": fresh.sessions_behind,
        "stale": fresh.stale,
    }
    payload = {
        "ticker": forecast.ticker,
        "horizon": forecast.horizon,
        "as_of": forecast.as_of.isoformat(),
        "log_return": forecast.value,
        "lower": forecast.lower,
        "upper": forecast.upper,
        "coverage": forecast.coverage,
        "last_close": forecast.last_close,
        "price": forecast.price,
        "price_lower": forecast.last_close * math.exp(forecast.lower),
        "price_upper": forecast.last_close * math.exp(forecast.upper),
        "direction_prob": forecast.direction_prob,
        "model": forecast.model,
        "model_family": model_family(forecast.model),
        "model_version": forecast.model_version,
        "registered_model": forecast.registered_name,
        "contributions": dict(forecast.contributions),
        "freshness": freshness,
    }
    if as_json:
        runtime.out.file.write(json.dumps(payload, indent=2) + "\n")
        return
    text = (
        f"{forecast.ticker} in {horizon} sessions (features of {forecast.as_of:%Y-%m-%d %H:%M} "
        f"UTC): {forecast.value:+.2%} log return, price {forecast.price:,.2f} "
        f"[{payload['price_lower']:,.2f}, {payload['price_upper']:,.2f}] at "
        f"{forecast.coverage:.0%}; P(up) {forecast.direction_prob:.0%} (normal approximation); "
        f"{forecast.model} ({payload['model_family']}) {forecast.registered_name} "
        f"v{forecast.model_version}"
    )
    runtime.out.print(text, markup=False, highlight=False)
    if fresh.stale:
        latest = "" if fresh.expected_ts is None else f" ({fresh.expected_ts:%Y-%m-%d})"
        runtime.out.print(
            f"STALE: the features are {fresh.sessions_behind} session(s) behind the latest "
            f"close{latest}; bring the data up to date (stockpred ingest prices --tickers "
            f"{forecast.ticker}, then stockpred features build) for a current forecast",
            markup=False,
            highlight=False,
        )
    if forecast.contributions:
        runtime.out.print(
            "top contributions: "
            + ", ".join(f"{name} {value:+.4f}" for name, value in forecast.contributions),
            markup=False,
            highlight=False,
        )


def _retrain(
    runtime: Runtime, *, horizon: int, recent: int, margin: float, tune: bool
) -> RetrainResult:
    from stockpred.compose import retrain_with

    return retrain_with(
        runtime.settings,
        git_commit=_git_commit(),
        horizon=horizon,
        recent=recent,
        margin=margin,
        tune=tune,
        now=runtime.clock(),
    )


def retrain_summary(
    runtime: Runtime,
    *,
    horizon: int = 5,
    on_result: Callable[[RetrainResult], None] | None = None,
) -> str:
    """The scheduler's weekly retrain, as one line; ``on_result`` sees what it decided."""
    result = _retrain(runtime, horizon=horizon, recent=63, margin=0.0, tune=True)
    if on_result is not None:
        on_result(result)
    return result.reason


@reports_job("retrain")
def retrain_command(
    ctx: typer.Context,
    horizon: int = typer.Option(5, "--horizon", min=1, help="Whose champion to challenge."),
    recent: int = typer.Option(
        63, "--recent", min=MIN_RECENT, help="Most recent labelled dates to decide on."
    ),
    margin: float = typer.Option(
        0.0, "--margin", help="Rank IC the challenger must gain over the champion to win."
    ),
    tune: bool = typer.Option(True, "--tune/--no-tune", help="Re-tune the challenger."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Bring features up to date, train a challenger of the champion's kind on the data before
    the most recent window, compare both on that window (unseen by either), and promote the
    challenger only if it wins; the reason is recorded either way."""
    from stockpred.pipeline.retrain import retrain_payload

    runtime = runtime_of(ctx)
    result = _retrain(runtime, horizon=horizon, recent=recent, margin=margin, tune=tune)
    payload = retrain_payload(result)
    if as_json:
        runtime.out.file.write(json.dumps(payload, indent=2) + "\n")
        return
    runtime.out.print(result.reason, markup=False, highlight=False)
