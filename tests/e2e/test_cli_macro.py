"""``stockpred data macro``: the macro series, and each as it was known at a date."""

from __future__ import annotations

import json

import pytest

from stockpred.cli.app import main


@pytest.fixture
def sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "sample", "--json"]) == 0
    capsys.readouterr()


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert main(["data", "macro", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.usefixtures("sample")
def test_macro_lists_the_four_sample_series(capsys: pytest.CaptureFixture[str]) -> None:
    listed = _json(capsys)

    assert isinstance(listed, list)
    by_id = {row["series_id"]: row for row in listed}
    assert set(by_id) == {"AAA", "BAA", "CPILFESL", "VIXCLS"}
    assert by_id["CPILFESL"]["first_period"] == "1957-01-01"


@pytest.mark.usefixtures("sample")
def test_macro_as_of_shows_only_values_released_by_that_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    points = _json(capsys, "CPILFESL", "--as-of", "2008-10-01")

    assert isinstance(points, list)
    # August 2008 CPI is known by the end of September; September's is not yet.
    assert points[-1]["period"] == "2008-08-01"
    assert all(p["released_at"] <= "2008-10-01T23:59:59.999999+00:00" for p in points)
    later = _json(capsys, "CPILFESL", "--as-of", "2008-11-01")
    assert isinstance(later, list)
    assert later[-1]["period"] == "2008-09-01"
    assert later[: len(points)] == points  # what was known then does not change later


@pytest.mark.usefixtures("sample")
def test_unknown_macro_series_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["data", "macro", "NOPE"])

    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: no macro series 'NOPE'")
    assert err.count("\n") == 1
