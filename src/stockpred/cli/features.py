"""``stockpred features``: build feature sets into the store and describe them."""

from __future__ import annotations

import time
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockpred.cli.job_report import reports_job
from stockpred.cli.render import frame_table
from stockpred.cli.runtime import runtime_of
from stockpred.domain.errors import InvalidInputError
from stockpred.features.defaults import DEFAULT_FEATURE_SET

# pandas, the indicators and the store load in the functions that use them, so that `--help`
# does not pay for them.
if TYPE_CHECKING:
    from stockpred.features.sets import FeatureSet
    from stockpred.pipeline.features import PanelEngine
    from stockpred.store.base import Store

__all__ = ["features_app"]


class Engine(StrEnum):
    """Where a build computes the panel."""

    local = "local"
    spark = "spark"


features_app = typer.Typer(
    help="Build feature sets into the store and describe them.",
    no_args_is_help=True,
    epilog="Example: stockpred features build; stockpred features show daily_v1",
)


def resolve_feature_set(name: str) -> FeatureSet:
    """A built-in set by name (``name`` or ``name@version``), or a set declared in a TOML file."""
    from stockpred.features.sets import feature_set_from_toml, get_feature_set

    if name.endswith(".toml"):
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read feature set file {name}: {exc}") from exc
        return feature_set_from_toml(text)
    return get_feature_set(name)


def _describe(fs: FeatureSet) -> dict[str, Any]:
    ctx = fs.context
    return {
        "name": fs.name,
        "version": fs.version,
        "key": fs.key,
        "description": fs.description,
        "lookback": fs.lookback,
        "indicators": [
            {
                "kind": spec.kind,
                "params": dict(spec.params),
                "outputs": list(ind.outputs),
                "lookback": ind.lookback,
            }
            for spec, ind in zip(fs.indicators, fs.built, strict=True)
        ],
        "context": {
            "index_ticker": ctx.index_ticker,
            "market": list(ctx.market_outputs),
            "macro": [
                {"name": m.name, "series": m.series, "transform": m.transform, "periods": m.periods}
                for m in ctx.macro
            ],
            "spreads": [{"name": s.name, "long": s.long, "short": s.short} for s in ctx.spreads],
            "sentiment_scorer": ctx.sentiment_scorer,
            "sentiment": list(ctx.sentiment_outputs),
            "calendar": ctx.calendar,
            "calendar_features": list(ctx.calendar_outputs),
            "ranks": [f"rank_{r}" for r in ctx.ranks],
        },
        "outputs": list(fs.outputs),
    }


@features_app.command(
    "build",
    epilog="Examples: stockpred features build  |  "
    "stockpred features build --set daily_v1 --tickers AAPL MSFT --json",
)
@reports_job("features_build")
def build(
    ctx: typer.Context,
    set_name: str = typer.Option(
        DEFAULT_FEATURE_SET,
        "--set",
        help="Feature set: a built-in name (see `features list`) or a .toml file.",
    ),
    tickers: str | None = typer.Option(
        None,
        "--tickers",
        help="Tickers, e.g. AAPL MSFT or AAPL,MSFT (default: every stored one). Cross-sectional "
        "ranks are always taken across every stored ticker.",
    ),
    symbols: list[str] | None = typer.Argument(
        None, help="Tickers (also accepted after --tickers).", show_default=False
    ),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        help="local: in this process; spark: PySpark grouped by ticker (the spark extra and a "
        "Java runtime; master from STOCKPRED_SPARK_MASTER).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Compute a feature set for the stored bars and write it to the store; later runs compute
    only new dates (from the last stored one minus the set's lookback)."""
    import pandas as pd

    from stockpred.compose import open_store, universe
    from stockpred.features.panel import build_panel
    from stockpred.pipeline.features import build_features
    from stockpred.pipeline.spark import SparkEngine, spark_session

    runtime = runtime_of(ctx)
    feature_set = resolve_feature_set(set_name)
    found = [s for s in (tickers or "").replace(",", " ").split() if s] + list(symbols or [])
    names = list(dict.fromkeys(s.strip().upper() for s in found))
    started = time.perf_counter()
    with ExitStack() as stack:
        panel_engine: PanelEngine = build_panel
        if engine is Engine.spark:
            session = stack.enter_context(
                spark_session(
                    runtime.settings.spark_master,
                    driver_memory=runtime.settings.spark_driver_memory,
                )
            )
            panel_engine = SparkEngine(session).build_panel
        store: Store = open_store(runtime.settings)
        stack.callback(store.close)
        progress = stack.enter_context(runtime.progress())
        total = len(names) if names else len(store.bar_coverage())
        task = progress.add_task(f"features {feature_set.key}", total=total or None)
        announcer = runtime.announcer()
        result = build_features(
            store,
            feature_set,
            tickers=names or None,
            now=runtime.clock(),
            on_ticker=lambda _: progress.advance(task),
            engine=panel_engine,
            universe=universe(runtime.settings),
            announce=announcer.features_written if announcer is not None else None,
        )
    seconds = time.perf_counter() - started
    payload = {
        "feature_set": result.feature_set,
        "tickers": result.tickers,
        "rows": result.rows,
        "features": len(feature_set.outputs),
        "inserted": result.written.inserted,
        "updated": result.written.updated,
        "unchanged": result.written.unchanged,
        "seconds": round(seconds, 3),
        "engine": engine.value,
        "warnings": list(result.warnings),
        "new_rows": result.new_rows,
    }
    if as_json:
        runtime.print_json(payload)
        return
    for warning in result.warnings:
        runtime.err.print(f"warning: {warning}", markup=False, highlight=False)
    per_ticker = pd.DataFrame(
        {"ticker": list(result.new_rows), "new_rows": list(result.new_rows.values())}
    )
    if result.rows:
        runtime.out.print(frame_table(per_ticker, title=f"{result.feature_set}: new rows"))
    runtime.out.print(
        f"{result.feature_set}: {result.rows:,} new rows x {len(feature_set.outputs)} features "
        f"for {result.tickers} tickers; {result.written.inserted:,} rows inserted, "
        f"{result.written.updated:,} updated in {seconds:.1f}s ({engine.value} engine)",
        markup=False,
        highlight=False,
    )


@features_app.command("list", epilog="Example: stockpred features list --json")
def list_sets(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The built-in feature sets: version, indicators, features and lookback."""
    import pandas as pd

    from stockpred.features.sets import default_feature_sets

    runtime = runtime_of(ctx)
    rows = [
        {
            "name": fs.name,
            "version": fs.version,
            "indicators": len(fs.indicators),
            "features": len(fs.outputs),
            "lookback": fs.lookback,
            "description": fs.description,
        }
        for fs in default_feature_sets().values()
    ]
    if as_json:
        runtime.print_json(rows)
        return
    runtime.out.print(frame_table(pd.DataFrame(rows), title="feature sets"))


@features_app.command(
    "show",
    epilog="Examples: stockpred features show daily_v1  |  stockpred features show my_set.toml "
    "--json",
)
def show(
    ctx: typer.Context,
    set_name: str = typer.Argument(..., help="A built-in set name or a .toml file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """The indicators of a feature set with their parameters, outputs and lookback, and its
    context features."""
    import pandas as pd

    runtime = runtime_of(ctx)
    described = _describe(resolve_feature_set(set_name))
    if as_json:
        runtime.print_json(described)
        return
    indicators = pd.DataFrame(
        [
            {
                "kind": i["kind"],
                "params": ", ".join(f"{k}={v}" for k, v in i["params"].items()),
                "outputs": ", ".join(i["outputs"]),
                "lookback": i["lookback"],
            }
            for i in described["indicators"]
        ]
    )
    title = (
        f"{described['key']}: {len(described['outputs'])} features, "
        f"lookback {described['lookback']} bars"
    )
    runtime.out.print(frame_table(indicators, title=title))
    context = described["context"]
    lines = [
        f"market ({context['index_ticker']}): {', '.join(context['market']) or '-'}",
        "macro (as of release): "
        + (
            ", ".join(
                [
                    f"{m['name']}={m['series']} {m['transform']}/{m['periods']}"
                    for m in context["macro"]
                ]
                + [f"{s['name']}={s['long']}-{s['short']}" for s in context["spreads"]]
            )
            or "-"
        ),
        f"sentiment ({context['sentiment_scorer']}): {', '.join(context['sentiment']) or '-'}",
        f"calendar ({context['calendar']}): {', '.join(context['calendar_features']) or '-'}",
        f"cross-sectional ranks: {', '.join(context['ranks']) or '-'}",
    ]
    for line in lines:
        runtime.out.print(line, markup=False, highlight=False)
