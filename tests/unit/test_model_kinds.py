"""models/kinds.py (the names the command line's help lists) and the catalogue that builds
each kind say the same."""

from __future__ import annotations

import pytest

from stockpred.models.baselines import BASELINES
from stockpred.models.catalog import DEFAULT_MODELS, MODELS, PARAM_GRIDS, make_model
from stockpred.models.kinds import DEFAULT_MODELS as LIGHT_DEFAULT_MODELS
from stockpred.models.kinds import MODEL_KINDS, PER_TICKER_SUFFIX


def test_the_kinds_listed_are_the_kinds_the_catalogue_builds_in_its_order() -> None:
    assert tuple(MODELS) == MODEL_KINDS


def test_every_listed_kind_has_a_tuning_grid() -> None:
    assert set(MODEL_KINDS) == set(PARAM_GRIDS)


def test_the_default_models_are_one_tuple_and_each_is_a_listed_kind() -> None:
    assert DEFAULT_MODELS is LIGHT_DEFAULT_MODELS
    assert set(DEFAULT_MODELS) <= set(MODEL_KINDS)


def test_no_kind_is_named_like_a_baseline() -> None:
    assert not set(MODEL_KINDS) & set(BASELINES)


@pytest.mark.parametrize("kind", [k for k in MODEL_KINDS if k.endswith(PER_TICKER_SUFFIX)])
def test_each_per_ticker_kind_builds_a_model_that_says_its_kind(kind: str) -> None:
    assert kind.removesuffix(PER_TICKER_SUFFIX) in MODEL_KINDS
    assert make_model(kind).name == kind
