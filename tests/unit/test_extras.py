"""Optional dependencies: a missing one names the extra that provides it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from stockpred.domain.errors import ConfigurationError, MissingExtraError
from stockpred.extras import EXTRAS, import_optional

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# Extras for working on stockpred rather than running it.
DEVELOPMENT_EXTRAS = {"dev"}


def declared_extras() -> dict[str, list[str]]:
    with PYPROJECT.open("rb") as handle:
        return tomllib.load(handle)["project"]["optional-dependencies"]


def test_missing_module_raises_missing_extra_error_naming_the_pip_command() -> None:
    with pytest.raises(MissingExtraError) as caught:
        import_optional("stockpred_no_such_module", extra="redis", purpose="the Redis bus")

    message = str(caught.value)
    assert "pip install 'stockpred[redis]'" in message
    assert message.startswith("the Redis bus needs")
    assert "stockpred_no_such_module" in message
    assert isinstance(caught.value.__cause__, ImportError)


def test_missing_extra_error_is_a_configuration_error() -> None:
    assert issubclass(MissingExtraError, ConfigurationError)


def test_installed_module_is_returned() -> None:
    assert import_optional("json", extra="postgres", purpose="testing") is json


def test_unknown_extra_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown extra 'oracle'"):
        import_optional("json", extra="oracle", purpose="testing")


def test_every_extra_in_extras_is_declared_in_pyproject() -> None:
    assert set(EXTRAS) <= set(declared_extras())


def test_every_runtime_extra_in_pyproject_is_known_to_extras() -> None:
    assert set(declared_extras()) - DEVELOPMENT_EXTRAS <= set(EXTRAS)
