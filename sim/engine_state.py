# Shared mutable state of the simulated engine and the bookkeeping every operation goes through:
# resting and retiring orders, marks, margin requirements, and the per-transaction event outbox.
# Rules: pure, no clock. All changes to an order's liveness go through `rest`/`retire`/`shrink_resting`
# so that the book, the account tallies and the event outbox stay consistent.
from __future__ import annotations

from collections import OrderedDict, deque

from sim.accounts import Account, margin_micro
from sim.book import OrderBook
from sim.engine_types import OrderStatus
from sim.engine_views import AccountUpdate, Event, OrderUpdate, Trade, TradeEvent
from sim.markets import MarketSpec
from sim.orders import Order, exchange_order_index

RECENT_INACTIVE_LIMIT = 100_000  # inactive orders kept findable by order index


class EngineState:
    def __init__(self, markets: dict[int, MarketSpec], history_limit: int) -> None:
        self.markets = markets
        self.history_limit = history_limit
        self.books = {market_id: OrderBook(market_id) for market_id in markets}
        self.accounts: dict[int, Account] = {}
        self.live_orders: dict[int, Order] = {}
        self.recent_inactive: OrderedDict[int, Order] = OrderedDict()
        self.trades: dict[int, deque[Trade]] = {m: deque(maxlen=history_limit) for m in markets}
        self.account_trades: dict[int, deque[Trade]] = {}
        self.last_trade_price: dict[int, int] = {}
        self.height = 0
        self.order_sequence = 0
        self.trade_sequence = 0
        self.outbox: list[Event] = []
        self._touched_orders: dict[int, Order] = {}
        self.unpublished_accounts: set[int] = set()  # accounts whose orders get no OrderUpdate events
        self._touched_accounts: dict[int, dict[int, None]] = {}
        # transactions of `sim.exempt_orders.ExemptBook` left open (their book level changes not yet in the
        # outbox): `flush` closes them, before the engine's next operation of any other kind
        self.levels_deferred = False

    # ---- marks and margin ---------------------------------------------------------------------------

    def mark_price(self, market_id: int) -> int | None:
        last = self.last_trade_price.get(market_id)
        if last is not None:
            return last
        book = self.books[market_id]
        mid = book.mid_price()
        if mid is not None:
            return mid
        return book.bids.best_price() or book.asks.best_price()

    def initial_margin(self, account: Account, *, market_id: int | None = None, extra_bid: int = 0,
                       extra_ask: int = 0, price_hint: int | None = None, imf_override: int | None = None,
                       ) -> int:
        """Initial margin of positions and resting orders (worst side per market), micro-USDC.

        `extra_*` add a prospective order on `market_id`; `price_hint` values that market when it has no
        mark yet; `imf_override` replaces that market's initial margin fraction.
        """
        total = 0
        for pos in account.positions.values():
            is_target = pos.market_id == market_id
            lots = pos.worst_case_lots(extra_bid, extra_ask) if is_target else pos.worst_case_lots()
            if lots == 0:
                continue
            mark = self.mark_price(pos.market_id)
            if mark is None:
                mark = price_hint if is_target and price_hint is not None else 0
            imf = imf_override if is_target and imf_override is not None else pos.initial_margin_fraction
            total += margin_micro(self.markets[pos.market_id].quote_micro(mark, lots), imf)
        return total

    def maintenance_margin(self, account: Account) -> int:
        total = 0
        for pos in account.positions.values():
            mark = self.mark_price(pos.market_id)
            if pos.size and mark is not None:
                spec = self.markets[pos.market_id]
                total += margin_micro(spec.quote_micro(mark, abs(pos.size)), spec.maintenance_margin_fraction)
        return total

    def unrealized_pnl(self, account: Account) -> int:
        total = 0
        for market_id, pos in account.positions.items():
            if pos.size:  # a flat position has none (and needs no mark)
                total += pos.unrealized_pnl(self.markets[market_id], self.mark_price(market_id))
        return total

    def equity(self, account: Account) -> int:
        return account.collateral + self.unrealized_pnl(account)

    # ---- order lifecycle ----------------------------------------------------------------------------

    def next_order_index(self, is_ask: bool) -> int:
        self.order_sequence += 1
        return exchange_order_index(self.order_sequence, is_ask)

    def rest(self, order: Order, now_ns: int) -> None:
        """Put a live order into its book (at the back of its level) and the account's live set."""
        account = self.accounts[order.account_index]
        order.status = OrderStatus.OPEN
        self.books[order.market_index].add(order)
        self.live_orders[order.order_index] = order
        account.live_orders[order.order_index] = order
        if order.client_order_index:
            account.client_orders[order.client_order_index] = order.order_index
        account.track_resting(order, order.remaining, 1)
        self.note_order(order, now_ns)

    def unrest(self, order: Order) -> None:
        """Take a resting order out of the book and the tallies, leaving its status untouched."""
        account = self.accounts[order.account_index]
        self.books[order.market_index].remove(order)
        del self.live_orders[order.order_index]
        del account.live_orders[order.order_index]
        if order.client_order_index and account.client_orders.get(order.client_order_index) == order.order_index:
            del account.client_orders[order.client_order_index]
        account.track_resting(order, -order.remaining, -1)

    def shrink_resting(self, order: Order, new_remaining: int) -> None:
        """Lower a resting order's remaining size in place, keeping its priority (new_remaining > 0)."""
        account = self.accounts[order.account_index]
        account.track_resting(order, new_remaining - order.remaining, 0)
        self.books[order.market_index].shrink(order, new_remaining)

    def retire(self, order: Order, status: OrderStatus, now_ns: int) -> None:
        """End an order (resting or still incoming) with a terminal status; `remaining` is kept as the
        unfilled size (a filled order's is 0)."""
        if order.order_index in self.live_orders:
            self.unrest(order)
        order.status = status
        account = self.accounts[order.account_index]
        account.inactive.append(order)
        if len(account.inactive) > self.history_limit:
            account.inactive.popleft()
        self.recent_inactive[order.order_index] = order
        if len(self.recent_inactive) > RECENT_INACTIVE_LIMIT:
            self.recent_inactive.popitem(last=False)
        self.note_order(order, now_ns)

    # ---- outbox ---------------------------------------------------------------------------------------

    def note_order(self, order: Order, now_ns: int) -> None:
        order.touch(now_ns, self.height)
        if order.account_index not in self.unpublished_accounts:
            self._touched_orders[order.order_index] = order

    def note_account(self, account_index: int, market_id: int | None = None) -> None:
        markets = self._touched_accounts.setdefault(account_index, {})
        if market_id is not None:
            markets[market_id] = None

    def record_trade(self, trade: Trade) -> None:
        self.trades[trade.market_id].append(trade)
        self.last_trade_price[trade.market_id] = trade.price
        for account_index in {trade.ask_account_id, trade.bid_account_id}:
            history = self.account_trades.setdefault(account_index, deque(maxlen=self.history_limit))
            history.append(trade)
        self.outbox.append(TradeEvent(trade))

    def flush(self) -> None:
        """Close a transaction (and any left open before it): emit touched orders, changed book levels, then
        touched accounts."""
        self.levels_deferred = False
        if self._touched_orders:
            self.outbox.extend(OrderUpdate(order.view()) for order in self._touched_orders.values())
            self._touched_orders.clear()
        for book in self.books.values():
            if book.has_dirty_levels:
                self.outbox.extend(book.take_dirty_levels())
        if self._touched_accounts:
            self.outbox.extend(AccountUpdate(index, tuple(markets))
                               for index, markets in self._touched_accounts.items())
            self._touched_accounts.clear()

    @property
    def has_pending_changes(self) -> bool:
        return bool(self._touched_orders or self._touched_accounts)
