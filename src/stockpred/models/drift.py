"""Drift of features and predictions against a reference fitted on the training window.

A *reference* is fitted once per model version, on the rows it was trained on (STYLE.md, rule
4): for each column, the decile edges of its finite values with the share of rows in each bin
(what the population stability index compares), a sorted sample of at most ``sample_size``
values (what the two-sample Kolmogorov-Smirnov test compares), and the share of missing
values. It is small (a few kB per column), so it travels with the model in the registry.

Each session the recent values of every column (the last few weeks of every ticker) are
compared with it:

- **PSI**, the population stability index, sum over bins of (a - e) * ln(a / e), with ``e`` the
  reference share and ``a`` the recent share of a bin (both floored at ``1e-4`` so an empty bin
  is finite). The textbook reading is: below 0.1 stable, 0.1 to 0.25 a moderate shift, above
  0.25 a significant one.
- **KS**, the two-sample Kolmogorov-Smirnov statistic (the largest gap between the two empirical
  distribution functions, 0 to 1) and its p-value (scipy's ``ks_2samp``).

Both textbook readings assume independent rows. Features of a few weeks of the same stocks are
not: a 252-session return or a cross-sectional rank barely moves in a month, so a month of
them is a few dozen distinct points and its PSI against ten years is large *every* month. The
reference therefore also measures how far the training window's own months stray from it:
the training dates are cut into consecutive blocks of ``window`` sessions, each block is scored
against the whole, and a column's *threshold* is the 95th percentile of its blocks' PSI (and
KS statistic), never below the textbook 0.25 (:data:`PSI_SIGNIFICANT`) and 0.1
(:data:`KS_SIGNIFICANT`). A recent window drifts when its PSI and its KS statistic both pass their
thresholds (:func:`drifted`): it is then stranger than 19 of 20 months the model was trained on.

A column with fewer than :data:`MIN_ROWS` finite recent values, or no finite reference value,
gets NaN figures: too few to say.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "DRIFT_COLUMNS",
    "DRIFT_REFERENCE_FILE",
    "KS_SIGNIFICANT",
    "MIN_ROWS",
    "PREDICTION_SUBJECT",
    "PSI_MODERATE",
    "PSI_SIGNIFICANT",
    "ColumnReference",
    "DriftReference",
    "drift_figures",
    "drifted",
    "fit_reference",
    "population_stability",
]

# The file beside a saved model that holds its reference.
DRIFT_REFERENCE_FILE = "drift_reference.json"
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
KS_SIGNIFICANT = 0.1
MIN_ROWS = 20
# The subject name of the model's own output in a drift table.
PREDICTION_SUBJECT = "prediction"
DRIFT_COLUMNS = (
    "subject", "psi", "psi_threshold", "ks_statistic", "ks_threshold", "ks_p_value", "n",
    "missing_share",
)  # fmt: skip
_FLOOR = 1e-4
# A column's threshold: this quantile of its training blocks' figures.
BLOCK_QUANTILE = 0.95


@dataclass(frozen=True)
class ColumnReference:
    """One column's reference: ``edges`` the inner bin edges (ascending, unique), ``shares``
    the reference share of finite values in each of the ``len(edges) + 1`` bins, ``sample``
    a sorted sample of finite values, ``rows`` how many rows were seen, ``missing_share``
    the share of them that were NaN or infinite."""

    edges: np.ndarray
    shares: np.ndarray
    sample: np.ndarray
    rows: int
    missing_share: float
    psi_threshold: float = PSI_SIGNIFICANT
    ks_threshold: float = KS_SIGNIFICANT

    def to_json(self) -> dict[str, object]:
        return {
            "edges": self.edges.tolist(),
            "shares": self.shares.tolist(),
            "sample": self.sample.tolist(),
            "rows": self.rows,
            "missing_share": self.missing_share,
            "psi_threshold": self.psi_threshold,
            "ks_threshold": self.ks_threshold,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ColumnReference:
        def array(name: str) -> np.ndarray:
            value = data[name]
            if not isinstance(value, list):
                raise ValueError(f"a drift reference's {name!r} must be a list, got {value!r}")
            return np.asarray(value, dtype=np.float64)

        rows, missing = data["rows"], data["missing_share"]
        psi, ks = (
            data.get("psi_threshold", PSI_SIGNIFICANT),
            data.get("ks_threshold", KS_SIGNIFICANT),
        )
        numbers = (missing, psi, ks)
        if not isinstance(rows, int) or not all(isinstance(n, int | float) for n in numbers):
            raise ValueError(f"a drift reference needs integer rows and numeric figures: {data}")
        return cls(
            array("edges"),
            array("shares"),
            array("sample"),
            rows,
            float(missing),  # type: ignore[arg-type]
            float(psi),  # type: ignore[arg-type]
            float(ks),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class DriftReference:
    """The references of a model version's columns (features and ``prediction``), with the
    training window they were fitted on (ISO 8601 UTC)."""

    columns: Mapping[str, ColumnReference]
    start: str
    end: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "start": self.start,
                "end": self.end,
                "columns": {name: ref.to_json() for name, ref in self.columns.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> DriftReference:
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            raise ValueError("a drift reference is a JSON object with 'columns'")
        columns = {str(k): ColumnReference.from_json(v) for k, v in data["columns"].items()}
        return cls(columns, str(data.get("start", "")), str(data.get("end", "")))


def _column_reference(
    values: np.ndarray,
    blocks: np.ndarray,
    *,
    bins: int,
    sample_size: int,
    rng: np.random.Generator,
) -> ColumnReference:
    """``blocks``: per row, the index of its block of dates (-1: in no full block)."""
    usable = np.isfinite(values)
    finite = values[usable]
    missing = 1.0 - len(finite) / len(values) if len(values) else 1.0
    if len(finite) == 0:
        empty = np.empty(0)
        return ColumnReference(empty, np.ones(1), empty, len(values), missing)
    quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(quantiles)
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
    sample = np.sort(
        rng.choice(finite, size=sample_size, replace=False) if len(finite) > sample_size else finite
    )
    whole = ColumnReference(edges, counts / counts.sum(), sample, len(values), float(missing))
    block_psi, block_ks = [], []
    for block in np.unique(blocks[blocks >= 0]):
        part = values[(blocks == block) & usable]
        if len(part) >= MIN_ROWS:
            block_psi.append(population_stability(whole, part))
            block_ks.append(_ks_statistic(sample, np.sort(part)))
    if not block_psi:
        return whole
    return ColumnReference(
        edges,
        whole.shares,
        sample,
        len(values),
        float(missing),
        max(PSI_SIGNIFICANT, float(np.quantile(block_psi, BLOCK_QUANTILE))),
        max(KS_SIGNIFICANT, float(np.quantile(block_ks, BLOCK_QUANTILE))),
    )


def _ks_statistic(first: np.ndarray, second: np.ndarray) -> float:
    """The two-sample KS statistic of two sorted finite samples."""
    points = np.concatenate([first, second])
    gap = np.searchsorted(first, points, side="right") / len(first) - np.searchsorted(
        second, points, side="right"
    ) / len(second)
    return float(np.max(np.abs(gap)))


def _blocks(dates: pd.Series, window: int) -> np.ndarray:
    """Per row, the index of its block of ``window`` consecutive dates (-1 for the dates of
    the last, incomplete block)."""
    codes, unique = pd.factorize(dates, sort=True)
    full = len(unique) // window
    block = codes // window
    return np.where(block < full, block, -1)


def fit_reference(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    start: str,
    end: str,
    window: int = 21,
    bins: int = 10,
    sample_size: int = 1000,
    seed: int = 0,
) -> DriftReference:
    """The reference of each of ``columns`` of ``frame`` (the training rows, with their
    ``ts``): ``bins`` quantile bins (fewer where values tie), a sample of ``sample_size``
    values drawn with ``seed`` (the same rows always give the same reference), and the
    thresholds from blocks of ``window`` dates (module docstring)."""
    if bins < 2 or sample_size < 1 or window < 1:
        raise ValueError(
            f"bins must be >= 2, sample_size and window >= 1; got {bins}, {sample_size}, {window}"
        )
    missing = [c for c in (*columns, "ts") if c not in frame.columns]
    if missing:
        raise ValueError(f"the training rows lack the columns {missing}")
    rng = np.random.default_rng(seed)
    blocks = _blocks(frame["ts"], window)
    references = {
        name: _column_reference(
            frame[name].to_numpy(dtype=np.float64),
            blocks,
            bins=bins,
            sample_size=sample_size,
            rng=rng,
        )
        for name in columns
    }
    return DriftReference(references, start, end)


def population_stability(reference: ColumnReference, values: np.ndarray) -> float:
    """PSI of the finite ``values`` against ``reference`` (NaN under :data:`MIN_ROWS`)."""
    finite = values[np.isfinite(values)]
    if len(finite) < MIN_ROWS or len(reference.sample) == 0:
        return math.nan
    counts = np.bincount(
        np.searchsorted(reference.edges, finite, side="right"), minlength=len(reference.edges) + 1
    )
    actual = np.maximum(counts / counts.sum(), _FLOOR)
    expected = np.maximum(reference.shares, _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drifted(figures: pd.DataFrame) -> pd.Series:
    """Whether each row of :func:`drift_figures` drifts: its PSI *and* its KS statistic are
    past their column's thresholds. Both, because a column whose months are one value (a
    monthly macro series) reaches the largest PSI its bins allow in every month, so its PSI
    alone says nothing; the KS statistic, which measures how far the values moved and not only
    that they bunched, still does."""
    return (figures["psi"] > figures["psi_threshold"]) & (
        figures["ks_statistic"] > figures["ks_threshold"]
    )


def drift_figures(reference: DriftReference, recent: pd.DataFrame) -> pd.DataFrame:
    """One row per reference column present in ``recent``: :data:`DRIFT_COLUMNS`, where
    ``n`` counts the finite recent values and ``missing_share`` the share of NaN ones. A
    column drifts by :func:`drifted`."""
    rows: list[dict[str, object]] = []
    for name, column in reference.columns.items():
        if name not in recent.columns:
            continue
        values = recent[name].to_numpy(dtype=np.float64)
        finite = values[np.isfinite(values)]
        statistic = p_value = math.nan
        if len(finite) >= MIN_ROWS and len(column.sample):
            test = stats.ks_2samp(column.sample, finite)
            statistic, p_value = float(test.statistic), float(test.pvalue)
        rows.append(
            {
                "subject": name,
                "psi": population_stability(column, values),
                "psi_threshold": column.psi_threshold,
                "ks_statistic": statistic,
                "ks_threshold": column.ks_threshold,
                "ks_p_value": p_value,
                "n": len(finite),
                "missing_share": 1.0 - len(finite) / len(values) if len(values) else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
