"""NewsAPI's JSON: ``{"status": "ok", "totalResults": n, "articles": [...]}``, or an error.

Errors come with a 4xx/5xx status and ``{"status": "error", "code": ..., "message": ...}``:
``apiKeyMissing``/``apiKeyInvalid``/``apiKeyDisabled`` (401), ``parameterInvalid``/
``parametersMissing`` (400), ``rateLimited``/``apiKeyExhausted`` (429) and
``maximumResultsReached`` (426, a developer account paging past its first 100 results).
"""

from __future__ import annotations

import json

import pandas as pd

from stockpred.domain.errors import (
    MalformedResponseError,
    ProviderAuthError,
    ProviderError,
    QuotaExhaustedError,
)

__all__ = ["MAXIMUM_RESULTS", "is_data", "parse_everything"]

_AUTH = {"apiKeyMissing", "apiKeyInvalid", "apiKeyDisabled"}
_QUOTA = {"rateLimited", "apiKeyExhausted"}
_QUERY = {"parameterInvalid", "parametersMissing", "parametersIncompatible"}
MAXIMUM_RESULTS = "maximumResultsReached"
# Articles taken down after publication keep a placeholder entry.
_REMOVED = "[Removed]"


def is_data(body: str) -> bool:
    """Whether an answer holds articles (and may be cached)."""
    return '"articles"' in body


def _load(text: str, *, query: str) -> dict[str, object]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"newsapi sent a body that is not JSON for {query!r}: {text[:80]!r}",
            provider="newsapi",
            symbol=query,
        ) from exc
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"newsapi's answer for {query!r} is not a JSON object",
            provider="newsapi",
            symbol=query,
        )
    return body


def error_code(text: str) -> str | None:
    """The ``code`` of an error body, if ``text`` is one."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return None
    return str(body.get("code")) if isinstance(body, dict) and body.get("code") else None


def refusal(status: int, text: str, *, query: str) -> ProviderError:
    """The stockpred error for a NewsAPI error answer."""
    body = _load(text, query=query) if text.strip().startswith("{") else {}
    code = str(body.get("code", f"HTTP {status}"))
    message = str(body.get("message", text[:120]))
    if code in _AUTH or status == 401:
        return ProviderAuthError(
            f"newsapi refused the API key ({code}: {message}); set STOCKPRED_NEWSAPI_API_KEY",
            provider="newsapi",
            symbol=query,
        )
    if code in _QUOTA:
        return QuotaExhaustedError(
            f"newsapi quota exhausted ({code}: {message}); the developer plan allows 100 "
            "requests a day, try again later",
            provider="newsapi",
            symbol=query,
        )
    if code in _QUERY:
        return ProviderError(
            f"newsapi rejected the query {query!r} ({code}: {message}); check its syntax",
            provider="newsapi",
            symbol=query,
        )
    return ProviderError(
        f"newsapi answered HTTP {status} for {query!r} ({code}: {message})",
        provider="newsapi",
        symbol=query,
    )


def parse_everything(text: str, *, query: str) -> tuple[list[dict[str, object]], int, int]:
    """Items (id, published_at, source, title, url, text) of one page, ``totalResults`` and the
    number of articles on the page (removed ones included)."""
    body = _load(text, query=query)
    if body.get("status") != "ok":
        raise refusal(200, text, query=query)
    articles = body.get("articles")
    total = body.get("totalResults")
    if not isinstance(articles, list) or not isinstance(total, int):
        raise MalformedResponseError(
            f"newsapi's answer for {query!r} lacks 'articles' (a list) or 'totalResults' "
            f"(a number); keys: {list(body)}",
            provider="newsapi",
            symbol=query,
        )
    items: list[dict[str, object]] = []
    for number, article in enumerate(articles, start=1):
        if not isinstance(article, dict):
            raise MalformedResponseError(
                f"newsapi article {number} for {query!r} is not an object",
                provider="newsapi",
                symbol=query,
            )
        missing = [k for k in ("title", "url", "publishedAt") if not article.get(k)]
        if missing:
            raise MalformedResponseError(
                f"newsapi article {number} for {query!r} lacks {missing}",
                provider="newsapi",
                symbol=query,
            )
        if article["title"] == _REMOVED:
            continue
        try:
            published = pd.Timestamp(str(article["publishedAt"]))
        except ValueError as exc:
            raise MalformedResponseError(
                f"newsapi article {number} for {query!r} has a 'publishedAt' that is not a "
                f"time: {article['publishedAt']!r}",
                provider="newsapi",
                symbol=query,
            ) from exc
        source = article.get("source")
        publisher = source.get("name") if isinstance(source, dict) else None
        text_parts = [str(article.get(k) or "") for k in ("description", "content")]
        items.append(
            {
                "id": None,  # NewsAPI has no article id: the client hashes the URL
                "published_at": published,
                "source": str(publisher or "newsapi"),
                "title": str(article["title"]).strip(),
                "url": str(article["url"]),
                "text": " ".join(p for p in text_parts if p),
            }
        )
    return items, total, len(articles)
