"""``stockpred sentiment``: score financial text by hand, one JSON object per line."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from stockpred.cli.runtime import runtime_of
from stockpred.domain.errors import InputFileError

# The scorers (and pandas under them) load when text is scored, so that `--help` does not pay
# for them.
if TYPE_CHECKING:
    from stockpred.sentiment import SentimentScorer

__all__ = ["sentiment_app"]

STDIN = "-"
# Texts scored per round, so output starts before a long file is finished.
_BATCH = 256

sentiment_app = typer.Typer(
    help="Score the sentiment of financial text (Loughran-McDonald, VADER, the embedding "
    "scorer with stockpred[sentiment], optional FinBERT).",
    no_args_is_help=True,
    epilog="Example: echo 'Shares slump after profit warning' | stockpred sentiment score",
)


def _read_texts(file: str) -> tuple[list[str], str]:
    """Non-blank lines of ``file`` (or standard input for '-'), stripped; and the source's name."""
    if file == STDIN:
        source = "standard input"
        try:
            content = sys.stdin.read()
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{source} is not UTF-8 text ({exc.reason})") from exc
    else:
        path = Path(file)
        source = repr(file)
        if not path.exists():
            raise InputFileError(f"{source} does not exist; check the path")
        if not path.is_file():
            raise InputFileError(f"{source} is not a file; give a text file, one text per line")
        try:
            content = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{source} is not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise InputFileError(f"{source} cannot be read: {exc.strerror}") from exc
    texts = [line.strip() for line in content.splitlines()]
    return [text for text in texts if text], source


def _lines(texts: Sequence[str], scorers: Sequence[SentimentScorer]) -> list[str]:
    by_scorer = [scorer.score(texts) for scorer in scorers]
    lines = []
    for index, text in enumerate(texts):
        scores = {
            scorer.name: {
                "score": round(scored[index].score, 4),
                "label": scored[index].label,
            }
            for scorer, scored in zip(scorers, by_scorer, strict=True)
        }
        lines.append(json.dumps({"text": text, "scores": scores}, ensure_ascii=False))
    return lines


@sentiment_app.command(
    "score",
    epilog="Examples: stockpred sentiment score headlines.txt  |  "
    "echo 'Profit beats forecasts; shares rise' | stockpred sentiment score -",
)
def score(
    ctx: typer.Context,
    file: str = typer.Argument(
        STDIN,
        help="Text file, one text per line (UTF-8; blank lines are skipped). '-' or nothing: "
        "standard input.",
        show_default=False,
    ),
) -> None:
    """Score each line with every scorer; print one JSON object per line.

    Output: {"text": ..., "scores": {"loughran_mcdonald": {"score": s, "label": l}, "vader": ...}}

    Scores lie in -1..1; labels are positive, negative or neutral.

    "embedding" joins the scores when the sentiment extra is installed, "finbert" when the
    finbert_model_dir setting names a local model.
    """
    from stockpred.sentiment import build_scorers

    runtime = runtime_of(ctx)
    texts, source = _read_texts(file)
    if not texts:
        raise InputFileError(
            f"{source} holds no text; give one text per line, e.g. "
            "echo 'Shares slump after profit warning' | stockpred sentiment score"
        )
    scorers = build_scorers(finbert_model_dir=runtime.settings.finbert_model_dir)
    out = runtime.out.file
    for start in range(0, len(texts), _BATCH):
        for line in _lines(texts[start : start + _BATCH], scorers):
            out.write(line + "\n")
    out.flush()
