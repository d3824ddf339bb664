"""The feature set that commands use when none is named.

Plain data, no imports: the command line shows it in its help without loading the indicator
library. ``features/sets.py`` re-exports it and builds the set.
"""

from __future__ import annotations

__all__ = ["DEFAULT_FEATURE_SET"]

# The set `features build`, `evaluate` and `train` use when none is named.
DEFAULT_FEATURE_SET = "daily_v1"
