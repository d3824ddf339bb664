"""Webhook signing and its verification, checked against the hmac module directly, so sign() and
verify_signature() cannot agree on a mistake."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from stockpred.domain.errors import InvalidInputError
from stockpred.notify import webhooks
from stockpred.notify.signing import encode_event, sign, signature_header, verify_signature

NOW = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef-TEST"
EVENT = {"ticker": "AAPL", "horizon": "1d", "value": 0.0042, "model_version": "7"}


# -- signing -----------------------------------------------------------------------------------


def test_sign_is_the_hex_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"ticker":"AAPL","value":0.0042}'
    expected = hmac.new(b"my-signing-secret", b"1767623400." + body, hashlib.sha256).hexdigest()

    assert sign(secret="my-signing-secret", timestamp=1767623400, body=body) == expected


def test_verify_signature_accepts_within_the_tolerance_and_refuses_outside_it() -> None:
    body = encode_event(EVENT)
    timestamp = int(NOW.timestamp())
    header = f"t={timestamp},v1={sign(secret=SECRET, timestamp=timestamp, body=body)}"

    def verified(now: datetime) -> bool:
        return verify_signature(secret=SECRET, header=header, body=body, now=now)

    assert verified(NOW)
    assert verified(NOW + timedelta(seconds=300))
    assert verified(NOW - timedelta(seconds=300))
    assert not verified(NOW + timedelta(seconds=301))
    assert not verified(NOW - timedelta(seconds=301))
    assert verify_signature(
        secret=SECRET,
        header=header,
        body=body,
        now=NOW + timedelta(hours=1),
        tolerance_seconds=3600,
    )


@pytest.mark.parametrize(
    ("secret", "body", "header_of"),
    [
        pytest.param(SECRET, b'{"ticker":"AAPL","value":0.0043}', None, id="tampered-body"),
        pytest.param("another-secret-of-16+", None, None, id="wrong-secret"),
        pytest.param(SECRET, None, lambda t, v: f"t={t + 1},v1={v}", id="timestamp-changed"),
        pytest.param(SECRET, None, lambda t, v: f"v1={v}", id="no-timestamp"),
        pytest.param(SECRET, None, lambda t, v: f"t={t}", id="no-signature"),
        pytest.param(SECRET, None, lambda t, v: f"t={t},v0={v}", id="unknown-scheme"),
        pytest.param(SECRET, None, lambda t, v: "garbage", id="garbage"),
    ],
)
def test_verify_signature_refuses_what_was_not_signed_with_the_secret(
    secret: str, body: bytes | None, header_of: Callable[[int, str], str] | None
) -> None:
    sent = encode_event(EVENT)
    timestamp = int(NOW.timestamp())
    signature = sign(secret=SECRET, timestamp=timestamp, body=sent)
    header = (header_of or (lambda t, v: f"t={t},v1={v}"))(timestamp, signature)

    assert not verify_signature(
        secret=secret, header=header, body=sent if body is None else body, now=NOW
    )


def test_verify_signature_accepts_any_of_several_signatures_for_secret_rotation() -> None:
    body = encode_event(EVENT)
    timestamp = int(NOW.timestamp())
    old = sign(secret="the-old-secret-123456", timestamp=timestamp, body=body)
    new = sign(secret=SECRET, timestamp=timestamp, body=body)

    assert verify_signature(
        secret=SECRET, header=f"t={timestamp},v1={old},v1={new}", body=body, now=NOW
    )


def test_verify_signature_refuses_a_naive_now() -> None:
    with pytest.raises(InvalidInputError, match="UTC-aware"):
        verify_signature(secret=SECRET, header="t=1,v1=00", body=b"", now=NOW.replace(tzinfo=None))


def test_event_body_has_sorted_keys_and_compact_separators() -> None:
    body = encode_event({"value": 1.5, "ticker": "AAPL", "as_of": NOW})

    assert body == b'{"as_of":"2026-01-05T14:30:00+00:00","ticker":"AAPL","value":1.5}'


def test_event_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="must be JSON"):
        encode_event({"ticker": "AAPL", "value": float("nan")})


def test_signature_header_carries_the_timestamp_and_the_v1_signature() -> None:
    body = encode_event(EVENT)

    header = signature_header(secret=SECRET, timestamp=1767623400, body=body)

    expected = hmac.new(SECRET.encode(), b"1767623400." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1767623400,v1={expected}"
    assert verify_signature(
        secret=SECRET, header=header, body=body, now=datetime.fromtimestamp(1767623400, UTC)
    )


def test_the_webhooks_module_still_exports_the_signing_functions() -> None:
    # Receivers' code imports them from stockpred.notify.webhooks, where they first lived.
    assert webhooks.sign is sign
    assert webhooks.verify_signature is verify_signature
    assert webhooks.encode_event is encode_event
    assert webhooks.SIGNATURE_HEADER == "X-Stockpred-Signature"
