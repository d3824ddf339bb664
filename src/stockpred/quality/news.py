"""News items to headline rows: dedupe by URL and near-identical title, map each to tickers.

Pure: frames in, a frame out. The same article often arrives several times (once per ticker
query, through syndication with tracking parameters, with a title differing only in case or
punctuation); it is kept once, with every ticker it concerns:

* the tickers whose query it answered,
* any ``$CASHTAG`` in its title or text that is in the requested universe,
* any ticker of the universe whose company name appears in its title.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pandas as pd
from rapidfuzz import fuzz, process

from stockpred.domain.records import HEADLINE_COLUMNS

__all__ = [
    "TITLE_SIMILARITY",
    "canonical_url",
    "find_cashtags",
    "headlines_from_items",
    "normalize_title",
]

# rapidfuzz ratio (0-100) from which two normalised titles are the same headline: it absorbs a
# changed letter or word ending in a long title, never a different number in a short one.
TITLE_SIMILARITY = 95.0
# Titles shorter than this (normalised) are compared exactly only: too short to judge fuzzily.
_FUZZY_MIN_LENGTH = 24
_TRACKING = re.compile(r"^(utm_\w+|guccounter|guce_\w+|ocid|cmpid|smid|mod|ref|src|fbclid|gclid)$")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:\.[A-Za-z]{1,2})?)\b")


def normalize_title(title: str) -> str:
    """``title`` casefolded, accents and punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", title).casefold()
    kept = [
        ch if not unicodedata.category(ch).startswith(("P", "S")) else " "
        for ch in text
        if not unicodedata.combining(ch)
    ]
    return " ".join("".join(kept).split())


def canonical_url(url: str) -> str:
    """``url`` without tracking parameters, fragment, ``www.`` or trailing slash; host lowercase."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    query = urlencode(
        sorted((k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k.lower()))
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(
        ("https" if parts.scheme in ("http", "https") else parts.scheme, host, path, query, "")
    )


def find_cashtags(text: str) -> set[str]:
    """The ``$TICKER`` cashtags in ``text``, uppercase, without the dollar sign."""
    return {match.upper() for match in _CASHTAG.findall(text)}


def _company_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(name.casefold()) + r"(?!\w)")


@dataclass
class _Group:
    """One article and every ticker it belongs to."""

    row: dict[str, object]
    tickers: set[str] = field(default_factory=set)


class _Seen:
    """Canonical URLs, ids and normalised titles already taken, for exact and fuzzy lookups."""

    def __init__(self, similarity: float) -> None:
        self.similarity = similarity
        self.by_key: dict[str, int] = {}
        self.titles: list[str] = []
        self.owners: list[int] = []

    def find(self, *, item_id: str, url: str, title: str) -> int | None:
        for key in (f"id:{item_id}", f"url:{url}", f"title:{title}"):
            if key in self.by_key:
                return self.by_key[key]
        if len(title) >= _FUZZY_MIN_LENGTH and self.titles:
            best = process.extractOne(
                title, self.titles, scorer=fuzz.ratio, score_cutoff=self.similarity
            )
            if best is not None:
                return self.owners[best[2]]
        return None

    def add(self, owner: int, *, item_id: str, url: str, title: str) -> None:
        for key in (f"id:{item_id}", f"url:{url}", f"title:{title}"):
            self.by_key.setdefault(key, owner)
        if len(title) >= _FUZZY_MIN_LENGTH:
            self.titles.append(title)
            self.owners.append(owner)


def _mentioned(
    title: str, text: str, universe: set[str], names: Mapping[str, re.Pattern[str]]
) -> set[str]:
    tags = find_cashtags(f"{title} {text}") & universe
    folded = title.casefold()
    return tags | {ticker for ticker, pattern in names.items() if pattern.search(folded)}


def _stored_seen(existing: pd.DataFrame | None, similarity: float) -> dict[str, _Seen]:
    """Per ticker, what the store already holds (owner = -1: not ours to write)."""
    seen: dict[str, _Seen] = {}
    if existing is None or existing.empty:
        return seen
    for row in existing.itertuples(index=False):
        ticker = str(row.ticker)
        bucket = seen.setdefault(ticker, _Seen(similarity))
        bucket.add(
            -1,
            item_id=str(row.id),
            url=canonical_url(str(row.url)) if isinstance(row.url, str) else f"none:{row.id}",
            title=normalize_title(str(row.title)),
        )
    return seen


def headlines_from_items(
    items: pd.DataFrame,
    *,
    universe: Sequence[str],
    company_names: Mapping[str, str] | None = None,
    existing: pd.DataFrame | None = None,
    similarity: float = TITLE_SIMILARITY,
) -> pd.DataFrame:
    """Headline rows (``HEADLINE_COLUMNS``, sentiment left missing), one per (id, ticker).

    ``items``: the raw news frame (id, published_at, source, title, url, text, query, tickers),
    possibly from several queries. The earliest copy of an article is kept (ties by id), so the
    result does not depend on the order of the queries. ``existing``: headlines already stored
    (id, ticker, title, url); an item that repeats one of them under another id is dropped for
    that ticker. Only tickers of ``universe`` are ever assigned.
    """
    wanted = {t.upper() for t in universe}
    names = {
        ticker.upper(): _company_pattern(name)
        for ticker, name in (company_names or {}).items()
        if ticker.upper() in wanted and name.strip()
    }
    ordered = items.sort_values(["published_at", "id"], kind="stable")
    groups: list[_Group] = []
    seen = _Seen(similarity)
    for row in ordered.itertuples(index=False):
        item_id, title, text = str(row.id), str(row.title), str(row.text or "")
        url, norm = canonical_url(str(row.url)), normalize_title(title)
        answered = {str(t).upper() for t in _as_tickers(row.tickers)} & wanted
        tickers = answered | _mentioned(title, text, wanted, names)
        owner = seen.find(item_id=item_id, url=url, title=norm)
        if owner is None:
            owner = len(groups)
            groups.append(
                _Group(
                    row={
                        "id": item_id,
                        "published_at": row.published_at,
                        "source": str(row.source),
                        "title": title,
                        "url": str(row.url),
                    }
                )
            )
        groups[owner].tickers |= tickers
        seen.add(owner, item_id=item_id, url=url, title=norm)
    stored = _stored_seen(existing, similarity)
    rows = []
    for group in groups:
        url = canonical_url(str(group.row["url"]))
        norm = normalize_title(str(group.row["title"]))
        for ticker in sorted(group.tickers):
            held = stored.get(ticker)
            match = None if held is None else held.find(item_id="", url=url, title=norm)
            if match is not None and not _same_id(existing, ticker, str(group.row["id"])):
                continue
            rows.append({**group.row, "ticker": ticker, "sentiment": float("nan")})
    frame = pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))
    frame["sentiment"] = frame["sentiment"].astype("float64")
    return frame.sort_values(["ticker", "published_at", "id"], kind="stable").reset_index(drop=True)


def _same_id(existing: pd.DataFrame | None, ticker: str, item_id: str) -> bool:
    """Whether the store holds this very (id, ticker): rewriting it is an idempotent upsert."""
    if existing is None or existing.empty:
        return False
    return bool(((existing["ticker"] == ticker) & (existing["id"] == item_id)).any())


def _as_tickers(value: object) -> Iterable[object]:
    if isinstance(value, str):
        return [t for t in value.replace(",", " ").split() if t]
    if isinstance(value, Iterable):
        return list(value)
    return []
