"""Test support: a real HTTP server on loopback that answers like a data provider.

Adapters are tested against it over real sockets: the same requests, retries, timeouts and cache
as against the real service, with only the base URL changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from stockpred.sources.providers.base import ProviderContext, RateLimit

# Tests of everything but the limiter itself run without waiting on the provider's quota.
FAST_RATE = RateLimit(requests=1000, seconds=1)


@dataclass
class Reply:
    """One scripted answer: status, body, headers, and a delay before answering."""

    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = "application/json"


@dataclass
class Hit:
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


class FakeProvider:
    """Routes a path to a queue of replies; the last reply of a queue repeats."""

    def __init__(self) -> None:
        # path -> [(query items the request must carry, replies)], most specific first
        self.routes: dict[str, list[tuple[dict[str, str], list[Reply]]]] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self.url = ""

    def script(self, path: str, *replies: Reply, when: dict[str, str] | None = None) -> None:
        """Answer ``path`` (only requests carrying the ``when`` query items) with ``replies``."""
        condition = dict(when or {})
        routes = [r for r in self.routes.get(path, []) if r[0] != condition]
        routes.append((condition, list(replies)))
        routes.sort(key=lambda r: -len(r[0]))
        self.routes[path] = routes

    def next_reply(self, path: str, query: dict[str, str] | None = None) -> Reply:
        with self._lock:
            for condition, queue in self.routes.get(path, []):
                if all((query or {}).get(k) == v for k, v in condition.items()) and queue:
                    return queue.pop(0) if len(queue) > 1 else queue[0]
            return Reply(404, '{"error": "no route"}')

    def hits_on(self, path: str) -> int:
        return sum(1 for h in self.hits if h.path == path)


@dataclass
class Sleeps:
    """Records the waits the retry logic asked for instead of sleeping them."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class ContextFactory:
    def __init__(self, provider: FakeProvider, sleeps: Sleeps, cache_dir: Path) -> None:
        self.provider = provider
        self.sleeps = sleeps
        self.cache_dir = cache_dir

    def __call__(
        self,
        *,
        api_key: str | None = None,
        cache: bool = True,
        timeout_s: float = 2.0,
        rate_limit: RateLimit | None = FAST_RATE,
    ) -> ProviderContext:
        return ProviderContext(
            base_url=self.provider.url,
            api_key=api_key,
            cache_dir=self.cache_dir if cache else None,
            timeout_s=timeout_s,
            sleep=self.sleeps,
            rate_limit=rate_limit,
        )


@contextmanager
def serve(provider: FakeProvider) -> Iterator[FakeProvider]:
    """Run ``provider`` on 127.0.0.1 (a free port) for the duration of the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            provider.hits.append(Hit(parts.path, query, dict(self.headers.items())))
            reply = provider.next_reply(parts.path, query)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            body = reply.body.encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
