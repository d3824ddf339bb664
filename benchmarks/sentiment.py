"""Sentiment scorers against labelled financial text, next to the majority-class baseline.

Prints one JSON object: for SemEval-2017 Task 5 headlines and FiQA posts, the number of items, the
gold label counts, and accuracy, macro-F1 and per-label F1 of each scorer (Loughran-McDonald,
VADER, the embedding scorer when the ``sentiment`` extra is installed, and the transformer when
--finbert-model-dir names a local model) and of the baseline that always predicts the most
frequent gold label; and each scorer's throughput (texts per second, and relative to
Loughran-McDonald) in the same run.

Gold labels, fixed before any scorer was run and never tuned: the sign of the annotated score
(positive > 0, negative < 0, neutral exactly 0); a FiQA post's score is the mean of its
annotations (every post in the file has one). Macro-F1 averages the F1 of the labels that occur in
the gold labels of that set. ``committed_*`` is a diagnostic: the share of items a scorer labels
positive or negative, and its accuracy on those.

    python benchmarks/sentiment.py [--data ../shared/data/sentiment] [--finbert-model-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from stockpred.sentiment import SentimentScorer, build_scorers
from stockpred.sentiment.base import Label
from stockpred.sentiment.evaluation import (
    accuracy,
    f1_by_label,
    gold_label,
    macro_f1,
    majority_label,
)
from stockpred.sentiment.scorers import embedding_scorer_installed

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sentiment"
SEMEVAL = "SemEval2017Task5Headlines.json"
FIQA = "FiQA_post.json"


def load_semeval(path: Path) -> tuple[list[str], list[Label]]:
    """Headlines ``[{id, company, title, sentiment}]``: the title and the sign of sentiment."""
    items = json.loads(path.read_text(encoding="utf-8"))
    return [i["title"] for i in items], [gold_label(float(i["sentiment"])) for i in items]


def load_fiqa(path: Path) -> tuple[list[str], list[Label]]:
    """Posts ``{id: {sentence, info: [{sentiment_score, target, ...}]}}``: the sentence, and the
    sign of the mean of its annotated scores."""
    posts = json.loads(path.read_text(encoding="utf-8"))
    texts, gold = [], []
    for post in posts.values():
        texts.append(post["sentence"])
        scores = [float(info["sentiment_score"]) for info in post["info"]]
        gold.append(gold_label(statistics.fmean(scores)))
    return texts, gold


def scores_of(gold: Sequence[Label], predicted: Sequence[Label]) -> dict[str, object]:
    # A diagnostic, not a headline number: how often the scorer commits to positive or negative,
    # and how often it is right when it does (lexicon scorers say neutral when no word matches).
    committed = [(g, p) for g, p in zip(gold, predicted, strict=True) if p != "neutral"]
    return {
        "accuracy": round(accuracy(gold, predicted), 4),
        "macro_f1": round(macro_f1(gold, predicted), 4),
        "f1_by_label": {k: round(v, 4) for k, v in f1_by_label(gold, predicted).items()},
        "predicted": dict(Counter(predicted).most_common()),
        "committed_share": round(len(committed) / len(gold), 4),
        "committed_accuracy": (
            round(sum(g == p for g, p in committed) / len(committed), 4) if committed else None
        ),
    }


def evaluate(
    texts: list[str], gold: list[Label], scorers: Sequence[SentimentScorer]
) -> dict[str, object]:
    majority = majority_label(gold)
    results: dict[str, object] = {
        "majority_baseline": scores_of(gold, [majority] * len(gold)),
    }
    seconds: dict[str, float] = {}
    for scorer in scorers:
        start = time.perf_counter()
        predicted = [s.label for s in scorer.score(texts)]
        seconds[scorer.name] = time.perf_counter() - start
        results[scorer.name] = scores_of(gold, predicted)
    per_second = {name: len(texts) / max(s, 1e-9) for name, s in seconds.items()}
    reference = per_second.get("loughran_mcdonald")
    return {
        "items": len(texts),
        "gold": dict(Counter(gold).most_common()),
        "majority_label": majority,
        "scores": results,
        "scoring_seconds": {name: round(s, 3) for name, s in seconds.items()},
        "texts_per_second": {name: round(r, 1) for name, r in per_second.items()},
        "speed_relative_to_loughran_mcdonald": (
            {name: round(r / reference, 4) for name, r in per_second.items()} if reference else None
        ),
    }


def subset(loaded: tuple[list[str], list[Label]], which: str) -> tuple[list[str], list[Label]]:
    """All items, or the even (``tune``) or odd (``report``) positions of the file."""
    texts, gold = loaded
    if which == "all":
        return texts, gold
    first = 0 if which == "tune" else 1
    return texts[first::2], gold[first::2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--finbert-model-dir", type=Path, default=None)
    parser.add_argument("--subset", choices=("all", "tune", "report"), default="all")
    args = parser.parse_args()
    paths = {"semeval2017_task5_headlines": args.data / SEMEVAL, "fiqa_posts": args.data / FIQA}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        print(f"no data at {', '.join(missing)}; pass --data", file=sys.stderr)
        return 1
    start = time.perf_counter()
    scorers = build_scorers(finbert_model_dir=args.finbert_model_dir)
    load_seconds = round(time.perf_counter() - start, 3)
    loaders = {"semeval2017_task5_headlines": load_semeval, "fiqa_posts": load_fiqa}
    report = {
        "benchmark": "sentiment",
        "gold_rule": "sign of the annotated score: positive > 0, negative < 0, neutral == 0",
        "macro_f1_over": "the labels present in each set's gold labels",
        "subset": args.subset,
        "scorers": [s.name for s in scorers],
        "embedding_scorer_installed": embedding_scorer_installed(),
        "scorers_load_seconds": load_seconds,
        "datasets": {
            name: {
                "file": paths[name].name,
                **evaluate(*subset(loaders[name](paths[name]), args.subset), scorers),
            }
            for name in paths
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
