"""Walk-forward splits over dates, purged and embargoed.

Dates are the distinct feature dates of the panel (bar closes, one per session). A fold trains on
dates up to a cut and tests on the next ``test_size`` dates; the model is refitted every fold.
A training row at date d carries a label that ends ``horizon`` sessions later, so the last
``horizon`` dates before the test block are *purged* (their labels overlap the test period) and
``embargo`` more dates are left out after them. Tuning and calibration split the training window
again the same way (:func:`inner_split`), so nothing of the test block is ever seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from stockpred.domain.errors import ModelError

__all__ = ["Fold", "WalkForward", "inner_split"]


@dataclass(frozen=True, slots=True)
class Fold:
    """One refit: train on ``train`` dates, test on ``test`` dates (both sorted)."""

    number: int
    train: pd.DatetimeIndex
    test: pd.DatetimeIndex


@dataclass(frozen=True, slots=True)
class WalkForward:
    """``min_train``: dates in the first training window; ``test_size``: dates per test block
    (the refit interval); ``window``: rolling training length in dates, None for expanding;
    ``embargo``: dates skipped after the purge."""

    horizon: int
    min_train: int = 504
    test_size: int = 63
    embargo: int = 5
    window: int | None = None

    def __post_init__(self) -> None:
        for name in ("horizon", "min_train", "test_size"):
            if getattr(self, name) < 1:
                raise ModelError(f"walk-forward {name} must be >= 1, got {getattr(self, name)}")
        if self.embargo < 0:
            raise ModelError(f"walk-forward embargo must be >= 0, got {self.embargo}")
        if self.window is not None and self.window < 1:
            raise ModelError(f"walk-forward window must be >= 1 or None, got {self.window}")

    @property
    def gap(self) -> int:
        """Dates between the last training date and the first test date, exclusive."""
        return self.horizon + self.embargo

    def folds(self, dates: pd.DatetimeIndex) -> list[Fold]:
        """The folds over ``dates`` (distinct, any order). The first test block starts after
        ``min_train`` dates plus the gap; the last may be shorter."""
        ordered = pd.DatetimeIndex(dates).unique().sort_values()
        first_test = self.min_train + self.gap
        if len(ordered) <= first_test:
            raise ModelError(
                f"{len(ordered)} dates are too few for a walk-forward with {self.min_train} "
                f"training dates, a {self.horizon}-date purge and a {self.embargo}-date "
                f"embargo; need more than {first_test} (lower --min-train)"
            )
        folds: list[Fold] = []
        for number, start in enumerate(range(first_test, len(ordered), self.test_size)):
            end = start - self.gap
            begin = 0 if self.window is None else max(0, end - self.window)
            folds.append(Fold(number, ordered[begin:end], ordered[start : start + self.test_size]))
        return folds


def inner_split(
    train: pd.DatetimeIndex, *, holdout: int, gap: int
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Split a training window into (fit, holdout) dates: the last ``holdout`` dates are held
    out and ``gap`` dates before them are dropped, so the fit part's labels end before the
    holdout begins. Used for tuning and for conformal calibration."""
    if holdout < 1 or len(train) < holdout + gap + 1:
        raise ModelError(
            f"a training window of {len(train)} dates cannot hold out {holdout} dates after a "
            f"{gap}-date gap"
        )
    return train[: len(train) - holdout - gap], train[len(train) - holdout :]
