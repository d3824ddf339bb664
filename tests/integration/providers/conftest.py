"""Fixtures for provider adapter tests: a loopback server, recorded sleeps, fast policies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stockpred.sources.providers.http import HttpPolicy
from support.fake_provider import ContextFactory, FakeProvider, Sleeps, serve


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    with serve(FakeProvider()) as provider:
        yield provider


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def fast_policy() -> HttpPolicy:
    """Few attempts and tiny backoffs; the waits are recorded by ``sleeps``, not slept."""
    return HttpPolicy(attempts=3, backoff_initial_s=0.01, backoff_max_s=0.05, breaker_fail_max=3)


@pytest.fixture
def make_context(fake_provider: FakeProvider, sleeps: Sleeps, tmp_path: Path) -> ContextFactory:
    """Contexts pointing at the fake provider, with a per-test cache folder."""
    return ContextFactory(fake_provider, sleeps, tmp_path / "http-cache")
