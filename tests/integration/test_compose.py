"""deploy/compose: the compose file validated by docker-compose (Debian's ``docker-compose``;
skips, saying so, without it: `.ci/run` installs it), and kept in step with the files it reuses:
the NGINX template's fields all filled, Alertmanager's receivers all pointed at NGINX, the same
Prometheus jobs and rules as deploy/prometheus, Grafana's dashboards where its provisioning
looks."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
SERVICES = {
    "postgres", "redis", "kafka", "init", "api", "stream", "scheduler", "dashboard", "nginx",
    "prometheus", "alertmanager", "grafana",
}  # fmt: skip


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``docker-compose config`` of a copy of deploy/ with the example .env filled in."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip(
            "docker-compose is not installed (Debian's docker-compose); .ci/run installs it"
        )
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy)
    example = (copy / "compose" / "example.env").read_text(encoding="utf-8")
    filled = re.sub(r"(?m)^([A-Z_]+)=$", r"\1=test-value", example)
    (copy / "compose" / ".env").write_text(filled, encoding="utf-8")
    done = subprocess.run(
        [binary, "-f", str(copy / "compose" / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_validates_and_runs_every_part(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert set(services) == SERVICES
    assert services["api"]["deploy"]["replicas"] == 2
    for name in ("api", "stream", "scheduler", "dashboard", "init"):
        assert services[name]["image"] == "stockpred:latest"
        environment = services[name]["environment"]
        assert environment["STOCKPRED_STORE"] == "postgres"
        assert environment["STOCKPRED_BUS_URL"].startswith("kafka://kafka:9092")
    # Nothing serves before the store has data and a champion.
    for name in ("api", "stream", "scheduler"):
        condition = services[name]["depends_on"]["init"]["condition"]
        assert condition == "service_completed_successfully", name
    assert services["dashboard"]["command"][:3] == ["dashboard", "--api-url", "http://nginx:8080"]


def test_secrets_are_required_not_defaulted() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for secret in ("POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"):
        assert re.search(rf"\$\{{{secret}:\?", text), f"{secret} must be required"
    assert (DEPLOY / "compose" / ".gitignore").read_text().split() == [".env", "certs/"]


def _sed_fields(command: str) -> set[str]:
    return set(re.findall(r"s\|@@([A-Z_]+)@@\|", command))


def test_nginx_fills_every_field_of_the_template(rendered: dict[str, Any]) -> None:
    template = (DEPLOY / "nginx" / "nginx.conf.template").read_text(encoding="utf-8")
    fields = set(re.findall(r"@@([A-Z_]+)@@", template))
    command = " ".join(rendered["services"]["nginx"]["command"])
    assert _sed_fields(command) == fields


def test_alertmanager_receivers_all_point_at_nginx(rendered: dict[str, Any]) -> None:
    command = " ".join(rendered["services"]["alertmanager"]["command"])
    original = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8")
    rewritten = original.replace("http://127.0.0.1:8000", "http://nginx:8080").replace(
        "/etc/stockpred/alertmanager-client-secret", "/tmp/am/client-secret"
    )
    assert "s|http://127.0.0.1:8000|http://nginx:8080|g" in command
    assert "127.0.0.1" not in rewritten, "a receiver the compose file does not rewrite"
    config = yaml.safe_load(rewritten)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook["url"].startswith("http://nginx:8080/")


def test_prometheus_has_the_same_jobs_and_rules_as_deploy_prometheus() -> None:
    ours = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    theirs = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert [j["job_name"] for j in ours["scrape_configs"]] == [
        j["job_name"] for j in theirs["scrape_configs"]
    ]
    assert ours["rule_files"] == theirs["rule_files"]


def test_grafana_dashboards_are_mounted_where_provisioning_reads_them(
    rendered: dict[str, Any],
) -> None:
    provisioning = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "stockpred.yml").read_text()
    )
    path = provisioning["providers"][0]["options"]["path"]
    mounts = rendered["services"]["grafana"]["volumes"]
    targets = {m["target"] if isinstance(m, dict) else m.split(":")[1] for m in mounts}
    assert path in targets
