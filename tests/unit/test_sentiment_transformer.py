"""The optional transformer scorer: its error paths and the mapping of class probabilities.

Loading a real model is not tested here: no model can be downloaded on this machine, and the
extras (transformers, torch) are not installed in the development environment.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from stockpred.domain.errors import ConfigurationError, MissingExtraError
from stockpred.sentiment import TransformerScorer, build_scorers, load_transformer_scorer
from stockpred.sentiment.transformer import scores_from_probabilities


def model_like_dir(tmp_path: Path) -> Path:
    """A directory shaped like a saved model (config and weights files), but not a real one."""
    model_dir = tmp_path / "finbert"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    (model_dir / "model.safetensors").write_bytes(b"")
    return model_dir


def test_missing_directory_says_what_to_put_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_transformer_scorer(tmp_path / "nowhere")

    message = str(caught.value)
    assert "does not exist" in message
    assert str(tmp_path / "nowhere") in message
    assert "config.json" in message
    assert "save_pretrained" in message


def test_empty_directory_says_what_to_put_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"is empty; put there .*config\.json"):
        load_transformer_scorer(tmp_path)


def test_directory_without_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")

    with pytest.raises(ConfigurationError, match=r"has no config\.json"):
        load_transformer_scorer(tmp_path)


def test_directory_without_weights_names_the_weight_files(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")

    with pytest.raises(ConfigurationError, match=r"no model weights \(model\.safetensors"):
        load_transformer_scorer(tmp_path)


def test_a_file_is_not_a_model_directory(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"")

    with pytest.raises(ConfigurationError, match="is not a directory"):
        load_transformer_scorer(path)


def test_missing_transformers_names_the_nlp_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails as if not installed

    with pytest.raises(MissingExtraError) as caught:
        load_transformer_scorer(model_like_dir(tmp_path))

    assert "pip install 'stockpred[nlp]'" in str(caught.value)
    assert "'transformers'" in str(caught.value)


def test_missing_torch_names_the_torch_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", types.ModuleType("transformers"))
    monkeypatch.setitem(sys.modules, "torch", None)

    with pytest.raises(MissingExtraError, match=r"pip install 'stockpred\[torch\]'"):
        load_transformer_scorer(model_like_dir(tmp_path))


def test_build_scorers_fails_fast_on_a_misconfigured_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="finbert_model_dir"):
        build_scorers(finbert_model_dir=tmp_path / "missing")


def test_without_a_model_dir_only_the_lexicon_scorers_run() -> None:
    assert [s.name for s in build_scorers(embedding=False)] == ["loughran_mcdonald", "vader"]


def test_score_is_p_positive_minus_p_negative_and_label_the_most_probable() -> None:
    scored = scores_from_probabilities({"positive": 0.2, "negative": 0.1, "neutral": 0.7})

    assert scored.score == pytest.approx(0.1)
    assert scored.label == "neutral"
    assert scores_from_probabilities({"positive": 0.1, "negative": 0.9}).label == "negative"


def test_texts_are_predicted_in_batches_and_scored_in_order() -> None:
    batches: list[int] = []

    def predict(texts: Sequence[str]) -> list[Mapping[str, float]]:
        batches.append(len(texts))
        return [{"positive": 1.0} if "up" in t else {"negative": 1.0} for t in texts]

    scorer = TransformerScorer(predict=predict, batch_size=2)
    scores = scorer.score(["up", "down", "up", "down", "up"])

    assert batches == [2, 2, 1]
    assert [s.score for s in scores] == [1.0, -1.0, 1.0, -1.0, 1.0]
    assert scorer.name == "finbert"
