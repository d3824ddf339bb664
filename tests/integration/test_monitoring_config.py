"""The monitoring configuration, checked by the tools that load it: promtool and amtool.

The binaries come from STOCKPRED_TEST_PROMTOOL and STOCKPRED_TEST_AMTOOL, else from PATH (Debian's
``prometheus`` and ``prometheus-alertmanager`` packages); each test skips, saying which, when its
binary is absent. `.ci/run` installs both, so in CI they run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.scripts import load_file

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "stockpred.rules.yml"
RULE_TESTS = REPO_ROOT / "deploy" / "prometheus" / "rules" / "tests" / "stockpred.rules.test.yml"
ALERTMANAGER_CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
# The `and` between the two clauses of a drift alert's expression, as the rule file indents it.
AND = "\n            and\n          "


def find_binary(variable: str, name: str) -> str:
    """The binary named by ``variable``, else ``name`` on PATH; skips when neither exists."""
    configured = os.environ.get(variable)
    if configured:
        if not Path(configured).is_file():
            pytest.fail(f"{variable}={configured} names no file")
        return configured
    found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} is not installed (apt-get install prometheus prometheus-alertmanager) "
            f"and {variable} is not set"
        )
    return found


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_binary("STOCKPRED_TEST_PROMTOOL", "promtool")


@pytest.fixture(scope="module")
def amtool() -> str:
    return find_binary("STOCKPRED_TEST_AMTOOL", "amtool")


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=120, check=False
    )


def assert_succeeds(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


def test_prometheus_config_and_its_rule_files_are_valid(promtool: str) -> None:
    result = run(promtool, "check", "config", PROMETHEUS_CONFIG)

    assert_succeeds(result)
    assert "1 rule files found" in result.stdout


def test_alert_rules_are_valid(promtool: str) -> None:
    assert_succeeds(run(promtool, "check", "rules", RULES))


def test_alert_rule_unit_tests_pass(promtool: str) -> None:
    assert_succeeds(run(promtool, "test", "rules", RULE_TESTS))


@pytest.mark.parametrize(
    ("alert", "original", "changed"),
    [
        ("DataStale", "stockpred_data_sessions_behind > 1", "stockpred_data_sessions_behind > 2"),
        # A column drifts only when its PSI and its KS statistic both pass its own thresholds.
        (
            "FeatureDrift",
            f"{AND}stockpred_feature_drift_ks_statistic > stockpred_feature_drift_ks_threshold",
            "",
        ),
        (
            "FeatureDrift",
            "stockpred_feature_drift_psi > stockpred_feature_drift_psi_threshold",
            "stockpred_feature_drift_psi > 0.25",
        ),
        (
            "PredictionDrift",
            f"{AND}stockpred_prediction_drift_ks_statistic"
            " > stockpred_prediction_drift_ks_threshold",
            "",
        ),
        (
            "PredictionDrift",
            f"stockpred_prediction_drift_psi > stockpred_prediction_drift_psi_threshold{AND}",
            "",
        ),
        (
            "MonitorStale",
            "stockpred_monitor_sessions_behind > 1",
            "stockpred_monitor_sessions_behind > 0",
        ),
        (
            "AccuracyBelowBaseline",
            "stockpred_realised_sessions_below_baseline >= 5",
            "stockpred_realised_sessions_below_baseline >= 4",
        ),
        ("ApiLatencySLOBurn", "(14.4 * 0.01)", "(4 * 0.01)"),
        ("RetrainFailed", 'outcome="failed"} offset 1h', 'outcome="failed"}'),
        ("ApiErrorRate", 'status=~"5.."', 'status=~"[45].."'),
        ("TargetDown", "for: 2m", "for: 1m"),
    ],
)
def test_alert_rule_unit_tests_fail_when_a_rule_changes(
    promtool: str, tmp_path: Path, alert: str, original: str, changed: str
) -> None:
    text = RULES.read_text(encoding="utf-8")
    assert original in text
    (tmp_path / "tests").mkdir()
    (tmp_path / RULES.name).write_text(text.replace(original, changed, 1), encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / "tests" / RULE_TESTS.name)

    result = run(promtool, "test", "rules", tmp_path / "tests" / RULE_TESTS.name)

    assert result.returncode != 0, f"the unit tests still pass with {changed!r}"
    assert alert in result.stdout + result.stderr


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    generator = load_file(REPO_ROOT / "scripts" / "grafana_dashboards.py")
    queries = generator.panel_queries()
    # Each query as a recording rule: promtool parses every expression of a rule file.
    rules = ["groups:", "  - name: dashboards", "    rules:"]
    for index, (_, _, expr) in enumerate(queries):
        rules += [f"      - record: dashboard_query_{index}", f"        expr: {json.dumps(expr)}"]
    rule_file = tmp_path / "dashboards.rules.yml"
    rule_file.write_text("\n".join(rules) + "\n", encoding="utf-8")

    result = run(promtool, "check", "rules", rule_file)

    assert_succeeds(result)
    assert f"{len(queries)} rules found" in result.stdout


def test_alertmanager_config_is_valid(amtool: str) -> None:
    result = run(amtool, "check-config", ALERTMANAGER_CONFIG)

    assert_succeeds(result)
    assert "2 receivers" in result.stdout
    assert "1 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=FeatureDrift", "kind=drift", "horizon=5", "model_version=7"), "retrain"),
        (("alertname=PredictionDrift", "kind=drift"), "retrain"),
        (("alertname=AccuracyBelowBaseline", "kind=accuracy"), "retrain"),
        (("alertname=DataStale", "kind=staleness", "ticker=AAPL"), "ops"),
        (("alertname=RetrainFailed", "kind=retrain"), "ops"),
        (("alertname=TargetDown", "kind=availability"), "ops"),
        (("alertname=ApiLatencySLOBurn", "kind=latency"), "ops"),
    ],
)
def test_alerts_route_to_retrain_for_drift_and_accuracy_and_to_ops_otherwise(
    amtool: str, labels: tuple[str, ...], receiver: str
) -> None:
    result = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )

    assert_succeeds(result)
    assert result.stdout.strip() == receiver
