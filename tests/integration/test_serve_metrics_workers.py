"""`stockpred serve --workers 2` as deployed: a real uvicorn supervisor and two worker processes
on loopback. With prometheus_client's multiprocess mode, one scrape of /metrics, whichever
worker answers it, counts every request either worker answered."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

_HEALTH = ("GET", "/healthz", "200")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not come up: {log.read_text()}")


def _counted_per_worker(directory: Path) -> dict[str, float]:
    """Each worker's own count of the health route, read from its counter file."""
    counts: dict[str, float] = {}
    for file in directory.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(file)], accumulate=False):
            for sample in metric.samples:
                labels = (sample.labels.get("method"), sample.labels.get("route"))
                if sample.name == "stockpred_api_requests_total" and labels == _HEALTH[:2]:
                    counts[file.stem] = counts.get(file.stem, 0.0) + sample.value
    return counts


def _scraped_total(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = (
                sample.labels.get("method"),
                sample.labels.get("route"),
                sample.labels.get("status"),
            )
            if sample.name == "stockpred_api_requests_total" and labels == _HEALTH:
                total += sample.value
    return total


def test_one_scrape_counts_the_requests_every_worker_answered(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKPRED_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # The server's private metrics directory is made under TMPDIR: the test can watch it.
    env |= {"STOCKPRED_HOME": str(tmp_path / "home"), "TMPDIR": str(temp)}
    # Two workers opening a fresh home at once race to create the MLflow registry's tables
    # ("table logged_models already exists" kills one): the home's registry is made first
    # (listing an empty registry creates it, then exits 1: nothing to list).
    subprocess.run(
        [sys.executable, "-m", "stockpred", "models", "list", "--json"],
        env=env,
        check=False,
        capture_output=True,
    )
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "stockpred", "serve"),
                *("--workers", "2", "--port", str(port), "--no-access-log"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(base, server, log)
        (directory,) = temp.glob("stockpred-metrics-*")
        # The probes above were counted too: start from what is counted now.
        already = sum(_counted_per_worker(directory).values())
        sent = 0

        def ask(_: int) -> int:
            # A new connection each time, so the kernel hands requests to either worker.
            with httpx.Client(base_url=base) as client:
                return client.get("/healthz").status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(20):
                statuses = list(pool.map(ask, range(50)))
                assert statuses == [200] * 50
                sent += 50
                per_worker = _counted_per_worker(directory)
                if len([c for c in per_worker.values() if c > 0]) == 2:
                    break
        assert len([c for c in per_worker.values() if c > 0]) == 2, per_worker

        scraped = httpx.get(f"{base}/metrics", timeout=10)

        assert scraped.status_code == 200
        assert _scraped_total(scraped.text) == already + sent
        # Live gauges are summed over the workers: only the scrape itself is in flight.
        in_flight = [
            s.value
            for f in text_string_to_metric_families(scraped.text)
            for s in f.samples
            if s.name == "stockpred_api_requests_in_flight"
        ]
        assert in_flight == [1.0]
    finally:
        server.terminate()
        server.wait(timeout=30)
    # The directory goes with the server.
    assert not list(temp.glob("stockpred-metrics-*"))
