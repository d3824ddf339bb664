"""Instrument kinds: read from the vendor's symbol, overridable, and only modelled kinds are in."""

from __future__ import annotations

import pandas as pd
import pytest

from stockpred.domain.instruments import STOCKS, Universe, kind_of


@pytest.mark.parametrize(
    ("symbol", "kind"),
    [
        ("AAPL", "stock"),
        ("BRK.B", "stock"),
        ("^GSPC", "index"),
        ("^ixic", "index"),
        ("EURUSD=X", "currency"),
        ("CL=F", "future"),
    ],
)
def test_the_kind_is_read_from_the_vendors_symbol(symbol: str, kind: str) -> None:
    assert kind_of(symbol) == kind


def test_a_setting_names_the_kind_of_a_symbol_the_rules_miss() -> None:
    assert kind_of("SPX", {"SPX": "index"}) == "index"
    assert kind_of("SPX") == "stock"


def test_stocks_only_by_default_and_more_kinds_when_asked() -> None:
    tickers = pd.Series(["AAPL", "^GSPC", "MSFT", "^GSPC", "SPX"])
    wider = Universe(kinds=frozenset({"stock", "index"}), overrides={"SPX": "index"})

    assert list(STOCKS.mask(tickers)) == [True, False, True, False, True]
    assert STOCKS.select(["^GSPC", "IBM"]) == ["IBM"]
    assert list(wider.mask(tickers)) == [True] * 5
    assert Universe(overrides={"SPX": "index"}).select(tickers) == ["AAPL", "MSFT"]
    assert wider.describe() == "stock, index"
