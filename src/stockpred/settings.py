"""The one settings object, validated and frozen, built once at start-up and passed down.

Values come from, in order of precedence: environment variables ``STOCKPRED_*``, a TOML file
(``stockpred.toml`` in the working directory, or the path in ``STOCKPRED_CONFIG``), then defaults.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from stockpred.bus.factory import BUS_SCHEMES
from stockpred.domain.errors import ConfigurationError
from stockpred.domain.instruments import InstrumentKind
from stockpred.notify.routing import safe_destination

__all__ = [
    "CREDENTIAL_PARAMETERS",
    "NotifyRoute",
    "SettingOrigin",
    "Settings",
    "describe_settings",
    "load_settings",
    "make_private",
    "mask_credentials",
]

ENV_PREFIX = "STOCKPRED_"
CONFIG_ENV = "STOCKPRED_CONFIG"
DEFAULT_CONFIG_FILE = "stockpred.toml"
# Environment variables with this prefix belong to the test suite, not to the settings.
_TEST_ENV_PREFIX = "STOCKPRED_TEST_"


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("stockpred", appauthor=False))


def _stocks_only() -> list[InstrumentKind]:
    return ["stock"]


class NotifyRoute(BaseModel):
    """One destination of notices and what it receives (notify/routing.py has the rules):
    ``channel`` slack (``target`` an incoming-webhook URL, a secret) or email (``target``
    comma-separated addresses); ``kinds`` alert, report, retrain; ``alert_kinds`` the alerts'
    ``kind`` labels; ``tickers``; empty lists mean every one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Literal["slack", "email"]
    # Out of repr: a Slack webhook URL lets anyone who has it post to the channel.
    target: str = Field(min_length=1, max_length=2048, repr=False)
    kinds: list[Literal["alert", "report", "retrain"]] = Field(default_factory=list)
    alert_kinds: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list
    )
    tickers: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(default_factory=list)
    min_severity: Literal["info", "warning", "critical"] = "info"

    @model_validator(mode="after")
    def _plausible_target(self) -> NotifyRoute:
        # The messages never repeat a Slack target: it is the secret.
        target = self.target.strip()
        if self.channel == "slack" and not target.lower().startswith(("https://", "http://")):
            raise ValueError(
                "a slack route's target must be the incoming webhook's URL, "
                "https://hooks.slack.com/services/..."
            )
        if self.channel == "email" and not all(
            "@" in part for part in target.split(",") if part.strip()
        ):
            raise ValueError(
                "an email route's target must be comma-separated addresses, "
                "'ops@example.com, desk@example.com'"
            )
        return self

    def describe(self) -> str:
        """The route fit to show: a Slack target as its scheme and host only."""
        parts = [f"{self.channel} -> {safe_destination(self.channel, self.target)}"]
        for name in ("kinds", "alert_kinds", "tickers"):
            values = getattr(self, name)
            parts.append(f"{name}={','.join(values) if values else '*'}")
        parts.append(f"min_severity={self.min_severity}")
        return " ".join(parts)


class Settings(BaseSettings):
    """Effective configuration of one stockpred process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        toml_file=None,
    )

    environment: Literal["development", "test", "production"] = Field(
        default="development", description="deployment environment"
    )
    home: Path = Field(
        default_factory=_default_home,
        description="data home: the embedded store, reports and caches live here",
    )
    store: Literal["duckdb", "postgres"] = Field(default="duckdb", description="store backend")
    duckdb_path: Path | None = Field(
        default=None,
        description="DuckDB file of the embedded store (default: HOME/stockpred.duckdb)",
    )
    postgres_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL of the store when store = postgres"
    )
    reports_dir: Path | None = Field(
        default=None, description="where reports such as rejected rows go (default: HOME/reports)"
    )
    calendar: str = Field(default="XNYS", description="default exchange calendar (ISO MIC)")
    ingest_earliest_date: date = Field(
        default=date(1900, 1, 1),
        description="bars dated before this are refused (exchange calendars and time zones are "
        "not modelled earlier)",
    )
    ingest_max_price: float = Field(
        default=1e7, gt=0, description="prices above this are refused as implausible"
    )
    ingest_max_volume: float = Field(
        default=1e12, gt=0, description="volumes above this are refused as implausible"
    )
    ingest_max_decompressed_bytes: int = Field(
        default=2 * 1024**3,
        ge=1024,
        description="largest input file ingest reads, in bytes of CSV text once decompressed (of "
        "column data for Parquet); a larger one is refused before it is parsed",
    )
    ingest_max_line_bytes: int = Field(
        default=64 * 1024,
        ge=256,
        description="longest line of a CSV input file, in bytes; a file with a longer line is "
        "refused before it is parsed",
    )
    ingest_max_field_chars: int = Field(
        default=256,
        ge=16,
        description="longest value of a bar field (date, ticker, price ...), in characters; a "
        "longer one rejects its row, reported once and shortened",
    )
    alpha_vantage_api_key: SecretStr | None = Field(default=None, description="Alpha Vantage key")
    nasdaq_data_link_api_key: SecretStr | None = Field(
        default=None, description="Nasdaq Data Link (Quandl) key"
    )
    newsapi_api_key: SecretStr | None = Field(default=None, description="NewsAPI key")
    fred_api_key: SecretStr | None = Field(default=None, description="FRED key")
    x_bearer_token: SecretStr | None = Field(default=None, description="X API v2 bearer token")
    alpaca_key_id: SecretStr | None = Field(
        default=None, description="Alpaca market data API key id (the live bar feed)"
    )
    alpaca_secret_key: SecretStr | None = Field(
        default=None, description="Alpaca market data API secret key (the live bar feed)"
    )
    poll_provider: Literal["yahoo", "alphavantage"] = Field(
        default="yahoo",
        description="provider the polling feed (`stream --feed poll`) asks for intraday bars "
        "(alphavantage needs its key and, for more than a poll an hour, a paid plan's quota)",
    )
    poll_bar_interval: Literal["1m", "5m", "15m", "30m", "1h"] = Field(
        default="1m", description="length of the bars the polling feed asks for"
    )
    poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="seconds between two polls of one ticker by the polling feed; stretched "
        "to stay within the provider's quota",
    )
    universe: list[str] = Field(
        default_factory=list,
        description='tickers the scheduled feeds fetch, JSON or TOML list: ["AAPL", "MSFT"]',
    )
    modelled_kinds: list[InstrumentKind] = Field(
        default_factory=_stocks_only,
        description="instrument kinds that get features, are trained on and forecast, JSON: "
        '["stock", "index"]; the others (indices by default) feed the market context only',
    )
    instrument_kinds: dict[str, InstrumentKind] = Field(
        default_factory=dict,
        description="kind of symbols the prefix rules miss (^ index, =X currency, =F future, "
        'else stock), JSON: {"SPX": "index"}',
    )
    company_names: dict[str, str] = Field(
        default_factory=dict,
        description="company names that news searches and ticker mapping use, JSON: "
        '{"AAPL": "Apple"}',
    )
    price_source: str = Field(default="stooq", description="provider of the scheduled price feed")
    news_source: str = Field(
        default="googlenews", description="provider of the scheduled news feed"
    )
    macro_source: str = Field(default="fred", description="provider of the scheduled macro feed")
    macro_series: list[str] = Field(
        default_factory=list, description='macro series the daily feed fetches: ["CPIAUCSL"]'
    )
    prices_delay_minutes: int = Field(
        default=30, ge=0, description="minutes after each session close the price feed runs"
    )
    news_every_minutes: int = Field(default=30, gt=0, description="news feed interval")
    macro_daily_at: str = Field(
        default="13:00", pattern=r"^\d{2}:\d{2}$", description="UTC time of the daily macro feed"
    )
    archive_url: str | None = Field(
        default=None,
        description="where old bars are archived as Parquet: a folder, file:// or s3://bucket/"
        "prefix (default: HOME/archive)",
    )
    archive_s3_endpoint: str | None = Field(
        default=None,
        description="endpoint of an S3-compatible server for an s3:// archive (credentials from "
        "the usual AWS_* variables)",
    )
    archive_after_days: int = Field(
        default=3 * 365, gt=0, description="bars older than this many days move to the archive"
    )
    provider_urls: dict[str, str] = Field(
        default_factory=dict,
        description="base URL per provider, replacing the public one (a proxy, a mirror, a test "
        'server), JSON: {"fred": "http://127.0.0.1:8080"}',
    )
    spark_master: str = Field(
        default="local[*]",
        description="Spark master for `features build --engine spark`: local[*], local[2], "
        "spark://host:7077, k8s://...",
    )
    spark_driver_memory: str = Field(
        default="4g", description="memory of the Spark driver (holds the collected panel)"
    )
    registry_uri: SecretStr | None = Field(
        default=None,
        description="database of the MLflow model registry: sqlite:///PATH or "
        "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB (default: the SQLite file "
        "HOME/mlflow.db)",
    )
    registry_artifacts: str | None = Field(
        default=None,
        description="where registered model files go: a folder, file:// or s3://bucket/prefix "
        "(default: HOME/mlruns)",
    )
    finbert_model_dir: Path | None = Field(
        default=None,
        description="local FinBERT-style model directory for sentiment (never downloaded; "
        "needs the nlp and torch extras)",
    )

    api_secret_key: SecretStr | None = Field(
        default=None,
        description="key that signs the API's tokens (HS256, 32+ characters); required in "
        "production, generated once into HOME/state/api-secret otherwise",
    )
    api_issuer: str = Field(default="stockpred", description="issuer (iss) of the API's tokens")
    api_audience: str = Field(
        default="stockpred-api", description="audience (aud) the API's tokens must name"
    )
    api_monitor_metrics: bool = Field(
        default=True,
        description="expose the monitor's realised accuracy and drift of the champions on "
        "/metrics (read from the store at most once a minute, when it changed)",
    )
    alert_retrain_tune: bool = Field(
        default=True,
        description="re-tune the challenger when an Alertmanager drift or accuracy alert asks "
        "for a retrain (POST /v1/monitoring/alerts)",
    )
    api_token_minutes: int = Field(
        default=15, gt=0, le=24 * 60, description="lifetime of an issued access token"
    )
    api_jwks_url: str | None = Field(
        default=None,
        description="JWKS URL of an external identity provider; when set, the API accepts its "
        "RS256/ES256 tokens (checked against api_issuer and api_audience) instead of its own",
    )
    api_database: SecretStr | None = Field(
        default=None,
        description="database of API clients, webhooks and jobs: sqlite:///PATH or "
        "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB (default: HOME/api.db)",
    )
    api_rate_limit: str = Field(
        default="1200/minute",
        description="requests per client, in the `limits` notation: 1200/minute, 50/second",
    )
    api_auth_failures_per_client: str = Field(
        default="10/minute",
        description="failed authentications a client id may have (limits notation) before "
        "POST /v1/token answers 429 without checking its secret",
    )
    api_auth_failures_per_address: str = Field(
        default="60/minute",
        description="token requests that check a secret, and failed authentications (bad "
        "bearer tokens, malformed credentials), one source address may make before it gets "
        "429; behind a proxy, run uvicorn with --forwarded-allow-ips so the address is the "
        "client's",
    )
    api_hash_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="client secrets checked at once per process (each an argon2id hash of "
        "64 MiB), in threads at the lowest CPU priority; the rest wait (at most 256, then "
        "429), so token requests cannot take the CPU from predictions",
    )
    api_cors_origins: list[str] = Field(
        default_factory=list,
        description="origins a browser may call the API from (CORS), JSON: "
        '["https://dash.example.com"]; empty (the default): no CORS headers, so browsers on '
        "other origins are refused",
    )
    api_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="largest request body the API reads (bytes); a larger one gets 413 before "
        "it is parsed, from its Content-Length or while it streams",
    )
    api_max_batch: int = Field(
        default=500, gt=0, description="most tickers one batch prediction request may ask for"
    )
    api_horizons: list[int] = Field(
        default_factory=lambda: [1, 5, 20],
        description="horizons (sessions) whose champions the API serves, JSON: [1, 5, 20]",
    )
    api_model_poll_seconds: float = Field(
        default=10.0, gt=0, description="how often the API checks whether the champion moved"
    )
    api_stream_replay: bool = Field(
        default=False,
        description="the API also runs the stream processor with a replay of the last stored "
        "year, again and again, so websocket clients see forecasts arrive (a demo; one worker; "
        "`stockpred serve --replay`)",
    )
    api_refresh_stale: bool = Field(
        default=False,
        description="when a request finds a ticker's features behind the latest session, fetch "
        "its new bars from price_source and rebuild its features in the background (needs the "
        "provider reachable)",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for the online feature store and shared rate limits: "
        "redis://HOST:6379/0 (default: in-process)",
    )
    # A plain string, so that `config show` can show it with only its password masked; kept out
    # of repr() all the same.
    bus_url: str = Field(
        default="memory://",
        repr=False,
        description="the event bus: memory:// (in-process), redis://HOST:6379/0 (Redis "
        "Streams), nats://HOST:4222 (NATS JetStream) or kafka://HOST:9092 (Kafka); a password "
        "in it is masked",
    )

    bus_ack_timeout: float = Field(
        default=30.0,
        gt=0,
        description="seconds a delivery may stay unacknowledged before the bus hands it out "
        "again (to another consumer of the group, or to a restarted one)",
    )
    bus_namespace: str = Field(
        default="stockpred",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$",
        description="the prefix of every stream, subject and topic stockpred makes on a broker, "
        "so that several deployments can share one",
    )

    notify_routes: list[NotifyRoute] = Field(
        default_factory=list,
        description="who receives alerts, reports and retrain decisions, JSON or TOML "
        '[[notify_routes]]: [{"channel": "slack", "target": "https://hooks.slack.com/services/'
        '...", "kinds": ["alert"], "alert_kinds": ["drift"], "tickers": [], "min_severity": '
        '"warning"}]; a Slack target is shown as its host only',
    )
    notify_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="tries of each Slack or email delivery (exponential backoff with jitter) "
        "before it is parked in the dead letters (`stockpred notify dead-letters`)",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server of email routes")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server's port")
    smtp_username: str | None = Field(default=None, description="SMTP login (none: no login)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_sender: str | None = Field(
        default=None, description="From address of notice emails, e.g. stockpred@example.com"
    )
    smtp_starttls: bool = Field(
        default=True,
        description="require STARTTLS (a server that does not offer it is an error); turn off "
        "only for a trusted local relay, and never with a login",
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CAs that sign the SMTP server's certificate (default: the "
        "system's trust store)",
    )
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, description="seconds each SMTP operation may take"
    )
    dashboard_api_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the API the dashboard reads (REST and the /v1/stream websocket)",
    )
    dashboard_client_id: str | None = Field(
        default=None,
        description="the dashboard's API client (predictions:read, stream:read; "
        "`stockpred clients create` or the one `stockpred serve --demo` prints)",
    )
    dashboard_client_secret: SecretStr | None = Field(
        default=None, description="the secret of dashboard_client_id"
    )

    @field_validator("calendar")
    @classmethod
    def _upper_calendar(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("bus_url")
    @classmethod
    def _known_bus(cls, value: str) -> str:
        scheme = value.partition("://")[0].lower()
        if "://" not in value or scheme not in BUS_SCHEMES:
            raise ValueError(
                f"{mask_credentials(value)!r} is not a bus URL; use memory://, "
                "redis://HOST:6379/0, nats://HOST:4222 or kafka://HOST:9092"
            )
        return value

    @field_validator("home", "duckdb_path", "reports_dir", "finbert_model_dir", "smtp_ca_file")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def store_path(self) -> Path:
        """The DuckDB file in use."""
        return self.duckdb_path or self.home / "stockpred.duckdb"

    @property
    def reports_path(self) -> Path:
        """The folder reports are written to."""
        return self.reports_dir or self.home / "reports"

    @property
    def archive_location(self) -> str:
        """The archive's URL (a local folder unless configured)."""
        return self.archive_url or str(self.home / "archive")

    @property
    def registry_database(self) -> str:
        """The model registry's database URI (a SQLite file under home unless configured)."""
        if self.registry_uri is not None and self.registry_uri.get_secret_value():
            return self.registry_uri.get_secret_value()
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def registry_artifact_location(self) -> str:
        """Where registered model files go (a folder under home unless configured)."""
        return self.registry_artifacts or str(self.home / "mlruns")

    @property
    def api_database_url(self) -> str:
        """The API's own database (a SQLite file under home unless configured)."""
        if self.api_database is not None and self.api_database.get_secret_value():
            return self.api_database.get_secret_value()
        return f"sqlite:///{(self.home / 'api.db').resolve()}"

    @property
    def cache_path(self) -> Path:
        """Provider response caches."""
        return self.home / "cache" / "http"

    @property
    def state_path(self) -> Path:
        """Small state files, such as the providers' last success and failure."""
        return self.home / "state"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


@dataclass(frozen=True, slots=True)
class SettingOrigin:
    """One effective setting for display: name, masked value, and where it came from."""

    name: str
    value: str
    origin: str
    description: str


def _config_file(environ: Mapping[str, str], config_file: Path | None) -> Path | None:
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigurationError(f"config file {str(config_file)!r} does not exist")
        return config_file
    named = environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"{CONFIG_ENV} names {named!r}, which does not exist; fix or unset it"
            )
        return path
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


def _bound_class(toml_file: Path | None) -> type[Settings]:
    # A subclass per call binds the TOML path without any module-level state.
    config = SettingsConfigDict(**{**Settings.model_config, "toml_file": toml_file})
    return type("Settings", (Settings,), {"model_config": config, "__module__": __name__})


def _check_unknown_env(environ: Mapping[str, str]) -> None:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {CONFIG_ENV}
    unknown = sorted(
        key
        for key in environ
        if key.upper().startswith(ENV_PREFIX)
        and not key.upper().startswith(_TEST_ENV_PREFIX)
        and key.upper() not in known
    )
    if unknown:
        raise ConfigurationError(
            f"unknown setting {unknown[0]} in the environment; known settings: "
            f"{', '.join(sorted(known))}"
        )


def make_private(settings: Settings) -> None:
    """Files this process creates are its user's alone (umask 077: folders 0700, files 0600),
    and the data home exists as 0700 (tightened if an older release made it 0755). The home
    holds the store, the API's client secrets and signing inputs, and the registry."""
    os.umask(0o077)
    home = settings.home
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if home.stat().st_mode & 0o077 and home.stat().st_uid == os.getuid():
            home.chmod(0o700)
    except OSError:
        pass  # an unwritable home fails later, where the command says what it needed


def load_settings(*, config_file: Path | None = None) -> Settings:
    """Build the settings from the environment, the TOML file and defaults.

    ``config_file`` overrides ``STOCKPRED_CONFIG`` and ``./stockpred.toml``.
    """
    _check_unknown_env(os.environ)
    cls = _bound_class(_config_file(os.environ, config_file))
    try:
        return cls()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"the config file {cls.model_config.get('toml_file')} is not valid TOML: {exc}"
        ) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field = Settings.model_fields.get(where)
        # A route's input holds its target, which may be a Slack webhook URL.
        secret = (field is not None and "SecretStr" in str(field.annotation)) or (
            str(first["loc"][0]) == "notify_routes" if first["loc"] else False
        )
        shown = "********" if secret else mask_credentials(repr(first.get("input")))
        raise ConfigurationError(
            f"invalid setting {where!r}: {first['msg']} (got {shown}); "
            f"set {ENV_PREFIX}{where.upper()} or fix it in the config file"
        ) from exc


# A URL's user-info (user:password@) and the values of credential-like query parameters.
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:?#]*)(?P<password>:[^/@\s?#]*)?@"
)
# Query parameters that carry credentials: masked here, refused and redacted by the API
# (api/redaction.py).
CREDENTIAL_PARAMETERS = frozenset(
    {
        "access_token", "api-key", "api_key", "apikey", "auth", "client_secret", "id_token",
        "key", "passwd", "password", "refresh_token", "secret", "sig", "signature", "token",
    }
)  # fmt: skip
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&](?:"
    + "|".join(re.escape(n) for n in sorted(CREDENTIAL_PARAMETERS, key=len, reverse=True))
    + r")=)[^&#\s'\"]*",
    re.IGNORECASE,
)


def mask_credentials(text: str) -> str:
    """``text`` with every URL's password (or bare user token) and every credential-like query
    value replaced by ``****``: the same mask for every URL-shaped setting, wherever it sits
    (a plain string, a mapping such as ``provider_urls``, a derived database URL)."""

    def userinfo(match: re.Match[str]) -> str:
        # user:password keeps the user; a lone user part may itself be a token: all of it goes.
        kept = f"{match.group('user')}:" if match.group("password") and match.group("user") else ""
        return f"{match.group('scheme')}{kept}****@"

    masked = _USERINFO.sub(userinfo, text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('name')}****", masked)


def describe_settings(settings: Settings) -> list[SettingOrigin]:
    """Every setting with its value (secrets masked) and origin: env, config file or default."""
    cls = type(settings)
    env_values = EnvSettingsSource(cls)()
    toml_file = cls.model_config.get("toml_file")
    toml_values = TomlConfigSettingsSource(cls)() if toml_file else {}
    rows: list[SettingOrigin] = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if name in env_values:
            origin = f"env {ENV_PREFIX}{name.upper()}"
        elif name in toml_values:
            origin = f"file {toml_file}"
        else:
            origin = "default"
        if isinstance(value, SecretStr):
            shown = "********" if value.get_secret_value() else "(empty)"
        elif name == "notify_routes":
            shown = "; ".join(route.describe() for route in value) or "[]"
        elif value is None:
            shown = "(unset)"
        else:
            shown = mask_credentials(str(value))
        rows.append(SettingOrigin(name, shown, origin, field.description or ""))
    effective = {
        "duckdb_path": settings.store_path,
        "reports_dir": settings.reports_path,
        "registry_uri": settings.registry_database,
        "registry_artifacts": settings.registry_artifact_location,
    }
    for index, row in enumerate(rows):
        if row.name in effective and getattr(settings, row.name) is None:
            shown = mask_credentials(str(effective[row.name]))
            rows[index] = dataclasses.replace(row, value=f"(unset) {shown}")
    for name, value, base in (
        ("store_path", settings.store_path, "duckdb_path"),
        ("reports_path", settings.reports_path, "reports_dir"),
        ("registry_database", settings.registry_database, "registry_uri"),
        ("registry_artifact_location", settings.registry_artifact_location, "registry_artifacts"),
    ):
        if getattr(settings, base) is None:
            shown = mask_credentials(str(value))
            rows.append(SettingOrigin(name, shown, "derived from home", "effective path"))
    return rows
