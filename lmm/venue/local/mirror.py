"""An external market (a recorded tape, later a live feed) mirrored into the local venue's matching engine, so
the bot's orders queue and fill against it under the engine's own rules (price-time priority, post-only,
fees by tier, quota).

Rules:
- A mirror account holds the external book's resting size, level by level; our orders sit in the same engine
  book. Every level change is ``set_level(is_ask, price, size)`` with the external level's new total.
- Queue position: an order of ours joins the back of its level (the engine's time priority: every mirror
  size already there is ahead of it). Size the external level gains later goes behind it (a new mirror order
  at the back). Size the level loses is taken, by the queue model, from the mirror orders behind ours or
  ahead of ours:
  - ``risk_averse``: from behind first; the queue ahead shrinks only when the level holds less than it (and
    with trades). The conservative model (hftbacktest's ``RiskAdverseQueueModel``).
  - ``proportional``: split between ahead and behind in proportion f(ahead) : f(behind), f(x) = x ** n
    (``power``; n = 1 is a uniform cancel anywhere in the queue); the expected value of hftbacktest's
    probabilistic queue models, applied deterministically so a run repeats exactly.
- Trades: each external trade is sent to the engine as an IOC order of the trade's size at the trade's price
  from a taker account, so it consumes the level front first (mirror size ahead of us, then us, then the rest):
  our order fills when a trade at its price is larger than the queue ahead of it, or when the market trades
  through its price. The level's own update (the next depth diff) then resets the mirror's total.
- The mirror never moves the engine's clock: callers pass ``now_ns`` (the tape's time).
- The maker's creates and resizes go through ``Engine.exempt_book``: the same transactions and outcomes as
  ``submit_exempt`` / ``resize_exempt``, their level changes reaching the outbox as one coalesced run at the
  engine's next other operation (what the venue's book chain publishes is the same). The taker's trades are
  ordinary exempt transactions (``submit_exempt``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sim.engine import Engine
from sim.engine_types import (
    CreateOrderTx,
    ErrorCode,
    OrderType,
    Tier,
    TimeInForce,
)
from sim.orders import Order

RISK_AVERSE = "risk_averse"
PROPORTIONAL = "proportional"
QUEUE_MODELS = (RISK_AVERSE, PROPORTIONAL)
MIRROR_KEY_INDEX = 1
MIRROR_PUBLIC_KEY = "00" * 40
MIRROR_COLLATERAL = 10**18  # micro-USDC: the rest of the market never runs out of margin
ORDER_EXPIRY_MS = 30 * 24 * 3600 * 1000 - 60_000


@dataclass
class MirrorStats:
    level_sets: int = 0
    trades: int = 0
    engine_txs: int = 0
    rejected: int = 0
    rejection_codes: dict[int, int] = field(default_factory=dict)


class _Account:
    """A funded account exempt from limits, its orders unpublished (its transactions: ``Engine.exempt_book``,
    ``submit_exempt``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # its orders' updates are not published: nobody subscribes to the mirror's account channels
        self.index = engine.create_account(MIRROR_COLLATERAL, Tier.PREMIUM, exempt_from_limits=True,
                                           publish_orders=False)
        engine.register_api_key(self.index, MIRROR_KEY_INDEX, MIRROR_PUBLIC_KEY)



class BookMirror:
    def __init__(self, engine: Engine, market_id: int, queue_model: str = RISK_AVERSE, power: float = 1.0) -> None:
        if queue_model not in QUEUE_MODELS:
            raise ValueError(f"queue model must be one of {QUEUE_MODELS}, not {queue_model!r}")
        self._engine = engine
        self._market_id = market_id
        self._model = queue_model
        self._power = power
        self._book = engine._book(market_id)
        self._maker = _Account(engine)
        self._taker = _Account(engine)
        self._maker_index = self._maker.index
        # the maker's creates and resizes, each a transaction whose only events are level changes
        self._orders = engine.exempt_book(self._maker_index, MIRROR_KEY_INDEX, market_id)
        self._resize = self._orders.resize
        self._held_prices: dict[bool, set[int]] = {False: set(), True: set()}  # is_ask -> prices with size
        self._held_bids, self._held_asks = self._held_prices[False], self._held_prices[True]
        self._bids, self._asks = self._book.bids, self._book.asks
        self.stats = MirrorStats()

    @property
    def account_indexes(self) -> tuple[int, int]:
        return self._maker.index, self._taker.index

    # ---- external events --------------------------------------------------------------------------------

    def holds(self, is_ask: bool, price: int) -> bool:
        """Whether the external level at ``price`` was last set to hold some size."""
        return price in self._held_prices[is_ask]

    def replace_side(self, is_ask: bool, levels: dict[int, int], now_ns: int) -> None:
        """The external side is now exactly ``levels`` (price: size): the levels it no longer has go first."""
        for price in list(self._held_prices[is_ask]):
            if price not in levels:
                self.set_level(is_ask, price, 0, now_ns)
        for price, size in levels.items():
            self.set_level(is_ask, price, size, now_ns)

    def clear(self, now_ns: int) -> None:
        """The external book is gone (a broken feed): every level it held is taken away."""
        for is_ask in (False, True):
            for price in list(self._held_prices[is_ask]):
                self.set_level(is_ask, price, 0, now_ns)

    def set_level(self, is_ask: bool, price: int, size: int, now_ns: int) -> None:
        """The external level at ``price`` now holds ``size`` lots (0: gone)."""
        stats = self.stats
        stats.level_sets += 1
        if is_ask:
            held_prices, level = self._held_asks, self._asks.level(price)
        else:
            held_prices, level = self._held_bids, self._bids.level(price)
        if size > 0:
            held_prices.add(price)
        else:
            held_prices.discard(price)
        if level is None:  # nothing rests there
            if size > 0:
                self._grow(is_ask, price, size, None, now_ns)
            return
        mine = self._maker_index
        if len(level) == 1:  # the common case: one order, the mirror's own (or one of ours alone)
            only = next(iter(level.values()))
            if only.account_index != mine:
                if size > 0:
                    self._grow(is_ask, price, size, only, now_ns)
            elif size != only.remaining:  # grown or taken from, it holds `size`: `_modify` unrolled
                stats.engine_txs += 1
                result = self._resize(now_ns, only, size)
                if type(result) is not int:  # an ErrorCode (an IntEnum), not an order index
                    self._count(result)
            return
        held = 0
        others = False
        last = None
        for last in level.values():
            if last.account_index == mine:
                held += last.remaining
            else:
                others = True
        if size > held:
            self._grow(is_ask, price, size - held, last, now_ns)
        elif size < held:
            queue = list(level.values())  # a copy: the level changes as it is taken from
            if others:
                self._shrink(held - size, queue, now_ns)
            else:  # only external size at the level: nothing is behind anyone, take it from the back
                self._take(queue[::-1], held - size, now_ns)

    def trade(self, price: int, size: int, aggressor_is_buy: bool, now_ns: int) -> None:
        """An external trade: it takes liquidity from the engine's book as the aggressor did."""
        self.stats.trades += 1
        tx = CreateOrderTx(market_index=self._market_id, client_order_index=0, base_amount=size, price=price,
                           is_ask=not aggressor_is_buy, order_type=OrderType.LIMIT,
                           time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL)
        self._send(self._taker, now_ns, tx)

    # ---- the queue ------------------------------------------------------------------------------------------

    def _grow(self, is_ask: bool, price: int, extra: int, last: Order | None, now_ns: int) -> None:
        if last is not None and last.account_index == self._maker.index:  # already at the back: grow it there
            self._modify(last, last.remaining + extra, now_ns)
            return
        self.stats.engine_txs += 1
        result = self._orders.create(now_ns, is_ask, price, extra, now_ns // 1_000_000 + ORDER_EXPIRY_MS)
        if type(result) is not int:
            self._count(result)

    def _shrink(self, cut: int, queue: list, now_ns: int) -> None:
        mine = self._maker.index
        first_other = next((i for i, o in enumerate(queue) if o.account_index != mine), len(queue))
        ahead = [o for o in queue[:first_other] if o.account_index == mine]
        behind = [o for o in queue[first_other:] if o.account_index == mine]
        if not behind or not ahead or self._model == RISK_AVERSE:
            from_behind = min(cut, sum(o.remaining for o in behind))
        else:
            a, b = sum(o.remaining for o in ahead), sum(o.remaining for o in behind)
            fa, fb = a ** self._power, b ** self._power
            from_behind = min(b, max(cut - a, round(cut * fb / (fa + fb))))
        self._take(list(reversed(behind)), from_behind, now_ns)
        self._take(list(reversed(ahead)), cut - from_behind, now_ns)

    def _take(self, orders: list, amount: int, now_ns: int) -> None:
        """Take ``amount`` lots from ``orders`` (in the order given): shrink in place (priority kept) or cancel."""
        for order in orders:
            if amount <= 0:
                return
            cut = min(amount, order.remaining)
            amount -= cut
            self._modify(order, order.remaining - cut, now_ns)  # 0: a cancel

    def _modify(self, order, size: int, now_ns: int) -> None:
        """A ModifyOrder of the maker's order to ``size`` at its price (a CancelOrder when 0)."""
        self.stats.engine_txs += 1
        result = self._resize(now_ns, order, size)
        if type(result) is not int:  # an ErrorCode (an IntEnum), not an order index
            self._count(result)

    def _send(self, account: _Account, now_ns: int, tx: CreateOrderTx) -> None:
        self.stats.engine_txs += 1
        self._count(self._engine.submit_exempt(now_ns, account.index, MIRROR_KEY_INDEX, tx))

    def _count(self, result: int | ErrorCode) -> None:
        if isinstance(result, ErrorCode):
            self.stats.rejected += 1
            codes = self.stats.rejection_codes
            codes[int(result)] = codes.get(int(result), 0) + 1
