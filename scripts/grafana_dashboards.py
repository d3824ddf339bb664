"""Grafana dashboards of stockpred as code: service health, freshness, models, drift.

The dashboards are declared here as plain specs (title, panel kind, PromQL); the Grafana
Foundation SDK (the ``grafana-foundation-sdk`` package of the dev extra) turns them into the
dashboard JSON that Grafana provisions from ``deploy/grafana/dashboards/``. The provisioning
files of ``deploy/grafana/provisioning/`` are written next to them.

    python scripts/grafana_dashboards.py          # write the files
    python scripts/grafana_dashboards.py --check  # exit 1 if the committed files differ

Every query uses plain metric names and no Grafana variables, so ``panel_queries()`` can be run
as-is against a real Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = [
    "DASHBOARDS",
    "DATASOURCE_UID",
    "DashboardSpec",
    "PanelSpec",
    "Query",
    "build_dashboards",
    "generated_files",
    "main",
    "panel_queries",
]

REPOSITORY = Path(__file__).resolve().parents[1]
GRAFANA_DIRECTORY = Path("deploy") / "grafana"
DATASOURCE_UID = "prometheus"
# Every dashboard links to the others through this tag.
TAG = "stockpred"

PanelKind = Literal["timeseries", "table", "stat", "bargauge"]
# (value from which the colour applies, colour); the first step starts at minus infinity.
Steps = tuple[tuple[float | None, str], ...]

# A drift figure divided by its column's own threshold: over 1 it passes the threshold.
RATIO_STEPS: Steps = ((None, "green"), (1, "red"))
DRIFT_THRESHOLDS = (
    "Each column's thresholds are its own: the 95th percentile of the PSI and KS statistic of "
    "its training window's 21-session blocks, at least 0.25 and 0.1 (models/drift.py), not the "
    "textbook PSI 0.25."
)


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel; ``instant`` for tables and bar gauges of the latest value."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class PanelSpec:
    """One panel: its kind, queries, unit (a Grafana unit id) and colour thresholds."""

    title: str
    kind: PanelKind
    queries: tuple[Query, ...]
    description: str = ""
    unit: str = ""
    steps: Steps = ()
    # (value, text, colour) shown instead of a value, e.g. 0 as "down"
    value_names: tuple[tuple[str, str, str], ...] = ()
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class DashboardSpec:
    """One dashboard: its file name, a stable uid (links and URLs use it) and its rows."""

    filename: str
    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[PanelSpec, ...]], ...] = field(default=())


FORECAST_ROUTE = 'method="GET", route="/v1/predictions/{ticker}"'

SERVICE_HEALTH = DashboardSpec(
    filename="service-health.json",
    uid="stockpred-service-health",
    title="stockpred / service health",
    description="The API, the stream processor and the bus: traffic, errors, latency, lag.",
    rows=(
        (
            "API",
            (
                PanelSpec(
                    "Request rate by route",
                    "timeseries",
                    (
                        Query(
                            "sum by (route) (rate(stockpred_api_requests_total[5m]))",
                            "{{route}}",
                        ),
                    ),
                    unit="reqps",
                ),
                PanelSpec(
                    "5xx ratio",
                    "timeseries",
                    (
                        Query(
                            "(sum by (route)"
                            ' (rate(stockpred_api_requests_total{status=~"5.."}[5m]))'
                            " or 0 * sum by (route) (rate(stockpred_api_requests_total[5m])))"
                            " / sum by (route) (rate(stockpred_api_requests_total[5m]))",
                            "{{route}}",
                        ),
                        Query(
                            '(sum(rate(stockpred_api_requests_total{status=~"5.."}[5m]))'
                            " or vector(0)) / sum(rate(stockpred_api_requests_total[5m]))",
                            "all routes",
                        ),
                    ),
                    description="Share of answers with a 5xx status; ApiErrorRate fires over 2%. "
                    "A route that answered no 5xx shows 0 (no 5xx series exists for it).",
                    unit="percentunit",
                    steps=((None, "green"), (0.02, "red")),
                ),
                PanelSpec(
                    "Latency p50 and p99 by route",
                    "timeseries",
                    (
                        Query(
                            "histogram_quantile(0.5, sum by (le, route)"
                            " (rate(stockpred_api_request_duration_seconds_bucket[5m])))",
                            "p50 {{route}}",
                        ),
                        Query(
                            "histogram_quantile(0.99, sum by (le, route)"
                            " (rate(stockpred_api_request_duration_seconds_bucket[5m])))",
                            "p99 {{route}}",
                        ),
                    ),
                    description="Quantiles interpolated within the histogram's buckets.",
                    unit="s",
                ),
                PanelSpec(
                    "Forecasts answered under 0.1 s (SLO 99%)",
                    "timeseries",
                    (
                        Query(
                            "sum(rate(stockpred_api_request_duration_seconds_bucket"
                            f'{{{FORECAST_ROUTE}, le="0.1"}}[1h]))'
                            " / sum(rate(stockpred_api_request_duration_seconds_bucket"
                            f'{{{FORECAST_ROUTE}, le="+Inf"}}[1h]))',
                            "GET /v1/predictions/{ticker}, 1h",
                        ),
                    ),
                    description="ApiLatencySLOBurn fires when the budget (1%) burns too fast.",
                    unit="percentunit",
                    steps=((None, "red"), (0.99, "green")),
                ),
                PanelSpec(
                    "Requests in flight",
                    "timeseries",
                    (
                        Query(
                            "sum by (instance) (stockpred_api_requests_in_flight)",
                            "{{instance}}",
                        ),
                    ),
                    unit="short",
                    width=6,
                ),
                PanelSpec(
                    "Websocket connections",
                    "timeseries",
                    (
                        Query(
                            "sum by (instance) (stockpred_api_websocket_connections)",
                            "{{instance}}",
                        ),
                    ),
                    unit="short",
                    width=6,
                ),
            ),
        ),
        (
            "Stream and bus",
            (
                PanelSpec(
                    "Bus lag by topic and group",
                    "timeseries",
                    (
                        Query(
                            "max by (topic, group) (stockpred_bus_lag)",
                            "{{topic}} / {{group}}",
                        ),
                    ),
                    description="Messages not yet acknowledged; BusLagHigh fires over 10000.",
                    unit="short",
                    steps=((None, "green"), (10000, "red")),
                ),
                PanelSpec(
                    "Stream bars per second",
                    "timeseries",
                    (Query("sum(rate(stockpred_stream_bars_total[5m]))", "bars/s"),),
                    unit="short",
                ),
            ),
        ),
        (
            "Targets",
            (
                PanelSpec(
                    "Targets up",
                    "stat",
                    (Query('up{job=~"stockpred-.*"}', "{{job}} {{instance}}"),),
                    description="1 when Prometheus scraped the process; TargetDown fires at 0.",
                    steps=((None, "red"), (1, "green")),
                    value_names=(("0", "down", "red"), ("1", "up", "green")),
                    width=24,
                    height=4,
                ),
            ),
        ),
    ),
)

DATA_FRESHNESS = DashboardSpec(
    filename="data-freshness.json",
    uid="stockpred-data-freshness",
    title="stockpred / data freshness",
    description="How many exchange sessions each ticker's data is behind, and the providers.",
    rows=(
        (
            "Sessions behind the exchange calendar",
            (
                PanelSpec(
                    "Most sessions behind",
                    "stat",
                    (Query("max(stockpred_data_sessions_behind)", "max"),),
                    description="Sessions, not days: weekends and holidays do not count. "
                    "DataStale fires over 1 for 30 minutes.",
                    steps=((None, "green"), (2, "red")),
                    width=6,
                ),
                PanelSpec(
                    "Sessions behind by provider",
                    "timeseries",
                    (
                        Query(
                            "max by (provider) (stockpred_data_sessions_behind)",
                            "{{provider}}",
                        ),
                    ),
                    unit="short",
                    steps=((None, "green"), (2, "red")),
                    width=18,
                ),
                PanelSpec(
                    "Sessions behind by ticker and provider",
                    "table",
                    (
                        Query(
                            "max by (ticker, provider) (stockpred_data_sessions_behind)",
                            instant=True,
                        ),
                    ),
                    steps=((None, "green"), (2, "red")),
                    width=24,
                    height=10,
                ),
            ),
        ),
        (
            "Providers",
            (
                PanelSpec(
                    "Provider errors per second",
                    "timeseries",
                    (
                        Query(
                            "sum by (provider) (rate(stockpred_provider_errors_total[1h]))",
                            "{{provider}}",
                        ),
                    ),
                    unit="short",
                ),
                PanelSpec(
                    "Provider quota remaining",
                    "timeseries",
                    (
                        Query(
                            "min by (provider, window) (stockpred_provider_quota_remaining)",
                            "{{provider}} per {{window}}",
                        ),
                    ),
                    description="Requests left in each window of the provider's quota, read "
                    "from the rate limiter's file shared by every process.",
                    unit="short",
                ),
            ),
        ),
    ),
)

MODEL_PERFORMANCE = DashboardSpec(
    filename="model-performance.json",
    uid="stockpred-model-performance",
    title="stockpred / model performance",
    description="Realised accuracy of the champion next to the baselines, serving and retraining.",
    rows=(
        (
            "Realised accuracy (matured sessions)",
            (
                PanelSpec(
                    "Rolling rank IC: champion and baselines",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version, model)"
                            ' (stockpred_realised_rank_ic{role="champion"})',
                            "champion {{model}} {{model_version}}, horizon {{horizon}}",
                        ),
                        Query(
                            'max by (horizon, model) (stockpred_realised_rank_ic{role="baseline"})',
                            "baseline {{model}}, horizon {{horizon}}",
                        ),
                    ),
                    unit="short",
                    width=24,
                ),
                PanelSpec(
                    "Rank IC margin over the best baseline",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version) (stockpred_realised_rank_ic_margin)",
                            "{{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description="The champion's rolling rank IC minus the best baseline's on the "
                    "same rows: below 0 the champion trails.",
                    unit="short",
                    steps=((None, "red"), (0, "green")),
                ),
                PanelSpec(
                    "Consecutive sessions below the best baseline",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version)"
                            " (stockpred_realised_sessions_below_baseline)",
                            "{{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description="AccuracyBelowBaseline fires at 5 and asks for a retrain.",
                    unit="short",
                    steps=((None, "green"), (5, "red")),
                ),
                PanelSpec(
                    "Hit rate",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version, model, role)"
                            " (stockpred_realised_hit_rate)",
                            "{{role}} {{model}} {{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    unit="percentunit",
                    width=8,
                ),
                PanelSpec(
                    "Mean absolute error",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version, model, role) (stockpred_realised_mae)",
                            "{{role}} {{model}} {{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    unit="short",
                    width=8,
                ),
                PanelSpec(
                    "Interval coverage",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version, model, role)"
                            " (stockpred_realised_interval_coverage)",
                            "{{role}} {{model}} {{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description="Share of realised values inside the forecast interval.",
                    unit="percentunit",
                    width=8,
                ),
                PanelSpec(
                    "Matured sessions in the rolling window",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version, model, role)"
                            " (stockpred_realised_sessions)",
                            "{{role}} {{model}} {{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description="Sessions whose forecasts matured within the window the "
                    "realised figures above are averaged over: few sessions, noisy figures.",
                    unit="short",
                    width=24,
                    height=6,
                ),
            ),
        ),
        (
            "Serving and retraining",
            (
                PanelSpec(
                    "Forecasts served by model version",
                    "timeseries",
                    (
                        Query(
                            "sum by (model_version) (rate(stockpred_api_predictions_total[5m]))",
                            "{{model_version}}",
                        ),
                    ),
                    unit="reqps",
                ),
                PanelSpec(
                    "Retraining runs by outcome (last day)",
                    "timeseries",
                    (
                        Query(
                            "sum by (outcome) (increase(stockpred_retrain_runs_total[1d]))",
                            "{{outcome}}",
                        ),
                    ),
                    description="promoted, kept (the champion stayed) or failed.",
                    unit="short",
                ),
                PanelSpec(
                    "Models in service",
                    "table",
                    (Query("stockpred_model_info", instant=True),),
                    width=24,
                ),
            ),
        ),
    ),
)

DRIFT = DashboardSpec(
    filename="drift.json",
    uid="stockpred-drift",
    title="stockpred / drift",
    description="PSI and KS statistics of features and forecasts against each model's training "
    "window, each against the column's own thresholds (the 95th percentile of its training "
    "months, at least PSI 0.25 and KS 0.1): a column drifts when both pass them.",
    rows=(
        (
            "Features",
            (
                PanelSpec(
                    "Top 10 features by PSI over its threshold",
                    "bargauge",
                    (
                        Query(
                            "topk(10, max by (horizon, model_version, feature)"
                            " (stockpred_feature_drift_psi"
                            " / stockpred_feature_drift_psi_threshold))",
                            "{{feature}} ({{model_version}}, horizon {{horizon}})",
                            instant=True,
                        ),
                    ),
                    description="A feature's PSI divided by its PSI threshold: over 1 it passes. "
                    + DRIFT_THRESHOLDS
                    + " FeatureDrift fires when the PSI and the KS statistic both pass theirs for "
                    "15 minutes.",
                    unit="short",
                    steps=RATIO_STEPS,
                ),
                PanelSpec(
                    "Top 10 features by KS statistic over its threshold",
                    "bargauge",
                    (
                        Query(
                            "topk(10, max by (horizon, model_version, feature)"
                            " (stockpred_feature_drift_ks_statistic"
                            " / stockpred_feature_drift_ks_threshold))",
                            "{{feature}} ({{model_version}}, horizon {{horizon}})",
                            instant=True,
                        ),
                    ),
                    description="A feature's KS statistic divided by its KS threshold: over 1 it "
                    "passes. " + DRIFT_THRESHOLDS + " A saturated column (a monthly macro series) "
                    "can pass its PSI threshold every month; only with the KS statistic past its "
                    "threshold too does it drift.",
                    unit="short",
                    steps=RATIO_STEPS,
                ),
                PanelSpec(
                    "Features over both thresholds (PSI and KS)",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version)"
                            " (stockpred_drift_features_over_threshold)",
                            "{{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description="How many features of each model drift: PSI and KS statistic "
                    "both past the column's thresholds. Each of them is one FeatureDrift alert.",
                    unit="short",
                    width=24,
                ),
            ),
        ),
        (
            "Forecasts",
            (
                PanelSpec(
                    "Forecast PSI and its threshold",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version) (stockpred_prediction_drift_psi)",
                            "PSI {{model_version}}, horizon {{horizon}}",
                        ),
                        Query(
                            "max by (horizon, model_version)"
                            " (stockpred_prediction_drift_psi_threshold)",
                            "threshold {{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description=DRIFT_THRESHOLDS + " PredictionDrift fires when the PSI and the "
                    "KS statistic of the forecasts both pass their thresholds for 15 minutes.",
                    unit="short",
                ),
                PanelSpec(
                    "Forecast KS statistic and its threshold",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version)"
                            " (stockpred_prediction_drift_ks_statistic)",
                            "KS {{model_version}}, horizon {{horizon}}",
                        ),
                        Query(
                            "max by (horizon, model_version)"
                            " (stockpred_prediction_drift_ks_threshold)",
                            "threshold {{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description=DRIFT_THRESHOLDS + " PredictionDrift fires when the PSI and the "
                    "KS statistic of the forecasts both pass their thresholds for 15 minutes.",
                    unit="short",
                ),
            ),
        ),
        (
            "Monitor",
            (
                PanelSpec(
                    "Monitor sessions behind",
                    "timeseries",
                    (
                        Query(
                            "max by (horizon, model_version) (stockpred_monitor_sessions_behind)",
                            "{{model_version}}, horizon {{horizon}}",
                        ),
                    ),
                    description="Exchange sessions closed since the latest session the monitor "
                    "measured: the age of the figures above. MonitorStale fires over 1 for 30 "
                    "minutes.",
                    unit="short",
                    steps=((None, "green"), (2, "red")),
                    width=24,
                    height=6,
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[DashboardSpec, ...] = (SERVICE_HEALTH, DATA_FRESHNESS, MODEL_PERFORMANCE, DRIFT)

DATASOURCE_PROVISIONING = """\
# Generated by scripts/grafana_dashboards.py; edit that script, not this file.
# The Prometheus of deploy/prometheus/prometheus.yml. Every panel refers to this uid.
apiVersion: 1
datasources:
  - name: Prometheus
    uid: prometheus
    type: prometheus
    access: proxy
    url: http://127.0.0.1:9090
    isDefault: true
    editable: false
    jsonData:
      # The scrape interval of prometheus.yml: the shortest step worth asking for.
      timeInterval: 15s
"""

DASHBOARD_PROVISIONING = """\
# Generated by scripts/grafana_dashboards.py; edit that script, not this file.
# `path` is where deploy/grafana/dashboards/ is mounted on the Grafana host (a deployment
# choice); the dashboards are read-only in the UI: change them in the script.
apiVersion: 1
providers:
  - name: stockpred
    orgId: 1
    folder: stockpred
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: /var/lib/grafana/dashboards/stockpred
"""


def panel_queries() -> list[tuple[str, str, str]]:
    """Every panel query as (dashboard uid, panel title, PromQL expression), in panel order."""
    return [
        (spec.uid, panel.title, query.expr)
        for spec in DASHBOARDS
        for _, panels in spec.rows
        for panel in panels
        for query in panel.queries
    ]


def build_dashboards() -> dict[str, dict[str, object]]:
    """The dashboard JSON of every spec, by file name (``service-health.json``, ...)."""
    try:
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
    except ImportError as exc:
        raise ImportError(
            "scripts/grafana_dashboards.py needs the Grafana Foundation SDK of the dev extra: "
            "pip install -e '.[dev]'"
        ) from exc
    encoder = JSONEncoder(sort_keys=True)
    dashboards: dict[str, dict[str, object]] = {}
    for spec in DASHBOARDS:
        built = json.loads(encoder.encode(_build_dashboard(spec).build()))
        dashboards[spec.filename] = built
    return dashboards


def generated_files() -> dict[Path, str]:
    """Every generated file's text, by path relative to the repository."""
    files = {
        GRAFANA_DIRECTORY / "dashboards" / name: json.dumps(dashboard, indent=2, sort_keys=True)
        + "\n"
        for name, dashboard in build_dashboards().items()
    }
    provisioning = GRAFANA_DIRECTORY / "provisioning"
    files[provisioning / "datasources" / "prometheus.yml"] = DATASOURCE_PROVISIONING
    files[provisioning / "dashboards" / "stockpred.yml"] = DASHBOARD_PROVISIONING
    return files


def main(argv: list[str] | None = None) -> int:
    """Write the generated files under the repository, or with ``--check`` compare them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a committed file differs from the generated one",
    )
    parser.add_argument(
        "--root", type=Path, default=REPOSITORY, help="the repository (default: %(default)s)"
    )
    arguments = parser.parse_args(argv)
    stale = []
    for relative, text in generated_files().items():
        path = arguments.root / relative
        if arguments.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(relative))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {relative}")
    if stale:
        print(
            "These files differ from what scripts/grafana_dashboards.py generates: "
            + ", ".join(stale)
            + "; run python scripts/grafana_dashboards.py and commit them.",
            file=sys.stderr,
        )
        return 1
    return 0


def _build_dashboard(spec: DashboardSpec) -> object:
    from grafana_foundation_sdk.builders import dashboard
    from grafana_foundation_sdk.models import dashboard as dashboard_models

    builder = (
        dashboard.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags([TAG])
        .timezone("utc")
        .time("now-24h", "now")
        .refresh("1m")
        .readonly()
        .link(
            dashboard.DashboardLink("stockpred")
            .type(dashboard_models.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .keep_time(True)
        )
    )
    panel_id = 0
    for row_title, panels in spec.rows:
        panel_id += 1
        builder = builder.with_row(dashboard.Row(row_title).id(panel_id))
        for panel in panels:
            panel_id += 1
            builder = builder.with_panel(_build_panel(panel, panel_id=panel_id))
    return builder


def _build_panel(spec: PanelSpec, *, panel_id: int) -> object:
    from grafana_foundation_sdk.builders import (
        bargauge,
        dashboard,
        prometheus,
        stat,
        table,
        timeseries,
    )
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as dashboard_models
    from grafana_foundation_sdk.models import prometheus as prometheus_models

    source = dashboard_models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
    kinds = {
        "timeseries": timeseries.Panel,
        "table": table.Panel,
        "stat": stat.Panel,
        "bargauge": bargauge.Panel,
    }
    panel = (
        kinds[spec.kind]()
        .id(panel_id)
        .title(spec.title)
        .datasource(source)
        .span(spec.width)
        .height(spec.height)
    )
    if spec.description:
        panel = panel.description(spec.description)
    if spec.unit:
        panel = panel.unit(spec.unit)
    if spec.steps:
        panel = panel.thresholds(
            dashboard.ThresholdsConfig()
            .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
            .steps([dashboard_models.Threshold(value=v, color=c) for v, c in spec.steps])
        )
        if spec.kind == "timeseries":
            panel = panel.thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(
                    common.GraphThresholdsStyleMode.DASHED
                )
            )
    if spec.value_names:
        panel = panel.mappings(
            [
                dashboard_models.ValueMap(
                    {
                        value: dashboard_models.ValueMappingResult(text=text, color=colour)
                        for value, text, colour in spec.value_names
                    }
                )
            ]
        )
    if spec.kind in {"stat", "bargauge"}:
        # The latest value of each series, not a reduction over the time range.
        panel = panel.reduce_options(
            common_builders.ReduceDataOptions().values(False).calcs(["lastNotNull"])
        )
    if spec.kind == "bargauge":
        panel = panel.orientation(common.VizOrientation.HORIZONTAL)
    if spec.kind == "table":
        # An instant query's table has a Time column of the query time: of no use here.
        panel = panel.with_transformation(
            dashboard_models.DataTransformerConfig(
                id_val="organize", options={"excludeByName": {"Time": True}}
            )
        )
    for index, query in enumerate(spec.queries):
        target = (
            prometheus.Dataquery().expr(query.expr).ref_id(chr(ord("A") + index)).datasource(source)
        )
        if query.legend:
            target = target.legend_format(query.legend)
        if query.instant:
            target = target.instant()
            if spec.kind == "table":
                target = target.format(prometheus_models.PromQueryFormat.TABLE)
        else:
            target = target.range()
        panel = panel.with_target(target)
    return panel


if __name__ == "__main__":
    sys.exit(main())
