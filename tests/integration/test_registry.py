"""The MLflow model registry against real databases: a SQLite file, and PostgreSQL when
STOCKPRED_TEST_POSTGRES_URL names a server (each run creates its own database and drops it).

Both backends share one database per module (MLflow builds its tables once, the slow part);
each test registers under its own model name, so tests stay independent.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

import stockpred
from stockpred.compose import open_registry
from stockpred.domain.errors import ConfigurationError, ModelError, NotFoundError
from stockpred.registry import (
    CHAMPION,
    REQUIRED_METADATA,
    ModelRegistry,
    model_name,
    training_metadata,
)
from stockpred.registry.mlflow import MLflowRegistry, sqlite_uri
from stockpred.settings import load_settings

pytestmark = pytest.mark.integration

POSTGRES_URL = os.environ.get("STOCKPRED_TEST_POSTGRES_URL")
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
METRICS_V1 = {"mae": 0.0123, "rmse": 0.0201, "hit_rate": 0.54}
METRICS_V2 = {"mae": 0.0119, "rmse": 0.0195, "hit_rate": 0.56}


@dataclass(frozen=True)
class Backend:
    kind: str
    uri: str
    artifacts: str
    # What opening the new database printed, logged or warned (the SQLite backend records it).
    opening_noise: tuple[str, ...] = ()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"log {record.name}: {record.getMessage()}")


def _noise_of(action: Callable[[], object]) -> tuple[str, ...]:
    """Everything ``action`` logs (as seen by an application logging at DEBUG), prints or
    warns."""
    root = logging.getLogger()
    handler, level = _Records(), root.level
    out, err = io.StringIO(), io.StringIO()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.simplefilter("always")
            action()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    mlflow_lines = [line for line in handler.lines if "mlflow" in line or "alembic" in line]
    printed = [text for text in (out.getvalue(), err.getvalue()) if text]
    return (*mlflow_lines, *printed, *(f"warning: {w.message}" for w in caught))


def _postgres_database(url: str) -> Iterator[str]:
    """A fresh database on the test server, dropped (with MLflow's open connections) after."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    name = f"stockpred_mlflow_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def sqlite_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home whose default registry (HOME/mlflow.db, HOME/mlruns) the module shares."""
    return tmp_path_factory.mktemp("registry-home")


@pytest.fixture(scope="module")
def sqlite_backend(sqlite_home: Path) -> Backend:
    backend = Backend("sqlite", sqlite_uri(sqlite_home / "mlflow.db"), str(sqlite_home / "mlruns"))
    noise = _noise_of(lambda: MLflowRegistry(backend.uri, artifact_location=backend.artifacts))
    return replace(backend, opening_noise=noise)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_backend")
        return
    if not POSTGRES_URL:
        pytest.skip("STOCKPRED_TEST_POSTGRES_URL is not set (CI sets it); PostgreSQL not tested")
    folder = tmp_path_factory.mktemp("registry-postgres")
    for url in _postgres_database(POSTGRES_URL):
        yield Backend("postgres", url, str(folder / "mlruns"))


def _ticking_clock() -> Callable[[], datetime]:
    ticks = iter(range(1_000_000))
    return lambda: T0 + timedelta(minutes=next(ticks))


@pytest.fixture
def registry(backend: Backend) -> MLflowRegistry:
    return MLflowRegistry(backend.uri, artifact_location=backend.artifacts, clock=_ticking_clock())


@pytest.fixture
def name() -> str:
    return f"stockpred-test-{uuid.uuid4().hex[:10]}"


def _metadata(*, kind: str = "ridge", alpha: float = 1.0) -> dict[str, str]:
    return training_metadata(
        data_start=datetime(2019, 1, 2, 21, tzinfo=UTC),
        data_end=datetime(2024, 12, 31, 21, tzinfo=UTC),
        tickers=["MSFT", "AAPL", "GOOG"],
        feature_set="core-v1",
        horizon=5,
        model_kind=kind,
        params={"alpha": alpha, "fit_intercept": True},
        code_version=stockpred.__version__,
        git_commit="0123456789abcdef0123456789abcdef01234567",
        training_seconds=1.25,
    )


def _model_dir(root: Path, seed: int) -> Path:
    """A saved model as ``Model.save`` might leave it: JSON, binary and a nested folder."""
    directory = root / f"saved-{seed}"
    (directory / "weights").mkdir(parents=True)
    (directory / "model.json").write_text(json.dumps({"kind": "ridge", "seed": seed}))
    (directory / "weights" / "coef.bin").write_bytes(bytes((seed + i) % 256 for i in range(4096)))
    (directory / "weights" / "empty.txt").write_bytes(b"")
    return directory


def _register_two(registry: ModelRegistry, name: str, root: Path) -> None:
    registry.register(name, _model_dir(root, 1), metadata=_metadata(), metrics=METRICS_V1)
    registry.register(
        name, _model_dir(root, 2), metadata=_metadata(kind="lightgbm"), metrics=METRICS_V2
    )


def test_mlflow_registry_satisfies_the_protocol(registry: MLflowRegistry) -> None:
    assert isinstance(registry, ModelRegistry)


def test_registered_versions_are_listed_oldest_first_with_metadata_and_metrics(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    _register_two(registry, name, tmp_path)

    versions = registry.versions(name)

    assert [v.version for v in versions] == [1, 2]
    assert [v.metadata["model_kind"] for v in versions] == ["ridge", "lightgbm"]
    assert versions[0].metrics == pytest.approx(METRICS_V1)
    assert versions[1].metrics == pytest.approx(METRICS_V2)
    assert all(v.name == name and v.run_id for v in versions)
    assert versions[0].run_id != versions[1].run_id
    for v in versions:
        assert v.created_at.tzinfo is not None
        assert v.created_at.utcoffset() == timedelta(0)
        assert before <= v.created_at <= datetime.now(UTC) + timedelta(seconds=5)
        assert v.aliases == ()
    assert registry.get(name, 2) == versions[1]


def test_metadata_carries_every_required_field(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    registry.register(name, _model_dir(tmp_path, 1), metadata=_metadata(), metrics=METRICS_V1)

    metadata = registry.get(name, 1).metadata

    assert set(REQUIRED_METADATA) <= set(metadata)
    assert metadata["data_start"] == "2019-01-02T21:00:00+00:00"
    assert metadata["data_end"] == "2024-12-31T21:00:00+00:00"
    assert metadata["universe"] == "AAPL,GOOG,MSFT"
    assert metadata["universe_size"] == "3"
    assert len(metadata["universe_hash"]) == 16
    assert metadata["feature_set"] == "core-v1"
    assert metadata["horizon"] == "5"
    assert metadata["model_kind"] == "ridge"
    assert json.loads(metadata["params"]) == {"alpha": 1.0, "fit_intercept": True}
    assert json.loads(metadata["metrics"]) == pytest.approx(METRICS_V1)
    assert metadata["code_version"] == stockpred.__version__
    assert metadata["git_commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert float(metadata["training_seconds"]) == pytest.approx(1.25)


def test_register_refuses_metadata_without_a_required_field(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    metadata = _metadata()
    del metadata["feature_set"]

    with pytest.raises(ModelError, match=r"lacks feature_set.*training_metadata"):
        registry.register(name, _model_dir(tmp_path, 1), metadata=metadata, metrics=METRICS_V1)


def test_register_refuses_a_missing_model_directory(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"does not exist or is empty.*model\.save"):
        registry.register(name, tmp_path / "nowhere", metadata=_metadata(), metrics=METRICS_V1)


def test_a_metric_mlflow_refuses_fails_the_registration_and_leaves_no_version(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"cannot register a version.*fix the value"):
        registry.register(
            name, _model_dir(tmp_path, 1), metadata=_metadata(), metrics={"mae@5d": 0.1}
        )

    with pytest.raises(NotFoundError):
        registry.versions(name)


def test_no_champion_before_the_first_promotion_then_the_promoted_version(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)
    assert registry.champion(name) is None

    registry.promote(name, 1, reason="first model")

    champion = registry.champion(name)
    assert champion is not None
    assert champion.version == 1
    assert champion.is_champion
    assert champion.aliases == (CHAMPION,)
    assert champion.metadata["promoted_from"] == ""
    assert champion.metadata["promotion_reason"] == "first model"
    assert [v.is_champion for v in registry.versions(name)] == [True, False]


def test_promoting_the_second_records_the_previous_champion_and_the_reason(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)
    registry.promote(name, 1, reason="first model")

    registry.promote(name, 2, reason="lower MAE on the last fold")

    champion = registry.champion(name)
    assert champion is not None
    assert champion.version == 2
    assert champion.metadata["promoted_from"] == "1"
    assert champion.metadata["promotion_reason"] == "lower MAE on the last fold"
    assert not registry.get(name, 1).is_champion
    history = registry.history(name)
    assert [(h.action, h.from_version, h.to_version, h.reason) for h in history] == [
        ("promote", None, 1, "first model"),
        ("promote", 1, 2, "lower MAE on the last fold"),
    ]
    assert [h.at for h in history] == sorted(h.at for h in history)
    assert all(h.at.utcoffset() == timedelta(0) for h in history)
    assert history[1].as_dict() == {
        "at": history[1].at.isoformat(),
        "action": "promote",
        "from": 1,
        "to": 2,
        "reason": "lower MAE on the last fold",
    }


def test_rollback_returns_to_the_previous_champion_and_is_recorded(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)
    registry.promote(name, 1, reason="first model")
    registry.promote(name, 2, reason="better")

    restored = registry.rollback(name, reason="v2 drifts on live data")

    assert restored.version == 1
    assert restored.is_champion
    champion = registry.champion(name)
    assert champion is not None
    assert champion.version == 1
    demoted = registry.get(name, 2)
    assert demoted.metadata["rollback_reason"] == "v2 drifts on live data"
    assert not demoted.is_champion
    last = registry.history(name)[-1]
    assert (last.action, last.from_version, last.to_version, last.reason) == (
        "rollback",
        2,
        1,
        "v2 drifts on live data",
    )


def test_rollbacks_undo_promotions_in_reverse_order_then_fail(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)
    registry.register(name, _model_dir(tmp_path, 3), metadata=_metadata(), metrics=METRICS_V2)
    for version in (1, 2, 3):
        registry.promote(name, version, reason=f"promote {version}")

    assert registry.rollback(name, reason="undo 3").version == 2
    assert registry.rollback(name, reason="undo 2").version == 1
    with pytest.raises(ModelError, match=r"first champion.*no earlier champion"):
        registry.rollback(name, reason="undo 1")
    assert len(registry.history(name)) == 5


def test_rollback_without_a_champion_is_a_model_error(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)

    with pytest.raises(ModelError, match=r"has no champion.*promote a version"):
        registry.rollback(name, reason="oops")


def test_promote_refuses_the_current_champion_and_an_empty_reason(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)
    registry.promote(name, 1, reason="first")

    with pytest.raises(ModelError, match="already the champion"):
        registry.promote(name, 1, reason="again")
    with pytest.raises(ModelError, match="needs a reason"):
        registry.promote(name, 2, reason="  ")
    assert len(registry.history(name)) == 1


def test_download_round_trips_the_model_directory_byte_for_byte(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    source = _model_dir(tmp_path, 7)
    registry.register(name, source, metadata=_metadata(), metrics=METRICS_V1)

    loaded = registry.download(name, 1, tmp_path / "download")

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    assert loaded.is_dir()
    assert loaded.is_relative_to(tmp_path / "download")
    assert files(loaded) == files(source)
    with pytest.raises(ModelError, match="already holds files"):
        registry.download(name, 1, tmp_path / "download")


def test_unknown_model_name_is_not_found_everywhere(
    registry: MLflowRegistry, tmp_path: Path
) -> None:
    unknown = "stockpred-h999"
    calls: list[Callable[[], object]] = [
        lambda: registry.versions(unknown),
        lambda: registry.get(unknown, 1),
        lambda: registry.champion(unknown),
        lambda: registry.history(unknown),
        lambda: registry.promote(unknown, 1, reason="x"),
        lambda: registry.rollback(unknown, reason="x"),
        lambda: registry.download(unknown, 1, tmp_path / "d"),
    ]
    for call in calls:
        with pytest.raises(NotFoundError, match=r"no registered model 'stockpred-h999'.*register"):
            call()


def test_unknown_version_is_not_found_naming_the_versions_there_are(
    registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)

    with pytest.raises(NotFoundError, match=r"has no version 9 \(its versions: 1, 2\)"):
        registry.get(name, 9)
    with pytest.raises(NotFoundError, match="has no version 9"):
        registry.promote(name, 9, reason="x")
    with pytest.raises(NotFoundError, match="has no version 9"):
        registry.download(name, 9, tmp_path / "d")


def test_a_reopened_registry_sees_the_same_versions_and_champion(
    backend: Backend, registry: MLflowRegistry, name: str, tmp_path: Path
) -> None:
    _register_two(registry, name, tmp_path)
    registry.promote(name, 2, reason="best")

    again = MLflowRegistry(backend.uri, artifact_location=backend.artifacts)

    assert again.versions(name) == registry.versions(name)
    champion = again.champion(name)
    assert champion is not None
    assert champion.version == 2


def test_a_different_artifact_location_for_the_same_database_is_refused(
    backend: Backend, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="STOCKPRED_REGISTRY_ARTIFACTS"):
        MLflowRegistry(backend.uri, artifact_location=str(tmp_path / "elsewhere"))


# -- the embedded default and opening errors (no server needed) -----------------------------


def test_opening_a_new_database_prints_logs_and_warns_nothing(sqlite_backend: Backend) -> None:
    assert sqlite_backend.opening_noise == ()
    assert logging.getLogger("mlflow").handlers == []
    assert logging.getLogger("mlflow").level == logging.NOTSET
    assert not [key for key in os.environ if key.startswith("MLFLOW_")]


def test_open_registry_defaults_to_a_sqlite_file_and_folder_under_home(
    sqlite_backend: Backend,
    sqlite_home: Path,
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKPRED_HOME", str(sqlite_home))
    settings = load_settings()

    registry = open_registry(settings)
    version = registry.register(name, _model_dir(tmp_path, 1), metadata=_metadata(), metrics={})

    assert settings.registry_database == sqlite_backend.uri
    assert (sqlite_home / "mlflow.db").is_file()
    assert [p.name for p in (sqlite_home / "mlruns").rglob("coef.bin") if version.run_id in str(p)]
    assert not (tmp_path / "mlruns").exists(), "nothing may land in the working directory"


def test_registry_settings_select_the_database_and_the_artifact_location(
    sqlite_backend: Backend, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_REGISTRY_URI", sqlite_backend.uri)
    monkeypatch.setenv("STOCKPRED_REGISTRY_ARTIFACTS", sqlite_backend.artifacts)

    registry = open_registry(load_settings())
    version = registry.register(name, _model_dir(tmp_path, 1), metadata=_metadata(), metrics={})

    assert registry.get(name, 1) == version
    assert any(Path(sqlite_backend.artifacts).rglob(version.run_id))
    assert not (load_settings().home / "mlflow.db").exists()


def test_an_unreachable_postgres_fails_fast_without_showing_the_password() -> None:
    pytest.importorskip("psycopg")
    password = "s3cr3t-Pa55word"
    started = time.monotonic()

    with pytest.raises(ModelError, match="cannot reach the model registry") as caught:
        MLflowRegistry(
            f"postgresql://stockpred:{password}@127.0.0.1:1/stockpred",
            artifact_location="/tmp/unused",
        )

    assert time.monotonic() - started < 15
    assert password not in str(caught.value)
    assert "STOCKPRED_REGISTRY_URI" in str(caught.value)


def test_an_unsupported_registry_uri_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"not supported.*sqlite:///"):
        MLflowRegistry("http://127.0.0.1:5000", artifact_location="/tmp/unused")


def test_model_names_are_one_per_horizon() -> None:
    assert model_name(5) == "stockpred-h5"
    with pytest.raises(ValueError, match="at least 1"):
        model_name(0)


def test_training_metadata_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        training_metadata(
            data_start=datetime(2020, 1, 1),  # noqa: DTZ001 - the naive datetime under test
            data_end=datetime(2021, 1, 1, tzinfo=UTC),
            tickers=["AAPL"],
            feature_set="core-v1",
            horizon=5,
            model_kind="ridge",
            params={},
            code_version="0",
            git_commit=None,
            training_seconds=0.0,
        )
