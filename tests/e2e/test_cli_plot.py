"""``stockpred data show --plot``: a chart people can look at, or a clear word on the extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stockpred.cli.app import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_option_writes_a_png_chart_of_the_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "sample", "--json"]) == 0
    chart = tmp_path / "charts" / "aapl.png"

    code = main(["data", "show", "AAPL", "--start", "2004-01-01", "--plot", str(chart)])

    assert code == 0
    data = chart.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000  # a real two-panel chart, not an empty canvas
    assert "chart saved to" in capsys.readouterr().err


def test_plot_without_matplotlib_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "sample", "--json"]) == 0
    capsys.readouterr()
    # None in sys.modules makes any import of the name fail, as on an install without it.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)

    code = main(["data", "show", "AAPL", "--plot", str(tmp_path / "x.png")])

    err = capsys.readouterr().err
    assert code == 1
    assert "pip install 'stockpred[plot]'" in err
    assert not (tmp_path / "x.png").exists()
