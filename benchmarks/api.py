"""Serving speed, measured: the prediction API against the framework's own ceiling, in one run.

Builds a home with the packaged sample plus ``--tickers`` generated ones (so a batch of 100 has
100 tickers to answer), trains a LightGBM champion (horizon 5, untuned), then starts two
uvicorn servers on loopback, each one worker with uvloop and httptools and no access log:

- the stockpred API (``stockpred.api.app:create_app_from_settings``), and
- a bare FastAPI app whose one ``async`` route returns a constant JSON body of similar size.

wrk (Debian's ``wrk``) drives each with the same connections and duration: the bare route, the
single-prediction route (a real bearer token, so every request verifies a JWT and is counted by
the rate limiter, whose limit is raised so it never refuses), and the batch route (100 tickers
per request). Then the single-prediction route again while ``--guessers`` threads post wrong
client secrets to ``POST /v1/token`` (a brute-force run), twice: all from one address, then each
from its own loopback address with a fresh client id per guess (so only the per-address budget
and the hashing pool protect the server). Printed as JSON: requests/s, p50/p99 latency, the
ratio to the bare ceiling, and under brute force the ratio to the quiet figure and the token
route's answers by status.

    python benchmarks/api.py [--connections 64] [--seconds 10] [--tickers 100] [--guessers 16]

``monitoring``: the single-prediction route while a scraper reads /metrics every second (15 times
Prometheus's default pace), on the API with the monitor's series (``stockpred monitor`` has run
on the home: drift of every feature, realised accuracy) and on one started with
``STOCKPRED_API_MONITOR_METRICS=false``, alternated ``--rounds`` times each with a bare run
beside every one: the ratio to the bare ceiling with and without them.

``nginx``: the single-prediction route through NGINX (deploy/nginx, as scripts/nginx_site.py renders
it, Debian's ``nginx``) in front of two API processes, beside one process direct, in the same run;
then the failover run: the same load through NGINX while one of the two processes is killed a
third of the way in, and the requests that failed (non-2xx answers and socket errors; target 0).
Skipped, saying so, when ``nginx`` is not installed.

Target (issue 6): single prediction >= 50% of the bare ceiling with p99 < 25 ms on one worker.
Target (issue 12): under brute force, single-prediction throughput within 20% of the quiet one.
Target (issue 15): the ratio with the monitor's series within 5% of the ratio without them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
STOCKPRED = [PYTHON, "-m", "stockpred"]

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()
BODY = {"ticker": "AAPL", "horizon": 5, "log_return": 0.0042, "lower": -0.051,
        "upper": 0.0594, "direction_prob": 0.55, "model": {"name": "stockpred-h5",
        "version": 1, "kind": "lightgbm"}}


@app.get("/bare")
async def bare() -> dict[str, object]:
    return BODY
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def generated_bars(count: int, *, days: int, seed: int = 7) -> pd.DataFrame:
    """``count`` tickers of geometric random walks on business days, in the Kaggle long layout
    (date, open, high, low, close, volume, Name)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2009-01-02", periods=days)
    frames = []
    for i in range(count):
        close = 40.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.018, days)))
        open_ = close * np.exp(rng.normal(0.0, 0.004, days))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.006, days)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.006, days)))
        frames.append(
            pd.DataFrame(
                {
                    "date": dates.strftime("%Y-%m-%d"),
                    "open": open_.round(4),
                    "high": high.round(4),
                    "low": low.round(4),
                    "close": close.round(4),
                    "volume": rng.integers(100_000, 5_000_000, days),
                    "Name": f"GEN{i:03d}",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")


def start_server(
    target: str, *, port: int, env: dict[str, str], app_dir: Path | None = None
) -> subprocess.Popen[bytes]:
    command = [
        PYTHON, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    if target.endswith("create_app_from_settings"):
        command.append("--factory")
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    server = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 404):
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"{target} did not start on port {port}")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    url: str, *, connections: int, seconds: int, headers: dict[str, str], script: Path | None
) -> dict[str, float]:
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, flags=re.MULTILINE))
    if set(latency) != {"50", "75", "90", "99"}:
        raise SystemExit(f"cannot read wrk's latency distribution of {url}:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "requests_per_s": rate,
        "p50_ms": _ms(latency["50"]),
        "p90_ms": _ms(latency["90"]),
        "p99_ms": _ms(latency["99"]),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(0) if errors else "",  # type: ignore[dict-item]
    }


class Guessers:
    """``count`` threads posting wrong client secrets to the token route for as long as they
    run: each from its own loopback address (127.0.0.10, .11, ...) when ``spread``, else all
    from 127.0.0.1; each guess names a fresh client id, so the per-client budget never bites
    and only the per-address budget and the hashing pool stand between them and the CPU."""

    def __init__(self, url: str, *, count: int, spread: bool) -> None:
        self._url = url
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.statuses: dict[int, int] = {}
        self._threads = [
            threading.Thread(
                target=self._guess, args=(f"127.0.0.{10 + n}" if spread else "127.0.0.1",)
            )
            for n in range(count)
        ]

    def _guess(self, address: str) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(transport=transport, timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                form = {
                    "grant_type": "client_credentials",
                    "client_id": f"cl_guess{address}-{n}",
                    "client_secret": "wrong",
                }
                try:
                    status = client.post(self._url, data=form).status_code
                except httpx.HTTPError:
                    status = 0
                with self._lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 429:
                    time.sleep(0.01)  # an attacker retries at once; this keeps it honest-ish

    def __enter__(self) -> Guessers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


class Scraper:
    """Reads ``url`` every ``every`` seconds while it runs, as Prometheus would."""

    def __init__(self, url: str, *, every: float) -> None:
        self._url = url
        self._every = every
        self._stop = threading.Event()
        self.scrapes = 0
        self.bytes = 0
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.wait(self._every):
                answer = client.get(self._url)
                answer.raise_for_status()
                self.scrapes += 1
                self.bytes = len(answer.content)

    def __enter__(self) -> Scraper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def monitoring_runs(
    env: dict[str, str],
    *,
    auth: dict[str, str],
    bare_port: int,
    rounds: int,
    load: dict[str, int],
) -> dict[str, object]:
    """The single route's ratio to bare while /metrics is scraped every second, on an API with
    the monitor's series and on one without, alternated ``rounds`` times."""
    ratios: dict[str, list[float]] = {"with": [], "without": []}
    scraped: dict[str, int] = {}
    for _ in range(rounds):
        for name, flag in (("without", "false"), ("with", "true")):
            port = free_port()
            server = start_server(
                "stockpred.api.app:create_app_from_settings",
                port=port,
                env=env | {"STOCKPRED_API_MONITOR_METRICS": flag},
            )
            try:
                url = f"http://127.0.0.1:{port}/v1/predictions/AAPL?horizon=5"
                wrk(url, connections=8, seconds=2, headers=auth, script=None)
                with Scraper(f"http://127.0.0.1:{port}/metrics", every=1.0) as scraper:
                    single = wrk(url, headers=auth, script=None, **load)
                scraped[name] = scraper.bytes
            finally:
                server.terminate()
                server.wait(timeout=30)
            bare = wrk(f"http://127.0.0.1:{bare_port}/bare", headers={}, script=None, **load)
            ratios[name].append(single["requests_per_s"] / bare["requests_per_s"])
    with_, without = float(np.mean(ratios["with"])), float(np.mean(ratios["without"]))
    change = (with_ - without) / without
    return {
        "scrape_every_s": 1.0,
        "metrics_bytes": scraped,
        "rounds": rounds,
        "ratio_to_bare_with": round(with_, 3),
        "ratio_to_bare_without": round(without, 3),
        "ratios_with": [round(r, 3) for r in ratios["with"]],
        "ratios_without": [round(r, 3) for r in ratios["without"]],
        "relative_change": round(change, 3),
        "within_5_percent": abs(change) <= 0.05,
    }


def _platform_script() -> ModuleType:
    """scripts/nginx_site.py, imported from its file (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("nginx_site", ROOT / "scripts" / "nginx_site.py")
    if spec is None or spec.loader is None:
        raise SystemExit("cannot load scripts/nginx_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def nginx_runs(
    env: dict[str, str], *, auth: dict[str, str], api_port: int, work: Path, load: dict[str, int]
) -> dict[str, object]:
    """One process direct against two behind NGINX, then the failover run (see the docstring)."""
    binary = shutil.which("nginx")
    if binary is None:
        return {"skipped": "nginx not found; install it (Debian: apt install nginx)"}
    platform = _platform_script()
    second_port = free_port()
    second = start_server("stockpred.api.app:create_app_from_settings", port=second_port, env=env)
    run_dir = work / "nginx"
    certificate, key = platform.write_test_certificate(run_dir)
    http_port = free_port()
    config = platform.write_nginx_config(
        platform.NginxSite(
            upstreams=(f"127.0.0.1:{api_port}", f"127.0.0.1:{second_port}"),
            run_dir=run_dir,
            http_port=http_port,
            https_port=free_port(),
            certificate=certificate,
            key=key,
            rate_per_second=10_000_000,
            burst=10_000_000,
        )
    )
    command = [binary, "-e", str(run_dir / "error.log"), "-p", str(run_dir), "-c", str(config)]
    nginx = subprocess.Popen([*command, "-g", "daemon off;"])
    route = "/v1/predictions/AAPL?horizon=5"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        wrk(f"http://127.0.0.1:{http_port}{route}", connections=8, seconds=2, headers=auth,
            script=None)  # fmt: skip
        direct = wrk(f"http://127.0.0.1:{api_port}{route}", headers=auth, script=None, **load)
        proxied = wrk(f"http://127.0.0.1:{http_port}{route}", headers=auth, script=None, **load)
        killer = threading.Timer(load["seconds"] / 3, second.kill)
        killer.start()
        failover = wrk(f"http://127.0.0.1:{http_port}{route}", headers=auth, script=None, **load)
        killer.join()
        socket_errors = sum(
            int(n) for n in re.findall(r"(\d+)", str(failover["socket_errors"]).split(":", 1)[-1])
        )
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        if second.poll() is None:
            second.terminate()
            second.wait(timeout=30)
    return {
        "layout": "NGINX (least_conn, keepalive, proxy_next_upstream) -> 2 API processes, "
        "each 1 uvicorn worker; direct: 1 process",
        "direct_one_process": direct,
        "nginx_two_processes": proxied,
        "ratio_nginx_to_direct": round(proxied["requests_per_s"] / direct["requests_per_s"], 3),
        "failover": {
            "killed_after_s": round(load["seconds"] / 3, 1),
            "served": failover,
            "failed_requests": int(failover["non_2xx"]) + socket_errors,
            "target_failed_requests": 0,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tickers", type=int, default=100, help="generated tickers to serve")
    parser.add_argument("--batch", type=int, default=100, help="tickers per batch request")
    parser.add_argument(
        "--guessers", type=int, default=16, help="parallel wrong-secret posters (0: skip)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="monitoring runs with and without (0: skip)"
    )
    parser.add_argument(
        "--no-nginx", dest="nginx", action="store_false", help="skip the NGINX runs"
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk not found; install it (Debian: apt install wrk)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
        env |= {
            "STOCKPRED_HOME": str(work / "home"),
            "STOCKPRED_API_RATE_LIMIT": "100000000/minute",
            "STOCKPRED_API_HORIZONS": "[5]",
            "STOCKPRED_API_MODEL_POLL_SECONDS": "3600",
        }
        started = time.perf_counter()
        generated_bars(args.tickers, days=1000).to_csv(work / "generated.csv", index=False)
        for command in (
            ["ingest", "sample", "--json"],
            ["ingest", "file", str(work / "generated.csv"), "--json"],
            ["features", "build", "--json"],
            ["train", "--models", "lightgbm", "--no-tune", "--horizon", "5", "--test-size",
             "252", "--json"],
            ["monitor", "--json"],
        ):  # fmt: skip
            run([*STOCKPRED, *command], env)
        created = json.loads(
            subprocess.run(
                [*STOCKPRED, "clients", "create", "--name", "bench", "--scopes",
                 "predictions:read", "--json"],
                env=env, capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        setup_s = time.perf_counter() - started
        (work / "bare_app.py").write_text(BARE_APP)

        api_port, bare_port = free_port(), free_port()
        api = start_server("stockpred.api.app:create_app_from_settings", port=api_port, env=env)
        bare = start_server("bare_app:app", port=bare_port, env=env, app_dir=work)
        try:
            token = httpx.post(
                f"http://127.0.0.1:{api_port}/v1/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": created["client_id"],
                    "client_secret": created["client_secret"],
                },
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            tickers = httpx.get(f"http://127.0.0.1:{api_port}/v1/tickers", headers=auth).json()
            served_all = [t["ticker"] for t in tickers["tickers"] if t["served"]]
            served = served_all[: args.batch]
            one = httpx.get(
                f"http://127.0.0.1:{api_port}/v1/predictions/AAPL?horizon=5", headers=auth
            )
            if one.status_code != 200:
                raise SystemExit(f"the API did not answer a prediction: {one.text}")
            body = json.dumps({"tickers": served, "horizon": 5})
            script = work / "batch.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(body)}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
            load = {"connections": args.connections, "seconds": args.seconds}
            # Warm both servers (first requests pay for imports and caches).
            wrk(f"http://127.0.0.1:{bare_port}/bare", connections=8, seconds=2, headers={},
                script=None)  # fmt: skip
            wrk(f"http://127.0.0.1:{api_port}/v1/predictions/AAPL?horizon=5", connections=8,
                seconds=2, headers=auth, script=None)  # fmt: skip
            results = {
                "bare": wrk(f"http://127.0.0.1:{bare_port}/bare", headers={}, script=None, **load),
                "single_prediction": wrk(
                    f"http://127.0.0.1:{api_port}/v1/predictions/AAPL?horizon=5",
                    headers=auth,
                    script=None,
                    **load,
                ),
                "batch_prediction": wrk(
                    f"http://127.0.0.1:{api_port}/v1/predictions:batch",
                    headers=auth,
                    script=script,
                    **load,
                ),
            }
            attacks: dict[str, dict[str, object]] = {}
            for spread in (False, True) if args.guessers else ():
                name = "guessers_" + ("each_own_address" if spread else "one_address")
                token_url = f"http://127.0.0.1:{api_port}/v1/token"
                with Guessers(token_url, count=args.guessers, spread=spread) as guessers:
                    time.sleep(2.0)  # let them reach their steady state
                    under = wrk(
                        f"http://127.0.0.1:{api_port}/v1/predictions/AAPL?horizon=5",
                        headers=auth,
                        script=None,
                        **load,
                    )
                attacks[name] = {
                    "single_prediction": under,
                    "ratio_to_quiet": round(
                        under["requests_per_s"] / results["single_prediction"]["requests_per_s"],
                        3,
                    ),
                    "token_answers": {str(k): v for k, v in sorted(guessers.statuses.items())},
                }
            proxied = (
                nginx_runs(env, auth=auth, api_port=api_port, work=work, load=load)
                if args.nginx
                else {}
            )
            api.terminate()
            api.wait(timeout=30)
            monitoring = (
                monitoring_runs(env, auth=auth, bare_port=bare_port, rounds=args.rounds, load=load)
                if args.rounds
                else {}
            )
        finally:
            for server in (api, bare):
                if server.poll() is None:
                    server.terminate()
                    server.wait(timeout=30)

    ceiling = results["bare"]["requests_per_s"]
    single = results["single_prediction"]
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine_cores": os.cpu_count(),
        "server": "uvicorn, 1 worker, uvloop + httptools, no access log",
        "load": f"wrk, 1 thread, {args.connections} connections, {args.seconds} s per route",
        "data": {
            "tickers_served": len(served_all),
            "batch_size": len(served),
            "model": "LightGBM, horizon 5, daily_v1",
        },
        "results": results,
        "ratio_to_bare": {
            name: round(r["requests_per_s"] / ceiling, 3) for name, r in results.items()
        },
        "target": {
            "single_at_least_half_of_bare": single["requests_per_s"] >= 0.5 * ceiling,
            "single_p99_under_25ms": single["p99_ms"] < 25.0,
        },
        "brute_force": {
            "guessers": args.guessers,
            "budgets": "defaults: 60 secret checks or failures a minute per address, 10 failures "
            "per client id, 1 hashing thread at nice 19",
            **attacks,
        },
        "monitoring": monitoring,
        "nginx": proxied,
        "setup_s": round(setup_s, 1),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
