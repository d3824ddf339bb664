"""features/defaults.py (the default set the command line's help shows) names a built-in set,
and features/sets.py uses that very name."""

from __future__ import annotations

from stockpred.features import defaults, sets


def test_the_default_feature_set_is_a_built_in_set() -> None:
    assert defaults.DEFAULT_FEATURE_SET in sets.default_feature_sets()
    assert sets.get_feature_set(defaults.DEFAULT_FEATURE_SET).name == defaults.DEFAULT_FEATURE_SET


def test_the_feature_sets_module_re_exports_the_one_default() -> None:
    assert sets.DEFAULT_FEATURE_SET is defaults.DEFAULT_FEATURE_SET
