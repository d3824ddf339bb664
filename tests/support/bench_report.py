"""Test support: a test's measured figures, appended as a JSON line to the file that
``STOCKPRED_TEST_BENCH_REPORT`` names (``benchmarks/stream.py`` runs the crash and parity tests
that way and quotes what they measured); without it, nothing is written."""

from __future__ import annotations

import json
import os
from typing import Any


def report(kind: str, figures: dict[str, Any]) -> None:
    path = os.environ.get("STOCKPRED_TEST_BENCH_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **figures}) + "\n")
