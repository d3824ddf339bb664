"""The API's own tokens: what TokenIssuer signs, and every way LocalTokenVerifier refuses a token
(each with a 401 message that names the problem and never quotes the token or the key)."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from stockpred.api.security import (
    JWKSTokenVerifier,
    LocalTokenVerifier,
    TokenIssuer,
    api_secret,
    build_token_services,
)
from stockpred.domain.errors import AuthError, ConfigurationError, InvalidInputError
from stockpred.settings import Settings

SECRET = "k" * 20 + "-this-is-the-signing-key-of-the-tests"
OTHER_SECRET = "o" * 20 + "-another-key-of-the-same-length-xyz"
ISSUER = "stockpred"
AUDIENCE = "stockpred-api"
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
TTL = timedelta(minutes=15)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def issuer(clock: FakeClock) -> TokenIssuer:
    return TokenIssuer(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, clock=clock)


@pytest.fixture
def verifier(clock: FakeClock) -> LocalTokenVerifier:
    return LocalTokenVerifier(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, clock=clock)


def _claims(**changes: object) -> dict[str, object]:
    now = int(T0.timestamp())
    claims: dict[str, object] = {
        "sub": "cl_test",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j1",
        "scope": "predictions:read",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: object) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _refusal(verifier: LocalTokenVerifier, token: str) -> str:
    """The message of the AuthError that refuses ``token``; it must quote neither the token, nor
    its signature, nor the key."""
    with pytest.raises(AuthError) as caught:
        verifier.verify(token)
    message = str(caught.value)
    if len(token) > 8:
        assert token not in message
    signature = token.rsplit(".", 1)[-1]
    if len(signature) > 8:
        assert signature not in message
    assert SECRET not in message
    assert OTHER_SECRET not in message
    return message


def test_an_issued_token_verifies_to_its_client_and_scopes(
    issuer: TokenIssuer, verifier: LocalTokenVerifier
) -> None:
    issued = issuer.issue(client_id="cl_abc", scopes=["stream:read", "predictions:read"])

    caller = verifier.verify(issued.access_token)

    assert caller.client_id == "cl_abc"
    assert caller.scopes == frozenset({"predictions:read", "stream:read"})
    assert issued.token_type == "bearer"
    assert issued.expires_in == 900
    # Space-separated, in the order of SCOPES whatever order they were asked in.
    assert issued.scope == "predictions:read stream:read"


def test_an_issued_token_carries_the_standard_claims_and_a_fresh_jti(
    issuer: TokenIssuer,
) -> None:
    first = issuer.issue(client_id="cl_abc", scopes=["predictions:read"]).access_token
    second = issuer.issue(client_id="cl_abc", scopes=["predictions:read"]).access_token

    header = jwt.get_unverified_header(first)
    claims = jwt.decode(first, options={"verify_signature": False})
    now = int(T0.timestamp())
    assert header["alg"] == "HS256"
    assert claims["sub"] == "cl_abc"
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["iat"] == claims["nbf"] == now
    assert claims["exp"] == now + 900
    assert claims["scope"] == "predictions:read"
    assert claims["jti"] != jwt.decode(second, options={"verify_signature": False})["jti"]


def test_the_issuer_refuses_unknown_or_no_scopes(issuer: TokenIssuer) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown scope 'launch:missiles'.*admin"):
        issuer.issue(client_id="cl_abc", scopes=["launch:missiles"])
    with pytest.raises(InvalidInputError, match="at least one scope"):
        issuer.issue(client_id="cl_abc", scopes=[])


def test_a_token_with_alg_none_is_refused(verifier: LocalTokenVerifier) -> None:
    token = f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(_claims())}."

    assert _refusal(verifier, token) == "tokens must be signed with HS256; got none"


def test_a_token_without_an_algorithm_is_refused(verifier: LocalTokenVerifier) -> None:
    token = f"{_segment({'typ': 'JWT'})}.{_segment(_claims())}."

    assert "tokens must be signed with HS256" in _refusal(verifier, token)


def test_a_token_signed_with_another_key_is_refused(verifier: LocalTokenVerifier) -> None:
    token = jwt.encode(_claims(), OTHER_SECRET, algorithm="HS256")

    message = _refusal(verifier, token)

    assert message == "the token's signature does not verify; get a new one from POST /v1/token"


def test_a_token_whose_claims_were_altered_is_refused(
    issuer: TokenIssuer, verifier: LocalTokenVerifier
) -> None:
    header, _, signature = issuer.issue(
        client_id="cl_abc", scopes=["predictions:read"]
    ).access_token.split(".")
    forged = f"{header}.{_segment(_claims(sub='cl_abc', scope='admin'))}.{signature}"

    assert "signature does not verify" in _refusal(verifier, forged)


# The test key is shorter than HS512 recommends; the token is refused whatever its strength.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_token_signed_with_hs512_and_the_right_key_is_refused(
    verifier: LocalTokenVerifier,
) -> None:
    token = jwt.encode(_claims(), SECRET, algorithm="HS512")

    assert _refusal(verifier, token) == "tokens must be signed with HS256; got 'HS512'"


def test_a_token_signed_with_rs256_is_refused(verifier: LocalTokenVerifier) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = jwt.encode(_claims(), pem, algorithm="RS256")

    assert _refusal(verifier, token) == "tokens must be signed with HS256; got 'RS256'"


def test_a_token_expires_by_the_injected_clock(
    issuer: TokenIssuer, verifier: LocalTokenVerifier, clock: FakeClock
) -> None:
    token = issuer.issue(client_id="cl_abc", scopes=["predictions:read"]).access_token
    clock.advance(TTL - timedelta(seconds=1))
    assert verifier.verify(token).client_id == "cl_abc"

    clock.advance(timedelta(seconds=1))

    assert _refusal(verifier, token) == ("the token has expired; get a new one from POST /v1/token")


def test_leeway_admits_a_token_just_past_its_expiry(issuer: TokenIssuer, clock: FakeClock) -> None:
    lenient = LocalTokenVerifier(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, clock=clock, leeway_seconds=30
    )
    token = issuer.issue(client_id="cl_abc", scopes=["predictions:read"]).access_token
    clock.advance(TTL + timedelta(seconds=20))
    assert lenient.verify(token).client_id == "cl_abc"

    clock.advance(timedelta(seconds=10))

    with pytest.raises(AuthError, match="expired"):
        lenient.verify(token)


def test_a_token_not_valid_yet_is_refused(
    issuer: TokenIssuer, verifier: LocalTokenVerifier, clock: FakeClock
) -> None:
    clock.advance(timedelta(minutes=2))
    token = issuer.issue(client_id="cl_abc", scopes=["predictions:read"]).access_token
    clock.advance(timedelta(minutes=-2))

    assert "not valid yet" in _refusal(verifier, token)


def test_a_token_for_another_audience_is_refused_naming_it(
    verifier: LocalTokenVerifier,
) -> None:
    token = jwt.encode(_claims(aud="billing-api"), SECRET, algorithm="HS256")

    message = _refusal(verifier, token)

    assert message.startswith("the token is for audience 'billing-api', not this API")


def test_a_token_listing_this_audience_among_others_is_accepted(
    verifier: LocalTokenVerifier,
) -> None:
    token = jwt.encode(_claims(aud=["billing-api", AUDIENCE]), SECRET, algorithm="HS256")

    assert verifier.verify(token).client_id == "cl_test"


def test_a_token_from_another_issuer_is_refused(verifier: LocalTokenVerifier) -> None:
    token = jwt.encode(_claims(iss="someone-else"), SECRET, algorithm="HS256")

    assert "issued by 'someone-else'" in _refusal(verifier, token)


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud"])
def test_a_token_missing_a_required_claim_is_refused(
    verifier: LocalTokenVerifier, claim: str
) -> None:
    token = jwt.encode(_claims(**{claim: None}), SECRET, algorithm="HS256")

    assert f"the token lacks the {claim!r} claim" in _refusal(verifier, token)


def test_a_token_whose_expiry_is_not_a_number_is_refused(verifier: LocalTokenVerifier) -> None:
    token = jwt.encode(_claims(exp="tomorrow"), SECRET, algorithm="HS256")

    assert "'exp' claim is not a number" in _refusal(verifier, token)


def test_unknown_scopes_in_a_token_are_dropped(verifier: LocalTokenVerifier) -> None:
    token = jwt.encode(
        _claims(scope="predictions:read launch:missiles stream:read"), SECRET, algorithm="HS256"
    )

    assert verifier.verify(token).scopes == frozenset({"predictions:read", "stream:read"})


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b", "a.b.c", "!!!.???.***", "eyJhbGciOiJIUzI1NiJ9.e30"]
)
def test_a_bearer_value_that_is_no_jwt_is_refused_as_such(
    verifier: LocalTokenVerifier, token: str
) -> None:
    assert "is not a JWT" in _refusal(verifier, token)


def test_a_signing_key_shorter_than_32_characters_is_refused(clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError, match="32"):
        LocalTokenVerifier(secret="short", issuer=ISSUER, audience=AUDIENCE, clock=clock)
    with pytest.raises(ConfigurationError, match="32"):
        TokenIssuer(secret="short", issuer=ISSUER, audience=AUDIENCE, ttl=TTL, clock=clock)


# -- api_secret and build_token_services -------------------------------------------------------


def test_production_without_a_signing_key_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, environment="production")

    with pytest.raises(ConfigurationError) as caught:
        api_secret(settings)

    assert "STOCKPRED_API_SECRET_KEY" in str(caught.value)
    assert "secrets.token_urlsafe(48)" in str(caught.value)
    assert not (settings.state_path / "api-secret").exists()


def test_a_configured_key_shorter_than_32_characters_is_refused_without_quoting_it(
    tmp_path: Path,
) -> None:
    short = "tooShortKey-123"
    settings = Settings(home=tmp_path, api_secret_key=SecretStr(short))

    with pytest.raises(ConfigurationError) as caught:
        api_secret(settings)

    assert "STOCKPRED_API_SECRET_KEY" in str(caught.value)
    assert short not in str(caught.value)


def test_a_configured_key_is_used_as_it_is(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, environment="production", api_secret_key=SecretStr(SECRET))

    assert api_secret(settings) == SECRET
    assert not (settings.state_path / "api-secret").exists()


def test_without_a_key_one_is_generated_into_a_private_file_and_kept(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")

    first = api_secret(settings)
    second = api_secret(settings)

    path = settings.state_path / "api-secret"
    assert first == second
    assert len(first) >= 32
    assert path.read_text(encoding="utf-8").strip() == first
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # No temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == ["api-secret"]


def test_a_truncated_key_file_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    settings.state_path.mkdir(parents=True)
    (settings.state_path / "api-secret").write_text("abc\n", encoding="utf-8")

    with pytest.raises(ConfigurationError, match="delete it"):
        api_secret(settings)


def test_built_token_services_issue_tokens_their_verifier_accepts(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = Settings(home=tmp_path, api_token_minutes=5, api_audience="desk-api")

    verifier, issuer = build_token_services(settings, clock=clock)

    assert isinstance(verifier, LocalTokenVerifier)
    assert issuer is not None
    issued = issuer.issue(client_id="cl_abc", scopes=["admin"])
    assert issued.expires_in == 300
    assert verifier.verify(issued.access_token).scopes == frozenset({"admin"})
    assert jwt.decode(issued.access_token, options={"verify_signature": False})["aud"] == (
        "desk-api"
    )


def test_with_a_jwks_url_the_identity_provider_verifies_and_nothing_is_issued(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = Settings(
        home=tmp_path,
        environment="production",
        api_jwks_url="https://idp.example/.well-known/jwks.json",
    )

    verifier, issuer = build_token_services(settings, clock=clock)

    assert isinstance(verifier, JWKSTokenVerifier)
    assert issuer is None


def test_a_jwks_verifier_refuses_symmetric_algorithms(clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError, match="asymmetric"):
        JWKSTokenVerifier(
            jwks_url="https://idp.example/jwks.json",
            issuer=ISSUER,
            audience=AUDIENCE,
            clock=clock,
            algorithms=("RS256", "HS256"),
        )


def test_a_jwks_url_that_is_not_http_is_a_configuration_error(clock: FakeClock) -> None:
    with pytest.raises(ConfigurationError, match="STOCKPRED_API_JWKS_URL"):
        JWKSTokenVerifier(
            jwks_url="file:///etc/passwd", issuer=ISSUER, audience=AUDIENCE, clock=clock
        )
