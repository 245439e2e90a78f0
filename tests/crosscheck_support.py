"""The same fixed-spread strategy on two fill engines, for the cross-check against hftbacktest (issue 13):
ours (the local venue's matching engine with the tape's book mirrored into it: ``BookMirror`` and
``BinanceTapeMarket``) and hftbacktest's (``HashMapMarketDepthBacktest``, risk-averse queue, partial fills).

The strategy, on both: from ``warmup`` after the tape's depth snapshot, every ``interval``: read the touch,
cancel our live orders and quote one bid at ``floor(mid - K ticks)`` and one ask at ``ceil(mid + K ticks)``,
post-only, a fixed size, no inventory limit; every cancel and order reaches the matching engine
``latency`` after the decision. At the last step nothing is quoted: the run is valued at that step's mid.

What both engines are given is the same: the same recording, read by each one's own parser; the book as the
official diff-depth sync defines it (hftbacktest's own converter applies every diff in receive order,
so the diffs the sync procedure drops are removed from its input and those it buffers are moved to the
snapshot); no feed latency (hftbacktest's exchange time set to the local receive time, which is what our
backtester assumes); the same entry latency, queue model, maker fee, tick and lot.

Run it to print the figures for both tapes: ``PYTHONPATH=. python tests/crosscheck_support.py``.
"""
from __future__ import annotations

import asyncio
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.local.mirror import RISK_AVERSE, BookMirror
from lmm.venue.local.tape_market import BinanceTapeMarket
from lmm.venue.tape.reader import open_tape
from sim.accounts import FEE_TICKS_BY_TIER
from sim.engine import Engine
from sim.engine_types import CancelOrderTx, CreateOrderTx, OrderType, Tier, TimeInForce, TxMeta, TxOutcome
from sim.engine_views import TradeEvent
from sim.markets import FEE_TICKS_PER_UNIT, MarketSpec

ROOT = Path(__file__).resolve().parents[1]
DATA = next((d / "shared" / "data" for d in (ROOT.parent, ROOT.parent.parent) if (d / "shared" / "data").is_dir()),
            ROOT.parent / "shared" / "data")
NS = 1_000_000_000
TIER = Tier.PREMIUM
MAKER_FEE = FEE_TICKS_BY_TIER[TIER][0] / FEE_TICKS_PER_UNIT  # 0.4 bp: the fee our engine charges a premium maker
TAKER_FEE = FEE_TICKS_BY_TIER[TIER][1] / FEE_TICKS_PER_UNIT  # never charged here: every quote is post-only
OUR_KEY_INDEX = 3
OUR_COLLATERAL = 10**12  # micro-USDC: margin never limits the strategy


@dataclass(frozen=True)
class TapeMarket:
    """One recording and its market's grid."""

    path: Path
    symbol: str
    price_decimals: int
    size_decimals: int
    inverse: bool = False
    contract_size: float = 1.0  # quote value of one contract (inverse markets)

    @property
    def tick(self) -> float:
        return 10.0 ** -self.price_decimals

    @property
    def lot(self) -> float:
        return 10.0 ** -self.size_decimals


ETH = TapeMarket(DATA / "binance-usdm-ethusdt-20240808.gz", "ETHUSDT", 2, 3)
BTC_COINM = TapeMarket(DATA / "binance-coinm-btcusd_perp-20240808.gz", "BTCUSD_PERP", 1, 0, inverse=True,
                       contract_size=100.0)


@dataclass(frozen=True)
class Plan:
    half_spread_ticks: int  # K: quotes at floor(mid - K) and ceil(mid + K), in ticks
    size_lots: int
    latency_ns: int = 50_000_000  # the backtester's default order entry latency
    interval_ns: int = NS
    warmup_ns: int = 5 * NS  # after the depth snapshot, before the first quote
    steps: int | None = None  # quote steps (None: as many as the tape holds, the last one a second before its end)


@dataclass
class Result:
    fills: int = 0
    buy_lots: int = 0
    sell_lots: int = 0
    cash: float = 0.0  # linear: quote currency; inverse: base coin (hftbacktest's convention)
    fees: float = 0.0
    final_mid: float = 0.0
    mids2: list[int] = field(default_factory=list)  # bid + ask ticks at every step, as the strategy saw them
    fill_prices: list[tuple[int, int, int]] = field(default_factory=list)  # (local ns, side +1/-1, price ticks)

    @property
    def filled_lots(self) -> int:
        return self.buy_lots + self.sell_lots

    @property
    def position_lots(self) -> int:
        return self.buy_lots - self.sell_lots

    def pnl(self, market: TapeMarket) -> float:
        """Cash plus the position at the final mid, less fees (hftbacktest's equity formulas)."""
        position = self.position_lots * market.lot
        if market.inverse:
            return self.cash - market.contract_size * position / self.final_mid - self.fees
        return self.cash + position * self.final_mid - self.fees


class HftbacktestError(RuntimeError):
    pass


@dataclass(frozen=True)
class Schedule:
    first_ns: int  # local receive time of the first quote decision
    steps: int  # quote decisions; one more (the valuation) follows at first_ns + steps * interval

    def end_ns(self, plan: Plan) -> int:
        return self.first_ns + self.steps * plan.interval_ns


# ---- the recording ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawFacts:
    first_ns: int  # local time of the first line
    last_ns: int
    snapshot_ns: int
    dropped: frozenset[int]  # local times of the diff messages the sync procedure drops
    buffered: frozenset[int]  # local times of the diffs received before the snapshot and applied after it


def raw_facts(path: Path) -> RawFacts:
    first = last = snapshot_ns = None
    snapshot_id = 0
    pre: list[tuple[int, int]] = []
    dropped: set[int] = set()
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            ts = int(line[:19])
            first = ts if first is None else first
            last = ts
            message = json.loads(line[20:])
            if "lastUpdateId" in message:
                snapshot_ns, snapshot_id = ts, message["lastUpdateId"]
                continue
            data = message.get("data", {})
            if data.get("e") != "depthUpdate":
                continue
            if snapshot_ns is None:
                pre.append((ts, data["u"]))
            elif data["u"] < snapshot_id:
                dropped.add(ts)
    assert first is not None and last is not None and snapshot_ns is not None, f"{path}: no depth snapshot"
    buffered = {ts for ts, u in pre if u >= snapshot_id}
    dropped |= {ts for ts, u in pre if u < snapshot_id}
    return RawFacts(first, last, snapshot_ns, frozenset(dropped), frozenset(buffered))


def schedule(facts: RawFacts, plan: Plan) -> Schedule:
    first = facts.snapshot_ns + plan.warmup_ns
    most = (facts.last_ns - NS - first) // plan.interval_ns
    return Schedule(first, most if plan.steps is None else min(plan.steps, most))


# ---- hftbacktest -------------------------------------------------------------------------------------------


def hftbacktest_events(market: TapeMarket, facts: RawFacts) -> np.ndarray:
    """hftbacktest's own conversion of the recording, then put on the sync's terms (see the module doc) with
    exchange time = local receive time (the raw local times restored: its converter shifts them)."""
    from hftbacktest import DEPTH_EVENT, EXCH_EVENT, LOCAL_EVENT
    from hftbacktest.data.utils import binancefutures

    converted = binancefutures.convert(str(market.path), buffer_size=10_000_000)
    rows = converted[(converted["ev"] & LOCAL_EVENT) != 0].copy()  # every row once, in receive order
    raw_ts = rows["local_ts"] - (int(rows["local_ts"][0]) - facts.first_ns)
    is_diff = (rows["ev"] & 0xFF) == DEPTH_EVENT
    keep = ~(is_diff & np.isin(raw_ts, np.fromiter(facts.dropped, np.int64, len(facts.dropped))))
    rows, raw_ts, is_diff = rows[keep], raw_ts[keep], is_diff[keep]
    moved = is_diff & np.isin(raw_ts, np.fromiter(facts.buffered, np.int64, len(facts.buffered)))
    key = np.where(moved, facts.snapshot_ns * 2 + 1, raw_ts * 2)
    order = np.argsort(key, kind="stable")
    rows = rows[order]
    ts = key[order] // 2
    rows["exch_ts"] = ts
    rows["local_ts"] = ts
    rows["ev"] = (rows["ev"] & ~np.uint64(EXCH_EVENT | LOCAL_EVENT)) | np.uint64(EXCH_EVENT | LOCAL_EVENT)
    return rows


def run_hftbacktest(market: TapeMarket, plan: Plan, facts: RawFacts | None = None, *, partial_fills: bool = True,
                    ) -> Result:
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    facts = facts or raw_facts(market.path)
    sched = schedule(facts, plan)
    events = hftbacktest_events(market, facts)  # hftbacktest reads this array in place: it must outlive the run
    asset = BacktestAsset().data([events])
    asset = asset.inverse_asset(market.contract_size) if market.inverse else asset.linear_asset(1.0)
    asset = (asset.constant_order_latency(plan.latency_ns, 0).risk_adverse_queue_model())
    asset = asset.partial_fill_exchange() if partial_fills else asset.no_partial_fill_exchange()
    asset = (asset.trading_value_fee_model(MAKER_FEE, TAKER_FEE).tick_size(market.tick).lot_size(market.lot))
    hbt = HashMapMarketDepthBacktest([asset])
    out = np.zeros(2, np.float64)
    mids2 = np.zeros(sched.steps + 1, np.int64)
    _hft_quote(hbt, sched.first_ns, plan.interval_ns, sched.steps, plan.half_spread_ticks,
               plan.size_lots * market.lot, market.tick, out, mids2)
    if out[1] != 0:
        raise HftbacktestError(f"hftbacktest stopped with error code {int(out[1])} after "
                               f"{(hbt.current_timestamp - sched.first_ns) / NS:.0f} s of quoting")
    values = hbt.state_values(0)
    hbt.close()
    del events
    lots = round(values.trading_volume / market.lot)
    position = round(values.position / market.lot)
    return Result(fills=int(values.num_trades), buy_lots=(lots + position) // 2, sell_lots=(lots - position) // 2,
                  cash=-values.balance if market.inverse else values.balance, fees=values.fee, final_mid=out[0],
                  mids2=[int(m) for m in mids2])


HFT_GTX, HFT_LIMIT, HFT_NEW, HFT_PARTIALLY_FILLED = 1, 0, 1, 5  # hftbacktest.order's constants


def _hft_quote_py(hbt, first_ns, interval_ns, steps, k, qty, tick, out, mids2):
    if hbt.elapse(0) != 0 or hbt.elapse(first_ns - hbt.current_timestamp) != 0:  # the first call starts the clock
        return
    order_id = 0
    for step in range(steps):
        depth = hbt.depth(0)
        mid2 = depth.best_bid_tick + depth.best_ask_tick
        mids2[step] = mid2
        values = hbt.orders(0).values()
        while values.has_next():
            order = values.get()
            if order.status == HFT_NEW or order.status == HFT_PARTIALLY_FILLED:
                hbt.cancel(0, order.order_id, False)
        order_id += 1
        hbt.submit_buy_order(0, order_id, ((mid2 - 2 * k) // 2) * tick, qty, HFT_GTX, HFT_LIMIT, False)
        order_id += 1
        hbt.submit_sell_order(0, order_id, (-((-(mid2 + 2 * k)) // 2)) * tick, qty, HFT_GTX, HFT_LIMIT, False)
        hbt.clear_inactive_orders(0)
        code = hbt.elapse(interval_ns)
        if code != 0:
            out[1] = code
            return
    depth = hbt.depth(0)
    mids2[steps] = depth.best_bid_tick + depth.best_ask_tick
    out[0] = mids2[steps] * tick / 2


_compiled: list = []


def _hft_quote(*args) -> None:
    """The strategy compiled by numba on first use (hftbacktest's backtester is a numba object)."""
    if not _compiled:
        from numba import njit
        _compiled.append(njit(_hft_quote_py))
    _compiled[0](*args)


# ---- ours -----------------------------------------------------------------------------------------------------


def run_ours(market: TapeMarket, tape_dir: Path, plan: Plan, facts: RawFacts | None = None) -> Result:
    facts = facts or raw_facts(market.path)
    sched = schedule(facts, plan)
    tape = open_tape(tape_dir)
    spec = MarketSpec(market_id=1, symbol=market.symbol, price_decimals=market.price_decimals,
                      size_decimals=market.size_decimals, min_base_amount=1, min_quote_amount=0)
    engine = Engine((spec,))
    clock = VirtualClock(wall_epoch_ns=tape.span_ns()[0])
    loop = virtual_time_loop(clock)
    mirror = BookMirror(engine, 1, RISK_AVERSE)
    tape_market = BinanceTapeMarket(tape, market.symbol, market.price_decimals, market.size_decimals, mirror, clock,
                                    end_ns=sched.end_ns(plan))
    account = engine.create_account(OUR_COLLATERAL, TIER, exempt_from_limits=True)
    engine.register_api_key(account, OUR_KEY_INDEX, "11" * 40)
    result = Result()

    def meta() -> TxMeta:
        return TxMeta(account, OUR_KEY_INDEX, engine.next_nonce(account, OUR_KEY_INDEX))

    def collect_fills() -> None:
        for event in engine.take_events():
            if isinstance(event, TradeEvent) and account in (event.trade.bid_account_id, event.trade.ask_account_id):
                _record_fill(result, market, event.trade, account, clock.wall_ns())

    async def quote() -> None:
        live: list[int] = []
        for step in range(sched.steps + 1):
            await asyncio.sleep((sched.first_ns + step * plan.interval_ns - clock.wall_ns()) / NS)
            bid, ask = tape_market.sync.bids.best(), tape_market.sync.asks.best()
            result.mids2.append(bid + ask)
            if step == sched.steps:
                result.final_mid = (bid + ask) * market.tick / 2
                break
            mid2, k = bid + ask, plan.half_spread_ticks
            prices = ((mid2 - 2 * k) // 2, -((-(mid2 + 2 * k)) // 2))
            await asyncio.sleep(plan.latency_ns / NS)
            now = clock.wall_ns()
            for index in live:
                engine.cancel_order(now, meta(), CancelOrderTx(market_index=1, index=index))
            live = []
            for is_ask, price in zip((False, True), prices, strict=True):
                tx = CreateOrderTx(market_index=1, client_order_index=0, base_amount=plan.size_lots, price=price,
                                   is_ask=is_ask, order_type=OrderType.LIMIT, time_in_force=TimeInForce.POST_ONLY,
                                   order_expiry_ms=now // 1_000_000 + 3_600_000)
                created = engine.create_order(now, meta(), tx)
                if created.outcome is TxOutcome.ACCEPTED and created.order_index is not None:
                    live.append(created.order_index)
            collect_fills()

    async def both() -> None:
        await asyncio.gather(tape_market.run(), quote())
        collect_fills()

    try:
        loop.run_until_complete(asyncio.wait_for(both(), timeout=3600))
    finally:
        loop.close()
    assert mirror.stats.rejected == 0, mirror.stats
    return result


def _record_fill(result: Result, market: TapeMarket, trade, account: int, now_ns: int) -> None:
    side = 1 if trade.bid_account_id == account else -1
    price = trade.price * market.tick
    qty = trade.size * market.lot
    amount = market.contract_size * qty / price if market.inverse else qty * price
    result.fills += 1
    if side > 0:
        result.buy_lots += trade.size
    else:
        result.sell_lots += trade.size
    result.cash += -side * amount if not market.inverse else side * amount
    result.fees += amount * MAKER_FEE
    result.fill_prices.append((now_ns, side, trade.price))


# ---- figures ----------------------------------------------------------------------------------------------------


# (market, half spread K in ticks, size in lots, hftbacktest's partial-fill exchange (else no partial fills))
CASES = (
    ("eth-behind-touch", ETH, 2, 10, True),
    ("eth-at-touch", ETH, 0, 10, False),
    ("btc-coinm-behind-touch", BTC_COINM, 2, 1, True),
    ("btc-coinm-at-touch", BTC_COINM, 0, 1, False),
)


def pnl_usd(market: TapeMarket, result: Result) -> float:
    return result.pnl(market) * result.final_mid if market.inverse else result.pnl(market)


def traded_notional_usd(market: TapeMarket, result: Result) -> float:
    """An inverse contract is worth ``contract_size`` USD; a linear lot its price."""
    if market.inverse:
        return result.filled_lots * market.lot * market.contract_size
    return result.filled_lots * market.lot * result.final_mid


def main() -> None:  # pragma: no cover - prints the figures of docs/backtest.md
    import tempfile

    from lmm.venue.tape.hftbacktest import import_hftbacktest

    with tempfile.TemporaryDirectory() as tmp:
        for name, market, k, size, partial in CASES:
            tape_dir = Path(tmp) / market.symbol
            if not tape_dir.exists():
                import_hftbacktest(market.path, tape_dir)
            facts = raw_facts(market.path)
            plan = Plan(k, size)
            ours, theirs = run_ours(market, tape_dir, plan, facts), run_hftbacktest(market, plan, facts,
                                                                                    partial_fills=partial)
            same = sum(a == b for a, b in zip(ours.mids2, theirs.mids2, strict=True))
            print(f"{name}: K={k} ticks, {size} lots, hftbacktest {'partial' if partial else 'no partial'} fills;"
                  f" same touch at {same}/{len(ours.mids2)} steps")
            for who, r in (("ours", ours), ("hftbacktest", theirs)):
                fees_usd = r.fees * (r.final_mid if market.inverse else 1)
                print(f"  {who:12s} fills {r.fills:4d}  filled lots {r.filled_lots:6d}  position {r.position_lots:5d}"
                      f"  notional ${traded_notional_usd(market, r):,.0f}  fees ${fees_usd:.4f}"
                      f"  pnl ${pnl_usd(market, r):.4f}")


if __name__ == "__main__":
    main()
