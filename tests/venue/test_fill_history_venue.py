"""The fill history after a run on the local venue matches the venue's own trade list for the account exactly:
count, trade ids, sides, prices, sizes, notionals, fees, maker flags, order indexes; and the report read from
it agrees with the venue's ledger (fees, realized PnL, the final position), report.html included."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from venue_support import BTC, run_bot, venue_config

from lmm.daemon.fill_history import day_files, read_rows
from lmm.daemon.fill_report import Period, read_history, run_fill_report
from lmm.daemon.kill_state import EXIT_KILL_SWITCH
from lmm.venue.clock import VirtualClock
from lmm.venue.local.venue import LocalVenue
from sim.market_params import MarketParams

AT_THE_TOUCH = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}
MARKET = MarketParams(lighter_half_spread_bps=1.6)  # the bot's quotes at the touch: the sweeps reach them
MICRO = Decimal("0.000001")


async def sweeps_both_ways(venue: LocalVenue, clock: VirtualClock) -> None:
    """Small sell sweeps fill the bot's bids, then small buy sweeps its asks (maker fills that open, close and
    flip the position); then large sell sweeps push it past the position cap: the kill switch flattens it with
    IOC orders (taker fills)."""
    await asyncio.sleep(15)
    venue.inject_fault("taker_sweep", side="sell", size="0.005", interval_ms=1000, seconds=10, market_id=BTC)
    await asyncio.sleep(15)
    venue.inject_fault("taker_sweep", side="buy", size="0.005", interval_ms=1000, seconds=20, market_id=BTC)
    await asyncio.sleep(25)
    venue.inject_fault("taker_sweep", side="sell", size="0.05", interval_ms=1000, seconds=30, market_id=BTC)


def test_fill_history_matches_the_venue_trade_list(tmp_path: Path):
    """The position cap trips after the sweeps and the kill switch flattens: taker fills (IOC) too."""
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, trading={"default_quote_update_threshold_bps": 0.7},
                          risk={"max_position_usd": 5_000.0, "flatten_on_kill": True})
    fills_dir = tmp_path / "fills"
    run = run_bot(config, 150, scenario=sweeps_both_ways, market_params=MARKET, fill_dir=fills_dir)
    venue = run.venue
    spec = venue.engine.markets[BTC]
    me = venue.account_index
    trades = sorted(venue.engine.account_trades(me, n=10**9), key=lambda t: t.trade_id)
    rows = [row for path in day_files(fills_dir) for row in read_rows(path)]

    assert run.status == EXIT_KILL_SWITCH
    assert len(trades) >= 10, trades
    assert {t.is_maker_ask == (t.ask_account_id == me) for t in trades} == {True, False}, \
        "the run made both maker and taker fills"
    assert len(rows) == len(trades)
    for row, trade in zip(rows, trades, strict=True):
        is_buy = trade.bid_account_id == me
        maker = trade.is_maker_ask != is_buy
        assert int(row["trade_id"]) == trade.trade_id
        assert row["side"] == ("buy" if is_buy else "sell")
        assert row["price"] == spec.format_price(trade.price)
        assert row["size"] == spec.format_size(trade.size)
        assert Decimal(row["notional_usd"]) == Decimal(trade.usd_amount) * MICRO
        fee_paid = trade.maker_fee_paid if maker else trade.taker_fee_paid
        assert Decimal(row["fee_usd"]) == Decimal(fee_paid) * MICRO
        assert row["maker"] == ("true" if maker else "false")
        assert int(row["order_index"]) == (trade.bid_id if is_buy else trade.ask_id)
        assert int(row["time_ns"]) == trade.timestamp_ms * 1_000_000

    account = venue.engine.account(me)
    [position] = [p for p in account.positions if p.market_id == BTC]
    symbol, fills = read_history(fills_dir)
    assert symbol == "BTC"
    assert Decimal(rows[-1]["position_after"]) == Decimal(position.size).scaleb(-spec.size_decimals)
    _, path = run_fill_report(fills_dir, Period(), tmp_path / "report")
    report = json.loads(path.read_text())
    assert report["fills"] == len(trades)
    assert report["fees_usd"] == float(Decimal(account.fees_paid) * MICRO)
    assert report["final_position"] == float(Decimal(position.size).scaleb(-spec.size_decimals))
    # the venue floors each realized amount to the micro-dollar; the report's is exact
    assert abs(Decimal(str(report["pnl_realized_usd"])) - Decimal(position.realized_pnl) * MICRO) <= \
        MICRO * len(trades)
    assert report["position_mismatches"] == 0
    assert len(fills) == len(trades)
    # report.html, the backtester's page, from the same report: the plots inlined and the venue's totals
    net = Decimal(position.realized_pnl - account.fees_paid) * MICRO
    if position.size:  # marked at the last mid recorded at a fill, as the report marks it
        net += Decimal(str(report["pnl_unrealized_usd"]))
    assert abs(Decimal(str(report["pnl_net_usd"])) - net) <= MICRO * (len(trades) + 1)
    assert report["series"]["equity_usd"][-1] == report["pnl_net_usd"]
    assert len(report["series"]["fill_t_s"]) == len(trades)
    page = (path.parent / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    maker = sum(t.is_maker_ask == (t.ask_account_id == me) for t in trades)
    assert f"<th>fills</th><td>{len(trades)} (maker {maker}, taker {len(trades) - maker})</td>" in page
    assert f"<th>fees</th><td>${report['fees_usd']:,.4f}</td>" in page
    assert f"<th>net PnL</th><td>${report['pnl_net_usd']:,.4f}</td>" in page
    assert report["markouts_bps"]["5s"]["all"]["count"] > 0  # the history has mids: some fills have a later one


async def fill_while_disconnected(venue: LocalVenue, clock: VirtualClock) -> None:
    """The venue drops every connection and, at the same instant, a sell sweep hits the bot's bid: the fill is
    made while the bot is reconnecting, so no update reports it; only the account snapshot after the reconnect
    holds it."""
    await asyncio.sleep(20)
    venue.inject_fault("drop_connections")
    venue.inject_fault("taker_sweep", side="sell", size="0.005", interval_ms=1000, count=1, market_id=BTC)
    await asyncio.sleep(15)


def test_a_fill_made_during_a_reconnect_is_in_the_history(tmp_path: Path):
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, trading={"default_quote_update_threshold_bps": 0.7})
    fills_dir = tmp_path / "fills"
    run = run_bot(config, 40, scenario=fill_while_disconnected, market_params=MARKET, fill_dir=fills_dir)
    assert run.status == 0
    trades = sorted(run.venue.engine.account_trades(run.venue.account_index, n=10**9), key=lambda t: t.trade_id)
    rows = [row for path in day_files(fills_dir) for row in read_rows(path)]
    assert trades, "the sweep filled the bot"
    assert [int(row["trade_id"]) for row in rows] == [t.trade_id for t in trades]
