"""The Kubernetes manifests (deploy/kubernetes), rendered by kustomize and checked offline.

Every overlay is rendered with ``kubectl kustomize`` (Debian's ``kubernetes-client``; the test
skips, saying so, without it: `.ci/run` installs it), every rendered object is validated against
the Kubernetes OpenAPI schemas shipped by ``kubernetes-validate`` (strict: an unknown field
fails), and the platform's own rules are checked on every workload: probes, requests and limits,
non-root. KEDA's ScaledObject has no schema in kubernetes-validate; its fields are checked here
against what the stream and the Kafka adapter really use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUBERNETES / "overlays").iterdir() if p.is_dir())
WORKLOAD_KINDS = ("Deployment", "CronJob")
# The API's websocket heartbeat is well inside this; NGINX must not cut a quiet stream sooner.
MIN_WEBSOCKET_TIMEOUT_SECONDS = 300

Manifest = dict[str, Any]


def kubectl() -> str:
    configured = os.environ.get("STOCKPRED_TEST_KUBECTL")
    found = configured or shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (Debian's kubernetes-client); .ci/run installs it")
    return found


def render(target: Path) -> list[Manifest]:
    """The objects ``kubectl kustomize target`` renders."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(target)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kustomize {target} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    name: str = request.param
    return name, render(KUBERNETES / "overlays" / name)


def by_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[Manifest], kind: str, name: str) -> Manifest:
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(workload: Manifest) -> Manifest:
    if workload["kind"] == "CronJob":
        spec: Manifest = workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = workload["spec"]["template"]["spec"]
    return spec


def workloads(objects: list[Manifest]) -> Iterator[Manifest]:
    for kind in WORKLOAD_KINDS:
        yield from by_kind(objects, kind)


def policy_violations(workload: Manifest) -> list[str]:
    """What breaks the platform's rules in one workload: every container has CPU and memory
    requests and limits, runs as non-root with no privilege escalation, a read-only root and no
    capabilities; a Deployment's containers have readiness and liveness probes on ports they
    declare."""
    name = f"{workload['kind']} {workload['metadata']['name']}"
    spec = pod_spec(workload)
    found: list[str] = []
    pod_security = spec.get("securityContext") or {}
    if pod_security.get("runAsNonRoot") is not True:
        found.append(f"{name}: the pod does not set runAsNonRoot: true")
    if pod_security.get("runAsUser", 0) == 0:
        found.append(f"{name}: the pod runs as uid 0")
    if spec.get("automountServiceAccountToken") is True:
        found.append(f"{name}: mounts a service account token it does not need")
    for container in spec["containers"]:
        where = f"{name} container {container['name']}"
        resources = container.get("resources") or {}
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(bound) or {}):
                    found.append(f"{where}: no {resource} {bound}")
        security = container.get("securityContext") or {}
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allows privilege escalation")
        if security.get("readOnlyRootFilesystem") is not True:
            found.append(f"{where}: the root file system is writable")
        if "ALL" not in (security.get("capabilities") or {}).get("drop", []):
            found.append(f"{where}: keeps Linux capabilities")
        if workload["kind"] != "Deployment":
            continue
        ports = {p.get("name") for p in container.get("ports", [])} | {
            p["containerPort"] for p in container.get("ports", [])
        }
        for probe in ("readinessProbe", "livenessProbe"):
            check = container.get(probe)
            if check is None:
                found.append(f"{where}: no {probe}")
                continue
            port = (check.get("httpGet") or check.get("tcpSocket") or {}).get("port")
            if port not in ports:
                found.append(f"{where}: {probe} probes port {port!r}, which it does not declare")
    return found


def test_every_overlay_renders_the_whole_platform(rendered: tuple[str, list[Manifest]]) -> None:
    name, objects = rendered
    deployments = {o["metadata"]["name"] for o in by_kind(objects, "Deployment")}
    assert deployments == {"stockpred-api", "stockpred-stream", "stockpred-dashboard"}, name
    cronjobs = {o["metadata"]["name"] for o in by_kind(objects, "CronJob")}
    assert {"stockpred-prices", "stockpred-retrain", "stockpred-report"} <= cronjobs, name
    for kind in ("HorizontalPodAutoscaler", "ScaledObject", "Ingress", "Namespace"):
        assert by_kind(objects, kind), f"{name} renders no {kind}"
    namespaces = {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"}
    assert None not in namespaces, f"{name}: an object has no namespace"
    assert len(namespaces) == 1, f"{name}: namespaces {namespaces}"


def test_every_object_is_valid_against_the_kubernetes_schema(
    rendered: tuple[str, list[Manifest]],
) -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    name, objects = rendered
    checked = 0
    for manifest in objects:
        if manifest["apiVersion"].startswith("keda.sh/"):
            continue  # no schema shipped; test_stream_scales_on_lag... checks it
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {manifest['kind']} {manifest['metadata']['name']}: {exc}")
        checked += 1
    assert checked >= 15, f"{name}: only {checked} objects were validated"


def test_every_workload_has_probes_limits_and_runs_as_non_root(
    rendered: tuple[str, list[Manifest]],
) -> None:
    name, objects = rendered
    found = [v for workload in workloads(objects) for v in policy_violations(workload)]
    assert not found, f"{name}:\n" + "\n".join(found)


def test_the_policy_check_catches_a_workload_that_breaks_it() -> None:
    objects = render(KUBERNETES / "overlays" / OVERLAYS[0])
    api = named(objects, "Deployment", "stockpred-api")
    assert policy_violations(api) == []
    container = pod_spec(api)["containers"][0]
    del container["resources"]["limits"]["memory"]
    del container["readinessProbe"]
    container["livenessProbe"]["httpGet"]["port"] = "nope"
    pod_spec(api)["securityContext"]["runAsNonRoot"] = False
    container["securityContext"]["readOnlyRootFilesystem"] = False
    found = "\n".join(policy_violations(api))
    for expected in (
        "no memory limits",
        "no readinessProbe",
        "probes port 'nope'",
        "runAsNonRoot",
        "root file system is writable",
    ):
        assert expected in found, found
    job = by_kind(objects, "CronJob")[0]
    pod_spec(job)["securityContext"]["runAsUser"] = 0
    assert any("uid 0" in v for v in policy_violations(job))


def test_every_reference_resolves(rendered: tuple[str, list[Manifest]]) -> None:
    """Config maps, Services' selectors and ports, the Ingress's backends, the autoscalers'
    targets: each names an object the overlay renders (the production Secret is made outside,
    from the secret manager, and says so)."""
    name, objects = rendered
    config_maps = {o["metadata"]["name"] for o in by_kind(objects, "ConfigMap")}
    secrets = {o["metadata"]["name"] for o in by_kind(objects, "Secret")}
    for workload in workloads(objects):
        for container in pod_spec(workload)["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                if "secretRef" in source and name != "production":
                    assert source["secretRef"]["name"] in secrets
    if name == "production":
        assert not secrets, "production must not render secrets into the repository's output"
    deployments = {o["metadata"]["name"]: o for o in by_kind(objects, "Deployment")}
    services = {o["metadata"]["name"]: o for o in by_kind(objects, "Service")}
    for service in services.values():
        selector = service["spec"]["selector"]
        matching = [
            d
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"Service {service['metadata']['name']} selects {matching}"
        port_names = {
            p.get("name") for c in pod_spec(matching[0])["containers"] for p in c["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    for ingress in by_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
                names = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
                assert backend["port"]["name"] in names
    for scaler in by_kind(objects, "HorizontalPodAutoscaler") + by_kind(objects, "ScaledObject"):
        assert scaler["spec"]["scaleTargetRef"]["name"] in deployments


def test_the_api_scales_on_cpu_and_on_request_rate(rendered: tuple[str, list[Manifest]]) -> None:
    _, objects = rendered
    hpa = named(objects, "HorizontalPodAutoscaler", "stockpred-api")
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Pods"]["pods"]["metric"]["name"] == "stockpred_api_requests_per_second"
    # The counter behind the request-rate metric is one the API really exports.
    from stockpred.api import metrics as api_metrics

    source = Path(api_metrics.__file__).read_text(encoding="utf-8")
    assert '"stockpred_api_requests"' in source


def test_stream_scales_on_lag_and_never_past_the_partitions(
    rendered: tuple[str, list[Manifest]],
) -> None:
    from stockpred.bus.kafka import KafkaBus
    from stockpred.bus.topics import BARS

    name, objects = rendered
    scaled = named(objects, "ScaledObject", "stockpred-stream")
    settings = by_kind(objects, "ConfigMap")[0]["data"]
    bus_url = urlsplit(settings["STOCKPRED_BUS_URL"])
    assert bus_url.scheme == "kafka"
    partitions = int(parse_qs(bus_url.query)["partitions"][0])
    spec = scaled["spec"]
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions, (name, spec)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    stream = named(objects, "Deployment", "stockpred-stream")
    args = pod_spec(stream)["containers"][0]["args"]
    group = args[args.index("--group") + 1]
    bus = KafkaBus.__new__(KafkaBus)
    bus.namespace = settings.get("STOCKPRED_BUS_NAMESPACE", "stockpred")
    assert trigger["metadata"]["topic"] == bus.topic_name(BARS)
    assert trigger["metadata"]["consumerGroup"] == bus.group_id(BARS, group)
    assert trigger["metadata"]["bootstrapServers"] == bus_url.netloc
    assert int(trigger["metadata"]["lagThreshold"]) > 0


def test_the_ingress_keeps_websockets_open(rendered: tuple[str, list[Manifest]]) -> None:
    _, objects = rendered
    (ingress,) = by_kind(objects, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        seconds = int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"])
        assert seconds >= MIN_WEBSOCKET_TIMEOUT_SECONDS
    assert ingress["spec"]["tls"][0]["secretName"]


@pytest.fixture(scope="module")
def scheduler_jobs(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The jobs ``stockpred scheduler --list --json`` lists."""
    home = tmp_path_factory.mktemp("home")
    done = subprocess.run(
        [sys.executable, "-m", "stockpred", "scheduler", "--list", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HOME": str(home), "STOCKPRED_HOME": str(home / ".stockpred")},
    )
    return {job["job"] for job in json.loads(done.stdout)}


def test_cronjobs_run_jobs_the_scheduler_has(
    rendered: tuple[str, list[Manifest]], scheduler_jobs: set[str]
) -> None:
    """Each CronJob's ``scheduler --run JOB`` names a job ``stockpred scheduler --list`` knows."""
    _, objects = rendered
    for job in by_kind(objects, "CronJob"):
        args = pod_spec(job)["containers"][0]["args"]
        assert args[:2] == ["scheduler", "--run"], args
        assert args[2] in scheduler_jobs, f"{job['metadata']['name']} runs unknown job {args[2]}"
        assert job["spec"]["concurrencyPolicy"] == "Forbid"


def test_every_container_passes_options_its_command_takes(
    rendered: tuple[str, list[Manifest]], tmp_path: Path
) -> None:
    """Each ``--option`` of a container's args appears in ``stockpred COMMAND --help``: a
    renamed option fails here, not at the pod's start."""
    _, objects = rendered
    helps: dict[str, str] = {}
    for workload in workloads(objects):
        for container in pod_spec(workload)["containers"]:
            command, *rest = container["args"]
            if command not in helps:
                done = subprocess.run(
                    [sys.executable, "-m", "stockpred", command, "--help"],
                    capture_output=True,
                    text=True,
                    check=False,
                    env={**os.environ, "HOME": str(tmp_path), "COLUMNS": "200"},
                )
                assert done.returncode == 0, f"stockpred {command} --help: {done.stderr}"
                helps[command] = done.stdout
            for option in (a for a in rest if a.startswith("--")):
                assert option in helps[command], f"stockpred {command} has no {option}"
