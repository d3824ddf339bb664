"""Fixtures of the API's end-to-end tests: a home with the sample, its features and two
trained ridge champions (horizons 5 and 1), built once per session, and the app over it."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stockpred.api.app import build_services, create_app
from stockpred.api.services import ApiServices
from stockpred.cli.app import main
from stockpred.settings import load_settings
from support.brokers import TANSU_ENV, tansu

REDIS_URL = os.environ.get("STOCKPRED_TEST_REDIS_URL")
NATS_URL = os.environ.get("STOCKPRED_TEST_NATS_URL")
TANSU_BINARY = os.environ.get(TANSU_ENV)

FAST = ["--models", "ridge", "--no-tune", "--test-size", "504", "--min-train", "756"]


@pytest.fixture(scope="session")
def served_home(tmp_path_factory: pytest.TempPathFactory, isolate: Callable[..., None]) -> Path:
    """A home with the sample ingested, features built and two ridge champions trained
    (horizons 5 and 1). Tests may add clients and stored forecasts, nothing else."""
    root = tmp_path_factory.mktemp("api")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home=root / "home", cwd=root)
        for args in (
            ["ingest", "sample", "--json"],
            ["features", "build", "--json"],
            ["train", *FAST, "--force", "ridge", "--json"],
            ["train", *FAST, "--force", "ridge", "--horizon", "1", "--json"],
        ):
            assert main(args) == 0, args
    return root / "home"


@pytest.fixture
def home_copy(served_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the served home for a test that writes (the shared one stays as the others
    expect), set as STOCKPRED_HOME. The copied registry names the shared home's model files,
    which it only reads."""
    copy = tmp_path / "home"
    shutil.copytree(served_home, copy)
    monkeypatch.setenv("STOCKPRED_HOME", str(copy))
    monkeypatch.setenv("STOCKPRED_REGISTRY_ARTIFACTS", (served_home / "mlruns").resolve().as_uri())
    return copy


@pytest.fixture
def services(served_home: Path, monkeypatch: pytest.MonkeyPatch) -> ApiServices:
    monkeypatch.setenv("STOCKPRED_HOME", str(served_home))
    monkeypatch.setenv("STOCKPRED_API_RATE_LIMIT", "1000/second")
    return build_services(load_settings())


@pytest.fixture
def client(services: ApiServices) -> Iterator[TestClient]:
    with TestClient(create_app(services, background=False)) as test_client:
        yield test_client


@pytest.fixture(params=["redis", "nats", "kafka"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(backend, bus URL, namespace of this test): Redis Streams and NATS JetStream on the
    servers of STOCKPRED_TEST_REDIS_URL and STOCKPRED_TEST_NATS_URL, each test in a namespace
    of its own; Kafka on a Tansu broker started from STOCKPRED_TEST_TANSU. CI sets all three."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("STOCKPRED_TEST_REDIS_URL is not set (CI sets it)")
        import redis

        yield "redis", REDIS_URL, namespace
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{namespace}:*"))
        if keys:
            client.delete(*keys)
    elif request.param == "nats":
        if not NATS_URL:
            pytest.skip("STOCKPRED_TEST_NATS_URL is not set (CI sets it)")
        yield "nats", NATS_URL, namespace
        asyncio.run(_nats_cleanup(NATS_URL, namespace))
    else:
        if not TANSU_BINARY:
            pytest.skip(f"{TANSU_ENV} is not set (CI sets it)")
        with tansu(TANSU_BINARY, log=tmp_path / "tansu.log") as server:
            yield "kafka", f"kafka://127.0.0.1:{server.port}", namespace


async def _nats_cleanup(url: str, namespace: str) -> None:
    import nats

    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        for info in await jetstream.streams_info():
            if info.config.name and info.config.name.startswith(f"{namespace}_"):
                await jetstream.delete_stream(info.config.name)
    finally:
        await client.close()
