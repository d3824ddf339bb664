"""Screenshots of every dashboard page, taken by headless Chromium from a running dashboard.

    stockpred serve --demo --replay --port 8000        # prints a demo client
    STOCKPRED_DASHBOARD_CLIENT_ID=... STOCKPRED_DASHBOARD_CLIENT_SECRET=... \\
        stockpred dashboard --port 8501
    python scripts/dashboard_screenshots.py --url http://127.0.0.1:8501 --out /tmp/shots

Streamlit draws its pages in the browser, after the page script has run on the server and
sent its elements over a websocket, so the browser is driven over the DevTools protocol and
each shot waits until the page is drawn (at most ``--wait`` seconds), then takes the whole
page. Writes ``<out>/<page>.png`` per page (and ``<page>.txt``, its text, with ``--text``) and
prints the paths.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

# page -> its URL path (the first page, Ticker, is the dashboard's root)
PAGES = {"ticker": "", "universe": "universe", "models": "models", "health": "health"}


def _wait_healthy(url: str, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"no dashboard answers at {url}/_stcore/health")
        time.sleep(0.5)


class _Browser:
    """Headless Chromium driven over the DevTools protocol (its websocket): Streamlit draws a
    page only after its own websocket has brought the elements, which the command line's
    --screenshot does not wait for."""

    def __init__(self, chromium: str, *, width: int, height: int) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True)
        port = _free_port()
        self._process = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={self._profile.name}",
                f"--remote-debugging-port={port}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._width, self._height = width, height
        self._next = 0
        target = self._page_target(port)
        from websockets.sync.client import connect

        self._closing = contextlib.ExitStack()
        self._socket = self._closing.enter_context(connect(target, max_size=None, open_timeout=30))
        self._call("Page.enable")
        self._viewport(height)

    def _page_target(self, port: int) -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("Chromium did not open its DevTools port")
            time.sleep(0.2)

    def _call(self, method: str, **params: object) -> dict[str, object]:
        self._next += 1
        ident = self._next
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, object] = message.get("result", {})
                return result

    def _viewport(self, height: int) -> None:
        self._call(
            "Emulation.setDeviceMetricsOverride",
            width=self._width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _evaluate(self, expression: str) -> object:
        answer = self._call("Runtime.evaluate", expression=expression, returnByValue=True)
        result = answer.get("result", {})
        return result.get("value") if isinstance(result, dict) else None

    def shoot(self, url: str, target: Path, *, wait_seconds: float, full: bool) -> str:
        """Opens ``url``, waits until Streamlit has drawn it (no skeleton, no running script)
        and charts have had time to render, saves a PNG; returns the page's text."""
        self._viewport(self._height)
        self._call("Page.navigate", url=url)
        deadline = time.monotonic() + wait_seconds
        drawn = (
            "document.querySelector('h1') !== null"
            " && document.querySelectorAll('[data-testid=stSkeleton]').length === 0"
            " && !document.querySelector('[data-testid=stStatusWidget] img, "
            "[data-testid=stStatusWidgetRunningIcon]')"
        )
        while time.monotonic() < deadline and not self._evaluate(drawn):
            time.sleep(0.5)
        time.sleep(4.0)  # Vega draws its charts after the elements arrive
        if full:
            content = self._evaluate(
                "Math.max(...[...document.querySelectorAll("
                "'[data-testid=stMainBlockContainer], [data-testid=stSidebarContent]')]"
                ".map(e => e.scrollHeight + e.getBoundingClientRect().top))"
            )
            if isinstance(content, int | float) and content > self._height:
                self._viewport(int(content) + 40)
                time.sleep(2.0)
        shot = self._call("Page.captureScreenshot", format="png")
        target.write_bytes(base64.b64decode(str(shot["data"])))
        text = self._evaluate("document.body.innerText")
        return str(text or "")

    def close(self) -> None:
        try:
            self._closing.close()
        finally:
            self._process.terminate()
            self._process.wait(timeout=20)
            self._profile.cleanup()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8501", help="the running dashboard")
    parser.add_argument("--out", type=Path, default=Path("dashboard-shots"), help="folder")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1800)
    parser.add_argument("--wait", type=float, default=60.0, help="most seconds a page may take")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated")
    parser.add_argument(
        "--viewport-only", action="store_true", help="the window only, not the whole page"
    )
    parser.add_argument("--text", action="store_true", help="also save <page>.txt, its text")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"no Chromium at {args.chromium}: apt-get install chromium", file=sys.stderr)
        return 1
    url = args.url.rstrip("/")
    _wait_healthy(url, seconds=60)
    args.out.mkdir(parents=True, exist_ok=True)
    browser = _Browser(args.chromium, width=args.width, height=args.height)
    try:
        for page in (p.strip() for p in args.pages.split(",") if p.strip()):
            target = args.out / f"{page}.png"
            text = browser.shoot(
                f"{url}/{PAGES.get(page, page)}",
                target,
                wait_seconds=args.wait,
                full=not args.viewport_only,
            )
            if args.text:
                target.with_suffix(".txt").write_text(text)
            print(target)
    finally:
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
