"""What kind of instrument a symbol is, and which kinds are modelled.

Vendors mark the kind in the symbol: ``^GSPC`` (an index, Yahoo and Stooq), ``EURUSD=X`` (a
currency pair), ``CL=F`` (a future). Everything else is taken for a stock (ETFs included); a
symbol the rules miss gets its kind from the ``instrument_kinds`` setting. Only the modelled
kinds (stocks, by default) get features, sit in the training universe and are forecast; the
others feed the market context only (an index's return and volatility, a stock's beta to it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    # Settings import the kinds; the CLI's start-up must not pay for pandas.
    import pandas as pd

__all__ = ["INSTRUMENT_KINDS", "STOCKS", "InstrumentKind", "Universe", "kind_of"]

InstrumentKind = Literal["stock", "index", "currency", "future"]
INSTRUMENT_KINDS: tuple[InstrumentKind, ...] = ("stock", "index", "currency", "future")


def kind_of(ticker: str, overrides: Mapping[str, InstrumentKind] | None = None) -> InstrumentKind:
    """The kind of ``ticker``: from ``overrides`` if named there, else from the symbol."""
    symbol = ticker.strip().upper()
    if overrides and symbol in overrides:
        return overrides[symbol]
    if symbol.startswith("^"):
        return "index"
    if symbol.endswith("=X"):
        return "currency"
    if symbol.endswith("=F"):
        return "future"
    return "stock"


@dataclass(frozen=True, slots=True)
class Universe:
    """The instruments that are modelled: those whose kind is one of ``kinds``."""

    kinds: frozenset[InstrumentKind] = frozenset({"stock"})
    overrides: Mapping[str, InstrumentKind] = field(default_factory=dict)

    def kind(self, ticker: str) -> InstrumentKind:
        return kind_of(ticker, self.overrides)

    def includes(self, ticker: str) -> bool:
        return self.kind(ticker) in self.kinds

    def select(self, tickers: Iterable[str]) -> list[str]:
        """The modelled ones of ``tickers``, in their order."""
        return [t for t in tickers if self.includes(str(t))]

    def mask(self, tickers: pd.Series) -> pd.Series:
        """Whether each row's ticker is modelled (each distinct symbol looked at once)."""
        return tickers.isin(self.select(str(t) for t in tickers.dropna().unique()))

    def describe(self) -> str:
        """``stock`` or ``stock, index``: for messages."""
        return ", ".join(k for k in INSTRUMENT_KINDS if k in self.kinds)


STOCKS = Universe()
