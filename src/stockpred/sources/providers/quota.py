"""What is left of each provider's quota, read from the file the rate limiter keeps.

Every ``ProviderHttp`` of one quota group (``ProviderInfo.quota_group``, else the provider's
name) takes its requests from one pyrate-limiter SQLite bucket, table ``quota_<group>`` of
``<cache>/quotas.sqlite``, shared by every process and run so that a daily quota survives them.
A row is one request, stamped in milliseconds; what is left in a window is its limit minus the
rows stamped inside it. The file is opened read-only, so a reader never takes the limiter's
write lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stockpred.sources.providers.base import RateLimit

__all__ = ["QUOTA_FILE", "quota_left", "quota_table"]

QUOTA_FILE = "quotas.sqlite"
_DAY_MS = 86_400_000


def quota_table(group: str) -> str:
    """The bucket table of quota ``group``."""
    return f"quota_{group}"


def _windows(rate: RateLimit) -> list[tuple[str, int, int]]:
    """(label, milliseconds, limit) of each window ``rate`` sets."""
    windows = [(f"{rate.seconds:g}s", int(rate.seconds * 1000), rate.requests)]
    if rate.per_day:
        windows.append(("1d", _DAY_MS, rate.per_day))
    return windows


def quota_left(cache_dir: Path, *, group: str, rate: RateLimit, now_ms: int) -> dict[str, int]:
    """Requests left in each window of ``rate`` (label "60s", "1d" -> count) at ``now_ms``
    (Unix milliseconds): the whole limit when the group has made no request yet."""
    windows = _windows(rate)
    path = cache_dir / QUOTA_FILE
    counts = dict.fromkeys((label for label, _, _ in windows), 0)
    if path.is_file():
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0) as con:
                for label, span, _ in windows:
                    row = con.execute(
                        f'SELECT COUNT(*) FROM "{quota_table(group)}" WHERE item_timestamp >= ?',
                        (now_ms - span,),
                    ).fetchone()
                    counts[label] = int(row[0])
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
    return {label: max(0, limit - counts[label]) for label, _, limit in windows}
