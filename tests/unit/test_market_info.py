"""Market metadata parsing (lighter-api §5.5 shapes)."""
import pytest

from lmm.venue.lighter.market_info import MarketLookupError, parse_market, select_market

ETH = {"symbol": "ETH", "market_id": 0, "market_type": "perp", "status": "active", "min_base_amount": "0.0050",
       "min_quote_amount": "10.000000", "supported_size_decimals": 4, "supported_price_decimals": 2,
       "size_decimals": 4, "price_decimals": 2}
BTC = {"symbol": "BTC", "market_id": 1, "market_type": "perp", "min_base_amount": "0.00020",
       "min_quote_amount": "10.000000", "supported_size_decimals": 5, "supported_price_decimals": 1}


def test_parse_exact_minimums():
    eth = parse_market(ETH)
    assert (eth.price_decimals, eth.size_decimals, eth.min_base_lots, eth.min_quote_micro_usd) == (2, 4, 50,
                                                                                                  10_000_000)
    assert eth.tick_size == pytest.approx(0.01) and eth.price_of(405000) == 4050.0


def test_select_by_symbol_or_id_case_insensitive():
    assert select_market([ETH, BTC], symbol="btc").market_id == 1
    assert select_market([ETH, BTC], market_id=0).symbol == "ETH"


def test_unknown_market_lists_known_ones():
    with pytest.raises(MarketLookupError, match=r"unknown market DOGE.*BTC, ETH"):
        select_market([ETH, BTC], symbol="DOGE")


def test_mismatched_decimals_refused():
    with pytest.raises(MarketLookupError, match="refusing"):
        parse_market({**ETH, "size_decimals": 3})
