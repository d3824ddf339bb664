"""Google News RSS 2.0, read with ``feedparser``.

Each ``<item>`` has a ``<title>`` ending in `` - Publisher``, a ``<link>`` to a Google News
redirect, a ``<guid>`` (Google's article id), a ``<pubDate>`` (RFC 822, GMT), an HTML
``<description>`` and ``<source url=...>Publisher</source>``. A search with no match is a valid
feed with no items.
"""

from __future__ import annotations

import calendar
import html
import re
from datetime import UTC, datetime

import feedparser

from stockpred.domain.errors import MalformedResponseError

__all__ = ["is_feed", "parse_search_feed"]

_TAG = re.compile(r"<[^>]+>")


def is_feed(body: str) -> bool:
    """Whether a 200 answer is a whole RSS feed (and may be cached), not a consent or error
    page, nor a feed cut short."""
    return "<rss" in body[:2000] and body.rstrip().endswith("</rss>")


def _text(value: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", value)).split())


def parse_search_feed(body: str, *, query: str) -> list[dict[str, object]]:
    """Items (id, published_at, source, title, url, text) of one search feed."""
    feed = feedparser.parse(body)
    if feed.bozo or not str(feed.version).startswith("rss"):
        reason = feed.get("bozo_exception") or "not an RSS document"
        raise MalformedResponseError(
            f"googlenews sent a body that is not a readable RSS feed for {query!r} ({reason}): "
            f"{body[:80]!r}",
            provider="googlenews",
            symbol=query,
        )
    items: list[dict[str, object]] = []
    for number, entry in enumerate(feed.entries, start=1):
        missing = [
            name
            for name, key in (("title", "title"), ("link", "link"), ("pubDate", "published_parsed"))
            if not entry.get(key)
        ]
        if missing:
            raise MalformedResponseError(
                f"googlenews item {number} for {query!r} lacks {missing}",
                provider="googlenews",
                symbol=query,
            )
        source = entry.get("source") or {}
        publisher = str(source.get("title") or "Google News")
        title = str(entry.title)
        # Google appends " - Publisher" to every title; the publisher is a column of its own.
        suffix = f" - {publisher}"
        if title.endswith(suffix):
            title = title[: -len(suffix)]
        published = datetime.fromtimestamp(calendar.timegm(entry.published_parsed), tz=UTC)
        items.append(
            {
                "id": str(entry.get("id") or entry.link),
                "published_at": published,
                "source": publisher,
                "title": title.strip(),
                "url": str(entry.link),
                "text": _text(str(entry.get("summary", ""))),
            }
        )
    return items
