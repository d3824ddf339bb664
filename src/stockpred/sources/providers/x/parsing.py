"""X API v2 JSON: ``{"data": [...], "includes": {"users": [...]}, "meta": {...}}``.

No match is ``{"meta": {"result_count": 0}}`` with no ``data``. Errors are problem JSON
(RFC 7807): ``{"title": "Unauthorized", "type": "about:blank", "status": 401, ...}``; an invalid
query is a 400 ``invalid-request`` problem with an ``errors`` list; a spent monthly cap is a 429
(or 403) ``usage-capped`` problem.
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

__all__ = ["is_data", "parse_search", "refusal"]


def is_data(body: str) -> bool:
    """Whether an answer is a search result (and may be cached)."""
    return '"meta"' in body and '"errors"' not in body


def _load(text: str, *, query: str) -> dict[str, object]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(
            f"x sent a body that is not JSON for {query!r}: {text[:80]!r}",
            provider="x",
            symbol=query,
        ) from exc
    if not isinstance(body, dict):
        raise MalformedResponseError(
            f"x's answer for {query!r} is not a JSON object", provider="x", symbol=query
        )
    return body


def refusal(status: int, text: str, *, query: str) -> ProviderError:
    """The stockpred error for an X problem answer."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        body = {}
    body = body if isinstance(body, dict) else {}
    title = str(body.get("title", f"HTTP {status}"))
    detail = str(body.get("detail", ""))
    kind = str(body.get("type", ""))
    if "usage-capped" in kind or title == "UsageCapExceeded":
        return QuotaExhaustedError(
            f"x usage cap exceeded ({detail or title}); it resets with the next billing "
            "period, or raise the plan",
            provider="x",
            symbol=query,
        )
    if status in (401, 403):
        return ProviderAuthError(
            f"x refused the bearer token ({title}: {detail}); set STOCKPRED_X_BEARER_TOKEN to "
            "an app token with access to recent search",
            provider="x",
            symbol=query,
        )
    errors = body.get("errors")
    if status == 400 or "invalid-request" in kind:
        first = errors[0] if isinstance(errors, list) and errors else {}
        why = first.get("message", detail) if isinstance(first, dict) else detail
        return ProviderError(
            f"x rejected the query {query!r} ({why}); check its syntax",
            provider="x",
            symbol=query,
        )
    return ProviderError(
        f"x answered HTTP {status} for {query!r} ({title}: {detail})", provider="x", symbol=query
    )


def parse_search(text: str, *, query: str) -> tuple[list[dict[str, object]], str | None]:
    """Posts (id, published_at, source, title, url, text) of one page and the next page's token."""
    body = _load(text, query=query)
    meta = body.get("meta")
    if not isinstance(meta, dict):
        if "errors" in body or "title" in body:
            raise refusal(200, text, query=query)
        raise MalformedResponseError(
            f"x's answer for {query!r} lacks 'meta'; keys: {list(body)}",
            provider="x",
            symbol=query,
        )
    posts = body.get("data", [])
    if not isinstance(posts, list):
        raise MalformedResponseError(
            f"x's 'data' for {query!r} is not a list", provider="x", symbol=query
        )
    includes = body.get("includes")
    users_list = includes.get("users", []) if isinstance(includes, dict) else []
    users = {
        str(u.get("id")): str(u.get("username"))
        for u in users_list
        if isinstance(u, dict) and u.get("username")
    }
    items: list[dict[str, object]] = []
    for number, post in enumerate(posts, start=1):
        if not isinstance(post, dict):
            raise MalformedResponseError(
                f"x post {number} for {query!r} is not an object", provider="x", symbol=query
            )
        missing = [k for k in ("id", "text", "created_at") if not post.get(k)]
        if missing:
            raise MalformedResponseError(
                f"x post {number} for {query!r} lacks {missing} (ask for tweet.fields=created_at)",
                provider="x",
                symbol=query,
            )
        try:
            published = pd.Timestamp(str(post["created_at"]))
        except ValueError as exc:
            raise MalformedResponseError(
                f"x post {number} for {query!r} has a 'created_at' that is not a time: "
                f"{post['created_at']!r}",
                provider="x",
                symbol=query,
            ) from exc
        user = users.get(str(post.get("author_id")))
        post_id = str(post["id"])
        content = " ".join(str(post["text"]).split())
        items.append(
            {
                "id": f"x:{post_id}",
                "published_at": published,
                "source": f"@{user}" if user else "x",
                # A post has no headline: its text, shortened, stands in for one.
                "title": content if len(content) <= 200 else content[:199] + "…",
                "url": f"https://x.com/{user or 'i/web'}/status/{post_id}",
                "text": content,
            }
        )
    token = meta.get("next_token")
    return items, str(token) if token else None
