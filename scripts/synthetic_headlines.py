"""Labelled financial sentences written for stockpred: templates filled with a fixed seed.

Every phrase here was written for this project (no corpus was copied), so the sentences carry the
project's own licence. They cover the plain cases a news scorer must get right: share moves,
results against forecasts, guidance, analyst actions, deals, legal trouble, and neutral
announcements (dates, appointments, filings), in headline and in trader-post style.
"""

from __future__ import annotations

import random

from stockpred.sentiment.base import Label

__all__ = ["synthetic_sentences"]

COMPANIES = (
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella Corp",
    "Stark Industries",
    "Wayne Enterprises",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Vandelay",
    "Hooli",
    "Pied Piper",
    "Soylent",
    "Cyberdyne",
    "Oceanic Airlines",
    "Blue Ridge Bank",
    "Silverline Mining",
    "Redwood Retail",
    "Harbor Insurance",
    "Summit Pharma",
    "Atlas Motors",
    "Evergreen Energy",
    "Polaris Telecom",
    "Crescent Foods",
    "the company",
    "the bank",
    "the miner",
    "the retailer",
    "the carmaker",
    "the drugmaker",
    "the airline",
    "the chipmaker",
    "the insurer",
    "the oil major",
    "the brewer",
    "the lender",
)
TICKERS = ("$ACME", "$NWD", "$GBX", "$INTC", "$UMB", "$STRK", "$WAYN", "$CTSO", "$FBK", "$HOOL")
PERCENTS = ("2%", "3%", "4.5%", "5%", "7%", "8%", "10%", "12%", "15%", "20%")

SHARES_UP = (
    "shares rise",
    "shares jump",
    "shares surge",
    "shares climb",
    "shares rally",
    "shares gain",
    "shares soar",
    "shares advance",
    "shares edge higher",
    "shares rebound",
    "stock rises",
    "stock jumps",
    "stock hits a record high",
    "shares rise {pct}",
    "shares jump {pct}",
    "shares up {pct}",
    "stock gains {pct}",
)
SHARES_DOWN = (
    "shares fall",
    "shares drop",
    "shares slump",
    "shares plunge",
    "shares tumble",
    "shares slide",
    "shares sink",
    "shares slip",
    "shares retreat",
    "shares edge lower",
    "stock falls",
    "stock drops",
    "stock hits a five-year low",
    "shares fall {pct}",
    "shares drop {pct}",
    "shares down {pct}",
    "stock loses {pct}",
)
GOOD_NEWS = (
    "profit beats forecasts",
    "earnings top estimates",
    "sales grow strongly",
    "revenue rises",
    "it raises full-year guidance",
    "it lifts its outlook",
    "analysts upgrade the stock",
    "it wins a major contract",
    "orders hit a record",
    "margins improve",
    "it raises its dividend",
    "it announces a share buyback",
    "it receives a takeover bid",
    "regulators approve its drug",
    "quarterly profit doubles",
    "demand stays strong",
    "it returns to profit",
    "results beat expectations",
    "it reports record revenue",
    "cost cuts boost earnings",
)
BAD_NEWS = (
    "profit misses forecasts",
    "earnings fall short of estimates",
    "sales decline",
    "revenue falls",
    "it cuts full-year guidance",
    "it issues a profit warning",
    "analysts downgrade the stock",
    "it loses a major contract",
    "orders slump",
    "margins shrink",
    "it cuts its dividend",
    "it suspends its buyback",
    "a takeover bid collapses",
    "regulators reject its drug",
    "quarterly loss widens",
    "demand weakens",
    "it swings to a loss",
    "results disappoint",
    "it faces a fraud probe",
    "it is fined by regulators",
    "the chief executive quits abruptly",
    "it recalls faulty products",
    "it warns of job cuts amid weak demand",
    "debt worries mount",
)
GOOD_STATEMENTS = (
    "{co} profit beats forecasts",
    "{co} raises full-year guidance",
    "{co} lifts outlook as sales grow",
    "{co} reports record quarterly revenue",
    "{co} wins $2bn contract",
    "{co} upgraded to buy",
    "{co} returns to profit",
    "{co} raises dividend after strong year",
    "{co} earnings top estimates",
    "{co} sales jump {pct}",
    "{co} profit rises {pct}",
    "{co} posts strong growth in first quarter",
    "{co} beats expectations and raises outlook",
    "{co} gets regulatory approval for new drug",
    "{co} agrees to be bought at a premium",
    "{co} margins improve on lower costs",
    "Strong demand lifts {co} profit",
    "Investors cheer {co} results",
)
BAD_STATEMENTS = (
    "{co} profit misses forecasts",
    "{co} cuts full-year guidance",
    "{co} issues profit warning",
    "{co} reports quarterly loss",
    "{co} loses key contract",
    "{co} downgraded to sell",
    "{co} swings to a loss",
    "{co} cuts dividend",
    "{co} earnings fall short of estimates",
    "{co} sales fall {pct}",
    "{co} profit drops {pct}",
    "{co} posts weak first quarter",
    "{co} misses expectations and cuts outlook",
    "{co} drug rejected by regulators",
    "{co} takeover talks collapse",
    "{co} faces fraud investigation",
    "{co} fined by regulator",
    "{co} chief executive resigns amid scandal",
    "Weak demand hits {co} profit",
    "Investors dump {co} after results",
    "{co} warns of tough year ahead",
)
NEUTRAL_STATEMENTS = (
    "{co} to report results on {day}",
    "{co} names new chief financial officer",
    "{co} appoints new chairman",
    "{co} to hold annual general meeting on {day}",
    "{co} files annual report",
    "{co} schedules conference call for {day}",
    "{co} shares unchanged in early trading",
    "{co} shares flat ahead of results",
    "{co} announces date of capital markets day",
    "{co} publishes sustainability report",
    "{co} confirms board composition",
    "{co} to present at industry conference",
    "{co} completes previously announced name change",
    "{co} moves headquarters to new office",
    "What to watch when {co} reports on {day}",
    "{co} updates its articles of association",
    "{co} announces annual meeting agenda",
    "{co} board meets on {day}",
    "{co} releases trading statement schedule",
    "{co} lists new bonds in London",
)
POSTS_UP = (
    "{t} looking bullish, adding more here",
    "{t} breaking out, long from here",
    "Bought more {t} today",
    "{t} calls printing, this is going higher",
    "{t} strong close, new highs coming",
    "Loving my {t} position, up {pct} this week",
    "{t} bull flag, buying the dip",
    "{t} great earnings, holding long",
    "{t} upgrade today, target raised",
)
POSTS_DOWN = (
    "{t} looking bearish, heading lower",
    "{t} breaking down, short from here",
    "Sold all my {t} today",
    "{t} puts printing, this is going lower",
    "{t} weak close, new lows coming",
    "Dumped my {t} position, down {pct} this week",
    "{t} bear flag, selling the rip",
    "{t} terrible earnings, getting out",
    "{t} downgrade today, target cut",
)
POSTS_NEUTRAL = (
    "{t} earnings on {day}",
    "Anyone watching {t} today?",
    "{t} volume today",
    "{t} conference call at 4pm",
    "{t} ex-dividend date is {day}",
    "What is everyone's view on {t}?",
    "{t} added to my watchlist",
    "{t} options expire on {day}",
    "{t} chart for reference",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "March 3", "July 21", "Nov. 8")


def _fill(template: str, rng: random.Random) -> str:
    text = template.format(
        co=rng.choice(COMPANIES),
        t=rng.choice(TICKERS),
        pct=rng.choice(PERCENTS),
        day=rng.choice(DAYS),
    )
    return text[0].upper() + text[1:]


def _move(moves: tuple[str, ...], news: tuple[str, ...], rng: random.Random) -> str:
    move = rng.choice(moves).format(pct=rng.choice(PERCENTS))
    link = rng.choice(("after", "as", "on news", "as investors learn"))
    # "on news" reads "on news profit beats forecasts": clumsy, but kept so the seed's draws
    # (and so the shipped head) stay the same.
    return _fill(f"{{co}} {move} {link} {rng.choice(news)}", rng)


def synthetic_sentences(*, per_class: int, seed: int) -> list[tuple[str, Label]]:
    """``per_class`` distinct sentences of each label, drawn with ``seed`` (same seed: same list)"""
    rng = random.Random(seed)
    out: list[tuple[str, Label]] = []
    for label in ("positive", "negative", "neutral"):
        seen: set[str] = set()
        attempts = 0
        while len(seen) < per_class and attempts < per_class * 50:
            attempts += 1
            kind = rng.random()
            if label == "positive":
                text = (
                    _move(SHARES_UP, GOOD_NEWS, rng)
                    if kind < 0.45
                    else _fill(rng.choice(GOOD_STATEMENTS if kind < 0.8 else POSTS_UP), rng)
                )
            elif label == "negative":
                text = (
                    _move(SHARES_DOWN, BAD_NEWS, rng)
                    if kind < 0.45
                    else _fill(rng.choice(BAD_STATEMENTS if kind < 0.8 else POSTS_DOWN), rng)
                )
            else:
                text = _fill(rng.choice(NEUTRAL_STATEMENTS if kind < 0.75 else POSTS_NEUTRAL), rng)
            if text not in seen:
                seen.add(text)
                out.append((text, label))
    return out
