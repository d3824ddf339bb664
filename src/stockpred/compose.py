"""The composition root: concrete adapters chosen from the settings, in one place."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from stockpred.bus.base import Bus
from stockpred.bus.blocking import Announcer, BlockingPublisher
from stockpred.domain.errors import ConfigurationError
from stockpred.domain.instruments import Universe
from stockpred.quality.bars import BarRules
from stockpred.registry.base import ModelRegistry
from stockpred.registry.mlflow import MLflowRegistry
from stockpred.settings import Settings
from stockpred.sources.providers.base import ProviderContext
from stockpred.sources.providers.registry import provider_info
from stockpred.sources.providers.status import StatusFile
from stockpred.store.archive import ParquetArchive
from stockpred.store.duckdb import DuckDBStore, file_change_token
from stockpred.store.postgres import PostgresStore

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence

    import pandas as pd

    from stockpred.features.sets import FeatureSet
    from stockpred.monitor.session import MonitorResult
    from stockpred.notify.dispatch import Dispatcher
    from stockpred.pipeline.daily_report import DailyReport
    from stockpred.pipeline.evaluate import EvaluationConfig
    from stockpred.pipeline.retrain import RetrainResult
    from stockpred.pipeline.serving import ChampionCache
    from stockpred.pipeline.train import TrainResult
    from stockpred.sources.feeds.alpaca import AlpacaFeed
    from stockpred.sources.feeds.polling import PollingFeed
    from stockpred.stream.metrics import StreamMetrics
    from stockpred.stream.processor import StreamProcessor

__all__ = [
    "alpaca_feed",
    "announcements",
    "bar_rules",
    "daily_report_with",
    "notifier",
    "open_archive",
    "open_bus",
    "open_registry",
    "open_store",
    "polling_feed",
    "provider_context",
    "provider_status",
    "retrain_with",
    "store_changes",
    "stream_setup",
    "train_with",
    "universe",
]


def open_store(settings: Settings) -> DuckDBStore | PostgresStore:
    """The store the settings name; migrated and ready."""
    if settings.store == "duckdb":
        return DuckDBStore(settings.store_path)
    if settings.store == "postgres":
        url = settings.postgres_url.get_secret_value() if settings.postgres_url else ""
        if not url:
            raise ConfigurationError(
                "store = postgres needs the server's URL; set STOCKPRED_POSTGRES_URL (or "
                "postgres_url in the config file), e.g. postgresql://USER:PASSWORD@HOST:5432/DB"
            )
        return PostgresStore(url)
    raise ConfigurationError(f"unknown store {settings.store!r}; use 'duckdb' or 'postgres'")


def open_bus(settings: Settings) -> Bus:
    """The event bus the settings name (``bus_url``): in-process by default; it connects to
    its broker on first use."""
    from stockpred.bus.factory import open_bus as open_bus_at

    return open_bus_at(
        settings.bus_url,
        namespace=settings.bus_namespace,
        ack_timeout=settings.bus_ack_timeout,
    )


@contextmanager
def announcements(settings: Settings) -> Iterator[Announcer | None]:
    """What a writing process tells the servers once it committed (feature rows, champion
    moves), over the bus the settings name; None on the in-process bus, which no other process
    can hear (there the servers watch the embedded store's file instead)."""
    if settings.bus_url.split(":", 1)[0].lower() == "memory":
        yield None
        return
    with BlockingPublisher(open_bus(settings)) as publisher:
        yield Announcer(publisher)


def store_changes(settings: Settings) -> Callable[[], object] | None:
    """A cheap token that changes when another process writes the store, for a server to
    watch without opening it: the embedded DuckDB file's stat. None for PostgreSQL, whose
    writers announce what they wrote on the bus and whose readers never block a writer."""
    if settings.store == "duckdb":
        path = settings.store_path
        return lambda: file_change_token(path)
    return None


def provider_status(settings: Settings) -> StatusFile:
    """Where each provider's last success and failure are kept."""
    return StatusFile(settings.state_path / "sources.json", clock=lambda: datetime.now(UTC))


def provider_context(settings: Settings, name: str) -> ProviderContext:
    """How to reach provider ``name``: its URL (or the configured override), key and cache."""
    info = provider_info(name)
    key = getattr(settings, info.key_setting) if info.key_setting else None
    return ProviderContext(
        base_url=settings.provider_urls.get(info.name, info.base_url),
        api_key=key.get_secret_value() if key is not None else None,
        cache_dir=settings.cache_path,
        on_status=provider_status(settings).record,
    )


def alpaca_feed(
    settings: Settings, symbols: Iterable[str], *, from_trades: bool | Collection[str] = False
) -> AlpacaFeed:
    """Alpaca's live minute bars of ``symbols``, with the keys of the settings; the stream and
    REST URLs can be replaced in ``provider_urls`` as ``alpaca_stream`` and ``alpaca``."""
    from stockpred.sources.feeds.alpaca import REST_URL, STREAM_URL, AlpacaFeed

    key_id, secret_key = settings.alpaca_key_id, settings.alpaca_secret_key
    return AlpacaFeed(
        symbols,
        key_id=key_id.get_secret_value() if key_id is not None else "",
        secret_key=secret_key.get_secret_value() if secret_key is not None else "",
        stream_url=settings.provider_urls.get("alpaca_stream", STREAM_URL),
        rest_url=settings.provider_urls.get("alpaca", REST_URL),
        from_trades=from_trades,
    )


def polling_feed(settings: Settings, symbols: Iterable[str]) -> PollingFeed:
    """Intraday bars of ``symbols`` polled from ``poll_provider`` (``poll_bar_interval`` bars,
    a poll of each every ``poll_seconds``), through the provider's adapter: its URL (or the
    override in ``provider_urls``), key, cache and quota."""
    from stockpred.sources.feeds.polling import AlphaVantageIntraday, PollingFeed, YahooIntraday
    from stockpred.sources.providers.alphavantage import AlphaVantageProvider
    from stockpred.sources.providers.http import HttpPolicy
    from stockpred.sources.providers.yahoo import YahooProvider

    # The feed retries a failed poll itself (degraded meanwhile), so the client tries little
    # and never blocks long on the quota, which the feed paces itself to.
    policy = HttpPolicy(attempts=2, backoff_max_s=2.0, breaker_reset_s=60.0, quota_wait_max_s=5.0)
    context = provider_context(settings, settings.poll_provider)
    interval = settings.poll_bar_interval
    source: AlphaVantageIntraday | YahooIntraday
    if settings.poll_provider == "alphavantage":
        source = AlphaVantageIntraday(
            AlphaVantageProvider(context, policy=policy), interval=interval
        )
    else:
        source = YahooIntraday(YahooProvider(context, policy=policy), interval=interval)
    return PollingFeed(
        symbols, source=source, interval=interval, poll_seconds=settings.poll_seconds
    )


def open_archive(settings: Settings) -> ParquetArchive:
    """The bar archive the settings name (a local folder by default)."""
    options: dict[str, object] = {}
    if settings.archive_location.startswith("s3://") and settings.archive_s3_endpoint:
        options["client_kwargs"] = {"endpoint_url": settings.archive_s3_endpoint}
    return ParquetArchive(settings.archive_location, storage_options=options)


def open_registry(settings: Settings, *, announcer: Announcer | None = None) -> ModelRegistry:
    """The model registry the settings name: MLflow on the SQLite file HOME/mlflow.db with model
    files under HOME/mlruns by default, or on the PostgreSQL database of ``registry_uri``.
    With an ``announcer`` (:func:`announcements`), every champion move is announced."""
    registry = MLflowRegistry(
        settings.registry_database, artifact_location=settings.registry_artifact_location
    )
    if announcer is None:
        return registry
    from stockpred.registry.announcing import AnnouncingRegistry

    return AnnouncingRegistry(registry, announcer.model_promoted)


def bar_rules(settings: Settings, *, date_format: str | None = None) -> BarRules:
    """The plausibility rules of ingest, from the settings (and ``--date-format``)."""
    return BarRules(
        earliest=settings.ingest_earliest_date,
        max_price=settings.ingest_max_price,
        max_volume=settings.ingest_max_volume,
        date_format=date_format,
        max_field_chars=settings.ingest_max_field_chars,
    )


def notifier(settings: Settings, *, clock: Callable[[], datetime]) -> Dispatcher:
    """The Slack and email routes of ``notify_routes`` with their channels (SMTP from the
    ``smtp_*`` settings), retried ``notify_attempts`` times, parked in the dead letters on the
    API's database. A route that cannot work (an email route without an SMTP server or sender,
    a bad address) is a ConfigurationError here, at start-up."""
    import ssl

    from stockpred.notify.channels import EmailChannel, SlackChannel, parse_recipients
    from stockpred.notify.dispatch import ChannelFactory, Dispatcher
    from stockpred.notify.notice_store import NoticeStore
    from stockpred.notify.retry import RetryPolicy
    from stockpred.notify.routing import Route

    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    ca_file = settings.smtp_ca_file
    if ca_file is not None and not ca_file.is_file():
        raise ConfigurationError(
            f"STOCKPRED_SMTP_CA_FILE names {str(ca_file)!r}, which is not a file; give a PEM file"
        )
    tls_context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    def email(target: str) -> EmailChannel:
        return EmailChannel(
            settings.smtp_host or "",
            settings.smtp_port,
            sender=settings.smtp_sender or "",
            recipients=parse_recipients(target),
            username=settings.smtp_username,
            password=password,
            starttls=settings.smtp_starttls,
            timeout_seconds=settings.smtp_timeout_seconds,
            tls_context=tls_context,
            clock=clock,
        )

    def slack(target: str) -> SlackChannel:
        return SlackChannel(target, clock=clock)

    routes = [
        Route(
            channel=r.channel,
            target=r.target.strip(),
            kinds=frozenset(r.kinds),
            alert_kinds=frozenset(r.alert_kinds),
            tickers=frozenset(t.strip().upper() for t in r.tickers),
            min_severity=r.min_severity,
        )
        for r in settings.notify_routes
    ]
    channels: dict[str, ChannelFactory] = {"slack": slack, "email": email}
    store = NoticeStore(settings.api_database_url)
    try:
        return Dispatcher(
            routes,
            channels,
            dead_letters=store,
            clock=clock,
            policy=RetryPolicy(attempts=settings.notify_attempts),
        )
    except Exception:
        store.close()
        raise


def universe(settings: Settings) -> Universe:
    """The instruments modelled: the kinds the settings name, symbols classified by them."""
    return Universe(
        kinds=frozenset(settings.modelled_kinds),
        overrides={s.strip().upper(): k for s, k in settings.instrument_kinds.items()},
    )


def train_with(
    settings: Settings,
    *,
    feature_set: FeatureSet,
    config: EvaluationConfig,
    now: datetime,
    git_commit: str | None = None,
    force: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_step: Callable[[int, str], None] | None = None,
) -> TrainResult:
    """One training run (pipeline/train.py: walk-forward, fit, register, the first champion) of
    ``config`` on the store and registry the settings name: what a SageMaker training job
    runs (cli/sagemaker.py). ``on_step`` is told each walk-forward step (fold number, model)."""
    # Imported here: compose is imported by every process, most of which never train.
    from stockpred import __version__
    from stockpred.models.catalog import MODELS, PARAM_GRIDS
    from stockpred.pipeline.train import train_models

    with announcements(settings) as announcer, open_store(settings) as store:
        return train_models(
            store,
            open_registry(settings, announcer=announcer),
            feature_set,
            config,
            calendar=settings.calendar,
            now=now,
            code_version=__version__,
            git_commit=git_commit,
            catalog=MODELS,
            grids=PARAM_GRIDS,
            on_start=on_start,
            on_step=None if on_step is None else lambda fold, name: on_step(fold.number, name),
            force=force,
            universe=universe(settings),
        )


def retrain_with(
    settings: Settings,
    *,
    horizon: int,
    recent: int = 63,
    margin: float = 0.0,
    tune: bool = True,
    now: datetime,
    git_commit: str | None = None,
    trigger: str | None = None,
) -> RetrainResult:
    """One retrain of ``horizon``'s champion on the store and registry the settings name: what
    `stockpred retrain`, the scheduler and the API's background job run."""
    # Imported here: compose is imported by every process, most of which never retrain.
    from stockpred import __version__
    from stockpred.features.sets import DEFAULT_FEATURE_SET, get_feature_set
    from stockpred.models.catalog import MODELS, PARAM_GRIDS
    from stockpred.pipeline.evaluate import EvaluationConfig
    from stockpred.pipeline.retrain import retrain

    with announcements(settings) as announcer, open_store(settings) as store:
        registry = open_registry(settings, announcer=announcer)
        return retrain(
            store,
            registry,
            get_feature_set(DEFAULT_FEATURE_SET),
            EvaluationConfig(horizon=horizon, tune=tune),
            calendar=settings.calendar,
            now=now,
            cache=settings.home / "models",
            code_version=__version__,
            git_commit=git_commit,
            catalog=MODELS,
            grids=PARAM_GRIDS,
            recent=recent,
            margin=margin,
            universe=universe(settings),
            announce=announcer.features_written if announcer is not None else None,
            trigger=trigger,
        )


def monitor_with(
    settings: Settings, *, now: datetime, horizons: Sequence[int] | None = None
) -> list[MonitorResult]:
    """One monitor run (monitor/session.py) over the champions of ``horizons`` (default the
    served ones) on the store and registry the settings name: what `stockpred monitor` and
    the scheduler's job after each session close run."""
    from stockpred.monitor.session import monitor_champions

    with open_store(settings) as store:
        return monitor_champions(
            store,
            open_registry(settings),
            horizons=list(horizons) if horizons is not None else settings.api_horizons,
            calendar=settings.calendar,
            now=now,
            cache=settings.home / "models",
            universe=universe(settings),
        )


def daily_report_with(
    settings: Settings, *, now: datetime, session: date | None = None
) -> DailyReport:
    """The daily report of ``session`` (default: the latest closed session the store has)
    for the served horizons' champions, from the store, the registry, the monitor's stored
    figures and the providers' status file the settings name: what `stockpred report daily`
    and the scheduler's report job render."""
    from stockpred.monitor.report import read_report
    from stockpred.pipeline.daily_report import gather_daily_report

    with open_store(settings) as store:
        return gather_daily_report(
            store,
            open_registry(settings),
            read_monitor=lambda horizon, version: read_report(
                store, horizon=horizon, model_version=version
            ),
            horizons=settings.api_horizons,
            calendar=settings.calendar,
            now=now,
            session=session,
            providers=provider_status(settings).read(),
            universe=universe(settings),
        )


@dataclass(frozen=True)
class StreamSetup:
    """A stream processor ready to run, and the stored bars: the caller warms the state on
    those before what it replays (``processor.state.warm``)."""

    processor: StreamProcessor
    bars: pd.DataFrame
    # The champions it forecasts with (for ``stockpred_model_info``).
    champions: ChampionCache | None = None


def stream_setup(
    settings: Settings,
    bus: Bus,
    *,
    clock: Callable[[], datetime],
    tickers: list[str] | None = None,
    group: str = "stream",
    consumer: str = "stream-1",
    new_only: bool = False,
    keep_bars: bool = True,
    metrics: StreamMetrics | None = None,
) -> StreamSetup:
    """The stream processor of the default feature set over ``bus``, with the champions of
    the served horizons, writing rows, bars (unless ``keep_bars`` is False: a replay of stored
    bars) and forecasts to the store the settings name; its state is not warmed yet."""
    import pandas as pd

    from stockpred.features.sets import DEFAULT_FEATURE_SET, get_feature_set
    from stockpred.pipeline.forecasting import ChampionForecaster
    from stockpred.pipeline.serving import ChampionCache
    from stockpred.pipeline.stream_sink import StoreStreamSink
    from stockpred.stream.features import SessionFeatures
    from stockpred.stream.processor import StreamProcessor
    from stockpred.stream.sessions import SessionClock

    feature_set = get_feature_set(DEFAULT_FEATURE_SET)
    modelled = universe(settings)
    now = pd.Timestamp(clock())
    index = feature_set.context.index_ticker
    wanted = sorted({*tickers, *([index] if index else [])}) if tickers else None
    with open_store(settings) as store:
        bars = store.read_bars(tickers=wanted, as_of=now)
        macro = store.read_macro(as_of=now)
        scorer = feature_set.context.sentiment_scorer
        sentiment = store.read_sentiment(scorer=scorer, as_of=now) if scorer else None
    state = SessionFeatures(feature_set, universe=modelled, macro=macro, sentiment=sentiment)
    champions = ChampionCache(
        open_registry(settings), horizons=settings.api_horizons, cache=settings.home / "models"
    )
    champions.reload()

    processor = StreamProcessor(
        state,
        bus,
        ChampionForecaster(champions, feature_set=feature_set.key),
        sink=StoreStreamSink(lambda: open_store(settings), keep_bars=keep_bars),
        clock=clock,
        group=group,
        consumer=consumer,
        new_only=new_only,
        sessions=SessionClock(settings.calendar),
        metrics=metrics,
    )
    return StreamSetup(processor, bars, champions)
