"""The command line as a user drives it: `stockpred.cli.app.main` in process (fast), plus one run
of the installed console script to prove the entry point works."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from stockpred.cli.app import main
from stockpred.store.duckdb import DuckDBStore
from support.disk_full import fill_disk_on_commit

DEV_ROWS = 294_890
SAMPLE_TICKERS = ["AAPL", "FB", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"]
REJECT_COLUMNS = ["file", "row", "ticker", "date", "field", "value", "reason"]
# Consecutive XNYS sessions (1 January is a holiday, 6-7 January a weekend).
SESSIONS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        """The lines of stderr that hold something."""
        return [line for line in self.err.splitlines() if line.strip()]


Cli = Callable[..., Run]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``stockpred *args`` in process and return its exit code and output."""

    def run(*args: str | Path) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def _home() -> Path:
    return Path(os.environ["STOCKPRED_HOME"])


def stored_bar_count() -> int:
    """Bars in the store of the current STOCKPRED_HOME (0 if there is no store yet)."""
    path = _home() / "stockpred.duckdb"
    if not path.exists():
        return 0
    with DuckDBStore(path) as store:
        return len(store.read_bars())


def yahoo_file(path: Path, *, base: float = 100.0, days: list[str] = SESSIONS) -> Path:
    """A Yahoo download: ``Date,Open,High,Low,Close,Adj Close,Volume``, one ticker."""
    lines = [YAHOO_HEADER]
    for i, day in enumerate(days):
        price = base + i
        lines.append(
            f"{day},{price:.2f},{price + 1.5:.2f},{price - 1:.2f},{price + 0.5:.2f},"
            f"{price + 0.25:.2f},{1_000_000 + i}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# -- the sample data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleHome:
    home: Path
    ingest: Run


@pytest.fixture(scope="module")
def sample_home(
    tmp_path_factory: pytest.TempPathFactory, isolate: Callable[..., None]
) -> SampleHome:
    """A STOCKPRED_HOME after `stockpred ingest sample --json`, shared by read-only tests."""
    root = tmp_path_factory.mktemp("sample-home")
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        isolate(monkeypatch, home=root / "home", cwd=root)
        code = main(["ingest", "sample", "--json"])
    return SampleHome(home=root / "home", ingest=Run(code, out.getvalue(), err.getvalue()))


@pytest.fixture
def in_sample_home(sample_home: SampleHome, monkeypatch: pytest.MonkeyPatch) -> SampleHome:
    monkeypatch.setenv("STOCKPRED_HOME", str(sample_home.home))
    return sample_home


def test_ingest_sample_reports_seven_tickers_four_macro_series_and_no_rejects(
    sample_home: SampleHome,
) -> None:
    run = sample_home.ingest

    payload = run.json()

    assert run.code == 0, run.err
    assert payload["bars"]["inserted"] == sum(i["accepted"] for i in payload["inputs"]) > 0
    assert payload["macro"]["inserted"] > 0
    assert payload["rejected_rows"] == 0
    assert payload["rejects"] == []
    assert payload["rejects_file"] is None
    assert payload["missing_sessions"] == []
    splits = {(s["ticker"], s["date"], s["ratio"]) for s in payload["splits"]}
    assert ("AAPL", "2005-02-28", "2:1") in splits
    with DuckDBStore(sample_home.home / "stockpred.duckdb") as store:
        series = set(store.read_macro()["series_id"])
    assert series == {"AAA", "BAA", "CPILFESL", "VIXCLS"}


def test_data_list_after_ingest_sample_lists_seven_tickers_without_missing_sessions(
    cli: Cli, in_sample_home: SampleHome
) -> None:
    run = cli("data", "list", "--json")

    listed = run.json()

    assert run.code == 0, run.err
    assert [t["ticker"] for t in listed] == sorted(SAMPLE_TICKERS)
    assert [t["missing_sessions"] for t in listed] == [0] * 7
    assert {t["sources"] for t in listed} == {"sample"}
    assert sum(t["rows"] for t in listed) == in_sample_home.ingest.json()["bars"]["inserted"]


def test_data_show_gives_every_session_in_range_with_the_raw_split_day_close(
    cli: Cli, in_sample_home: SampleHome
) -> None:
    run = cli("data", "show", "AAPL", "--start", "2005-02-24", "--end", "2005-03-01", "--json")

    bars = run.json()

    assert run.code == 0, run.err
    assert [b["date"] for b in bars] == ["2005-02-24", "2005-02-25", "2005-02-28", "2005-03-01"]
    close = {b["date"]: b["close"] for b in bars}
    # AAPL split 2:1 on 2005-02-28: raw prices halve overnight, stored as received.
    assert close["2005-02-28"] == 44.86
    assert close["2005-02-25"] == pytest.approx(2 * 44.86, rel=0.02)


def test_data_show_of_an_unknown_ticker_exits_1_pointing_to_data_list(
    cli: Cli, in_sample_home: SampleHome
) -> None:
    run = cli("data", "show", "NOPE")

    assert run.code == 1
    assert run.out == ""
    assert len(run.err_lines) == 1
    assert run.err_lines[0].startswith("error:")
    assert "NOPE" in run.err_lines[0]
    assert "stockpred data list" in run.err_lines[0]


@pytest.mark.parametrize("option", ["--start", "--end"])
def test_data_show_with_a_date_that_is_not_a_date_exits_1(
    cli: Cli, in_sample_home: SampleHome, option: str
) -> None:
    run = cli("data", "show", "AAPL", option, "notadate")

    assert run.code == 1
    assert len(run.err_lines) == 1
    assert run.err_lines[0].startswith("error:")
    assert "notadate" in run.err_lines[0]
    assert "YYYY-MM-DD" in run.err_lines[0]


def test_second_ingest_sample_reports_everything_already_stored(
    cli: Cli, sample_home: SampleHome
) -> None:
    shutil.copytree(sample_home.home, _home())
    first = sample_home.ingest.json()

    run = cli("ingest", "sample", "--json")

    assert run.code == 0, run.err
    again = run.json()
    assert again["bars"] == {"inserted": 0, "updated": 0, "unchanged": first["bars"]["inserted"]}
    assert again["macro"] == {
        "inserted": 0,
        "updated": 0,
        "unchanged": first["macro"]["inserted"],
    }


# -- settings and help ---------------------------------------------------------------------------


def test_config_show_masks_a_secret_from_the_environment_and_names_its_origin(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "fred-key-do-not-print-3141"
    monkeypatch.setenv("STOCKPRED_FRED_API_KEY", secret)

    run = cli("config", "show", "--json")

    assert run.code == 0, run.err
    assert secret not in run.out
    settings = {row["name"]: row for row in run.json()}
    assert settings["fred_api_key"]["value"] == "********"
    assert settings["fred_api_key"]["origin"] == "env STOCKPRED_FRED_API_KEY"
    assert settings["home"]["value"] == str(_home())
    assert settings["home"]["origin"] == "env STOCKPRED_HOME"
    assert settings["newsapi_api_key"]["origin"] == "default"


COMMANDS = [
    ["ingest", "sample"],
    ["ingest", "file"],
    ["data", "list"],
    ["data", "show"],
    ["config", "show"],
]
GROUPS = [[], ["ingest"], ["data"], ["config"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_of_every_command_shows_an_example(cli: Cli, command: list[str]) -> None:
    run = cli(*command, "--help")

    assert run.code == 0
    assert "Example" in run.out
    assert f"stockpred {' '.join(command)}" in " ".join(run.out.split())


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(["stockpred", *g]))
def test_help_of_every_command_group_shows_an_example(cli: Cli, group: list[str]) -> None:
    run = cli(*group, "--help")

    assert run.code == 0
    assert "Example" in run.out


# -- ingest file -------------------------------------------------------------------------------


def test_ingest_file_reports_the_rejected_rows_of_the_dev_file_and_saves_them(
    cli: Cli, dev_prices: Path, dev_defects: pd.DataFrame, tmp_path: Path
) -> None:
    report = tmp_path / "out" / "rejects.csv"

    run = cli("ingest", "file", dev_prices, "--json", "--report", report)

    assert run.code == 0, run.err
    payload = run.json()
    [summary] = payload["inputs"]
    assert summary["rows"] == DEV_ROWS
    assert summary["accepted"] + summary["rejected"] == DEV_ROWS
    assert summary["rejected"] == payload["rejected_rows"] == dev_defects["row"].nunique()
    assert payload["bars"]["inserted"] == summary["accepted"]
    assert payload["rejects_file"] == str(report)
    saved = pd.read_csv(report)
    assert list(saved.columns) == REJECT_COLUMNS
    assert len(saved) == len(payload["rejects"])
    assert set(saved["row"]) == set(dev_defects["row"])
    assert set(saved["file"]) == {str(dev_prices)}
    assert saved["reason"].notna().all()
    assert stored_bar_count() == summary["accepted"]


def test_over_long_value_is_saved_once_per_row_and_shortened_in_the_rejects_report(
    cli: Cli, tmp_path: Path
) -> None:
    spy = yahoo_file(tmp_path / "SPY.csv")
    # 60,000 characters: within the line limit, far beyond the field limit.
    spy.write_text(spy.read_text() + "x" * 60_000 + "\n")
    report = tmp_path / "rejects.csv"

    run = cli("ingest", "file", spy, "--json", "--report", report)

    assert run.code == 0, run.err
    assert run.json()["rejected_rows"] == 1
    saved = pd.read_csv(report, dtype=str, keep_default_na=False)
    assert len(saved) == 1
    assert saved.loc[0, "row"] == str(len(SESSIONS) + 2)
    assert saved.loc[0, "value"] == "x" * 40 + "… (60,000 chars)"
    assert saved.loc[0, "date"] == saved.loc[0, "value"]
    assert report.stat().st_size < 1_000


def test_field_limit_comes_from_the_setting(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOCKPRED_INGEST_MAX_FIELD_CHARS", "16")
    spy = yahoo_file(tmp_path / "SPY.csv")
    # A good date, but longer than 16 characters.
    spy.write_text(spy.read_text() + "2024-01-09T00:00:00.000000,1,2,0.5,1.5,1.5,100\n")

    run = cli("ingest", "file", spy, "--json")

    assert run.code == 0, run.err
    [line] = run.json()["rejects"]
    assert (line["field"], line["reason"]) == (
        "date",
        "26 characters, more than the 16 a value may have (setting ingest_max_field_chars)",
    )


def test_yahoo_download_takes_its_ticker_from_the_file_name(cli: Cli, tmp_path: Path) -> None:
    spy = yahoo_file(tmp_path / "downloads" / "SPY.csv", base=470.0)

    run = cli("ingest", "file", spy, "--json")

    assert run.code == 0, run.err
    [summary] = run.json()["inputs"]
    assert (summary["layout"], summary["ticker_from"], summary["accepted"]) == (
        "single-ticker",
        "file name",
        len(SESSIONS),
    )
    shown = cli("data", "show", "SPY", "--json").json()
    assert [b["date"] for b in shown] == SESSIONS
    assert shown[0]["close"] == 470.5
    assert shown[0]["adj_close"] == 470.25


def test_glob_ingests_several_files_in_one_call(cli: Cli, tmp_path: Path) -> None:
    for i, ticker in enumerate(["AAA", "BBB", "CCC"]):
        yahoo_file(tmp_path / "downloads" / f"{ticker}.csv", base=10.0 * (i + 1))

    run = cli("ingest", "file", str(tmp_path / "downloads" / "*.csv"), "--json")

    assert run.code == 0, run.err
    payload = run.json()
    assert [Path(i["name"]).name for i in payload["inputs"]] == ["AAA.csv", "BBB.csv", "CCC.csv"]
    assert payload["bars"]["inserted"] == 3 * len(SESSIONS)
    listed = cli("data", "list", "--json").json()
    assert [t["ticker"] for t in listed] == ["AAA", "BBB", "CCC"]


@dataclass(frozen=True)
class Malformed:
    """A bad input: how to make it and what the error must mention."""

    make: Callable[[Path], list[str]]
    mentions: str


def _empty(tmp: Path) -> list[str]:
    (tmp / "empty.csv").write_bytes(b"")
    return [str(tmp / "empty.csv")]


def _no_date_column(tmp: Path) -> list[str]:
    (tmp / "nodate.csv").write_text("symbol,open,high,low,close,volume\nAAA,1,2,0.5,1.5,100\n")
    return [str(tmp / "nodate.csv")]


def _unknown_column_mapping(_tmp: Path) -> list[str]:
    return ["--columns", "Nope=ticker"]


def _binary(tmp: Path) -> list[str]:
    (tmp / "prices.csv").write_bytes(bytes(range(256)) * 8)
    return [str(tmp / "prices.csv")]


def _missing_path(tmp: Path) -> list[str]:
    return [str(tmp / "not-there.csv")]


def _huge_line(tmp: Path) -> list[str]:
    # The shape of the report: a small .csv.gz whose last line is megabytes of one field.
    with gzip.open(tmp / "HUGE.csv.gz", "wb") as out:
        out.write(f"{YAHOO_HEADER}\n2024-01-02,1,2,0.5,1.5,1.5,100\n".encode())
        out.write(b"x" * (4 * 1024 * 1024) + b"\n")
    return [str(tmp / "HUGE.csv.gz")]


MALFORMED = {
    "empty file": Malformed(_empty, "empty"),
    "no date column": Malformed(_no_date_column, "no date column"),
    "unknown --columns name": Malformed(_unknown_column_mapping, "Nope"),
    "binary file": Malformed(_binary, "binary"),
    "missing path": Malformed(_missing_path, "does not exist"),
    "huge line": Malformed(_huge_line, "line 3 is longer than 65,536 bytes"),
}


@pytest.fixture
def store_with_bars(cli: Cli, tmp_path: Path) -> int:
    """A store holding one ticker; returns how many bars it holds."""
    run = cli("ingest", "file", yahoo_file(tmp_path / "seed" / "OLD.csv"), "--json")
    assert run.code == 0, run.err
    count = stored_bar_count()
    assert count == len(SESSIONS)
    return count


@pytest.mark.parametrize("bad", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_exits_1_with_one_error_line_and_writes_nothing(
    cli: Cli, tmp_path: Path, store_with_bars: int, bad: Malformed
) -> None:
    # The good file comes first in the same call, so a partial write would show.
    good = yahoo_file(tmp_path / "new" / "NEW.csv")
    inputs = tmp_path / "inputs"
    inputs.mkdir()

    run = cli("ingest", "file", good, *bad.make(inputs))

    assert run.code == 1
    assert run.out == ""
    assert len(run.err_lines) == 1, run.err
    assert run.err_lines[0].startswith("error: ")
    assert bad.mentions in run.err_lines[0]
    assert stored_bar_count() == store_with_bars


def test_ingest_bounds_come_from_the_settings(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = yahoo_file(tmp_path / "SPY.csv")
    monkeypatch.setenv("STOCKPRED_INGEST_MAX_LINE_BYTES", "256")
    monkeypatch.setenv("STOCKPRED_INGEST_MAX_DECOMPRESSED_BYTES", "1024")
    wide = tmp_path / "WIDE.csv"
    wide.write_text(spy.read_text() + "2024-01-09," + "1" * 300 + ",2,0.5,1.5,1.5,100\n")
    big = tmp_path / "BIG.csv"
    big.write_text(spy.read_text() * 10)

    ok, long_line, too_big = (cli("ingest", "file", p) for p in (spy, wide, big))

    assert ok.code == 0, ok.err
    assert long_line.code == 1
    assert "line 7 is longer than 256 bytes" in long_line.err
    assert too_big.code == 1
    assert "is more than 1.0 KiB" in too_big.err


def test_full_disk_exits_1_with_one_line_and_leaves_the_store_as_it_was(
    cli: Cli, tmp_path: Path, store_with_bars: int
) -> None:
    with pytest.MonkeyPatch.context() as disk:
        fill_disk_on_commit(disk)
        run = cli("ingest", "file", yahoo_file(tmp_path / "new" / "NEW.csv"))

    assert run.code == 1
    assert run.err_lines == [
        f"error: could not write to the store at {_home() / 'stockpred.duckdb'}: No space left "
        f"on device; nothing of this batch ({len(SESSIONS)} rows of bars) was written; free "
        "space on that disk or point STOCKPRED_DUCKDB_PATH (or STOCKPRED_HOME) at another one"
    ]
    assert stored_bar_count() == store_with_bars


def test_error_output_is_exactly_one_line(cli: Cli, tmp_path: Path) -> None:
    run = cli("ingest", "file", *_empty(tmp_path))

    assert run.code == 1
    assert run.err.splitlines() == run.err_lines


# Brackets once went through Rich markup: '[old]' vanished and '[/old]' crashed.
@pytest.mark.parametrize("name", ["prices[old].csv", "prices[/old].csv"])
def test_error_message_shows_the_path_verbatim(cli: Cli, tmp_path: Path, name: str) -> None:
    run = cli("ingest", "file", str(tmp_path / name))

    assert run.code == 1
    assert len(run.err_lines) == 1
    assert name in run.err_lines[0]


def test_files_with_the_same_name_in_different_folders_are_reported_apart(
    cli: Cli, tmp_path: Path
) -> None:
    for year, days in (("2023", ["2023-12-28", "2023-12-29"]), ("2024", SESSIONS[:2])):
        yahoo_file(tmp_path / year / "SPY.csv", days=days)

    run = cli("ingest", "file", str(tmp_path / "*" / "SPY.csv"), "--json")

    assert run.code == 0, run.err
    assert [i["rows"] for i in run.json()["inputs"]] == [2, 2]


# -- the installed entry point -----------------------------------------------------------------


@pytest.fixture
def console_script() -> list[str]:
    script = Path(sys.executable).with_name("stockpred")
    if not script.is_file():
        pytest.skip(f"the console script is not installed beside {sys.executable}")
    return [str(script)]


def test_installed_console_script_ingests_and_reports_errors_with_exit_codes(
    console_script: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, "STOCKPRED_HOME": str(tmp_path / "script-home")}
    spy = yahoo_file(tmp_path / "SPY.csv")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*console_script, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=120,
        )

    ingested = run("ingest", "file", str(spy), "--json")
    missing = run("data", "show", "NOPE")

    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["bars"]["inserted"] == len(SESSIONS)
    assert (tmp_path / "script-home" / "stockpred.duckdb").is_file()
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert missing.stderr.strip().startswith("error:")
    assert "stockpred data list" in missing.stderr


def test_a_file_with_no_acceptable_row_exits_1_and_strict_fails_on_any_reject(
    cli: Cli, tmp_path: Path
) -> None:
    bad = tmp_path / "BAD.csv"
    bad.write_text(
        YAHOO_HEADER + "\nnot-a-date,1,2,0.5,1.5,1.5,100\n2024-13-45,1,2,0.5,1.5,1.5,1\n"
    )
    mixed = yahoo_file(tmp_path / "MIX.csv")
    mixed.write_text(mixed.read_text() + "not-a-date,1,2,0.5,1.5,1.5,100\n")

    nothing = cli("ingest", "file", bad)
    lenient = cli("ingest", "file", mixed)
    strict = cli("ingest", "file", mixed, "--strict")

    assert nothing.code == 1
    assert "no row was accepted (2 rejected)" in nothing.err
    assert lenient.code == 0, lenient.err
    assert strict.code == 1
    assert "1 rows rejected and --strict is set" in strict.err
    assert cli("data", "show", "MIX", "--json").json()  # the good rows were kept either way


def test_a_file_whose_day_month_order_cannot_be_decided_stores_nothing_until_it_is_given(
    cli: Cli, tmp_path: Path
) -> None:
    good = yahoo_file(tmp_path / "GOOD.csv")
    ambiguous = tmp_path / "EU.csv"
    ambiguous.write_text(
        YAHOO_HEADER + "\n06/09/2017,1,2,0.5,1.5,1.5,100\n06/12/2017,1,2,0.5,1.5,1.5,100\n"
    )

    refused = cli("ingest", "file", good, ambiguous)
    stored_after_refusal = stored_bar_count()
    wrong = cli("ingest", "file", ambiguous, "--date-format", "%Y")
    given = cli("ingest", "file", ambiguous, "--date-format", "%m/%d/%Y", "--json")

    assert refused.code == 1
    assert len(refused.err_lines) == 1, refused.err
    assert "EU.csv" in refused.err
    assert "--date-format" in refused.err
    assert stored_after_refusal == 0
    assert wrong.code == 1
    assert "needs a day (%d)" in wrong.err
    assert given.code == 0, given.err
    assert [r["date"][:10] for r in cli("data", "show", "EU", "--json").json()] == [
        "2017-06-09",
        "2017-06-12",
    ]


def test_ingest_sample_loads_only_the_parts_asked_for(cli: Cli) -> None:
    context = cli("ingest", "sample", "--parts", "indices,macro", "--json")
    assert context.code == 0, context.err
    held = {row["ticker"] for row in cli("data", "list", "--json").json()}
    macro_only = cli("ingest", "sample", "--parts", "macro")
    wrong = cli("ingest", "sample", "--parts", "bonds")

    assert held == {"^GSPC", "^IXIC"}
    assert context.json()["macro"]["inserted"] > 0
    assert macro_only.code == 0, macro_only.err
    assert wrong.code == 1
    assert "unknown sample part(s) bonds" in wrong.err
