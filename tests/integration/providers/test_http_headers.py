"""ProviderHttp with keys sent as request headers: sent, never cached, never part of a cache key."""

from __future__ import annotations

from pathlib import Path

from stockpred.sources.providers.base import ProviderInfo, RateLimit
from stockpred.sources.providers.http import HttpPolicy, ProviderHttp
from support.fake_provider import ContextFactory, FakeProvider, Reply

INFO = ProviderInfo(
    name="headerapi",
    kind="news",
    title="a provider keyed by header",
    base_url="http://unused",
    rate_limit=RateLimit(requests=1000, seconds=1),
    key_setting=None,
    endpoints_ttl={"search": 600.0},
)
SECRET = "s3cr3t-token-0123456789"


def test_secret_header_is_sent_but_kept_out_of_the_cache_and_its_key(
    make_context: ContextFactory,
    fake_provider: FakeProvider,
    fast_policy: HttpPolicy,
    tmp_path: Path,
) -> None:
    fake_provider.script("/search", Reply(200, '{"ok": true}'))
    http = ProviderHttp(INFO, make_context(), secret_headers=("Authorization",), policy=fast_policy)

    first = http.get(
        "/search",
        params={"q": "AAPL"},
        endpoint="search",
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    # Another token, the same request: the token is no part of the cache key.
    second = http.get(
        "/search",
        params={"q": "AAPL"},
        endpoint="search",
        headers={"Authorization": "Bearer another"},
    )

    assert (first.from_cache, second.from_cache) == (False, True)
    assert fake_provider.hits_on("/search") == 1
    assert fake_provider.hits[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET.encode() not in (tmp_path / "http-cache" / "headerapi.sqlite").read_bytes()
    assert SECRET not in first.url
    http.close()
