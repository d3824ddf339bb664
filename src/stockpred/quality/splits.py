"""Stock-split detection from price jumps that the adjusted close does not share.

A split changes the raw price by a simple ratio (2:1, 3:2, 1:10 ...) overnight while the
adjusted close, which the vendor back-adjusts for the split, moves only by the day's return. So
the jump of ``close / adj_close`` between two sessions equals the split ratio. Without an adjusted
close, a raw jump close to a simple ratio is reported as a *possible* split.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

__all__ = ["SPLIT_COLUMNS", "detect_splits"]

SPLIT_COLUMNS: tuple[str, ...] = (
    "ticker",
    "date",
    "ratio",
    "close_before",
    "close_after",
    "confirmed_by_adj_close",
    "note",
)

# Smallest factor treated as a split; 3:2 is the smallest split commonly seen, 4:3 occurs.
_MIN_FACTOR = 1.3
# Tolerance on log(ratio): adjustment factors are exact up to the vendor's rounding and small
# dividend adjustments; a raw jump also carries the day's return, so it gets more room.
_ADJ_TOLERANCE = 0.02
_RAW_TOLERANCE = 0.02
# Without an adjusted close only the ratios companies actually use are considered, so an
# ordinary 25% fall is not taken for a 13:10 split.
_COMMON_RATIOS = (
    (2, 1), (3, 2), (3, 1), (4, 1), (5, 1), (7, 1), (8, 1), (10, 1), (15, 1), (20, 1),
)  # fmt: skip


def _ratios(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, list[str]]:
    seen: dict[Fraction, str] = {}
    for new, old in pairs:
        for f in (Fraction(new, old), Fraction(old, new)):
            if float(f) >= _MIN_FACTOR or float(f) <= 1 / _MIN_FACTOR:
                seen.setdefault(f, f"{f.numerator}:{f.denominator}")
    ratios = sorted(seen.items())
    return np.log([float(f) for f, _ in ratios]), [label for _, label in ratios]


def _match(
    jump: np.ndarray, pairs: list[tuple[int, int]], tolerance: float
) -> tuple[np.ndarray, list[str]]:
    """Index of the nearest ratio for each jump, -1 where none is within ``tolerance``."""
    logs, labels = _ratios(pairs)
    if len(jump) == 0:
        return np.empty(0, dtype=np.int64), labels
    distance = np.abs(jump[:, None] - logs[None, :])
    nearest = distance.argmin(axis=1)
    ok = distance[np.arange(len(jump)), nearest] <= tolerance
    return np.where(ok, nearest, -1), labels


def detect_splits(bars: pd.DataFrame) -> pd.DataFrame:
    """Sessions where a split appears to take effect.

    bars: ticker, date, close and optionally adj_close and source; any order. Returns
    :data:`SPLIT_COLUMNS`, ``ratio`` as "new:old" shares (2:1 doubles the share count and halves
    the price); ``note`` says when the provider changes at the jump.
    """
    if bars.empty:
        return pd.DataFrame(columns=list(SPLIT_COLUMNS))
    ordered = bars.sort_values(["ticker", "date"], kind="stable")
    same = ordered["ticker"].eq(ordered["ticker"].shift()).to_numpy()
    close = ordered["close"].to_numpy(dtype=float)
    prev_close = ordered["close"].shift().to_numpy(dtype=float)
    raw_jump = np.log(prev_close / close)
    has_adj = "adj_close" in ordered
    adj = ordered["adj_close"].to_numpy(dtype=float) if has_adj else np.full(len(ordered), np.nan)
    prev_adj = ordered["adj_close"].shift().to_numpy(dtype=float) if has_adj else adj
    adj_known = same & np.isfinite(adj) & np.isfinite(prev_adj)
    # The jump in the adjustment factor close / adj_close is the split ratio itself, if any.
    factor_jump = raw_jump - np.log(prev_adj / adj)
    jump = np.where(adj_known, factor_jump, raw_jump)
    big = same & np.isfinite(jump) & (np.abs(jump) >= np.log(_MIN_FACTOR) - _ADJ_TOLERANCE)

    confirmed = np.flatnonzero(big & adj_known)
    any_pairs = [(n, o) for n in range(1, 21) for o in range(1, 21)]
    hit_c, labels_c = _match(jump[confirmed], any_pairs, _ADJ_TOLERANCE)
    raw = np.flatnonzero(big & ~adj_known)
    hit_r, labels_r = _match(jump[raw], list(_COMMON_RATIOS), _RAW_TOLERANCE)

    picked = np.concatenate([confirmed[hit_c >= 0], raw[hit_r >= 0]])
    ratios = [labels_c[i] for i in hit_c[hit_c >= 0]] + [labels_r[i] for i in hit_r[hit_r >= 0]]
    if len(picked) == 0:
        return pd.DataFrame(columns=list(SPLIT_COLUMNS))
    result = pd.DataFrame(
        {
            "ticker": ordered["ticker"].to_numpy()[picked],
            "date": ordered["date"].to_numpy()[picked],
            "ratio": ratios,
            "close_before": prev_close[picked],
            "close_after": close[picked],
            "confirmed_by_adj_close": adj_known[picked],
            "note": "",
        }
    )
    if "source" in ordered:
        # A jump where the provider changes is usually two adjustment bases meeting, not a split.
        source = ordered["source"].astype(str).to_numpy()
        before, after = source[picked - 1], source[picked]
        result["note"] = [
            f"source changes: {b} -> {a}" if a != b else ""
            for b, a in zip(before, after, strict=True)
        ]
    return result.sort_values(["ticker", "date"]).reset_index(drop=True)
