"""`stockpred report daily` as a user runs it: on the served home (two ridge champions trained on
the whole sample, their forecasts of the last sessions in the ledger, the monitor run), and on
a home where a champion trained to mid-2011 has been scored for months; sent through the
routes to Slack and email on loopback; and the scheduler's report job."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from stockpred.cli.app import main
from stockpred.compose import open_registry
from stockpred.pipeline.daily_report_text import SECTIONS
from stockpred.pipeline.predict import load_champion
from stockpred.settings import load_settings
from stockpred.store.duckdb import DuckDBStore
from stockpred.store.schema import MODEL_PERFORMANCE
from support.ledger import forecasts_after_training
from support.monitored import build_monitored_home
from support.slack import slack_receiver
from support.smtp import smtp_server

pytest.importorskip("fpdf", reason="the report extra (fpdf2) draws the PDF")

SAMPLE_END = "2013-03-01"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _with_forecasts(home: Path) -> None:
    """The champions' forecasts of the sessions after their training data, and a monitor run."""
    settings = load_settings()
    registry = open_registry(settings)
    with DuckDBStore(home / "stockpred.duckdb") as store:
        for horizon in (1, 5):
            version, model = load_champion(registry, horizon=horizon, cache=home / "models")
            store.write_predictions(
                forecasts_after_training(
                    store, version, model, created_at=pd.Timestamp("2026-01-01", tz="UTC")
                )
            )
    assert main(["monitor", "--json"]) == 0


@pytest.fixture
def reported_home(home_copy: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    _with_forecasts(home_copy)
    capsys.readouterr()
    return home_copy


def test_report_daily_writes_the_page_and_the_pdf_of_the_latest_session(
    reported_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "report", "daily", "--out", str(out), "--json")
    assert code == 0, err
    payload = json.loads(stdout)

    assert payload["session"] == SAMPLE_END
    page = (out / f"daily-{SAMPLE_END}.html").read_text(encoding="utf-8")
    pdf = (out / f"daily-{SAMPLE_END}.pdf").read_bytes()
    assert payload["html"] == str(out / f"daily-{SAMPLE_END}.html")
    for section in SECTIONS:
        assert f"<h2 id='{section.key}'>" in page
    # Both champions forecast the five stocks as of the last session; h20 has no champion.
    assert page.count("5 tickers forecast as of the session") == 2
    assert "without a champion: 20" in page
    # Trained on the whole sample: nothing has matured after the training data.
    assert page.count("no realised accuracy yet: the monitor has not scored this champion") == 2
    assert re.search(r"\d+ of \d+ columns past their PSI and KS thresholds as of 2013-03-01", page)
    assert "7 of 7 tickers have a bar of the 2013-03-01 session" in page
    assert "no provider has run yet" in page
    assert page.count("src='data:image/png;base64,") == 2  # one forecast chart a champion
    assert not re.search(r"https?://", page)
    assert pdf.startswith(b"%PDF-")
    assert b"/Title (Data health)" in pdf
    fields = payload["fields"]
    assert set(fields) >= {"h1 top", "h1 bottom", "h5 top", "h5 bottom", "stale tickers"}
    assert payload["sent"] is None


def test_a_date_that_is_no_session_is_refused(
    reported_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "report", "daily", "--date", "2013-03-02", "--out", str(tmp_path))
    assert code == 1
    assert "2013-03-02 is not a XNYS session" in err
    assert "2013-03-01, 2013-03-04" in err


@pytest.fixture(scope="module")
def monitored_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ridge champion trained to mid-2011, its forecasts of every session to mid-2012 in the
    ledger, the monitor's scores of the last 40 sessions beside the baselines."""
    home = tmp_path_factory.mktemp("monitored") / "home"
    build_monitored_home(
        home,
        cut=pd.Timestamp("2011-06-30", tz="UTC"),
        until=pd.Timestamp("2012-06-29", tz="UTC"),
        now=datetime(2012, 7, 20, tzinfo=UTC),
    )
    return home


def test_the_verdict_follows_the_stored_scores_of_a_monitored_champion(
    monitored_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STOCKPRED_HOME", str(monitored_home))
    code, stdout, err = _run(capsys, "report", "daily", "--out", str(tmp_path), "--json")
    assert code == 0, err
    payload = json.loads(stdout)
    page = Path(payload["html"]).read_text(encoding="utf-8")

    # The verdict is what the monitor's latest stored scores say, computed here on their own.
    with DuckDBStore(monitored_home / "stockpred.duckdb") as store:
        scores = store.read_monitoring(MODEL_PERFORMANCE.name, horizon=5)
    latest = scores[scores["session"] == scores["session"].max()]
    champion = float(latest.loc[latest["role"] == "champion", "rank_ic"].iloc[0])
    baselines = latest[latest["role"] == "baseline"].dropna(subset=["rank_ic"])
    best = baselines.loc[baselines["rank_ic"].idxmax()]
    baseline = str(best["model"]).replace("_", " ")
    word = "trails" if champion < float(best["rank_ic"]) else "leads the best baseline,"
    expected = f"ridge {word} {baseline}"
    assert expected in page
    assert expected in payload["summary"]
    assert f"rank IC {champion:+.4f} against {float(best['rank_ic']):+.4f}" in page
    assert "no realised accuracy yet" not in page
    assert page.count("src='data:image/png;base64,") == 2  # the forecasts and the accuracy


def _routes(*routes: dict[str, object]) -> str:
    return json.dumps(list(routes))


def test_send_delivers_the_summary_to_slack_and_the_pdf_by_email(
    reported_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with slack_receiver() as receiver, smtp_server(tmp_path) as (mailbox, port, cert):
        monkeypatch.setenv(
            "STOCKPRED_NOTIFY_ROUTES",
            _routes(
                {"channel": "slack", "target": receiver.url, "kinds": ["report"]},
                {"channel": "email", "target": "desk@example.com", "kinds": ["report"]},
            ),
        )
        monkeypatch.setenv("STOCKPRED_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("STOCKPRED_SMTP_PORT", str(port))
        monkeypatch.setenv("STOCKPRED_SMTP_SENDER", "stockpred@example.com")
        monkeypatch.setenv("STOCKPRED_SMTP_CA_FILE", str(cert))
        code, stdout, err = _run(
            capsys, "report", "daily", "--out", str(tmp_path / "out"), "--send", "--json"
        )

    assert code == 0, err
    sent = json.loads(stdout)["sent"]
    assert [(s["channel"], s["outcome"]) for s in sent] == [
        ("slack", "delivered"),
        ("email", "delivered"),
    ]
    assert receiver.refused == []
    (message,) = receiver.messages
    assert "h5 top" in json.dumps(message)
    (mail,) = mailbox.messages
    assert mailbox.over_tls == [True]
    attachment = next(p for p in mail.walk() if p.get_content_type() == "application/pdf")
    assert attachment.get_filename() == f"daily-{SAMPLE_END}.pdf"
    assert (
        attachment.get_payload(decode=True)
        == (tmp_path / "out" / f"daily-{SAMPLE_END}.pdf").read_bytes()
    )


def test_a_route_that_keeps_failing_is_parked_and_the_command_exits_1(
    reported_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STOCKPRED_NOTIFY_ATTEMPTS", "2")
    with slack_receiver([(500, "rollup_error")] * 2) as receiver:
        monkeypatch.setenv(
            "STOCKPRED_NOTIFY_ROUTES", _routes({"channel": "slack", "target": receiver.url})
        )
        code, _, err = _run(capsys, "report", "daily", "--out", str(tmp_path), "--send")

    assert code == 1
    assert receiver.posts == 2
    assert "parked" in err
    assert "stockpred notify dead-letters" in " ".join(err.split())
    code, stdout, _ = _run(capsys, "notify", "dead-letters", "--json")
    assert code == 0
    (letter,) = json.loads(stdout)
    assert letter["title"] == f"stockpred daily report, XNYS session of {SAMPLE_END}"
    assert letter["last_error"] == "HTTP 500 rollup_error"
    assert letter["attempts"] == 2


def test_send_without_a_route_for_reports_is_refused(
    reported_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(
        "STOCKPRED_NOTIFY_ROUTES",
        _routes({"channel": "email", "target": "pager@example.com", "kinds": ["alert"]}),
    )
    code, _, err = _run(capsys, "report", "daily", "--out", str(tmp_path), "--send")

    assert code == 1
    assert "no notify route takes reports" in err
    assert not list(tmp_path.glob("daily-*"))


def test_the_scheduler_writes_the_report_of_the_session_that_closed(
    reported_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STOCKPRED_UNIVERSE", '["AAPL", "MSFT"]')
    code, stdout, err = _run(capsys, "scheduler", "--list", "--json")
    assert code == 0, err
    jobs = {job["job"]: job for job in json.loads(stdout)}
    assert jobs["report"]["disabled"] is None
    assert jobs["report"]["next_runs"][0] > jobs["monitor"]["next_runs"][0]

    code, stdout, err = _run(capsys, "scheduler", "--run", "report", "--json")
    assert code == 0, err
    summary = json.loads(stdout)["summary"]
    assert summary.endswith("no route takes reports")
    (page,) = (reported_home / "reports" / "daily").glob("daily-*.html")
    # The session that just closed, years after the sample: every stock is stale, and it says so.
    assert page.name != f"daily-{SAMPLE_END}.html"
    text = page.read_text(encoding="utf-8")
    assert "stale: AAPL, FB, GOOG, IBM, MSFT" in text
    assert (page.parent / page.name.replace(".html", ".pdf")).is_file()
