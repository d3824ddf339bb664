"""The error families of stockpred.

Every error states what failed, the value received and what to do. The CLI prints the message and
exits 1; the API maps each family to a status code in one place (api/errors.py).
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "AuthError",
    "BusError",
    "ConfigurationError",
    "DataQualityError",
    "DataSourceError",
    "FeatureError",
    "ForbiddenError",
    "InputFileError",
    "InvalidInputError",
    "MalformedResponseError",
    "MessageFormatError",
    "MissingExtraError",
    "ModelError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderUnavailableError",
    "QuotaExhaustedError",
    "RateLimitedError",
    "StockpredError",
    "StoreError",
    "UnknownSymbolError",
]


class StockpredError(Exception):
    """Root of every error stockpred raises on purpose."""

    code = "stockpred_error"


class InvalidInputError(StockpredError):
    """A value given by the user (an option, a parameter) is not valid."""

    code = "invalid_input"


class ConfigurationError(StockpredError):
    """Settings are invalid or an optional dependency is missing."""

    code = "configuration_error"


class MissingExtraError(ConfigurationError):
    """An optional dependency is not installed; the message names the extra to install."""

    code = "missing_extra"


class DataSourceError(StockpredError):
    """A data source (provider, file, package) could not deliver what was asked."""

    code = "data_source_error"


class InputFileError(DataSourceError):
    """An input file cannot be read as a whole (missing, empty, binary, no date column ...)."""

    code = "input_file_error"


class ProviderError(DataSourceError):
    """A data provider refused or failed a request; says which provider and symbol."""

    code = "provider_error"

    def __init__(self, message: str, *, provider: str, symbol: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.symbol = symbol


class UnknownSymbolError(ProviderError):
    """The provider does not know the symbol or series asked for."""

    code = "unknown_symbol"


class ProviderAuthError(ProviderError):
    """The API key is missing, wrong or not allowed to call this endpoint."""

    code = "provider_auth"


class QuotaExhaustedError(ProviderError):
    """The provider's quota is spent; ``reset_at`` says when it is expected back, if known."""

    code = "quota_exhausted"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        symbol: str | None = None,
        reset_at: datetime | None = None,
    ) -> None:
        super().__init__(message, provider=provider, symbol=symbol)
        self.reset_at = reset_at


class MalformedResponseError(ProviderError):
    """The provider answered, but not in the format it documents; names the offending field."""

    code = "malformed_response"


class ProviderUnavailableError(ProviderError):
    """The provider did not answer usefully after retries (timeouts, 5xx), or is marked down."""

    code = "provider_unavailable"


class DataQualityError(StockpredError):
    """Data was read but breaks a rule of the data contract."""

    code = "data_quality_error"


class StoreError(StockpredError):
    """The store could not be opened, migrated, read or written."""

    code = "store_error"


class BusError(StockpredError):
    """The bus (an in-process log, Redis, NATS, Kafka) could not publish, deliver, acknowledge or
    report lag; says which backend and topic."""

    code = "bus_error"


class MessageFormatError(BusError):
    """A message on the bus cannot be read as a record: an unknown type, a schema version this
    code does not know, or a field missing or of the wrong type."""

    code = "message_format_error"


class NotFoundError(StockpredError):
    """What was asked for does not exist (an unknown ticker, model, series)."""

    code = "not_found"


class FeatureError(StockpredError):
    """A feature could not be computed or its specification is invalid."""

    code = "feature_error"


class ModelError(StockpredError):
    """A model could not be trained, loaded or evaluated."""

    code = "model_error"


class AuthError(StockpredError):
    """Authentication failed: no token, a bad or expired token, wrong client credentials."""

    code = "auth_error"


class ForbiddenError(AuthError):
    """The caller is authenticated but lacks the scope the action needs."""

    code = "insufficient_scope"


class RateLimitedError(StockpredError):
    """Too many requests; ``retry_after`` says in how many seconds to try again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PayloadTooLargeError(InvalidInputError):
    """A request asks for more than one call may (a batch over its limit)."""

    code = "payload_too_large"
