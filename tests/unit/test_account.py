"""Account state from the reference's payload shapes (lighter-api §5.7, §6.6)."""
from lmm.core.account import AccountState
from lmm.core.order_state import Side

ME = 1234


def trade(trade_id, *, ask_account, bid_account, maker_ask, price="97000.7", size="0.00020", market=1):
    return {"trade_id": trade_id, "market_id": market, "size": size, "price": price, "usd_amount": "19.40",
            "ask_account_id": ask_account, "bid_account_id": bid_account, "is_maker_ask": maker_ask,
            "timestamp": 1773854156654}


def make() -> AccountState:
    return AccountState(ME, market_id=1, price_decimals=1, size_decimals=5)


def test_positions_signed_and_missing_market_is_flat():
    acct = make()
    acct.on_positions({"1": {"market_id": 1, "sign": -1, "position": "0.01500", "avg_entry_price": "97000.0",
                             "unrealized_pnl": "-1.50", "realized_pnl": "2.00"}})
    assert acct.position_lots == -1500
    assert acct.unrealized_pnl == -1.5 and acct.realized_pnl == 2.0
    acct.on_positions({"0": {"market_id": 0, "sign": 1, "position": "1.0000"}})
    assert acct.position_lots == 0 and acct.position_known


def test_snapshot_trades_are_history_and_fills_dedupe_by_trade_id():
    acct = make()
    snapshot = {"type": "subscribed/account_all", "positions": {},
                "trades": {"1": [trade(1, ask_account=ME, bid_account=9, maker_ask=True)]}}
    assert acct.on_account_all(snapshot) == []
    update = {"type": "update/account_all",
              "trades": {"1": [trade(1, ask_account=ME, bid_account=9, maker_ask=True),
                               trade(2, ask_account=9, bid_account=ME, maker_ask=False, price="96999.9")]}}
    fills = acct.on_account_all(update)
    assert [f.trade_id for f in fills] == [2]
    assert fills[0].side is Side.BID and fills[0].is_maker and fills[0].price_tick == 969999
    assert fills[0].size_lots == 20
    assert acct.on_account_all(update) == []
    assert acct.fills_count == 1


def test_a_resubscription_snapshot_reports_the_trades_made_while_the_stream_was_down():
    acct = make()
    history = [trade(1, ask_account=ME, bid_account=9, maker_ask=True)]  # from before this run
    assert acct.on_account_all({"type": "subscribed/account_all", "positions": {}, "trades": {"1": history}}) == []
    assert [f.trade_id for f in acct.on_account_all(
        {"type": "update/account_all", "trades": {"1": [trade(2, ask_account=ME, bid_account=9, maker_ask=True)]}})] \
        == [2]
    # the stream drops; trade 3 is made meanwhile; the snapshot after the reconnect lists 1, 2 and 3
    position = {"1": {"market_id": 1, "sign": -1, "position": "0.00060"}}
    again = {"type": "subscribed/account_all", "positions": position,
             "trades": {"1": [*history, trade(2, ask_account=ME, bid_account=9, maker_ask=True),
                              trade(3, ask_account=ME, bid_account=9, maker_ask=True)]}}
    fills = acct.on_account_all(again)
    assert [f.trade_id for f in fills] == [3] and fills[0].side is Side.ASK
    assert acct.position_lots == -60  # the snapshot's position, which holds trade 3 already: not moved twice
    assert acct.fills_count == 2
    assert acct.on_account_all(again) == []


def test_foreign_and_other_market_trades_ignored():
    acct = make()
    fills = acct.on_trades([trade(5, ask_account=7, bid_account=8, maker_ask=True),
                            trade(6, ask_account=ME, bid_account=8, maker_ask=False, market=0)])
    assert fills == []


def test_user_stats_sets_capital_and_freshness():
    acct = make()
    assert acct.equity is None and acct.capital_age_s(0) is None
    acct.on_user_stats({"stats": {"collateral": "1000.000000", "portfolio_value": "1010.5",
                                  "available_balance": "900"}}, now_ns=1_000_000_000)
    assert acct.equity == 1010.5 and acct.available_balance == 900.0
    assert acct.capital_age_s(3_000_000_000) == 2.0
    acct.on_user_stats({"stats": {}}, now_ns=5_000_000_000)  # nothing carried: freshness unchanged
    assert acct.capital_age_s(5_000_000_000) == 4.0


def test_orders_parsed_exactly():
    acct = make()
    reports = acct.parse_orders({"1": [{"order_index": 2**48 + 5, "client_order_index": 42, "market_index": 1,
                                        "is_ask": True, "status": "open", "price": "97000.7",
                                        "remaining_base_amount": "0.00030"},
                                       {"order_index": 2**48 + 6, "client_order_index": 0, "market_index": 1,
                                        "is_ask": False, "status": "in-progress", "price": "96000.0",
                                        "remaining_base_amount": "0.00010"}],
                                 "0": [{"order_index": 2**48 + 7}]})
    assert len(reports) == 2
    assert reports[0].price_tick == 970007 and reports[0].remaining_lots == 30 and reports[0].side is Side.ASK
    assert reports[0].client_index.value == 42 and reports[0].order_index.value == 2**48 + 5
    assert reports[1].client_index is None and reports[1].status == "in-progress"


def test_rest_account_refresh():
    acct = make()
    body = {"code": 200, "accounts": [{"index": ME, "collateral": "500.000000", "total_asset_value": "505.0",
                                       "available_balance": "400.0",
                                       "positions": [{"market_id": 1, "sign": 1, "position": "0.00100",
                                                      "unrealized_pnl": "0.5", "realized_pnl": "0"}]}]}
    acct.on_rest_account(body, now_ns=7)
    assert acct.position_lots == 100 and acct.equity == 505.0 and acct.capital_updated_ns == 7


def test_update_without_our_market_keeps_the_position():
    acct = make()
    acct.on_account_all({"type": "subscribed/account_all", "positions": {"1": {"market_id": 1, "sign": 1,
                                                                              "position": "0.00100"}}})
    assert acct.position_lots == 100
    acct.on_account_all({"type": "update/account_all", "positions": {"0": {"market_id": 0, "sign": 1,
                                                                          "position": "1.0000"}}})
    assert acct.position_lots == 100  # another market's update says nothing about ours
    acct.on_account_all({"type": "subscribed/account_all", "positions": {}})
    assert acct.position_lots == 0  # a snapshot without our market: flat


def test_rest_reply_older_than_a_websocket_change_does_not_overwrite_the_position():
    acct = make()
    acct.on_account_all({"type": "update/account_all", "positions": {"1": {"market_id": 1, "sign": -1,
                                                                          "position": "0.00200"}}}, now_ns=50)
    stale = {"accounts": [{"index": ME, "collateral": "500", "positions": [{"market_id": 1, "sign": 1,
                                                                            "position": "0.00100"}]}]}
    acct.on_rest_account(stale, now_ns=60, requested_ns=40)  # asked before the WS change arrived
    assert acct.position_lots == -200 and acct.collateral == 500.0
    acct.on_rest_account(stale, now_ns=90, requested_ns=70)  # asked after: it is the newer truth
    assert acct.position_lots == 100
