"""``stockpred train-sagemaker``: the entry point of an Amazon SageMaker training job.

It follows SageMaker's training-container contract. The job's hyperparameters are read from
``/opt/ml/input/config/hyperparameters.json``, where SageMaker writes every value as a string
(a value the SDK JSON-encoded, ``"\\"ridge\\""``, is decoded once). The bars are every CSV
(.csv, .csv.gz) or Parquet file of the input channel, ``SM_CHANNEL_TRAIN`` or
``/opt/ml/input/data/train`` (hyperparameter ``channel`` names another). They are ingested
into an embedded store in a temporary data home, the feature set is built, and
``stockpred train`` runs (compose.train_with). The champion's model files, its metadata and
the leaderboard that chose it go to ``SM_MODEL_DIR`` (``/opt/ml/model``, which SageMaker
uploads as model.tar.gz); the leaderboard and the metrics also go to ``SM_OUTPUT_DATA_DIR``
(``/opt/ml/output/data``, uploaded as output.tar.gz). Each champion metric is printed as
``metric NAME=VALUE`` for the job's metric definitions, e.g. ``rank_ic_mean=(\\S+)``.

When the job fails, the message goes to ``/opt/ml/output/failure``, which SageMaker shows as
the job's failure reason, and the command exits non-zero.

``SM_BASE_DIR`` (default ``/opt/ml``) moves the whole layout, so a job runs on a laptop or in
a test; ``SM_MODEL_DIR``, ``SM_OUTPUT_DATA_DIR``, ``SM_INPUT_CONFIG_DIR`` and
``SM_CHANNEL_<NAME>``, which the SageMaker training toolkit sets, take precedence over it.
A bring-your-own container is started as ``<entrypoint> train``: the optional ``train``
argument is accepted.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockpred import __version__
from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.domain.errors import InvalidInputError, StockpredError
from stockpred.features.defaults import DEFAULT_FEATURE_SET
from stockpred.models.kinds import DEFAULT_MODELS, MODEL_KINDS

if TYPE_CHECKING:
    from stockpred.pipeline.train import TrainResult
    from stockpred.settings import Settings

__all__ = ["Hyperparameters", "TrainingPaths", "parse_hyperparameters", "train_sagemaker_command"]

BASE_DIR_ENV = "SM_BASE_DIR"
DEFAULT_BASE_DIR = Path("/opt/ml")
# SageMaker shows at most this much of the failure file as the job's reason.
_FAILURE_SHOWN = 1024
_BAR_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
# The SDK's framework estimators add these; they are SageMaker's, not ours.
_SAGEMAKER_PREFIX = "sagemaker_"


@dataclass(frozen=True, slots=True)
class TrainingPaths:
    """Where a SageMaker training job's inputs are and its outputs go."""

    hyperparameters: Path
    channel: Path
    model: Path
    output_data: Path
    failure: Path

    @classmethod
    def of(cls, environ: Mapping[str, str], *, channel: str = "train") -> TrainingPaths:
        """The paths under ``SM_BASE_DIR`` (default /opt/ml), each replaced by its ``SM_*``
        variable when the training toolkit set one."""
        base = Path(environ.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR)
        config = Path(environ.get("SM_INPUT_CONFIG_DIR") or base / "input" / "config")
        data = environ.get(f"SM_CHANNEL_{channel.upper()}") or base / "input" / "data" / channel
        return cls(
            hyperparameters=config / "hyperparameters.json",
            channel=Path(data),
            model=Path(environ.get("SM_MODEL_DIR") or base / "model"),
            output_data=Path(environ.get("SM_OUTPUT_DATA_DIR") or base / "output" / "data"),
            failure=base / "output" / "failure",
        )


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """What a job can set; the defaults are `stockpred train`'s."""

    horizon: int = 5
    models: tuple[str, ...] = DEFAULT_MODELS
    feature_set: str = DEFAULT_FEATURE_SET
    tune: bool = True
    min_train: int = 504
    test_size: int = 63
    seed: int = 0
    force: str | None = None
    channel: str = "train"
    # auto: CUDA on a GPU instance, else the CPU; cpu forces it. A model trained with "cuda"
    # remembers it and cannot forecast on a machine without a GPU, so "auto" is the one to use.
    lstm_device: str = "auto"


def _decoded(value: object) -> object:
    """A hyperparameter as SageMaker stores it (a string) read back: a JSON scalar inside the
    string ("5", "true", "\\"ridge\\"") is decoded, any other string is kept as it is."""
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str | int | float | bool) else value


def _whole(name: str, value: object, *, least: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or number < least:
        raise InvalidInputError(
            f"hyperparameter {name!r} must be a whole number of at least {least}, got "
            f'{value!r}; e.g. "{name}": "{max(least, 5)}"'
        )
    return number


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise InvalidInputError(f"hyperparameter {name!r} must be true or false, got {value!r}")


def _text(name: str, value: object) -> str:
    text = str(value).strip()
    if not text:
        raise InvalidInputError(f"hyperparameter {name!r} is empty; give a value or leave it out")
    return text


def _lstm_device(name: str, value: object) -> str:
    text = str(value).strip().lower()
    if text not in ("auto", "cpu", "cuda"):
        raise InvalidInputError(f"hyperparameter {name!r} must be auto, cpu or cuda, got {value!r}")
    return text


def _models(value: object) -> tuple[str, ...]:
    chosen = tuple(m.strip() for m in str(value).split(",") if m.strip())
    if not chosen:
        raise InvalidInputError("hyperparameter 'models' is empty; name at least one: ridge")
    unknown = [m for m in chosen if m not in MODEL_KINDS]
    if unknown:
        raise InvalidInputError(
            f"hyperparameter 'models' names {', '.join(map(repr, unknown))}, which is not a "
            f"model; choose from {', '.join(MODEL_KINDS)} (the baselines always compete)"
        )
    return chosen


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "horizon": lambda n, v: _whole(n, v, least=1),
    "models": lambda n, v: _models(v),
    "feature_set": _text,
    "tune": _flag,
    "min_train": lambda n, v: _whole(n, v, least=20),
    "test_size": lambda n, v: _whole(n, v, least=1),
    "seed": lambda n, v: _whole(n, v, least=0),
    "force": _text,
    "channel": _text,
    "lstm_device": _lstm_device,
}


def parse_hyperparameters(raw: Mapping[str, object]) -> Hyperparameters:
    """The job's hyperparameters (hyperparameters.json, values strings) checked and typed;
    an unknown name or a bad value is an InvalidInputError that says what is accepted."""
    values: dict[str, object] = {}
    for name, value in raw.items():
        if name.startswith(_SAGEMAKER_PREFIX):
            continue
        parser = _PARSERS.get(name)
        if parser is None:
            raise InvalidInputError(
                f"unknown hyperparameter {name!r}; stockpred takes {', '.join(_PARSERS)}"
            )
        values[name] = parser(name, _decoded(value))
    return Hyperparameters(**values)  # type: ignore[arg-type]


def read_hyperparameters(path: Path) -> Hyperparameters:
    """hyperparameters.json of the job; no file means every default (a job may set none)."""
    if not path.is_file():
        return Hyperparameters()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{path} must hold a JSON object of names to values")
    return parse_hyperparameters(raw)


def bar_files(channel: Path) -> list[Path]:
    """Every bars file (CSV, gzipped CSV, Parquet) under the channel's folder, sorted."""
    if not channel.is_dir():
        raise InvalidInputError(
            f"the input channel {channel} does not exist; give the job a 'train' channel of "
            "bars files (CSV or Parquet), or name another with the hyperparameter 'channel'"
        )
    found = sorted(
        p for p in channel.rglob("*") if p.is_file() and p.name.lower().endswith(_BAR_SUFFIXES)
    )
    if not found:
        raise InvalidInputError(
            f"no bars file (.csv, .csv.gz, .parquet) in the input channel {channel}"
        )
    return found


def _training_settings(settings: Settings, home: Path) -> Settings:
    """The job's own embedded store and registry in ``home``: a training job keeps nothing but
    what it writes to the model folder, and touches no database the settings may name."""
    return settings.model_copy(
        update={
            "home": home,
            "store": "duckdb",
            "duckdb_path": None,
            "reports_dir": None,
            "archive_url": None,
            "registry_uri": None,
            "registry_artifacts": None,
            "bus_url": "memory://",
        }
    )


def _ingest(runtime: Runtime, settings: Settings, files: list[Path]) -> int:
    from stockpred.compose import bar_rules, open_store
    from stockpred.pipeline.ingest import ingest_files, read_files

    read = read_files(
        files,
        max_decompressed_bytes=settings.ingest_max_decompressed_bytes,
        max_line_bytes=settings.ingest_max_line_bytes,
    )
    with open_store(settings) as store:
        result = ingest_files(
            store, read, calendar=settings.calendar, now=runtime.clock(), rules=bar_rules(settings)
        )
    if result.accepted == 0:
        raise InvalidInputError(
            f"no bar of the {len(files)} file(s) in the input channel was accepted "
            f"({result.rejected_rows} rejected); columns: ticker, date, open, high, low, close, "
            "adj_close, volume"
        )
    _say(
        runtime,
        f"ingested {result.accepted} bars from {len(files)} file(s), "
        f"{result.rejected_rows} rejected",
    )
    return result.accepted


def _build_features(runtime: Runtime, settings: Settings, name: str) -> tuple[str, ...]:
    from stockpred.cli.features import resolve_feature_set
    from stockpred.compose import open_store, universe
    from stockpred.pipeline.features import build_features

    with open_store(settings) as store:
        built = build_features(
            store, resolve_feature_set(name), now=runtime.clock(), universe=universe(settings)
        )
    _say(runtime, f"features {built.feature_set}: {built.rows} rows of {built.tickers} tickers")
    for warning in built.warnings:
        _say(runtime, f"warning: {warning}")
    return built.warnings


def _write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str), encoding="utf-8")


def _write_outputs(
    settings: Settings,
    result: TrainResult,
    *,
    paths: TrainingPaths,
    hyperparameters: Hyperparameters,
    warnings: tuple[str, ...],
) -> dict[str, float]:
    """The champion's model folder, metadata.json and leaderboard.json into the model
    directory; the leaderboard and metrics.json into the output data directory."""
    from stockpred.compose import open_registry
    from stockpred.pipeline.leaderboard import LEADERBOARD_FILE

    champion = result.champion
    if champion is None:
        raise StockpredError(f"training registered no champion for {result.name}")
    with tempfile.TemporaryDirectory(dir=settings.home) as folder:
        downloaded = open_registry(settings).download(result.name, champion.version, Path(folder))
        source = downloaded / "model" if (downloaded / "model").is_dir() else downloaded
        target = paths.model / "model"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
    metrics = {k: v for k, v in champion.metrics.items() if math.isfinite(v)}
    metadata = {
        "name": champion.name,
        "version": champion.version,
        "horizon": hyperparameters.horizon,
        "kind": champion.metadata.get("model_kind", ""),
        "reason": result.reason,
        "promoted": result.promoted,
        "metadata": {k: v for k, v in champion.metadata.items() if k != "metrics"},
        "metrics": metrics,
        "hyperparameters": asdict(hyperparameters),
        "registered": {kind: v.version for kind, v in result.versions.items()},
        "warnings": list(warnings),
        "stockpred_version": __version__,
    }
    _write_json(paths.model / "metadata.json", metadata)
    leaderboard = target / LEADERBOARD_FILE
    every = {
        kind: {k: v for k, v in version.metrics.items() if math.isfinite(v)}
        for kind, version in result.versions.items()
    }
    for directory in (paths.model, paths.output_data):
        directory.mkdir(parents=True, exist_ok=True)
        if leaderboard.is_file():
            shutil.copyfile(leaderboard, directory / LEADERBOARD_FILE)
    _write_json(paths.output_data / "metrics.json", {"champion": metrics, "registered": every})
    return metrics


def _say(runtime: Runtime, line: str) -> None:
    runtime.err.print(line, markup=False, highlight=False, soft_wrap=True)


def _write_failure(path: Path, message: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message[:_FAILURE_SHOWN], encoding="utf-8")
    except OSError:
        pass  # the log still holds the error; nothing better to do with a read-only output


def _train(runtime: Runtime, paths: TrainingPaths, hyperparameters: Hyperparameters) -> None:
    from stockpred.cli.features import resolve_feature_set
    from stockpred.compose import train_with
    from stockpred.pipeline.evaluate import EvaluationConfig

    files = bar_files(paths.channel)
    feature_set = resolve_feature_set(hyperparameters.feature_set)
    config = EvaluationConfig(
        horizon=hyperparameters.horizon,
        models=hyperparameters.models,
        tune=hyperparameters.tune,
        min_train=hyperparameters.min_train,
        test_size=hyperparameters.test_size,
        seed=hyperparameters.seed,
        # Left out at its default, so the configuration is `stockpred train`'s.
        model_params=(
            {"lstm": {"device": hyperparameters.lstm_device}}
            if hyperparameters.lstm_device != "auto"
            else {}
        ),
    )
    with tempfile.TemporaryDirectory(prefix="stockpred-sagemaker-") as home:
        settings = _training_settings(runtime.settings, Path(home))
        _ingest(runtime, settings, files)
        warnings = _build_features(runtime, settings, hyperparameters.feature_set)
        with runtime.steps("walk-forward") as steps:
            result = train_with(
                settings,
                feature_set=feature_set,
                config=config,
                now=runtime.clock(),
                force=hyperparameters.force,
                on_start=steps.start,
                on_step=lambda fold, name: steps.advance(f"fold {fold} {name}"),
            )
        metrics = _write_outputs(
            settings, result, paths=paths, hyperparameters=hyperparameters, warnings=warnings
        )
    _say(runtime, f"champion: {result.reason}")
    for name, value in sorted(metrics.items()):
        runtime.out.print(f"metric {name}={value:.6g}", markup=False, highlight=False)


def train_sagemaker_command(
    ctx: typer.Context,
    mode: str | None = typer.Argument(
        None,
        help="'train', as SageMaker starts a training container; nothing else.",
        metavar="[train]",
    ),
) -> None:
    """Run a SageMaker training job: hyperparameters from /opt/ml/input/config, bars from the
    'train' channel, the champion's files to /opt/ml/model, a failure to /opt/ml/output/failure.
    SM_BASE_DIR moves /opt/ml (a local run, a test)."""
    runtime = runtime_of(ctx)
    failure = TrainingPaths.of(os.environ).failure
    try:
        if mode not in (None, "train"):
            raise InvalidInputError(
                f"the training container was started with {mode!r}; SageMaker starts it with "
                "'train' (or give no argument)"
            )
        hyperparameters = read_hyperparameters(TrainingPaths.of(os.environ).hyperparameters)
        paths = TrainingPaths.of(os.environ, channel=hyperparameters.channel)
        if paths.failure.exists():
            paths.failure.unlink()
        _train(runtime, paths, hyperparameters)
    except StockpredError as exc:
        _write_failure(failure, " ".join(str(exc).split()))
        raise
    except Exception as exc:
        # A bug: the reason names it, the log keeps the traceback.
        _write_failure(failure, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        raise
