"""One URL chooses the bus: ``memory://``, ``redis://…``, ``nats://…`` or ``kafka://…``."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from stockpred.bus.base import Bus
from stockpred.domain.errors import ConfigurationError

__all__ = ["BUS_SCHEMES", "open_bus"]

BUS_SCHEMES = ("memory", "redis", "rediss", "nats", "tls", "kafka")
_EXAMPLES = (
    "memory:// (in-process), redis://HOST:6379/0 (Redis Streams), nats://HOST:4222 (NATS "
    "JetStream), kafka://HOST:9092 (Kafka)"
)


def _int_option(options: dict[str, str], name: str, url: str) -> int | None:
    if name not in options:
        return None
    text = options.pop(name)
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigurationError(
            f"bus URL option {name}={text!r} is not a whole number (in {_safe(url)})"
        ) from exc


def _safe(url: str) -> str:
    """``url`` without its user-info, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def open_bus(url: str, *, namespace: str = "stockpred", ack_timeout: float = 30.0) -> Bus:
    """The bus ``url`` names, not yet connected (it connects on first use).

    ``namespace`` prefixes every stream, subject and topic the bus makes on a broker;
    ``ack_timeout`` (seconds) is how long a delivery may stay unacknowledged before it is
    handed out again. Options in the URL's query: ``memory://?max_records=N`` (records kept per
    topic, default 10,000, so a long-running API holds no more forecasts than that),
    ``redis://...?max_length=N`` (approximate stream trimming), ``kafka://...?partitions=N``
    (partitions of new topics). The Redis, NATS and Kafka clients
    are optional extras (``stockpred[redis]``, ``stockpred[nats]``, ``stockpred[kafka]``).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = dict(parse_qsl(parts.query))
    if scheme == "memory":
        from stockpred.bus.inprocess import InProcessBus

        max_records = _int_option(options, "max_records", url)
        _no_more(options, url)
        return InProcessBus(ack_timeout=ack_timeout, max_records=max_records or 10_000)
    if scheme in ("redis", "rediss"):
        from stockpred.bus.redis_streams import RedisStreamsBus

        max_length = _int_option(options, "max_length", url)
        # Whatever else the query holds is redis-py's (socket_timeout=..., and so on).
        rest = urlunsplit(parts._replace(query=urlencode(options)))
        return RedisStreamsBus(
            rest, namespace=namespace, ack_timeout=ack_timeout, max_length=max_length
        )
    if scheme in ("nats", "tls"):
        from stockpred.bus.nats_jetstream import NatsJetStreamBus

        _no_more(options, url)
        return NatsJetStreamBus(
            urlunsplit(parts._replace(query="")), namespace=namespace, ack_timeout=ack_timeout
        )
    if scheme == "kafka":
        from stockpred.bus.kafka import KafkaBus

        partitions = _int_option(options, "partitions", url)
        _no_more(options, url)
        servers = parts.netloc.rpartition("@")[2]
        if not servers:
            raise ConfigurationError(f"a Kafka bus URL names its brokers: {_EXAMPLES}")
        return KafkaBus(
            servers, namespace=namespace, ack_timeout=ack_timeout, partitions=partitions or 3
        )
    raise ConfigurationError(
        f"bus URL {_safe(url)!r} has an unknown scheme {parts.scheme!r}; use {_EXAMPLES}"
    )


def _no_more(options: dict[str, str], url: str) -> None:
    if options:
        raise ConfigurationError(
            f"bus URL {_safe(url)!r} has options this backend does not read: "
            f"{', '.join(sorted(options))}"
        )
