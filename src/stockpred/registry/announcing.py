"""A registry that announces each champion move (``ModelPromoted``) once the alias has moved,
so the servers load the new champion at once instead of on their next poll."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from stockpred.domain.records import ModelPromoted
from stockpred.registry.base import ChampionChange, ModelRegistry, ModelVersion, horizon_of

__all__ = ["AnnouncingRegistry"]


class AnnouncingRegistry:
    """``registry``, telling ``announce`` of every promotion and rollback of a
    ``stockpred-h{horizon}`` model after it happened."""

    def __init__(
        self,
        registry: ModelRegistry,
        announce: Callable[[ModelPromoted], None],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._registry = registry
        self._announce = announce
        self._clock = clock

    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        metadata: Mapping[str, str],
        metrics: Mapping[str, float],
    ) -> ModelVersion:
        return self._registry.register(name, model_dir, metadata=metadata, metrics=metrics)

    def versions(self, name: str) -> list[ModelVersion]:
        return self._registry.versions(name)

    def get(self, name: str, version: int) -> ModelVersion:
        return self._registry.get(name, version)

    def champion(self, name: str) -> ModelVersion | None:
        return self._registry.champion(name)

    def promote(self, name: str, version: int, *, reason: str) -> None:
        self._registry.promote(name, version, reason=reason)
        self._moved(name, version)

    def rollback(self, name: str, *, reason: str) -> ModelVersion:
        restored = self._registry.rollback(name, reason=reason)
        self._moved(name, restored.version)
        return restored

    def download(self, name: str, version: int, directory: Path) -> Path:
        return self._registry.download(name, version, directory)

    def history(self, name: str) -> list[ChampionChange]:
        return self._registry.history(name)

    def _moved(self, name: str, version: int) -> None:
        horizon = horizon_of(name)
        if horizon is not None:
            self._announce(
                ModelPromoted(
                    name=name, version=str(version), horizon=horizon, promoted_at=self._clock()
                )
            )
