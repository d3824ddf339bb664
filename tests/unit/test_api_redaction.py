"""Query strings are redacted in log lines; credential names in a URL are recognised."""

from __future__ import annotations

import logging

import pytest

from stockpred.api.redaction import QueryRedactionFilter, _credential_in, redact_query


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /v1/x?a=1&b=two HTTP/1.1", "GET /v1/x?a=***&b=*** HTTP/1.1"),
        ("/v1/token?client_secret=s3cr3t", "/v1/token?client_secret=***"),
        ("/v1/x?flag&k=v", "/v1/x?flag&k=***"),
        ("no query here", "no query here"),
        ('"POST /t?token=abc" 400', '"POST /t?token=***" 400'),
    ],
)
def test_every_query_value_is_hidden_and_names_kept(text: str, expected: str) -> None:
    assert redact_query(text) == expected


def test_the_filter_rewrites_the_access_log_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/v1/p?access_token=leak", "1.1", 400),
        None,
    )

    QueryRedactionFilter().filter(record)

    assert "leak" not in record.getMessage()
    assert "/v1/p?access_token=***" in record.getMessage()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        (b"client_secret=x", "client_secret"),
        (b"horizon=5&Access_Token=x", "Access_Token"),
        (b"api_key=", "api_key"),
        (b"horizon=5&tickers=AAPL", None),
        (b"secretive=1", None),
    ],
)
def test_credential_parameters_are_recognised_by_name(query: bytes, named: str | None) -> None:
    assert _credential_in(query) == named
