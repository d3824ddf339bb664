"""``stockpred stream``: the stream processor, optionally with a feed in the same process."""

from __future__ import annotations

import asyncio
import signal
import statistics
import time
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from stockpred.cli.runtime import Runtime, runtime_of
from stockpred.domain.errors import InvalidInputError

if TYPE_CHECKING:
    from stockpred.bus.base import Bus
    from stockpred.domain.records import Bar
    from stockpred.monitor.stream_metrics import PrometheusStreamMetrics
    from stockpred.pipeline.serving import ChampionCache, ServedModel
    from stockpred.sources.feeds.base import Feed
    from stockpred.stream.processor import StreamProcessor

__all__ = ["stream_command"]


class FeedChoice(StrEnum):
    none = "none"
    replay = "replay"
    alpaca = "alpaca"
    poll = "poll"


def stream_command(
    ctx: typer.Context,
    feed: FeedChoice = typer.Option(
        FeedChoice.replay,
        "--feed",
        help="Run a feed in this process: 'replay' (stored history as market time), 'alpaca' "
        "(Alpaca's live stream; STOCKPRED_ALPACA_KEY_ID and _SECRET_KEY), 'poll' (intraday "
        "bars asked for every STOCKPRED_POLL_SECONDS from STOCKPRED_POLL_PROVIDER, yahoo by "
        "default, e.g. `--feed poll --tickers AAPL,MSFT`), or 'none' (consume what other "
        "processes publish on the bus).",
    ),
    start: str | None = typer.Option(
        None, "--from", help="Replay from this date (default: a year before the last stored)."
    ),
    end: str | None = typer.Option(None, "--to", help="Replay up to this date (default: the end)."),
    speed: float | None = typer.Option(
        None,
        "--speed",
        min=0.001,
        help="Replay pace, times market time (86400: a day a second; default: five sessions "
        "a second, a year a minute).",
    ),
    fast: bool = typer.Option(False, "--fast", help="Replay as fast as the processor takes it."),
    file: Path | None = typer.Option(
        None,
        "--file",
        exists=True,
        dir_okay=False,
        help="Replay the bars of this file (CSV, .csv.gz or Parquet; intraday times with their "
        "UTC offset, e.g. 2024-03-01T14:31:00Z) instead of the stored history.",
    ),
    split: str | None = typer.Option(
        None,
        "--split",
        help="Replay the last --split-sessions stored sessions as intraday bars of this length "
        "(e.g. 5m): a synthetic path through each day's open, extremes and close, for demos.",
    ),
    split_sessions: int = typer.Option(
        1, "--split-sessions", min=1, help="How many of the last sessions --split splits."
    ),
    intraday_speed: float | None = typer.Option(
        None,
        "--intraday-speed",
        min=0.001,
        help="Pace of intraday bars within a day, times market time (default: a session a "
        "minute, 390).",
    ),
    tickers: str | None = typer.Option(
        None, "--tickers", help="Comma-separated tickers (default: every stored stock)."
    ),
    group: str = typer.Option("stream", "--group", help="Consumer group on the bars topic."),
    once: bool = typer.Option(
        True,
        "--once/--forever",
        help="With a replay: stop when it has been processed (--forever keeps consuming).",
    ),
    idle_exit: float | None = typer.Option(
        None,
        "--idle-exit",
        min=0.1,
        help="Stop once no bar has come for this many seconds and every session is closed.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    metrics_port: int = typer.Option(
        9101, "--metrics-port", min=0, max=65535, help="Serve Prometheus /metrics here (0: off)."
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address of /metrics (0.0.0.0: all)."
    ),
) -> None:
    """Feature rows and forecasts as bars arrive: the bars topic of the bus (STOCKPRED_BUS_URL)
    into the feature state, the store and the champions' forecasts, published on the
    predictions topic for the API's websockets.

    Intraday bars give provisional forecasts ("if the session closed now", never stored);
    the exchange's close commits the session.

    Examples: `stockpred stream` (replay the last stored year at a year a minute);
    `stockpred stream --from 2012-01-01 --fast --json`; `stockpred stream --split 5m
    --split-sessions 2` (the last two sessions as 5-minute bars, a session a minute);
    `stockpred stream --file minutes.csv.gz`; `stockpred stream --feed none`
    (with STOCKPRED_BUS_URL=redis://..., beside a feed process)."""
    runtime = runtime_of(ctx)
    summary = asyncio.run(
        _stream(
            runtime,
            feed=feed,
            start=_date(start, "--from"),
            end=_date(end, "--to"),
            speed=None if fast else speed or _default_speed(),
            intraday_speed=None if fast else intraday_speed or _default_speed(intraday=True),
            file=file,
            split=split,
            split_sessions=split_sessions,
            tickers=[t.strip().upper() for t in (tickers or "").split(",") if t.strip()],
            group=group,
            once=once and feed is FeedChoice.replay,
            idle_exit=idle_exit,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
        )
    )
    if as_json:
        runtime.print_json(summary)
        return
    runtime.out.print(
        f"{summary['sessions']} sessions, {summary['rows']} feature rows, "
        f"{summary['forecasts']} forecasts published in {summary['seconds']} s; a session's "
        f"close to its forecasts: p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms",
        markup=False,
        highlight=False,
    )
    if summary["intraday"]:
        runtime.out.print(
            f"{summary['intraday']} intraday bars, {summary['nowcasts']} provisional forecasts "
            f"(not stored), {summary['committed']} sessions committed at the close",
            markup=False,
            highlight=False,
        )


def _default_speed(*, intraday: bool = False) -> float:
    from stockpred.sources.feeds.replay import DEFAULT_SPEED, INTRADAY_SPEED

    return INTRADAY_SPEED if intraday else DEFAULT_SPEED


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from exc


async def _stream(
    runtime: Runtime,
    *,
    feed: FeedChoice,
    start: date | None,
    end: date | None,
    speed: float | None,
    intraday_speed: float | None,
    file: Path | None,
    split: str | None,
    split_sessions: int,
    tickers: list[str],
    group: str,
    once: bool,
    idle_exit: float | None,
    metrics_port: int = 0,
    metrics_host: str = "127.0.0.1",
) -> dict[str, Any]:
    import pandas as pd

    from stockpred.compose import open_bus, stream_setup, universe
    from stockpred.domain.frames import bars_of
    from stockpred.sources.feeds.intraday import (
        parse_interval,
        read_intraday_bars,
        split_last_sessions,
    )
    from stockpred.sources.feeds.replay import replay_window

    settings = runtime.settings
    if (file is not None or split is not None) and feed is not FeedChoice.replay:
        raise InvalidInputError("--file and --split are for --feed replay")
    every = parse_interval(split) if split is not None else None
    from_file = await asyncio.to_thread(read_intraday_bars, file) if file is not None else None
    if from_file is not None and tickers:
        from_file = [b for b in from_file if b.ticker in set(tickers)]
    if from_file == []:
        raise InvalidInputError(f"{file} holds no bars of {', '.join(tickers) or 'any ticker'}")
    bus = open_bus(settings)
    metrics = _stream_metrics(lambda: setup.champions) if metrics_port else None
    setup = stream_setup(
        settings,
        bus,
        clock=runtime.clock,
        tickers=tickers,
        group=group,
        consumer=f"{group}-1",
        # A replay's bars are the stored ones: only what arrives from elsewhere is kept.
        keep_bars=feed is not FeedChoice.replay or from_file is not None,
        metrics=metrics,
    )
    if setup.bars.empty:
        raise InvalidInputError("no bars stored; run `stockpred ingest sample` first")
    replayed: list[Bar] = []
    if from_file is not None:
        # The stored history before the file's first bar is the state the file continues.
        first = pd.Timestamp(from_file[0].ts)
        await asyncio.to_thread(setup.processor.state.warm, setup.bars[setup.bars["ts"] < first])
        replayed = from_file
    elif feed is FeedChoice.replay:
        cut, window = replay_window(setup.bars, universe(settings).select, start=start, end=end)
        await asyncio.to_thread(setup.processor.state.warm, setup.bars[setup.bars["ts"] <= cut])
        replayed = bars_of(window)
        if every is not None:
            replayed = split_last_sessions(
                replayed, every=every, sessions=split_sessions, calendar=settings.calendar
            )
    else:
        await asyncio.to_thread(setup.processor.state.warm, setup.bars)
    processor = setup.processor
    if not processor.forecasts_anything:
        runtime.err.print(
            "note: no champion yet (`stockpred train`): feature rows only, no forecasts",
            markup=False,
            highlight=False,
        )
    source = _feed(
        runtime, feed, replayed, speed=speed, intraday_speed=intraday_speed, tickers=tickers
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    stop_metrics = (
        _serve_metrics(runtime, metrics, host=metrics_host, port=metrics_port)
        if metrics is not None
        else None
    )
    try:
        lag = (
            asyncio.create_task(_sample_lag(bus, metrics, group=group, stop=stop))
            if metrics is not None
            else None
        )
        running = asyncio.create_task(processor.run(stop))
        feeding = (
            asyncio.create_task(
                _publish(source, bus, processor, stop, once=once, clock=runtime.clock)
            )
            if source is not None
            else None
        )
        watcher = (
            asyncio.create_task(_exit_when_idle(processor, stop, idle_exit))
            if idle_exit is not None
            else None
        )
        await _report(runtime, processor, running, total=getattr(source, "sessions", None))
        if watcher is not None:
            watcher.cancel()
        if feeding is not None:
            if feeding.done() and feeding.exception() is not None:
                raise feeding.exception()  # type: ignore[misc]  # the feed failed: say why
            feeding.cancel()
            await asyncio.gather(feeding, return_exceptions=True)
        if source is not None:
            await source.close()
        if lag is not None:
            lag.cancel()
            await asyncio.gather(lag, return_exceptions=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if stop_metrics is not None:
            stop_metrics()
        await bus.close()
    stats = processor.stats
    latencies = sorted(stats.latencies)
    return {
        "feed": feed.value,
        "sessions": stats.sessions,
        "bars": stats.bars,
        "rows": stats.rows,
        "forecasts": stats.forecasts,
        "nowcasts": stats.nowcasts,
        "redelivered": stats.redelivered,
        "intraday": stats.intraday,
        "committed": stats.committed,
        "seconds": round(time.monotonic() - started, 3),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1)
        if latencies
        else None,
    }


def _stream_metrics(champions: Callable[[], ChampionCache | None]) -> PrometheusStreamMetrics:
    """The stream's metrics on a registry of their own, with the process's CPU, memory and GC,
    and the champions ``champions()`` holds at each scrape."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector

    from stockpred.monitor.stream_metrics import PrometheusStreamMetrics

    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)

    def served() -> list[ServedModel]:
        cache = champions()
        return list(cache.models.values()) if cache is not None else []

    return PrometheusStreamMetrics(registry, champions=served)


def _serve_metrics(
    runtime: Runtime, metrics: PrometheusStreamMetrics, *, host: str, port: int
) -> Callable[[], None]:
    from stockpred.monitor.process_metrics import start_metrics_server

    try:
        stop = start_metrics_server(metrics.registry, host=host, port=port)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror}; pick another "
            "--metrics-port, or 0 to turn them off"
        ) from exc
    runtime.err.print(f"metrics on http://{host}:{port}/metrics", markup=False, highlight=False)
    return stop


async def _sample_lag(
    bus: Bus, metrics: PrometheusStreamMetrics, *, group: str, stop: asyncio.Event
) -> None:
    from stockpred.bus.topics import BARS
    from stockpred.monitor.stream_metrics import sample_bus_lag

    await sample_bus_lag(bus, metrics, topics=[(BARS, group)], stop=stop)


def _feed(
    runtime: Runtime,
    choice: FeedChoice,
    replayed: list[Bar],
    *,
    speed: float | None,
    intraday_speed: float | None,
    tickers: list[str],
) -> Feed | None:
    if choice is FeedChoice.none:
        return None
    if choice is FeedChoice.alpaca:
        from stockpred.compose import alpaca_feed

        if not tickers:
            raise InvalidInputError("--feed alpaca needs --tickers, e.g. --tickers AAPL,MSFT")
        feed: Feed = alpaca_feed(runtime.settings, tickers)
        return feed
    if choice is FeedChoice.poll:
        from stockpred.compose import polling_feed

        if not tickers:
            raise InvalidInputError("--feed poll needs --tickers, e.g. --tickers AAPL,MSFT")
        return polling_feed(runtime.settings, tickers)
    from stockpred.sources.feeds.replay import ReplayFeed

    return ReplayFeed(replayed, speed=speed, intraday_speed=intraday_speed)


async def _publish(
    feed: Feed,
    bus: Bus,
    processor: StreamProcessor,
    stop: asyncio.Event,
    *,
    once: bool,
    clock: Callable[[], datetime],
) -> None:
    from stockpred.stream.feeding import publish_feed

    try:
        await publish_feed(feed, bus, clock=clock)
    except BaseException:
        stop.set()  # a feed that fails (bad keys, a broker down) stops the processor too
        raise
    if once:
        # Every bar published: stop once the processor has closed the last session.
        total = getattr(feed, "sessions", 0)
        while processor.stats.sessions < total and not stop.is_set():
            await asyncio.sleep(0.05)
        stop.set()


async def _exit_when_idle(processor: StreamProcessor, stop: asyncio.Event, idle: float) -> None:
    seen, since = -1, time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.1)
        if processor.stats.bars != seen or processor.pending:
            seen, since = processor.stats.bars, time.monotonic()
        elif time.monotonic() - since >= idle:
            stop.set()


async def _report(
    runtime: Runtime,
    processor: StreamProcessor,
    running: asyncio.Task[Any],
    *,
    total: int | None,
) -> None:
    """Progress until the processor stops: a bar on a terminal, a line every 10 s off one."""
    with runtime.steps("stream") as steps:
        if total:
            steps.start(total)
        seen = 0
        while not running.done():
            await asyncio.sleep(0.1)
            stats = processor.stats
            while seen < stats.sessions:
                seen += 1
                steps.advance(f"{stats.rows} rows, {stats.forecasts} forecasts")
        await running
