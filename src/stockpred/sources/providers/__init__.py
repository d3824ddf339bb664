"""Provider adapters: one folder per provider (config, client, parsing), one shape for all.

Every adapter talks HTTP through :class:`~stockpred.sources.providers.http.ProviderHttp`, which
gives it retries with backoff and ``Retry-After``, the provider's rate limit, an on-disk response
cache with per-endpoint lifetimes and a circuit breaker; and it translates the provider's failures
into :mod:`stockpred.domain.errors` at this boundary.
"""
