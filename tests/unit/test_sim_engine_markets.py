# Market specs of the simulated venue and the engine's smaller queries (history, deposits, margin moves).
from __future__ import annotations

from decimal import Decimal

import pytest
from sim_engine_support import eth, micro, new_venue, usd

from sim.engine import Engine
from sim.engine_types import EngineError, ErrorCode, MarginDirection, TimeInForce, UpdateMarginTx
from sim.engine_views import AccountUpdate
from sim.markets import BTC, DEFAULT_MARKETS, ETH, format_usdc, market_by_symbol, parse_usdc


def test_eth_and_btc_specs_match_the_reference() -> None:
    assert (ETH.market_id, ETH.price_decimals, ETH.size_decimals) == (0, 2, 4)
    assert (BTC.market_id, BTC.price_decimals, BTC.size_decimals) == (1, 1, 5)
    assert ETH.format_size(ETH.min_base_amount) == "0.0050"
    assert BTC.format_size(BTC.min_base_amount) == "0.00020"
    for spec in DEFAULT_MARKETS:
        assert format_usdc(spec.min_quote_amount) == "10.000000"
        assert (spec.default_initial_margin_fraction, spec.min_initial_margin_fraction) == (500, 200)
        assert (spec.maintenance_margin_fraction, spec.closeout_margin_fraction) == (120, 80)
    assert market_by_symbol("btc") is BTC


def test_integer_scaling_examples_of_the_reference() -> None:
    assert ETH.format_price(405_000) == "4050.00"
    assert ETH.format_size(1_000) == "0.1000"
    assert BTC.format_price(834_530) == "83453.0"
    assert BTC.format_size(1_000) == "0.01000"
    assert BTC.quote_micro(834_530, 1_000) == micro(834.53)  # 0.01 BTC at $83453.0
    assert ETH.price_to_decimal(405_001) == Decimal("4050.01")


def test_usdc_parsing_is_exact() -> None:
    assert parse_usdc("10000") == 10_000_000_000
    assert parse_usdc("0.000001") == 1
    assert format_usdc(-1_500_000) == "-1.500000"
    with pytest.raises(ValueError):
        parse_usdc("0.0000001")
    with pytest.raises(ValueError):
        parse_usdc("ten")


def test_duplicate_market_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        Engine([ETH, ETH])


def test_deposit_and_margin_moves_emit_account_updates() -> None:
    venue = new_venue()
    trader = venue.trader(collateral_usd=1_000)
    venue.engine.take_events()
    venue.engine.deposit(trader, micro(500))
    assert venue.engine.take_events() == [AccountUpdate(trader, ())]
    assert venue.engine.account(trader).collateral == micro(1_500)

    add = UpdateMarginTx(0, micro(200), MarginDirection.ADD_COLLATERAL)
    venue.ok(trader, add)
    assert venue.engine.take_events() == [AccountUpdate(trader, (0,))]
    (position,) = venue.engine.account(trader).positions
    assert position.allocated_margin == micro(200)
    remove_too_much = UpdateMarginTx(0, micro(201), MarginDirection.REMOVE_COLLATERAL)
    assert venue.send(trader, remove_too_much).code == ErrorCode.NOT_ENOUGH_COLLATERAL
    assert venue.send(trader, UpdateMarginTx(0, micro(2_000), MarginDirection.ADD_COLLATERAL)).code == 21301


def test_order_and_trade_history_queries() -> None:
    venue = new_venue()
    maker, taker = venue.trader(), venue.trader()
    resting = venue.place(maker, usd(2000), eth(1), ask=True, cid=100)
    venue.place(maker, usd(2005), eth(1), ask=True, cid=101)
    venue.place(taker, usd(2000), eth(1), ask=False, tif=TimeInForce.IMMEDIATE_OR_CANCEL, cid=7)
    found = venue.engine.orders_by_client_index(maker, [101, 100, 555])
    assert [(o.client_order_index, o.status.value) for o in found] == [(101, "open"), (100, "filled")]
    assert venue.engine.orders(maker, market_id=1) == []
    assert [t.ask_id for t in venue.engine.account_trades(maker)] == [resting]
    assert venue.engine.account_trades(taker)[0].bid_client_id == 7
    assert venue.engine.inactive_orders(maker, market_id=1) == []
    (bids, asks) = venue.engine.book_orders(0)
    assert bids == [] and [o.client_order_index for o in asks] == [101]
    assert venue.engine.mark_price(0) == usd(2000)  # last trade
    assert venue.engine.height == 3


def test_queries_on_unknown_accounts_and_markets_raise() -> None:
    engine = Engine()
    with pytest.raises(EngineError) as account_error:
        engine.account(12345)
    assert account_error.value.code is ErrorCode.ACCOUNT_NOT_FOUND
    with pytest.raises(EngineError):
        engine.book_levels(9)
    assert engine.accounts_by_l1_address("0xabc") == []
    shared = [engine.create_account(0, l1_address="0xABC") for _ in range(2)]
    assert engine.accounts_by_l1_address("0xabc") == shared
    with pytest.raises(ValueError):
        engine.create_account(0, "premium", l1_address="0xabc")  # one tier per L1 address
