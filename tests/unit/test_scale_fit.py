"""The scaling fit of benchmarks/scale.py: the line every extrapolated figure comes from."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from support.scripts import load_file

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


def _scale() -> ModuleType:
    return load_file(_PATH, name="bench_scale")


def test_fit_of_exactly_linear_times_recovers_the_line_and_exponent_near_one() -> None:
    scale = _scale()
    fit = scale.fit_scaling([1_000, 2_000, 4_000], [2.5, 4.5, 8.5])
    assert fit["intercept_s"] == pytest.approx(0.5)
    assert fit["slope_s_per_unit"] == pytest.approx(0.002)
    assert scale.predict_seconds(fit, 50_000) == pytest.approx(100.5)


def test_fit_of_proportional_times_has_exponent_one() -> None:
    fit = _scale().fit_scaling([500, 5_000], [1.0, 10.0])
    assert fit["exponent"] == pytest.approx(1.0)
    assert fit["intercept_s"] == pytest.approx(0.0, abs=1e-9)


def test_one_point_gives_a_line_through_the_origin() -> None:
    fit = _scale().fit_scaling([500], [2.0])
    assert fit == {"intercept_s": 0.0, "slope_s_per_unit": 0.004, "exponent": 1.0}


def test_a_negative_intercept_never_makes_a_size_cheaper_than_its_slope_share() -> None:
    scale = _scale()
    fit = {"intercept_s": -5.0, "slope_s_per_unit": 0.001, "exponent": 1.2}
    assert scale.predict_seconds(fit, 1_000) == pytest.approx(1.0)


def test_mismatched_sizes_and_times_are_refused() -> None:
    with pytest.raises(ValueError, match="as many sizes as times"):
        _scale().fit_scaling([1, 2], [1.0])
