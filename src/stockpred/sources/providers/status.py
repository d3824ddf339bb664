"""The last success and failure of each provider, kept in a small JSON file for `sources`."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypedDict

__all__ = ["ProviderStatus", "StatusFile", "error_kind"]


class ProviderStatus(TypedDict, total=False):
    last_success: str
    last_failure: str
    last_error: str
    # Failed calls since the file was made, by kind (``error_kind``): for /metrics.
    errors: dict[str, int]


def error_kind(detail: str) -> str:
    """The kind of a failed call, from the detail the HTTP layer reports it with
    (``sources/providers/http.py``: "HTTP 429 ...", "HTTP 503 ...", "timed out ...",
    "could not connect ...")."""
    if detail.startswith("HTTP 429"):
        return "rate_limited"
    if detail.startswith("HTTP 5"):
        return "server_error"
    if detail.startswith("timed out"):
        return "timeout"
    if detail.startswith("could not connect"):
        return "connection"
    return "other"


class StatusFile:
    """Reads and updates ``path``; each update is an atomic replace, so readers never see half."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime]) -> None:
        self._path = path
        self._clock = clock

    def read(self) -> dict[str, ProviderStatus]:
        try:
            data = json.loads(self._path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def record(self, provider: str, ok: bool, detail: str) -> None:
        data = self.read()
        entry = data.setdefault(provider, {})
        at = self._clock().isoformat(timespec="seconds")
        if ok:
            entry["last_success"] = at
        else:
            entry["last_failure"] = at
            entry["last_error"] = detail
            errors = entry.setdefault("errors", {})
            kind = error_kind(detail)
            errors[kind] = errors.get(kind, 0) + 1
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self._path.parent, suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.replace(temp, self._path)
