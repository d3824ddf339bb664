"""An optional transformer classifier (FinBERT-style), loaded only from a local directory.

It is used only when ``finbert_model_dir`` is set, needs the ``nlp`` extra (transformers) and a
backend (the ``torch`` extra), and is loaded with ``local_files_only=True``: nothing is ever
downloaded. The model must be a sequence classifier whose labels (``config.id2label``) name
``positive`` and ``negative`` (``neutral`` optional), as FinBERT's do. The score is
P(positive) - P(negative), in [-1, 1]; the label is the most probable class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from stockpred.domain.errors import ConfigurationError
from stockpred.extras import import_optional
from stockpred.sentiment.base import LABELS, Label, SentimentScore

__all__ = ["TransformerScorer", "load_transformer_scorer", "scores_from_probabilities"]

# Label -> probability for one text.
Probabilities = Mapping[str, float]
_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_WHAT_TO_PUT_THERE = (
    "put there a sequence-classification model saved with save_pretrained (config.json, "
    "model.safetensors or pytorch_model.bin, and the tokenizer files), e.g. ProsusAI/finbert "
    "fetched on a machine with internet access, or unset finbert_model_dir"
)


def scores_from_probabilities(probabilities: Probabilities) -> SentimentScore:
    """P(positive) - P(negative), labelled with the most probable of the three classes."""
    known = {label: float(probabilities.get(label, 0.0)) for label in LABELS}
    value = min(1.0, max(-1.0, known["positive"] - known["negative"]))
    label: Label = max(LABELS, key=lambda name: known[name])
    return SentimentScore(score=value, label=label)


@dataclass(frozen=True, slots=True)
class TransformerScorer:
    """``predict`` maps a batch of texts to one label -> probability mapping per text."""

    predict: Callable[[Sequence[str]], list[Probabilities]]
    batch_size: int = 32
    name: str = "finbert"

    def score(self, texts: Sequence[str]) -> list[SentimentScore]:
        """One score per text, predicted ``batch_size`` texts at a time."""
        scores: list[SentimentScore] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            scores.extend(scores_from_probabilities(p) for p in self.predict(batch))
        return scores


def _check_model_dir(model_dir: Path) -> None:
    where = f"finbert_model_dir {str(model_dir)!r}"
    if not model_dir.exists():
        raise ConfigurationError(f"{where} does not exist; {_WHAT_TO_PUT_THERE}")
    if not model_dir.is_dir():
        raise ConfigurationError(f"{where} is not a directory; {_WHAT_TO_PUT_THERE}")
    if not any(model_dir.iterdir()):
        raise ConfigurationError(f"{where} is empty; {_WHAT_TO_PUT_THERE}")
    if not (model_dir / "config.json").is_file():
        raise ConfigurationError(f"{where} has no config.json; {_WHAT_TO_PUT_THERE}")
    if not any((model_dir / name).is_file() for name in _WEIGHT_FILES):
        raise ConfigurationError(
            f"{where} has no model weights ({', '.join(_WEIGHT_FILES)}); {_WHAT_TO_PUT_THERE}"
        )


def load_transformer_scorer(model_dir: Path, *, batch_size: int = 32) -> TransformerScorer:
    """Load the classifier in ``model_dir`` (never downloading anything) as a scorer.

    Raises :class:`ConfigurationError` when the directory is missing, empty or not a usable
    model, and :class:`MissingExtraError` (naming the extra) when transformers or torch is not
    installed.
    """
    _check_model_dir(model_dir)
    purpose = "the transformer sentiment scorer (finbert_model_dir)"
    transformers = import_optional("transformers", extra="nlp", purpose=purpose)
    torch = import_optional("torch", extra="torch", purpose=purpose)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            model_dir, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"finbert_model_dir {str(model_dir)!r} could not be loaded ({exc}); "
            f"{_WHAT_TO_PUT_THERE}"
        ) from exc
    model.eval()
    id2label = {int(i): str(name).lower() for i, name in model.config.id2label.items()}
    if not {"positive", "negative"} <= set(id2label.values()):
        raise ConfigurationError(
            f"the model in {str(model_dir)!r} labels its classes {sorted(id2label.values())}; "
            "a sentiment model must name 'positive' and 'negative' in config.json's id2label"
        )

    def predict(texts: Sequence[str]) -> list[Probabilities]:
        inputs = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits
        rows = cast(list[list[float]], torch.softmax(logits, dim=-1).tolist())
        return [{id2label[i]: p for i, p in enumerate(row)} for row in rows]

    return TransformerScorer(predict=predict, batch_size=batch_size)
