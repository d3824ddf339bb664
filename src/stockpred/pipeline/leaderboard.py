"""The leaderboard that chose a model version, saved beside its model files as
``leaderboard.json`` (as the drift reference is, ``models/drift.py``).

It holds one record per candidate, models and baselines alike (the records of
:func:`~stockpred.pipeline.report.leaderboard_records`, each with its ``family``), and the
cumulative net return of each candidate's long-short portfolio, thinned to at most
:data:`MAX_EQUITY_POINTS` dates so that the file, and the API's answer, stay small.

``stockpred train`` saves its walk-forward evaluation (every version a run registers gets the
evaluation that chose among them); a retrain saves the scores of its decision window (the
challengers, the baselines and the champion, out of sample for all on the same dates): the
comparison its decision rests on. ``basis`` says which.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from stockpred.domain.errors import NotFoundError
from stockpred.models.backtest import BacktestResult
from stockpred.models.catalog import model_family
from stockpred.pipeline.evaluate import Evaluation
from stockpred.pipeline.report import leaderboard_records
from stockpred.registry.base import ModelRegistry

__all__ = [
    "EQUITY_KIND",
    "LEADERBOARD_FILE",
    "MAX_EQUITY_POINTS",
    "equity_curves",
    "leaderboard_document",
    "version_leaderboard",
    "write_leaderboard_file",
]

LEADERBOARD_FILE = "leaderboard.json"
MAX_EQUITY_POINTS = 500
# The portfolio whose equity is kept: the one that ranks tickers both ways, as rank IC does.
EQUITY_KIND = "long_short"


def _thinned(n: int, max_points: int) -> np.ndarray:
    """Positions of at most ``max_points`` of ``n`` evenly spread points, first and last kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def equity_curves(
    backtest: BacktestResult, *, kind: str = EQUITY_KIND, max_points: int = MAX_EQUITY_POINTS
) -> dict[str, object]:
    """The cumulative net return (compounded equity minus 1) of every model's ``kind``
    portfolio by traded date: ``{"kind", "cost_bps", "dates": [YYYY-MM-DD], "series": {model:
    [return]}}``, at most ``max_points`` dates (evenly spread, first and last kept). A model
    that did not trade a date keeps its return of the date before (0 before its first)."""
    daily = backtest.daily[backtest.daily["kind"] == kind]
    wide = (
        daily.pivot(index="ts", columns="model", values="equity").sort_index().ffill().fillna(1.0)
        - 1.0
    )
    wide = wide.iloc[_thinned(len(wide), max_points)]
    dates = pd.DatetimeIndex(wide.index).tz_convert("UTC")
    return {
        "kind": kind,
        "cost_bps": float(backtest.cost_bps),
        "dates": [day.date().isoformat() for day in dates],
        "series": {
            str(model): [float(v) if math.isfinite(v) else None for v in wide[model].tolist()]
            for model in wide.columns
        },
    }


def leaderboard_document(
    evaluation: Evaluation, *, basis: str, families: Mapping[str, str] | None = None
) -> dict[str, object]:
    """What ``leaderboard.json`` holds: ``{"horizon", "basis", "records", "equity"}``. Each
    record's ``family`` is ``families[model]`` when given (a row that is not named by its kind,
    like a retrain's champion), else :func:`model_family` of its name."""
    named = families or {}
    records = [
        record | {"family": named.get(str(record["model"])) or model_family(str(record["model"]))}
        for record in leaderboard_records(evaluation.scores, backtest=evaluation.backtest)
    ]
    return {
        "horizon": evaluation.config.horizon,
        "basis": basis,
        "records": records,
        "equity": equity_curves(evaluation.backtest),
    }


def write_leaderboard_file(directory: Path, document: Mapping[str, object]) -> Path:
    """Write ``document`` as ``directory/leaderboard.json`` (no NaN: JSON has none)."""
    path = directory / LEADERBOARD_FILE
    path.write_text(json.dumps(dict(document), allow_nan=False), encoding="utf-8")
    return path


def _model_folder(registry: ModelRegistry, *, name: str, version: int, cache: Path) -> Path:
    """The version's model directory under ``cache`` (``cache/name/version/model``, where the
    serving side keeps the champions it loaded), downloaded once; the download goes to a
    temporary folder renamed into place, so a concurrent reader never sees half of it."""
    folder = cache / name / str(version)
    if not (folder / "model").is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{version}-"))
        try:
            registry.download(name, version, partial)
            partial.replace(folder)
        except OSError:
            if not (folder / "model").is_dir():
                raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return folder / "model"


def version_leaderboard(
    registry: ModelRegistry, *, name: str, version: int, cache: Path
) -> dict[str, object]:
    """The leaderboard saved beside ``version`` of ``name``, read from ``cache`` (downloaded
    there first if need be). NotFoundError for an unknown name or version, and for a version
    trained before leaderboards were saved."""
    registry.get(name, version)  # NotFoundError naming the versions there are
    path = _model_folder(registry, name=name, version=version, cache=cache) / LEADERBOARD_FILE
    if not path.is_file():
        raise NotFoundError(
            f"version {version} of {name!r} has no leaderboard: it was trained before "
            "leaderboards were saved; a retrain (`stockpred retrain`, POST /v1/models/retrain) "
            "records one for the version it registers"
        )
    document: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return document
