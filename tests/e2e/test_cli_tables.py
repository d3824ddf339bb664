"""Every table the command line prints, read in an 80-column terminal: no line is wider, no value
is cut with an ellipsis, and the values that matter (full model names, R², the rank IC interval,
dates, volumes, tickers, paths) are there whole.

Each command runs once per module in process, with ``COLUMNS=80`` as a terminal would set it; the
tests read what it printed."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from stockpred.cli.app import main

FAST = ["--models", "ridge", "--no-tune", "--test-size", "504", "--min-train", "756"]
BASELINES = ("ar1", "mean_drift", "momentum", "random_walk", "reversal")
YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
SESSIONS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def text(self) -> str:
        """stdout with the table rules and padding reduced to single spaces."""
        return " ".join(re.sub(r"[│┃┆╎]", " ", self.out).split())

    def cells(self, table: int | None = None) -> list[list[str]]:
        """The stripped cells of each body line of the tables printed (of the ``table``-th
        only, counting from 0, if given)."""
        rows: list[list[str]] = []
        seen = -1
        for line in self.out.splitlines():
            seen += line.startswith("┏")
            if line.startswith("│") and table in (None, seen):
                rows.append([c.strip() for c in line.split("│")[1:-1]])
        return rows


Cli = Callable[..., Run]


def _cli(*args: str | Path) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


def assert_fits(run: Run, *values: str) -> None:
    """At most 80 columns, no ellipsis, and each of ``values`` printed whole on one line."""
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines, run.err
    widest = max(lines, key=cell_len)
    assert cell_len(widest) <= 80, f"{cell_len(widest)} columns:\n{run.out}"
    assert "…" not in run.out, run.out
    for value in values:
        assert value in run.out, f"{value!r} not printed whole:\n{run.out}"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the module's data home (``home/``) and working directory."""
    return tmp_path_factory.mktemp("tables")


@pytest.fixture
def narrow(home: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI in the module's home, in an 80-column terminal."""
    monkeypatch.setenv("STOCKPRED_HOME", str(home / "home"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(home)
    return _cli


@dataclass(frozen=True)
class Sample:
    ingest: Run
    evaluate: Run
    evaluate_rank: Run
    evaluate_rank_json: Run
    train: Run


@pytest.fixture(scope="module")
def sample(home: Path, isolate: Callable[..., None]) -> Sample:
    """The packaged sample ingested (as text), features built, evaluated and trained once."""
    report = home / "report"
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home=home / "home", cwd=home)
        patch.setenv("COLUMNS", "80")
        ingest = _cli("ingest", "sample")
        assert _cli("features", "build", "--json").code == 0
        return Sample(
            ingest=ingest,
            evaluate=_cli("evaluate", *FAST, "--out", report),
            evaluate_rank=_cli("evaluate", *FAST, "--target", "rank", "--out", report),
            evaluate_rank_json=_cli(
                "evaluate", *FAST, "--target", "rank", "--out", report, "--json"
            ),
            train=_cli("train", *FAST),
        )


@pytest.fixture(scope="module")
def dev_ingest(
    tmp_path_factory: pytest.TempPathFactory, isolate: Callable[..., None], dev_prices: Path
) -> tuple[Path, Run]:
    """The real 241-stock dev file ingested into a home of its own, as text."""
    root = tmp_path_factory.mktemp("tables-dev")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home=root / "home", cwd=root)
        patch.setenv("COLUMNS", "80")
        run = _cli("ingest", "file", dev_prices)
    return root / "home", run


@pytest.fixture
def in_dev_home(dev_ingest: tuple[Path, Run], narrow: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("STOCKPRED_HOME", str(dev_ingest[0]))
    return narrow


# -- ingest ------------------------------------------------------------------------------------


def test_ingest_of_the_dev_file_names_it_once_and_counts_its_tickers(
    dev_ingest: tuple[Path, Run], dev_prices: Path
) -> None:
    run = dev_ingest[1]

    assert_fits(run, f"Inputs in {dev_prices.parent}", "294,890", "82,186")
    [inputs] = [row for row in run.cells() if row[0] == dev_prices.name]
    assert inputs[1:] == ["241", "column Name", "294,890", "294,877", "13"]
    # One input: its name is in the rejects table's title, not on each of its rows.
    assert f"rows rejected in {dev_prices.name}" in run.text
    assert str(dev_prices) not in run.text.replace(f"Inputs in {dev_prices.parent}", "")


def test_ingest_of_a_folder_of_downloads_shows_each_file_and_its_ticker(
    narrow: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = Path("a", "deep", "folder", "of", "yahoo", "downloads")
    tickers = [f"T{i:02d}" for i in range(12)]
    folder.mkdir(parents=True)
    for i, ticker in enumerate(tickers):
        lines = [YAHOO_HEADER]
        for j, day in enumerate(SESSIONS):
            price = 10.0 + i + j
            lines.append(f"{day},{price},{price + 1},{price - 1},{price},{price},{1000 + j}")
        (folder / f"{ticker}.csv").write_text("\n".join(lines) + "\n")

    run = narrow("ingest", "file", str(folder / "*.csv"))

    assert_fits(run, f"Inputs in {folder}")
    rows = {row[0]: row for row in run.cells() if row and row[0].endswith(".csv")}
    assert sorted(rows) == [f"{t}.csv" for t in tickers]
    assert all(rows[f"{t}.csv"][1:4] == [t, "file name", "5"] for t in tickers)


def test_ingest_sample_lists_its_inputs_and_splits(sample: Sample) -> None:
    run = sample.ingest

    assert_fits(run, "bokeh-sampledata:stocks", "arch:sp500", "2005-02-28")
    splits = [row for row in run.cells() if row[:3] == ["AAPL", "2005-02-28", "2:1"]]
    assert splits
    assert splits[0][-1] == "yes"


# -- data --------------------------------------------------------------------------------------


def test_data_show_prints_whole_dates_prices_and_volumes(in_dev_home: Cli) -> None:
    run = in_dev_home("data", "show", "AAPL", "--limit", "3")

    assert_fits(run, "from file:sp500_5yr_dev.csv")
    assert run.cells() == [
        ["2018-02-05", "159.10", "163.88", "156.00", "156.49", "", "72.7M"],
        ["2018-02-06", "154.83", "163.72", "154.00", "163.03", "", "68.2M"],
        ["2018-02-07", "163.09", "163.40", "159.07", "159.54", "", "51.6M"],
    ]


def test_data_show_wide_gives_full_volumes_and_the_source_in_a_wider_terminal(
    in_dev_home: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")

    run = in_dev_home("data", "show", "AAPL", "--limit", "1", "--wide")

    assert run.code == 0, run.err
    assert max(cell_len(line) for line in run.out.splitlines()) <= 100
    assert run.cells() == [
        [
            "2018-02-07",
            "163.085",
            "163.4",
            "159.0685",
            "159.54",
            "",
            "51,608,580",
            "file:sp500_5yr_dev.csv",
        ]
    ]


def test_data_list_prints_every_ticker_with_its_source(in_dev_home: Cli) -> None:
    run = in_dev_home("data", "list")

    assert_fits(run, "file:sp500_5yr_dev.csv", "2013-02-08", "2018-02-07")
    assert len([row for row in run.cells() if row[0]]) == 241


@pytest.mark.usefixtures("sample")
def test_data_macro_prints_release_times_to_the_minute(narrow: Cli) -> None:
    listed = narrow("data", "macro")
    series = narrow("data", "macro", "CPILFESL", "--limit", "3")

    assert_fits(listed, "CPILFESL", "1957-01-01", "2018-12-31 13:30")
    assert_fits(series, "2018-11-01", "259.481", "2018-12-31 13:30")


# -- features, settings, providers, clients ----------------------------------------------------


@pytest.mark.usefixtures("sample")
def test_features_show_and_list_keep_every_output_name_whole(narrow: Cli) -> None:
    shown = narrow("features", "show", "daily_v1")
    listed = narrow("features", "list")

    assert_fits(shown, "bollinger_bandwidth_20_2", "macd_signal_12_26_9", "high_low_distance")
    assert_fits(listed, "daily_v1")


def test_config_show_keeps_paths_and_variables_whole(narrow: Cli, home: Path) -> None:
    run = narrow("config", "show")
    wide = narrow("config", "show", "--wide")

    assert_fits(run, str(home / "home"), "env STOCKPRED_HOME", "ingest_max_decompressed_bytes")
    assert wide.code == 0
    assert "…" not in wide.out


def test_sources_name_the_variable_of_each_missing_key(narrow: Cli) -> None:
    run = narrow("sources")

    assert_fits(run, "nasdaqdatalink", "alphavantage_news", "50000/day")
    assert "nasdaqdatalink: set STOCKPRED_NASDAQ_DATA_LINK_API_KEY" in run.out


def test_clients_list_keeps_the_client_id_whole(narrow: Cli) -> None:
    created = narrow(
        "clients", "create", "--name", "trading desk", "--json",
        "--scopes", "predictions:read,stream:read,webhooks:write,models:write",
    ).json()  # fmt: skip

    run = narrow("clients", "list")

    assert_fits(run, created["client_id"], "predictions:read", "webhooks:write")


# -- the leaderboard ---------------------------------------------------------------------------


def leaderboard(run: Run) -> dict[str, list[str]]:
    """The rows of the first table printed, by model."""
    return {row[0]: row[1:] for row in run.cells(0) if row[0] in (*BASELINES, "ridge")}


def test_evaluate_leaderboard_keeps_model_names_r2_and_the_interval(sample: Sample) -> None:
    run = sample.evaluate

    assert_fits(run, "mean_drift", "random_walk", "R² oos")
    board = leaderboard(run)
    assert sorted(board) == sorted((*BASELINES, "ridge"))
    interval = re.compile(r"^-?\.\d{3} \[-?\.\d{3},-?\.\d{3}\]$")
    assert all(interval.match(board[m][0]) for m in board if m != "random_walk"), board
    assert all(re.match(r"^(-?\d+\.\d{2}|<-9\.99)$", board[m][3]) for m in board), board


def test_train_prints_the_same_leaderboard(sample: Sample) -> None:
    assert_fits(sample.train, "mean_drift", "random_walk", "champion:")


@pytest.mark.usefixtures("sample")
def test_models_list_fits(narrow: Cli) -> None:
    run = narrow("models", "list")

    assert_fits(run, "yes")


# -- figures with no meaning -------------------------------------------------------------------


def test_the_random_walk_picks_nothing_so_its_sharpe_ratios_are_a_dash(sample: Sample) -> None:
    run = sample.evaluate

    board = leaderboard(run)
    assert board["random_walk"][-2:] == ["-", "-"]
    assert all(board[m][-1] != "-" for m in board if m != "random_walk")
    assert "random_walk: its forecasts are equal across tickers on" in run.text
    assert 'so its portfolios pick nothing: their figures are shown as "-"' in run.text


def test_a_rank_target_shows_a_dash_for_figures_in_return_units(sample: Sample) -> None:
    run = sample.evaluate_rank

    assert_fits(run, "mean_drift", "random_walk")
    board = leaderboard(run)
    for model in ("ridge", "mean_drift", "momentum"):
        assert board[model][2:4] == ["-", "-"], board  # dir acc, R² oos
        assert board[model][0] != "-"  # the rank IC means the same
    assert board["random_walk"][3] == "0.00"
    coverage = {row[0]: row[1:] for row in run.cells(1)}
    assert coverage["ridge"] == ["-", "-"]
    assert all(value != "-" for value in coverage["random_walk"])
    assert "fitted on the rank target, so they predict percentiles, not returns" in run.text


def test_a_rank_target_gives_null_for_figures_in_return_units_in_json(sample: Sample) -> None:
    payload = sample.evaluate_rank_json.json()

    board = {row["model"]: row for row in payload["leaderboard"]}
    for name in ("rmse", "r2_oos", "da", "dm_p_value", "coverage", "interval_width"):
        assert board["ridge"][name] is None, name
    assert isinstance(board["ridge"]["rank_ic_mean"], float)
    assert isinstance(board["random_walk"]["rmse"], float)
    intervals = {(row["model"], row["method"]): row["coverage"] for row in payload["intervals"]}
    assert intervals[("ridge", "garch")] is None
    assert intervals[("ridge", "conformal")] is None
    assert 0.5 < intervals[("random_walk", "garch")] < 1.0
    # The random walk's portfolios: null figures, and the count of dates that says why.
    walk = board["random_walk"]
    assert walk["long_only_sharpe_net"] is None
    assert walk["long_short_sharpe_net"] is None
    assert walk["long_only_hit_rate_net"] is None
    assert walk["long_only_tied_dates"] == walk["long_only_days"] > 0
    assert board["ridge"]["long_only_tied_dates"] < board["ridge"]["long_only_days"]
    assert isinstance(board["ridge"]["long_only_sharpe_net"], float)
    notes = " ".join(payload["notes"])
    assert "--top-k 10 was reduced to 2 per leg" in notes
    assert "predict percentiles, not returns" in notes
    assert "random_walk: its forecasts are equal across tickers" in notes
