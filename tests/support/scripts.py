"""Modules imported from a file: the repository's scripts/ and benchmarks/ are no packages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["REPO_ROOT", "load_file"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_file(path: Path, *, name: str | None = None) -> ModuleType:
    """The module of ``path``, registered in ``sys.modules`` under ``name`` (default: the file's
    stem) before it runs, as dataclasses made at import look their module up."""
    module_name = name or path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None, f"cannot import {path}"
    assert spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
