# The simulated Lighter venue's matching engine and accounts: the public entry point.
# Rules: pure and deterministic. Every call that depends on time takes `now_ns` explicitly; no clocks,
# randomness, I/O or asyncio. Integers in venue units throughout (price ticks, size lots, micro-USDC).
# Transactions execute synchronously: a create is reported `open`/`filled`/`canceled-*` at once
# (`in-progress` is never reported). Business rejections leave the nonce, quota and book untouched.
# The one exception to "each transaction's events are in the outbox when it returns": `exempt_book`'s
# transactions (a mirrored book's, level changes only) leave them to the engine's next operation of any other
# kind, as one coalesced run (sim.exempt_orders).
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

from sim.account_txs import plan_update_leverage, plan_update_margin, plan_withdraw
from sim.accounts import Account, ApiKey
from sim.book import OrderBook
from sim.engine_queries import account_snapshot
from sim.engine_state import EngineState
from sim.engine_types import (
    QUOTA_TX_TYPES,
    SKIP_NONCE_LIMIT,
    CancelAllOrdersTx,
    CancelOrderTx,
    CreateOrderTx,
    EngineError,
    ErrorCode,
    ModifyOrderTx,
    Tier,
    TimeInForce,
    Tx,
    TxMeta,
    TxOutcome,
    TxResult,
    TxType,
    UpdateLeverageTx,
    UpdateMarginTx,
    WithdrawTx,
)
from sim.engine_views import AccountSnapshot, ApiKeyView, Event, OrderView, Trade
from sim.exempt_orders import ExemptBook, resize_in_place
from sim.limits import QuotaCharge, SendLimits
from sim.markets import DEFAULT_MARKETS, MarketSpec, markets_by_id
from sim.order_txs import (
    OrderScheduler,
    Plan,
    plan_cancel,
    plan_cancel_all,
    plan_create,
    plan_modify,
    resolve_live_order,
    run_due,
)
from sim.orders import Order

MAX_API_KEY_INDEX = 254
TIER_COOLDOWN_NS = 24 * 3600 * 1_000_000_000
# Reported on the free transaction of each 15 s window; the venue's exact success texts are unconfirmed.
FREE_TX_MESSAGE = "{\"ratelimit\": \"didn't use volume quota\"}"


class Engine:
    """Order books of all markets plus the accounts trading on them.

    Transactions (`create_order`, `modify_order`, `cancel_order`, `cancel_all_orders`, `update_leverage`,
    `update_margin`, `withdraw`, or `submit` for any of them) run these checks in order, the first
    failure deciding the result:
      1. account (21100) and API key (21109) exist;
      2. the rolling sendTx limit of the tier (standard 60/min, premium 4000/min) → RATE_LIMITED 23000;
      3. the nonce (21104): `nonce == next_nonce`, or with skip-nonce `next_nonce <= nonce < 2^47 - 1`;
      4. premium volume quota, for quota-consuming types only (create, modify): free if 15 s passed
         since the last free transaction (reply without `volume_quota_remaining`), else costs 1; quota 0
         and no free slot → RATE_LIMITED 23000. Other premium replies report the quota without using it.
         Quota is earned on fills: +1 per $7 of volume, the remainder carried exactly;
      5. business validation of the transaction (21602, 21701, 21702, 21706, 21711, 21727, 21728, ...).
    A request that fails at step 2 or later still counts against the rate limit. Only an accepted
    transaction consumes the nonce and the quota. Outcomes decided at matching time (post-only cross,
    margin, reduce-only, IOC remainder, self-trade) are order statuses on an accepted transaction.

    Every transaction first runs `expire(now_ns)`, so time-driven cancels happen in order.
    """

    def __init__(self, markets: Iterable[MarketSpec] = DEFAULT_MARKETS, *, first_account_index: int = 1,
                 history_limit: int = 1000) -> None:
        """`history_limit` bounds recent trades per market and inactive orders per account."""
        self._state = EngineState(markets_by_id(markets), history_limit)
        self._scheduler = OrderScheduler()
        self._next_account_index = first_account_index
        self._limits_by_l1: dict[str, SendLimits] = {}
        self._handlers: dict[type, Callable[[int, TxMeta, Any], TxResult]] = {
            CreateOrderTx: self.create_order,
            ModifyOrderTx: self.modify_order,
            CancelOrderTx: self.cancel_order,
            CancelAllOrdersTx: self.cancel_all_orders,
            UpdateLeverageTx: self.update_leverage,
            UpdateMarginTx: self.update_margin,
            WithdrawTx: self.withdraw,
        }

    # ---- markets -------------------------------------------------------------------------------------

    @property
    def markets(self) -> dict[int, MarketSpec]:
        """Market specs by market id (a copy)."""
        return dict(self._state.markets)

    @property
    def height(self) -> int:
        """Block height: +1 per accepted transaction and per `expire` call that changed something."""
        return self._state.height

    # ---- accounts and keys ---------------------------------------------------------------------------

    def create_account(self, collateral: int, tier: Tier | str = Tier.STANDARD, l1_address: str | None = None,
                       *, exempt_from_limits: bool = False, publish_orders: bool = True) -> int:
        """Fund a new account with `collateral` micro-USDC; returns its account index.

        Accounts sharing an `l1_address` share the premium volume quota and the sendTx rate limit. Without
        one, a unique address is derived from the index. `exempt_from_limits` turns off the rate limit and
        the volume quota (for the synthetic market's own account, which sends tens of orders a second).
        `publish_orders=False` leaves the account's orders out of the event outbox (no `OrderUpdate`; its
        trades and account updates are still published): for a mirrored external book, whose thousands of
        orders no client follows.
        """
        tier = Tier(tier)
        if collateral < 0:
            raise ValueError("collateral must be >= 0")
        index = self._next_account_index
        address = (l1_address or f"0x{index:040x}").lower()
        limits = self._limits_by_l1.get(address)
        if limits is None:
            limits = self._limits_by_l1[address] = SendLimits(tier, exempt=exempt_from_limits)
        elif limits.tier is not tier or limits.exempt != exempt_from_limits:
            raise ValueError(f"accounts of {address} must share tier and limit exemption")
        self._next_account_index += 1
        self._state.accounts[index] = Account(index=index, l1_address=address, limits=limits,
                                              collateral=collateral)
        if not publish_orders:
            self._state.unpublished_accounts.add(index)
        return index

    def _account(self, account_index: int) -> Account:
        account = self._state.accounts.get(account_index)
        if account is None:
            raise EngineError(ErrorCode.ACCOUNT_NOT_FOUND, str(account_index))
        return account

    def register_api_key(self, account_index: int, api_key_index: int, public_key_hex: str) -> None:
        """Add or replace an API key (public key as hex, with or without 0x; stored lowercase, no 0x).

        A new key's next nonce is 0; replacing a key keeps its nonce sequence.
        """
        account = self._account(account_index)
        if not 0 <= api_key_index <= MAX_API_KEY_INDEX:
            raise ValueError(f"api key index out of range: {api_key_index}")
        public_key = public_key_hex.lower().removeprefix("0x")
        int(public_key, 16)  # must be hex
        existing = account.api_keys.get(api_key_index)
        if existing is None:
            account.api_keys[api_key_index] = ApiKey(public_key)
        else:
            existing.public_key = public_key

    def api_key(self, account_index: int, api_key_index: int) -> ApiKeyView | None:
        account = self._state.accounts.get(account_index)
        key = account.api_keys.get(api_key_index) if account is not None else None
        if key is None:
            return None
        return ApiKeyView(account_index, api_key_index, key.public_key, key.next_nonce)

    def api_keys(self, account_index: int) -> list[ApiKeyView]:
        """All keys of the account, by key index; empty if the account is unknown."""
        account = self._state.accounts.get(account_index)
        if account is None:
            return []
        return [ApiKeyView(account_index, i, k.public_key, k.next_nonce) for i, k in sorted(account.api_keys.items())]

    def next_nonce(self, account_index: int, api_key_index: int) -> int:
        """Next nonce the venue expects for (account, key). Raises EngineError(21109) for unknown keys."""
        key = self._account(account_index).api_keys.get(api_key_index)
        if key is None:
            raise EngineError(ErrorCode.API_KEY_NOT_FOUND, f"{account_index}/{api_key_index}")
        return key.next_nonce

    def has_account(self, account_index: int) -> bool:
        return account_index in self._state.accounts

    def accounts_by_l1_address(self, l1_address: str) -> list[int]:
        """Account indexes registered under an L1 address, smallest (the master) first."""
        address = l1_address.lower()
        return sorted(i for i, a in self._state.accounts.items() if a.l1_address == address)

    def set_tier(self, now_ns: int, account_index: int, tier: Tier | str) -> int:
        """changeAccountTier: returns 200 or the venue code (62003 same tier, 62004 positions, 62005
        orders, 62006 less than 24 h since the last change). Applies to every account of the L1 address."""
        account = self._account(account_index)
        tier = Tier(tier)
        if account.tier is tier:
            return ErrorCode.ALREADY_IN_TIER
        if any(p.size for p in account.positions.values()):
            return ErrorCode.TIER_CHANGE_OPEN_POSITIONS
        if account.live_orders:
            return ErrorCode.TIER_CHANGE_OPEN_ORDERS
        if account.last_tier_change_ns is not None and now_ns - account.last_tier_change_ns < TIER_COOLDOWN_NS:
            return ErrorCode.TIER_CHANGE_TOO_FREQUENT
        account.limits.set_tier(tier)
        account.last_tier_change_ns = now_ns
        self._state.note_account(account_index)
        self._state.flush()
        return 200

    def deposit(self, account_index: int, amount: int) -> None:
        """Add micro-USDC collateral (control API; not a transaction)."""
        if amount <= 0:
            raise ValueError("deposit must be > 0")
        self._account(account_index).collateral += amount
        self._state.note_account(account_index)
        self._state.flush()

    # ---- transactions --------------------------------------------------------------------------------

    def submit(self, now_ns: int, meta: TxMeta, tx: Tx) -> TxResult:
        """Dispatch any transaction by its argument type."""
        handler = self._handlers.get(type(tx))
        if handler is None:
            return TxResult.rejected(ErrorCode.UNSUPPORTED_TX_TYPE)
        return handler(now_ns, meta, tx)

    def create_order(self, now_ns: int, meta: TxMeta, tx: CreateOrderTx) -> TxResult:
        """CreateOrder (14). LIMIT with GTT (expiry 5 min .. 30 days ahead), POST_ONLY or IOC (expiry 0);
        MARKET with IOC and expiry 0, `price` being the worst acceptable fill price. Stop/TP/TWAP types
        are rejected (21501).

        Matching outcomes: post-only that would cross → `canceled-post-only`; IOC remainder →
        `canceled` (MARKET: `canceled-too-much-slippage` when stopped by its price,
        `canceled-not-enough-liquidity` when the book ran out); reduce-only that cannot reduce →
        `canceled-reduce-only`; failed initial-margin check → `canceled-margin-not-allowed`; self-cross
        handled by `self_trade_behavior` (default: the resting order ends `canceled-self-trade`).
        `TxResult.order_index` is the new exchange order index.
        """
        is_taker = tx.time_in_force != TimeInForce.POST_ONLY
        return self._run(now_ns, meta, TxType.CREATE_ORDER, is_taker,
                         lambda account: plan_create(self._state, self._scheduler, account, meta, tx, now_ns))

    def modify_order(self, now_ns: int, meta: TxMeta, tx: ModifyOrderTx) -> TxResult:
        """ModifyOrder (17): new price and new remaining size of a resting order of this account.

        Same price and a smaller size keep time priority; any price change or a size increase sends the
        order to the back of its (new) level, and a new price may cross (post-only then ends
        `canceled-post-only`). A target that is not live → 21715; another account's → 21707.
        """
        return self._run(now_ns, meta, TxType.MODIFY_ORDER, True,
                         lambda account: plan_modify(self._state, self._scheduler, account, tx, now_ns))

    def cancel_order(self, now_ns: int, meta: TxMeta, tx: CancelOrderTx) -> TxResult:
        """CancelOrder (15) by client or exchange index; the order ends `canceled`. Not live → 21600."""
        return self._run(now_ns, meta, TxType.CANCEL_ORDER, False,
                         lambda account: plan_cancel(self._state, account, tx, now_ns))

    def cancel_all_orders(self, now_ns: int, meta: TxMeta, tx: CancelAllOrdersTx) -> TxResult:
        """CancelAllOrders (16). IMMEDIATE: cancel all live orders (or one market's); SCHEDULED: cancel
        everything at `time_ms` (5 min .. 15 days ahead, else 21711), replacing any earlier schedule;
        ABORT: drop the schedule."""
        return self._run(now_ns, meta, TxType.CANCEL_ALL_ORDERS, False,
                         lambda account: plan_cancel_all(self._state, self._scheduler, account, tx, now_ns))

    def update_leverage(self, now_ns: int, meta: TxMeta, tx: UpdateLeverageTx) -> TxResult:
        """UpdateLeverage (20): initial margin fraction (min_initial_margin_fraction .. 10000, else 21501)
        and margin mode for (account, market). Rejected with 21739 if the open position and orders would
        no longer meet initial margin."""
        return self._run(now_ns, meta, TxType.UPDATE_LEVERAGE, False,
                         lambda account: plan_update_leverage(self._state, account, tx))

    def update_margin(self, now_ns: int, meta: TxMeta, tx: UpdateMarginTx) -> TxResult:
        """UpdateMargin (29): move collateral into/out of a market's isolated allocation (bookkeeping);
        more than available (add) or allocated (remove) → 21301."""
        return self._run(now_ns, meta, TxType.UPDATE_MARGIN, False,
                         lambda account: plan_update_margin(self._state, account, tx))

    def withdraw(self, now_ns: int, meta: TxMeta, tx: WithdrawTx) -> TxResult:
        """Withdraw (13) USDC, limited to the available balance (21301)."""
        return self._run(now_ns, meta, TxType.WITHDRAW, False,
                         lambda account: plan_withdraw(self._state, account, tx))

    def _run(self, now_ns: int, meta: TxMeta, tx_type: TxType, is_taker: bool,
             plan: Callable[[Account], Plan]) -> TxResult:
        """The common transaction pipeline (see the class docstring for the order of checks)."""
        self.expire(now_ns)
        account = self._state.accounts.get(meta.account_index)
        if account is None:
            return TxResult.rejected(ErrorCode.ACCOUNT_NOT_FOUND)
        key = account.api_keys.get(meta.api_key_index)
        if key is None:
            return TxResult.rejected(ErrorCode.API_KEY_NOT_FOUND)
        limits = account.limits
        if not limits.admit(now_ns):
            return TxResult.rejected(ErrorCode.TOO_MANY_REQUESTS)
        if not _nonce_ok(key.next_nonce, meta):
            return TxResult.rejected(ErrorCode.INVALID_NONCE)
        charge: QuotaCharge | None = None
        if limits.uses_quota and tx_type in QUOTA_TX_TYPES:
            charge = limits.quota.peek_charge(now_ns)
            if charge is QuotaCharge.EXHAUSTED:
                return TxResult.rejected(ErrorCode.TOO_MANY_REQUESTS)
        outcome = plan(account)
        if isinstance(outcome, ErrorCode):
            return TxResult.rejected(outcome)

        key.next_nonce = meta.nonce + 1
        if charge is not None:
            limits.quota.commit(charge, now_ns)
        state = self._state
        state.height += 1
        tx_hash = _tx_hash(state.height, meta)
        order_index = outcome(tx_hash)
        state.flush()
        reports_quota = limits.uses_quota and charge is not QuotaCharge.FREE
        now_ms = now_ns // 1_000_000
        return TxResult(
            outcome=TxOutcome.ACCEPTED,
            code=200,
            message=FREE_TX_MESSAGE if charge is QuotaCharge.FREE else "",
            tx_hash=tx_hash,
            predicted_execution_time_ms=now_ms + venue_latency_ms(account.tier, is_taker),
            volume_quota_remaining=limits.quota.remaining if reports_quota else None,
            order_index=order_index,
        )

    def submit_exempt(self, now_ns: int, account_index: int, api_key_index: int,
                      tx: CreateOrderTx | ModifyOrderTx | CancelOrderTx) -> int | ErrorCode:
        """An order transaction of an account exempt from limits (a mirrored external book), signed with the
        key's next nonce: the same checks, state changes and events as `submit`, without building the reply.
        Returns the order index, or the ErrorCode `submit` would reject it with. The tx hash (it only names
        trades) is computed only when the order may trade. Raises ValueError for an account that is not exempt.
        """
        self.expire(now_ns)
        state = self._state
        account, key = self._exempt_key(account_index, api_key_index, "submit_exempt")
        meta = TxMeta(account_index, api_key_index, key.next_nonce)
        if type(tx) is ModifyOrderTx:
            outcome = plan_modify(state, self._scheduler, account, tx, now_ns)
        elif type(tx) is CancelOrderTx:
            outcome = plan_cancel(state, account, tx, now_ns)
        elif type(tx) is CreateOrderTx:
            outcome = plan_create(state, self._scheduler, account, meta, tx, now_ns)
        else:
            raise TypeError(f"submit_exempt: not an order transaction: {type(tx).__name__}")
        if isinstance(outcome, ErrorCode):
            return outcome
        may_trade = False
        if type(tx) is CreateOrderTx:
            may_trade = state.books[tx.market_index].crosses(tx.is_ask, tx.price)
        elif type(tx) is ModifyOrderTx:
            order = resolve_live_order(state, account, tx.market_index, tx.index, ErrorCode.NOT_ACTIVE_ORDER)
            may_trade = isinstance(order, ErrorCode) or state.books[tx.market_index].crosses(order.is_ask, tx.price)
        key.next_nonce = meta.nonce + 1
        state.height += 1
        tx_hash = _tx_hash(state.height, meta) if may_trade else ""
        order_index = outcome(tx_hash)
        state.flush()
        assert order_index is not None
        return order_index

    def resize_exempt(self, now_ns: int, account_index: int, api_key_index: int, market_id: int, order_index: int,
                      price: int, size: int) -> int | ErrorCode:
        """`submit_exempt` of ModifyOrderTx(market_id, order_index, size, price), or of CancelOrderTx when `size`
        is 0, with the same outcome; a resting order keeping its price is resized in place (sim.exempt_orders),
        without the transaction pipeline's objects."""
        self.expire(now_ns)
        state = self._state
        account, key = self._exempt_key(account_index, api_key_index, "resize_exempt")
        order = state.live_orders.get(order_index)
        if order is not None and order.account_index == account_index and order.market_index == market_id and \
                order.price == price and resize_in_place(state, account, key, order, size, now_ns):
            return order_index
        tx = CancelOrderTx(market_id, order_index) if size == 0 else ModifyOrderTx(market_id, order_index, size, price)
        return self.submit_exempt(now_ns, account_index, api_key_index, tx)

    def exempt_resizer(self, account_index: int, api_key_index: int) -> Callable[[int, Order, int], int | ErrorCode]:
        """``resize(now_ns, order, size)``: `resize_exempt` of a live order of this exempt account at its own
        price, for a caller that holds the order: the same outcome, without looking the account, the key and the
        order up every time, each closed as its own transaction (the mirror now uses `exempt_book`; the tests compare
        the two)."""
        state = self._state
        account, key = self._exempt_key(account_index, api_key_index, "exempt_resizer")
        scheduler = self._scheduler
        live = state.live_orders

        def resize(now_ns: int, order: Order, size: int) -> int | ErrorCode:
            if scheduler.has_due(now_ns // 1_000_000):
                self.expire(now_ns)
            if order.account_index != account_index:
                raise ValueError(f"exempt_resizer: order {order.order_index} is not account {account_index}'s")
            if live.get(order.order_index) is order and \
                    resize_in_place(state, account, key, order, size, now_ns):
                return order.order_index
            return self.resize_exempt(now_ns, account_index, api_key_index, order.market_index, order.order_index,
                                      order.price, size)

        return resize

    def exempt_book(self, account_index: int, api_key_index: int, market_id: int) -> ExemptBook:
        """Resizes and creates of this exempt account's orders on one market with the outcome of `resize_exempt`
        and `submit_exempt`, each transaction's book level changes left to the engine's next operation of any
        other kind (one coalesced run of level changes in the outbox: sim.exempt_orders). For an account created
        with `publish_orders=False` (ValueError for any other)."""
        account, key = self._exempt_key(account_index, api_key_index, "exempt_book")
        self._book(market_id)
        return ExemptBook(self, self._state, account, key, api_key_index, market_id)

    def _exempt_key(self, account_index: int, api_key_index: int, caller: str) -> tuple[Account, ApiKey]:
        """The account and key of an account exempt from limits; ValueError for any other."""
        account = self._state.accounts.get(account_index)
        key = account.api_keys.get(api_key_index) if account is not None else None
        if account is None or key is None or not account.limits.exempt:
            raise ValueError(f"{caller}: {account_index}/{api_key_index} is not an exempt account's key")
        return account, key

    # ---- time ----------------------------------------------------------------------------------------

    def expire(self, now_ns: int) -> None:
        """Cancel orders whose expiry passed (`canceled-expired`) and run due scheduled cancel-alls. Every
        transaction runs it first: it closes the transactions an `ExemptBook` left open."""
        if self._state.levels_deferred:
            self._state.flush()
        if self._scheduler.has_due(now_ns // 1_000_000) and run_due(self._state, self._scheduler, now_ns):
            self._state.flush()

    # ---- events --------------------------------------------------------------------------------------

    def take_events(self) -> list[Event]:
        """Drain the outbox, oldest first. Per transaction: trades in execution order, then one
        OrderUpdate per order it touched (final state), then the coalesced book level changes, then one
        AccountUpdate per account whose collateral, positions or settings changed (an `ExemptBook`'s
        transactions: their level changes alone, coalesced over a run of them)."""
        if self._state.levels_deferred:
            self._state.flush()
        events, self._state.outbox = self._state.outbox, []
        return events

    # ---- queries -------------------------------------------------------------------------------------

    def book_levels(self, market_id: int, depth: int | None = None,
                    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) as [(price_ticks, total_lots)], best first, at most `depth` levels per side."""
        book = self._book(market_id)
        return book.bids.levels(depth), book.asks.levels(depth)

    def book_orders(self, market_id: int, limit: int | None = None,
                    ) -> tuple[list[OrderView], list[OrderView]]:
        """(bids, asks) resting orders in priority order, at most `limit` per side (orderBookOrders)."""
        book = self._book(market_id)
        return [o.view() for o in book.bids.orders(limit)], [o.view() for o in book.asks.orders(limit)]

    def best_bid_ask(self, market_id: int) -> tuple[int | None, int | None]:
        book = self._book(market_id)
        return book.bids.best_price(), book.asks.best_price()

    def mark_price(self, market_id: int) -> int | None:
        """Last trade price; before the first trade the mid (rounded down), else the only side; else None."""
        self._book(market_id)
        return self._state.mark_price(market_id)

    def _book(self, market_id: int) -> OrderBook:
        book = self._state.books.get(market_id)
        if book is None:
            raise EngineError(ErrorCode.INVALID_MARKET_INDEX, str(market_id))
        return book

    def order(self, order_index: int) -> OrderView | None:
        """Any order, live or inactive (inactive ones while still in history)."""
        order = self._state.live_orders.get(order_index) or self._state.recent_inactive.get(order_index)
        return order.view() if order is not None else None

    def orders(self, account_index: int, market_id: int | None = None) -> list[OrderView]:
        """Live orders of the account, oldest first."""
        account = self._account(account_index)
        return [o.view() for o in account.live_orders.values() if market_id is None or o.market_index == market_id]

    def inactive_orders(self, account_index: int, market_id: int | None = None, limit: int = 100,
                        ) -> list[OrderView]:
        """Terminal orders of the account, most recent first."""
        result: list[OrderView] = []
        for order in reversed(self._account(account_index).inactive):
            if len(result) >= limit:
                break
            if market_id is None or order.market_index == market_id:
                result.append(order.view())
        return result

    def orders_by_client_index(self, account_index: int, client_order_indexes: Iterable[int],
                               ) -> list[OrderView]:
        """Live or recent orders carrying these client order indexes (accountOrders), live ones first."""
        wanted = {i for i in client_order_indexes if i}
        account = self._account(account_index)
        live = [o for o in account.live_orders.values() if o.client_order_index in wanted]
        inactive = [o for o in reversed(account.inactive) if o.client_order_index in wanted]
        return [o.view() for o in live + inactive]

    def account(self, account_index: int) -> AccountSnapshot:
        """Snapshot valued at `mark_price` of each market. Raises EngineError(21100) if unknown."""
        return account_snapshot(self._state, self._account(account_index))

    def recent_trades(self, market_id: int, n: int = 100) -> list[Trade]:
        """Most recent trades of the market, newest first."""
        self._book(market_id)
        return list(islice(reversed(self._state.trades[market_id]), n))

    def account_trades(self, account_index: int, n: int = 100) -> list[Trade]:
        """Most recent trades the account took part in, newest first."""
        return list(islice(reversed(self._state.account_trades.get(account_index, ())), n))


def _nonce_ok(expected: int, meta: TxMeta) -> bool:
    if meta.skip_nonce:
        return expected <= meta.nonce < SKIP_NONCE_LIMIT
    return meta.nonce == expected


def _tx_hash(height: int, meta: TxMeta) -> str:
    seed = f"{height}:{meta.account_index}:{meta.api_key_index}:{meta.nonce}".encode()
    return hashlib.blake2b(seed, digest_size=40).hexdigest()


def venue_latency_ms(tier: Tier, is_taker: bool) -> int:
    """Venue latency by tier (lighter-api.md §7.6): maker/cancel vs taker (premium with no staked LIT)."""
    if tier is Tier.PREMIUM:
        return 200 if is_taker else 0
    return 300 if is_taker else 200
