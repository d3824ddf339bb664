"""Test support for the Lambda entry point: the ``context`` the Lambda runtime passes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the attributes Mangum reads)."""

    function_name: str = "stockpred-api"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:stockpred-api"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/stockpred-api"
    log_stream_name: str = "2026/03/10/[$LATEST]0123456789abcdef"
    identity: None = None
    client_context: None = None

    def get_remaining_time_in_millis(self) -> int:
        return 25_000
