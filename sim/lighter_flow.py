# Other traders on the simulated Lighter venue: a resting-liquidity account and Poisson market orders.
# Rules: talks to the engine only through its transaction and query API (never drains its outbox, which
# belongs to the Lighter server); seeded randomness; integers in venue units (ticks, lots) at the engine
# boundary. A rejected transaction is counted and retried later, never raised: the market must not die
# because of a venue rule (e.g. quota), and its accounts are funded so margin never binds.
#
# Liquidity: `levels_per_side` orders per side at lagged_fair · (1 ∓ (half_spread + i · spacing)), good-till-
# time limit orders (they may cross a stale quote of someone else, which then gets picked off). A level is
# moved (ModifyOrder) only when its target drifts beyond a tolerance, and refilled when its order is gone
# or mostly filled, which keeps the churn to a few orders per second per market. The side that moves away
# from the other is updated first, so the account never crosses itself.
# Takers: market orders (IOC) at Poisson times with lognormal notionals; a share of them is informed and
# trades toward the current (not lagged) fair price when it is far enough from the Lighter mid.
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sim.engine import Engine
from sim.engine_types import (
    CreateOrderTx,
    ModifyOrderTx,
    OrderType,
    Tier,
    TimeInForce,
    TxMeta,
    TxOutcome,
    TxResult,
)
from sim.market_params import InstrumentParams, MarketParams
from sim.markets import MICRO_PER_USDC, MarketSpec

MARKET_API_KEY_INDEX = 3
_MARKET_PUBLIC_KEY = "51" * 40  # never verified: the market's transactions bypass the signer
_RATE_LIMIT_BACKOFF_NS = 1_000_000_000


@dataclass(slots=True)
class FlowStats:
    """Counters of the market's own transactions, for tests and status output."""

    accepted: int = 0
    rejected: int = 0
    rate_limited: int = 0
    creates: int = 0
    modifies: int = 0
    market_orders: int = 0
    rejection_codes: dict[int, int] = field(default_factory=dict)


class MarketAccount:
    """One funded premium account of the market (exempt from limits) with its API key, in nonce order."""

    def __init__(self, engine: Engine, collateral_usdc: int, stats: FlowStats) -> None:
        self._engine = engine
        # The market stands for many traders: exempt from one account's quota and rate limits.
        self.account_index = engine.create_account(collateral_usdc * MICRO_PER_USDC, Tier.PREMIUM,
                                                   exempt_from_limits=True)
        engine.register_api_key(self.account_index, MARKET_API_KEY_INDEX, _MARKET_PUBLIC_KEY)
        self._stats = stats
        self.blocked_until_ns = 0

    def send(self, now_ns: int, tx: CreateOrderTx | ModifyOrderTx) -> TxResult:
        engine = self._engine
        meta = TxMeta(self.account_index, MARKET_API_KEY_INDEX,
                      engine.next_nonce(self.account_index, MARKET_API_KEY_INDEX))
        if isinstance(tx, CreateOrderTx):
            result = engine.create_order(now_ns, meta, tx)
        else:
            result = engine.modify_order(now_ns, meta, tx)
        stats = self._stats
        if result.outcome is TxOutcome.ACCEPTED:
            stats.accepted += 1
        else:
            if result.outcome is TxOutcome.RATE_LIMITED:
                stats.rate_limited += 1
                self.blocked_until_ns = now_ns + _RATE_LIMIT_BACKOFF_NS
            else:
                stats.rejected += 1
            stats.rejection_codes[result.code] = stats.rejection_codes.get(result.code, 0) + 1
        return result

    def send_market_order(self, now_ns: int, spec: MarketSpec, is_buy: bool, worst: int, size: int) -> TxResult:
        """An IOC market order limited to ``worst``, its size raised to the market's minimum notional."""
        while spec.quote_micro(worst, size) < spec.min_quote_amount:
            size += spec.min_base_amount
        result = self.send(now_ns, CreateOrderTx(spec.market_id, 0, size, worst, not is_buy, OrderType.MARKET,
                                                 TimeInForce.IMMEDIATE_OR_CANCEL))
        self._stats.market_orders += 1
        return result


@dataclass(slots=True)
class _Slot:
    is_ask: bool
    level: int
    order_index: int | None = None
    price: int = 0
    size: int = 0  # the size the slot was (re)filled with


class LighterLiquidity:
    """Resting levels of the market's own account on one Lighter market."""

    def __init__(self, engine: Engine, account: MarketAccount, spec: MarketSpec, instrument: InstrumentParams,
                 params: MarketParams, rng: random.Random, stats: FlowStats) -> None:
        self._engine = engine
        self._account = account
        self._spec = spec
        self._rng = rng
        self._stats = stats
        self._tick = 10.0 ** -spec.price_decimals
        self._lot = 10.0 ** -spec.size_decimals
        self._level_size = instrument.lighter_level_size
        self._size_sigma = params.lighter_size_sigma
        self._half_spread = params.lighter_half_spread_bps * 1e-4
        self._spacing = params.lighter_level_spacing_bps * 1e-4
        self._touch_tolerance = params.lighter_touch_tolerance_bps * 1e-4
        self._deep_tolerance = params.lighter_deep_tolerance_bps * 1e-4
        self._ttl_ms = params.lighter_order_ttl_s * 1000
        levels = params.lighter_levels_per_side
        self._bids = [_Slot(False, i) for i in range(levels)]
        self._asks = [_Slot(True, i) for i in range(levels)]
        self._last_reference = 0.0

    def requote(self, now_ns: int, reference_price: float) -> None:
        if now_ns < self._account.blocked_until_ns:
            return
        live = {o.order_index: o.remaining_base_amount
                for o in self._engine.orders(self._account.account_index, self._spec.market_id)}
        rising = reference_price >= self._last_reference
        self._last_reference = reference_price
        # move the side that retreats first, so the account's own bid and ask never cross
        for slots in ((self._asks, self._bids) if rising else (self._bids, self._asks)):
            for slot in slots:
                if not self._update_slot(now_ns, slot, reference_price, live):
                    return

    def churn(self, now_ns: int, count: int) -> None:
        """Re-draw the size of `count` random resting levels in place (other makers adding and leaving)."""
        if count <= 0 or now_ns < self._account.blocked_until_ns:
            return
        slots = [s for s in self._bids + self._asks if s.order_index is not None]
        for _ in range(min(count, len(slots))):
            slot = slots[self._rng.randrange(len(slots))]
            assert slot.order_index is not None
            size = self._draw_size(slot.level)
            result = self._account.send(now_ns, ModifyOrderTx(self._spec.market_id, slot.order_index, size,
                                                              slot.price))
            self._stats.modifies += 1
            if result.accepted:
                slot.size = size
            elif result.outcome is TxOutcome.RATE_LIMITED:
                return
            else:
                slot.order_index = None  # gone meanwhile: refilled at the next requote

    def _update_slot(self, now_ns: int, slot: _Slot, reference: float, live: dict[int, int]) -> bool:
        """Bring one slot to its target; False when the account is rate limited (stop for now)."""
        offset = self._half_spread + slot.level * self._spacing
        tolerance = self._touch_tolerance if slot.level == 0 else self._deep_tolerance
        if slot.is_ask:
            target = math.ceil(reference * (1 + offset) / self._tick)
        else:
            target = math.floor(reference * (1 - offset) / self._tick)
        remaining = live.get(slot.order_index, 0) if slot.order_index is not None else 0
        if remaining == 0:
            size = self._draw_size(slot.level)
            tx = CreateOrderTx(self._spec.market_id, 0, size, target, slot.is_ask, OrderType.LIMIT,
                               TimeInForce.GOOD_TILL_TIME, order_expiry_ms=now_ns // 1_000_000 + self._ttl_ms)
            result = self._account.send(now_ns, tx)
            self._stats.creates += 1
            if result.accepted and result.order_index is not None:
                slot.order_index, slot.price, slot.size = result.order_index, target, size
            else:
                slot.order_index = None
            return result.outcome is not TxOutcome.RATE_LIMITED
        drifted = abs(target - slot.price) * self._tick > tolerance * reference
        depleted = remaining * 2 < slot.size
        if not drifted and not depleted:
            return True
        assert slot.order_index is not None
        size = self._draw_size(slot.level) if depleted else remaining
        result = self._account.send(now_ns, ModifyOrderTx(self._spec.market_id, slot.order_index, size, target))
        self._stats.modifies += 1
        if result.accepted:
            slot.price = target
            if depleted:
                slot.size = size
        elif result.outcome is not TxOutcome.RATE_LIMITED:
            slot.order_index = None  # gone meanwhile (filled or expired): refill next time
        return result.outcome is not TxOutcome.RATE_LIMITED

    def _draw_size(self, level: int) -> int:
        sigma = self._size_sigma
        size = self._level_size * (1 + 0.5 * level) * math.exp(sigma * self._rng.gauss(0.0, 1.0) - 0.5 * sigma**2)
        return max(self._spec.min_base_amount, round(size / self._lot))


class LighterTakers:
    """Poisson market orders on one Lighter market from the market's taker account."""

    def __init__(self, engine: Engine, account: MarketAccount, spec: MarketSpec, instrument: InstrumentParams,
                 params: MarketParams, rng: random.Random, stats: FlowStats, start_ns: int) -> None:
        self._engine = engine
        self._account = account
        self._spec = spec
        self._rng = rng
        self._stats = stats
        self._tick = 10.0 ** -spec.price_decimals
        self._lot = 10.0 ** -spec.size_decimals
        self._rate_hz = instrument.taker_rate_hz
        self._notional = instrument.taker_notional_usd
        self._size_sigma = params.taker_size_sigma
        self._informed_share = params.taker_informed_share
        self._min_gap = params.taker_informed_min_gap_bps * 1e-4
        self._slippage = params.taker_slippage_bps * 1e-4
        self._next_arrival_ns = start_ns + self._interarrival_ns()

    def run_until(self, now_ns: int, fair_price: float) -> None:
        """Send the market orders whose arrival time has come."""
        while self._next_arrival_ns <= now_ns:
            self._next_arrival_ns += self._interarrival_ns()
            if now_ns >= self._account.blocked_until_ns:
                self._send_market_order(now_ns, fair_price)

    def reset_clock(self, now_ns: int) -> None:
        """Forget arrivals missed while the market was frozen."""
        self._next_arrival_ns = now_ns + self._interarrival_ns()

    def _send_market_order(self, now_ns: int, fair_price: float) -> None:
        best_bid, best_ask = self._engine.best_bid_ask(self._spec.market_id)
        if best_bid is None or best_ask is None:
            return
        mid = (best_bid + best_ask) * self._tick / 2
        gap = (fair_price - mid) / mid
        rng = self._rng
        is_buy = gap > 0 if rng.random() < self._informed_share and abs(gap) > self._min_gap else rng.random() < 0.5
        sigma = self._size_sigma
        notional = self._notional * math.exp(sigma * rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma)
        spec = self._spec
        size = max(spec.min_base_amount, round(notional / fair_price / self._lot))
        if is_buy:
            worst = math.ceil(best_ask * (1 + self._slippage))
        else:
            worst = max(1, math.floor(best_bid * (1 - self._slippage)))
        self._account.send_market_order(now_ns, spec, is_buy, worst, size)

    def _interarrival_ns(self) -> int:
        if self._rate_hz <= 0:
            return 10**18
        return max(1, int(self._rng.expovariate(self._rate_hz) * 1e9))
