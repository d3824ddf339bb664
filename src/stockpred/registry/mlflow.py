"""The model registry on MLflow: a SQLite file by default, PostgreSQL and object storage at scale.

The MLflow client talks to the database directly (no MLflow server, no network): the tracking
and registry tables live in the database of ``tracking_uri`` (MLflow creates and migrates them
on open), model files go to ``artifact_location`` (a folder, ``file://`` or ``s3://``; the
latter needs boto3). Each registered version is one MLflow run of the experiment ``stockpred``
whose artifacts hold the saved model directory under ``model/``; the metadata is kept as tags
of the model version, the metrics are logged on the run as well. Promotions and rollbacks move
the ``champion`` alias and are appended to the registered model's tags ``stockpred.history.N``.

MLflow is imported on first use, without telemetry, and kept quiet while it is called: see
:mod:`stockpred.registry.mlflow_client`. Opening checks the database once with a short timeout,
since MLflow retries a refused connection for about 100 s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from stockpred.domain.errors import (
    ConfigurationError,
    ModelError,
    NotFoundError,
    StockpredError,
)
from stockpred.extras import import_optional
from stockpred.registry import mlflow_client
from stockpred.registry.base import (
    CHAMPION,
    NAME_PATTERN,
    REQUIRED_METADATA,
    ChampionChange,
    ModelVersion,
    metrics_json,
)
from stockpred.registry.mlflow_client import (
    RegisteredModelRecord,
    VersionRecord,
    error_code,
    first_line,
    quiet,
)

__all__ = ["ARTIFACTS_SETTING", "EXPERIMENT", "URI_SETTING", "MLflowRegistry", "sqlite_uri"]

URI_SETTING = "STOCKPRED_REGISTRY_URI"
ARTIFACTS_SETTING = "STOCKPRED_REGISTRY_ARTIFACTS"
# The MLflow experiment whose runs hold the registered models' files.
EXPERIMENT = "stockpred"
# Folder of a version's files inside its run's artifacts.
_ARTIFACT_PATH = "model"
_HISTORY_PREFIX = "stockpred.history."
_MAX_REASON = 1000
_CONNECT_TIMEOUT_S = 10


def _utc_now() -> datetime:
    return datetime.now(UTC)


def sqlite_uri(path: Path) -> str:
    """The SQLAlchemy URI of the SQLite file ``path`` (made absolute)."""
    return f"sqlite:///{path.expanduser().resolve()}"


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise ModelError(
            f"{name!r} is not a valid registered model name; use letters, digits, '.', '-' and "
            "'_' (at most 200), e.g. stockpred-h5"
        )
    return name


def _check_reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ModelError("a promotion or rollback needs a reason; say why, e.g. 'better MAE'")
    if len(text) > _MAX_REASON:
        raise ModelError(f"the reason is {len(text)} characters long; keep it under {_MAX_REASON}")
    return text


def _artifact_uri(location: str) -> str:
    scheme = urlsplit(location).scheme
    # One letter is a Windows drive, not a scheme.
    if len(scheme) > 1:
        return location.rstrip("/")
    return Path(location).expanduser().resolve().as_uri()


def _driver_uri(uri: str) -> str:
    """``uri`` with the PostgreSQL driver named: SQLAlchemy's default (psycopg2) is not ours."""
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


class MLflowRegistry:
    """:class:`~stockpred.registry.base.ModelRegistry` on MLflow.

    ``tracking_uri``: ``sqlite:///ABSOLUTE/PATH`` (the file and its folder are created) or
    ``postgresql+psycopg://USER:PASSWORD@HOST:5432/DB`` (``postgresql://`` is read the same; the
    database must exist, MLflow creates its tables in it). ``artifact_location``: where model
    files go, a folder or URI; fixed when the registry's experiment is first created.
    ``clock`` stamps promotions and rollbacks.
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        artifact_location: str,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._uri = _driver_uri(tracking_uri.strip())
        self._artifacts = _artifact_uri(artifact_location)
        self._clock = clock
        self._password = ""
        self._shown = self._describe()
        self._check_database()
        self._foreign = mlflow_client.errors()
        with self._boundary("open the model registry"):
            self._client = mlflow_client.open_client(self._uri)
            self._experiment_id = self._experiment()

    @property
    def uri(self) -> str:
        """The tracking database, password masked."""
        return self._shown

    @property
    def artifact_location(self) -> str:
        return self._artifacts

    # -- opening --------------------------------------------------------------------------

    def _describe(self) -> str:
        scheme = urlsplit(self._uri).scheme
        if scheme not in {"sqlite", "postgresql+psycopg"}:
            raise ConfigurationError(
                f"the model registry URI {self._uri.split('@')[-1]!r} is not supported; set "
                f"{URI_SETTING} to sqlite:///ABSOLUTE/PATH.db or "
                "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB (or leave it unset for the "
                "SQLite file under the data home)"
            )
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(self._uri)
        except ArgumentError as exc:
            raise ConfigurationError(
                f"the model registry URI is not a database URL ({first_line(exc)}); set "
                f"{URI_SETTING} to sqlite:///ABSOLUTE/PATH.db or "
                "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB"
            ) from exc
        self._password = url.password or ""
        return url.render_as_string(hide_password=True)

    def _mask(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text

    def _check_database(self) -> None:
        """Reach the database once, quickly: MLflow itself retries a refused connection for
        about 100 s before it gives up."""
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        connect_args: dict[str, object] = {}
        if self._uri.startswith("sqlite:"):
            database = self._uri.removeprefix("sqlite:///")
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        else:
            import_optional("psycopg", extra="postgres", purpose="the model registry on PostgreSQL")
            connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
        engine = sqlalchemy.create_engine(self._uri, poolclass=NullPool, connect_args=connect_args)
        try:
            with engine.connect():
                pass
        except (sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
            raise ModelError(
                f"cannot reach the model registry database {self._shown}: "
                f"{self._mask(first_line(exc))}; check {URI_SETTING} and that the database "
                "exists and accepts connections"
            ) from exc
        finally:
            engine.dispose()

    def _experiment(self) -> str:
        experiment = self._client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            try:
                return self._client.create_experiment(EXPERIMENT, artifact_location=self._artifacts)
            except self._foreign as exc:
                if error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                    raise
            # Another process created it first: use theirs, checked below.
            experiment = self._client.get_experiment_by_name(EXPERIMENT)
            if experiment is None:
                raise ModelError(f"cannot create the MLflow experiment {EXPERIMENT!r}")
        if experiment.lifecycle_stage != "active":
            raise ModelError(
                f"the MLflow experiment {EXPERIMENT!r} in {self._shown} is deleted; restore it "
                "(mlflow experiments restore) or use another registry database"
            )
        if experiment.artifact_location.rstrip("/") != self._artifacts:
            raise ConfigurationError(
                f"the model registry {self._shown} keeps model files at "
                f"{experiment.artifact_location}, but the artifact location configured is "
                f"{self._artifacts}; set {ARTIFACTS_SETTING} to {experiment.artifact_location} or "
                "use another registry database"
            )
        return experiment.experiment_id

    @contextmanager
    def _boundary(self, action: str) -> Iterator[None]:
        """Run MLflow quietly; its exceptions become ours, saying what to do."""
        with quiet():
            try:
                yield
            except StockpredError:
                raise
            except self._foreign as exc:
                raise self._translate(exc, action) from exc

    def _translate(self, exc: Exception, action: str) -> StockpredError:
        detail = self._mask(first_line(exc))
        if error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return NotFoundError(f"cannot {action}: {detail}")
        if error_code(exc) == "INVALID_PARAMETER_VALUE":
            hint = (
                "fix the value named there (metric and tag keys take letters, digits, spaces "
                "and _ - . /)"
            )
        elif isinstance(exc, OSError):
            hint = f"check that the artifact location {self._artifacts} exists and is writable"
        else:
            hint = f"check {URI_SETTING} and that the database accepts connections"
        return ModelError(f"cannot {action} in the model registry {self._shown}: {detail}; {hint}")

    # -- reading --------------------------------------------------------------------------

    def _registered(self, name: str) -> RegisteredModelRecord:
        _check_name(name)
        with self._boundary(f"read registered model {name!r}"):
            try:
                return self._client.get_registered_model(name)
            except self._foreign as exc:
                if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                    raise
        raise NotFoundError(
            f"no registered model {name!r} in the model registry {self._shown}; train and "
            "register a model first (names are stockpred-h<horizon>, e.g. stockpred-h5)"
        )

    def _convert(self, raw: VersionRecord, aliases: Mapping[str, str | int]) -> ModelVersion:
        version = int(raw.version)
        return ModelVersion(
            name=raw.name,
            version=version,
            run_id=raw.run_id or "",
            created_at=datetime.fromtimestamp(raw.creation_timestamp / 1000, tz=UTC),
            aliases=tuple(sorted(a for a, v in aliases.items() if int(v) == version)),
            metadata={k: v for k, v in raw.tags.items() if not k.startswith("mlflow.")},
        )

    def _raw_versions(self, name: str) -> list[VersionRecord]:
        found: list[VersionRecord] = []
        token: str | None = None
        with self._boundary(f"list the versions of {name!r}"):
            while True:
                page = self._client.search_model_versions(f"name = '{name}'", page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    break
        return sorted(found, key=lambda mv: int(mv.version))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first; NotFoundError for an unknown name."""
        registered = self._registered(name)
        return [self._convert(raw, registered.aliases) for raw in self._raw_versions(name)]

    def get(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``; NotFoundError naming the versions there are."""
        registered = self._registered(name)
        with self._boundary(f"read version {version} of {name!r}"):
            try:
                raw = self._client.get_model_version(name, str(int(version)))
            except self._foreign as exc:
                if error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                    raise
            else:
                return self._convert(raw, registered.aliases)
        known = ", ".join(str(int(mv.version)) for mv in self._raw_versions(name)) or "none"
        raise NotFoundError(
            f"registered model {name!r} has no version {version} (its versions: {known}); "
            "pick one of those"
        )

    def champion(self, name: str) -> ModelVersion | None:
        """The version with the ``champion`` alias, or None before the first promotion."""
        registered = self._registered(name)
        if CHAMPION not in registered.aliases:
            return None
        return self.get(name, int(registered.aliases[CHAMPION]))

    def history(self, name: str) -> list[ChampionChange]:
        """Every promotion and rollback of ``name``, oldest first."""
        return self._history(self._registered(name))

    def _history(self, registered: RegisteredModelRecord) -> list[ChampionChange]:
        changes: list[tuple[int, ChampionChange]] = []
        for key, value in registered.tags.items():
            if not key.startswith(_HISTORY_PREFIX):
                continue
            event = json.loads(value)
            previous = event.get("from")
            changes.append(
                (
                    int(key.removeprefix(_HISTORY_PREFIX)),
                    ChampionChange(
                        at=datetime.fromisoformat(event["at"]),
                        action=event["action"],
                        from_version=None if previous is None else int(previous),
                        to_version=int(event["to"]),
                        reason=str(event["reason"]),
                    ),
                )
            )
        return [change for _, change in sorted(changes, key=lambda item: item[0])]

    # -- writing --------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        metadata: Mapping[str, str],
        metrics: Mapping[str, float],
    ) -> ModelVersion:
        """Log the files under ``model_dir`` as a new run and make them a new version of
        ``name``; see :meth:`~stockpred.registry.base.ModelRegistry.register`."""
        _check_name(name)
        if not model_dir.is_dir() or not any(model_dir.iterdir()):
            raise ModelError(
                f"the model directory {model_dir} does not exist or is empty; save the fitted "
                "model there first (model.save(directory))"
            )
        tags = {str(key): str(value) for key, value in metadata.items()}
        tags["metrics"] = metrics_json(metrics)
        missing = [key for key in REQUIRED_METADATA if key not in tags]
        if missing:
            raise ModelError(
                f"the metadata of {name!r} lacks {', '.join(missing)}; build it with "
                "stockpred.registry.training_metadata(...)"
            )
        with self._boundary(f"register a version of {name!r}"):
            run = self._client.create_run(
                self._experiment_id, tags={"mlflow.runName": name, "stockpred.model": name}
            )
            run_id = run.info.run_id
            try:
                self._client.log_artifacts(run_id, str(model_dir), artifact_path=_ARTIFACT_PATH)
                stamp = int(self._clock().timestamp() * 1000)
                for key, value in metrics.items():
                    self._client.log_metric(run_id, key, float(value), timestamp=stamp)
            except BaseException:
                self._client.set_terminated(run_id, status="FAILED")
                raise
            self._client.set_terminated(run_id, status="FINISHED")
            try:
                self._client.create_registered_model(
                    name, description=f"stockpred forecasters of {name}"
                )
            except self._foreign as exc:
                if error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                    raise
            raw = self._client.create_model_version(
                name, f"runs:/{run_id}/{_ARTIFACT_PATH}", run_id=run_id, tags=tags
            )
        return self.get(name, int(raw.version))

    def promote(self, name: str, version: int, *, reason: str) -> None:
        """Point ``champion`` at ``version``; the version gets the tags ``promoted_at``,
        ``promoted_from`` (the previous champion, or empty) and ``promotion_reason``."""
        why = _check_reason(reason)
        target = self.get(name, version)
        current = self.champion(name)
        if current is not None and current.version == target.version:
            raise ModelError(
                f"version {version} of {name!r} is already the champion; nothing to promote"
            )
        at = self._clock()
        previous = None if current is None else current.version
        self._set_version_tags(
            name,
            target.version,
            {
                "promoted_at": at.isoformat(),
                "promoted_from": "" if previous is None else str(previous),
                "promotion_reason": why,
            },
        )
        self._move_champion(
            name,
            ChampionChange(
                at=at,
                action="promote",
                from_version=previous,
                to_version=target.version,
                reason=why,
            ),
        )

    def rollback(self, name: str, *, reason: str) -> ModelVersion:
        """Point ``champion`` back at the champion before the current one and return it.

        Promotions stack and rollbacks pop: after promoting 1, 2, then 3, rollbacks return to
        2, then 1, then fail. ModelError when there is no earlier champion.
        """
        why = _check_reason(reason)
        registered = self._registered(name)
        current = registered.aliases.get(CHAMPION)
        if current is None:
            raise ModelError(
                f"{name!r} has no champion, so there is nothing to roll back; promote a version"
            )
        stack: list[int] = []
        for change in self._history(registered):
            if change.action == "promote":
                stack.append(change.to_version)
            elif stack:
                stack.pop()
        if not stack or stack[-1] != int(current):
            raise ModelError(
                f"the champion of {name!r} (version {current}) was not set by a stockpred "
                "promotion, so its predecessor is unknown; promote the version you want instead"
            )
        if len(stack) < 2:
            raise ModelError(
                f"version {current} is the first champion of {name!r}; there is no earlier "
                "champion to roll back to (promote another version instead)"
            )
        target = self.get(name, stack[-2])
        at = self._clock()
        self._set_version_tags(
            name, int(current), {"rolled_back_at": at.isoformat(), "rollback_reason": why}
        )
        self._move_champion(
            name,
            ChampionChange(
                at=at,
                action="rollback",
                from_version=int(current),
                to_version=target.version,
                reason=why,
            ),
        )
        return self.get(name, target.version)

    def _set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        with self._boundary(f"tag version {version} of {name!r}"):
            for key, value in tags.items():
                self._client.set_model_version_tag(name, str(version), key, value)

    def _move_champion(self, name: str, change: ChampionChange) -> None:
        # The alias moves before the history entry is written: a crash in between leaves the
        # right champion with one entry missing, never an entry for a move that did not happen.
        sequence = len(self.history(name)) + 1
        with self._boundary(f"move the champion of {name!r} to version {change.to_version}"):
            self._client.set_registered_model_alias(name, CHAMPION, str(change.to_version))
            self._client.set_registered_model_tag(
                name, f"{_HISTORY_PREFIX}{sequence:06d}", json.dumps(change.as_dict())
            )

    def download(self, name: str, version: int, directory: Path) -> Path:
        """Copy the files of ``version`` into ``directory/model`` and return that folder, the
        directory the model was saved to, ready for its kind's ``load_model``."""
        mv = self.get(name, version)
        target = directory / _ARTIFACT_PATH
        if target.exists() and any(target.iterdir()):
            raise ModelError(
                f"{target} already holds files; download version {version} of {name!r} into an "
                "empty directory"
            )
        directory.mkdir(parents=True, exist_ok=True)
        with self._boundary(f"download version {version} of {name!r}"):
            local = self._client.download_artifacts(mv.run_id, _ARTIFACT_PATH, str(directory))
        return Path(local)
