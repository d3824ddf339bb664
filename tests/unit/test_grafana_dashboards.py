"""The Grafana dashboards as code: committed JSON equals the generator, panels query Prometheus."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from support.scripts import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "grafana_dashboards.py"
DASHBOARD_DIRECTORY = REPO_ROOT / "deploy" / "grafana" / "dashboards"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "stockpred.rules.yml"
EXPECTED_FILES = {
    "service-health.json",
    "data-freshness.json",
    "model-performance.json",
    "drift.json",
}
METRIC_NAME = re.compile(r"stockpred_[a-z_]+")
# The metrics the processes export (issue 15) and the monitor series of the API
# (src/stockpred/monitor/exposition.py), whether an alert rule reads them or not.
EXPORTED_METRICS = {
    "stockpred_api_requests_total",
    "stockpred_api_request_duration_seconds_bucket",
    "stockpred_api_requests_in_flight",
    "stockpred_api_websocket_connections",
    "stockpred_api_predictions_total",
    "stockpred_stream_bars_total",
    "stockpred_bus_lag",
    "stockpred_data_sessions_behind",
    "stockpred_provider_errors_total",
    "stockpred_provider_quota_remaining",
    "stockpred_retrain_runs_total",
    "stockpred_model_info",
    # monitor/exposition.py
    "stockpred_realised_rank_ic",
    "stockpred_realised_hit_rate",
    "stockpred_realised_mae",
    "stockpred_realised_interval_coverage",
    "stockpred_realised_sessions",
    "stockpred_realised_rank_ic_margin",
    "stockpred_realised_sessions_below_baseline",
    "stockpred_feature_drift_psi",
    "stockpred_feature_drift_psi_threshold",
    "stockpred_feature_drift_ks_statistic",
    "stockpred_feature_drift_ks_threshold",
    "stockpred_prediction_drift_psi",
    "stockpred_prediction_drift_psi_threshold",
    "stockpred_prediction_drift_ks_statistic",
    "stockpred_prediction_drift_ks_threshold",
    "stockpred_drift_features_over_threshold",
    "stockpred_monitor_last_session_timestamp_seconds",
    "stockpred_monitor_sessions_behind",
}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """scripts/grafana_dashboards.py, imported from its file (scripts/ is no package)."""
    return load_file(SCRIPT)


def committed_dashboards() -> dict[str, dict[str, object]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARD_DIRECTORY.glob("*.json"))
    }


def panels_with_queries(dashboard: dict[str, object]) -> list[dict[str, object]]:
    panels = dashboard["panels"]
    assert isinstance(panels, list)
    return [panel for panel in panels if panel["type"] != "row"]


def test_committed_files_equal_what_the_generator_writes(generator: ModuleType) -> None:
    for relative, text in generator.generated_files().items():
        committed = REPO_ROOT / relative
        assert committed.is_file(), f"{relative} is not committed"
        assert committed.read_text(encoding="utf-8") == text, (
            f"{relative} differs from scripts/grafana_dashboards.py's output: run the script"
        )


def test_check_exits_1_when_a_committed_dashboard_was_edited_by_hand(
    generator: ModuleType, tmp_path: Path
) -> None:
    assert generator.main(["--root", str(tmp_path)]) == 0
    assert generator.main(["--check", "--root", str(tmp_path)]) == 0

    edited = tmp_path / "deploy" / "grafana" / "dashboards" / "drift.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace("Top 10", "Top 20"))

    assert generator.main(["--check", "--root", str(tmp_path)]) == 1


def test_check_exits_1_when_a_dashboard_is_missing(generator: ModuleType, tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "deploy" / "grafana", tmp_path / "deploy" / "grafana")
    (tmp_path / "deploy" / "grafana" / "dashboards" / "drift.json").unlink()

    assert generator.main(["--check", "--root", str(tmp_path)]) == 1


def test_the_four_dashboards_are_committed_with_unique_uids() -> None:
    dashboards = committed_dashboards()

    assert set(dashboards) == EXPECTED_FILES
    uids = [dashboard["uid"] for dashboard in dashboards.values()]
    assert all(isinstance(uid, str) and uid for uid in uids)
    assert len(set(uids)) == len(uids), f"dashboard uids repeat: {uids}"


def test_every_panel_queries_the_prometheus_datasource_with_an_expression() -> None:
    for name, dashboard in committed_dashboards().items():
        panels = panels_with_queries(dashboard)
        assert panels, f"{name} has no panels"
        for panel in panels:
            where = f"{name}, panel {panel['title']!r}"
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            targets = panel["targets"]
            assert isinstance(targets, list)
            assert targets, f"{where} has no query"
            for target in targets:
                assert target["datasource"]["uid"] == "prometheus", where
                assert target["expr"].strip(), f"{where} has an empty expression"


def test_panel_queries_lists_every_target_of_every_dashboard(generator: ModuleType) -> None:
    committed = committed_dashboards()
    by_uid = {dashboard["uid"]: dashboard for dashboard in committed.values()}
    listed = generator.panel_queries()
    in_json = [
        (uid, panel["title"], target["expr"])
        for uid in dict.fromkeys(uid for uid, _, _ in listed)
        for panel in panels_with_queries(by_uid[uid])
        for target in panel["targets"]
    ]

    assert listed == in_json
    assert {uid for uid, _, _ in listed} == set(by_uid)


def test_every_metric_of_a_panel_is_one_the_rules_or_the_exporters_know(
    generator: ModuleType,
) -> None:
    known = set(METRIC_NAME.findall(RULES.read_text(encoding="utf-8"))) | EXPORTED_METRICS
    unknown = {
        (title, name)
        for _, title, expr in generator.panel_queries()
        for name in METRIC_NAME.findall(expr)
        if name not in known
    }

    assert not unknown, f"panels use metric names nobody exports: {sorted(unknown)}"


def test_panels_do_not_use_grafana_variables_so_prometheus_can_run_them(
    generator: ModuleType,
) -> None:
    with_variables = [(title, expr) for _, title, expr in generator.panel_queries() if "$" in expr]

    assert not with_variables


def test_the_provisioned_datasource_has_the_uid_the_panels_use() -> None:
    datasource = REPO_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml"

    assert re.search(r"^\s+uid: prometheus$", datasource.read_text(encoding="utf-8"), re.M)
