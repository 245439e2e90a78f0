# Accounts of the simulated Lighter engine: margin, PnL, fees by tier, volume quota, rate limit, nonces,
# and invariants under random order flow.
from __future__ import annotations

import random

import pytest
from sim_engine_support import KEY, SECOND, T0, Venue, eth, micro, new_venue, usd

from sim.engine_types import (
    CancelOrderTx,
    CreateOrderTx,
    ErrorCode,
    MarginMode,
    ModifyOrderTx,
    OrderType,
    Tier,
    TimeInForce,
    Tx,
    TxMeta,
    TxOutcome,
    UpdateLeverageTx,
    WithdrawTx,
)
from sim.engine_views import BookLevelChange, OrderUpdate, PositionView, TradeEvent

IOC = TimeInForce.IMMEDIATE_OR_CANCEL
POST_ONLY = TimeInForce.POST_ONLY


def _trade(venue: Venue, maker: int, taker: int, price: int, size: int, *, taker_buys: bool) -> None:
    venue.place(maker, price, size, ask=taker_buys)
    venue.place(taker, price, size, ask=not taker_buys, tif=IOC)


def _position(venue: Venue, account: int) -> PositionView:
    (position,) = [p for p in venue.engine.account(account).positions if p.market_id == 0]
    return position


# ---- margin ---------------------------------------------------------------------------------------


def test_initial_margin_check_cancels_orders_beyond_leverage() -> None:
    venue = new_venue()
    trader = venue.trader(collateral_usd=100)  # default 20x: $2000 of exposure
    first = venue.place(trader, usd(2000), eth(1), ask=False)
    assert venue.status(first) == "open"
    too_much = venue.place(trader, usd(2000), eth(0.01), ask=False)
    assert venue.status(too_much) == "canceled-margin-not-allowed"
    other_side = venue.place(trader, usd(2100), eth(1), ask=True)  # worst case stays one ETH
    assert venue.status(other_side) == "open"
    assert venue.engine.account(trader).available_balance == 0


def test_update_leverage_changes_the_requirement_and_is_checked() -> None:
    venue = new_venue()
    trader = venue.trader(collateral_usd=100)
    venue.place(trader, usd(2000), eth(1), ask=False)
    assert venue.send(trader, UpdateLeverageTx(0, 199)).code == ErrorCode.INVALID_TX_INFO  # above 50x
    assert venue.send(trader, UpdateLeverageTx(0, 10_000)).code == ErrorCode.NOT_ENOUGH_MARGIN  # 1x
    venue.ok(trader, UpdateLeverageTx(0, 200, MarginMode.ISOLATED))  # 50x
    snapshot = _position(venue, trader)
    assert (snapshot.initial_margin_fraction, snapshot.margin_mode) == (200, MarginMode.ISOLATED)
    assert venue.engine.account(trader).initial_margin_requirement == micro(40)
    more = venue.place(trader, usd(2000), eth(1), ask=False)
    assert venue.status(more) == "open"


def test_withdraw_is_limited_to_the_available_balance() -> None:
    venue = new_venue()
    trader = venue.trader(collateral_usd=1000)
    venue.place(trader, usd(2000), eth(1), ask=False)  # $100 of initial margin
    assert venue.send(trader, WithdrawTx(micro(900.01))).code == ErrorCode.NOT_ENOUGH_COLLATERAL
    venue.ok(trader, WithdrawTx(micro(900)))
    assert venue.engine.account(trader).collateral == micro(100)


# ---- PnL and fees -------------------------------------------------------------------------------------


def test_long_partial_close_then_flip_realizes_exact_pnl() -> None:
    venue = new_venue()
    trader, street, mover, other = venue.trader(), venue.trader(), venue.trader(), venue.trader()
    _trade(venue, street, trader, usd(2000), eth(1), taker_buys=True)
    _trade(venue, street, trader, usd(2100), eth(0.4), taker_buys=False)  # +0.4 × 100
    position = _position(venue, trader)
    assert (position.size, position.entry_quote, position.realized_pnl) == (eth(0.6), micro(1200), micro(40))
    _trade(venue, street, trader, usd(1900), eth(1), taker_buys=False)  # closes 0.6 at -100, opens short 0.4
    position = _position(venue, trader)
    assert (position.size, position.entry_quote, position.realized_pnl) == (eth(-0.4), micro(760), micro(-20))
    assert str(position.avg_entry_price) == "1900.000000"
    _trade(venue, mover, other, usd(1800), eth(0.1), taker_buys=True)  # moves the mark
    position = _position(venue, trader)
    assert (position.mark_price, position.unrealized_pnl, position.position_value) == (
        usd(1800), micro(40), micro(720))
    account = venue.engine.account(trader)
    assert account.collateral == micro(100_000 - 20)
    assert account.total_asset_value == micro(100_000 + 20)
    assert _position(venue, street).realized_pnl == micro(20)  # the other side of the same trades


def test_short_then_cover_at_a_lower_price_is_a_gain() -> None:
    venue = new_venue()
    trader, street = venue.trader(), venue.trader()
    _trade(venue, street, trader, usd(2000), eth(1), taker_buys=False)
    assert _position(venue, trader).size == eth(-1)
    _trade(venue, street, trader, usd(1950), eth(0.5), taker_buys=True)
    position = _position(venue, trader)
    assert (position.size, position.realized_pnl, position.unrealized_pnl) == (eth(-0.5), micro(25), micro(25))


def test_fees_by_tier_and_rounding() -> None:
    venue = new_venue()
    premium, standard = venue.trader(tier=Tier.PREMIUM), venue.trader()
    _trade(venue, premium, standard, usd(2000), eth(1), taker_buys=True)  # premium is the maker
    trade = venue.engine.recent_trades(0, 1)[0]
    assert (trade.maker_fee, trade.taker_fee, trade.maker_fee_paid, trade.taker_fee_paid) == (40, 0, 80_000, 0)
    _trade(venue, standard, premium, usd(2000), eth(1), taker_buys=False)  # premium is the taker
    trade = venue.engine.recent_trades(0, 1)[0]
    assert (trade.maker_fee, trade.taker_fee, trade.maker_fee_paid, trade.taker_fee_paid) == (0, 280, 0, 560_000)
    account = venue.engine.account(premium)
    assert (account.fees_paid, account.collateral) == (640_000, micro(100_000) - 640_000)
    assert venue.engine.account(standard).fees_paid == 0

    _trade(venue, standard, premium, 200_001, 51, taker_buys=True)  # notional 10.200051 USDC
    trade = venue.engine.recent_trades(0, 1)[0]
    assert trade.usd_amount == 10_200_051
    assert trade.taker_fee_paid == 2_857  # 2856.014 rounded up


# ---- volume quota and rate limits ------------------------------------------------------------------


def test_premium_quota_free_slot_costs_and_cancels() -> None:
    venue = new_venue()
    trader = venue.trader(tier=Tier.PREMIUM)
    tx = CreateOrderTx(0, 0, eth(1), usd(1000), False, time_in_force=POST_ONLY, order_expiry_ms=T0 // 10**6 + 10**6)
    free = venue.ok(trader, tx)
    assert free.volume_quota_remaining is None
    paid = venue.ok(trader, tx, T0 + 1 * SECOND)
    assert paid.volume_quota_remaining == 999
    assert venue.cancel(trader, paid.order_index or 0, T0 + 2 * SECOND).volume_quota_remaining == 999
    assert venue.modify(trader, free.order_index or 0, usd(1001), eth(1), T0 + 3 * SECOND).volume_quota_remaining == 998
    assert venue.ok(trader, tx, T0 + 15 * SECOND).volume_quota_remaining is None  # the next free slot
    assert venue.engine.account(trader).volume_quota_remaining == 998


def test_quota_is_earned_by_fill_volume_with_exact_carry() -> None:
    venue = new_venue()
    trader, street = venue.trader(tier=Tier.PREMIUM), venue.trader()
    venue.place(trader, usd(1000), eth(0.1), ask=False, tif=POST_ONLY)  # free slot
    before = venue.engine.account(trader).volume_quota_remaining
    assert before == 1000
    _trade(venue, trader, street, usd(2000), eth(1), taker_buys=False)  # $2000: +285, $5 carried
    assert venue.engine.account(trader).volume_quota_remaining == 1000 - 1 + 285
    _trade(venue, trader, street, usd(2000), eth(0.005), taker_buys=False)  # $10 + $5 carry: +2
    assert venue.engine.account(trader).volume_quota_remaining == 1000 - 2 + 287


def test_exhausted_quota_is_rate_limited_but_the_free_slot_and_cancels_still_work() -> None:
    venue = new_venue()
    trader = venue.trader(tier=Tier.PREMIUM, collateral_usd=10**9)
    tx = CreateOrderTx(0, 0, eth(1), usd(1000), False, time_in_force=POST_ONLY, order_expiry_ms=T0 // 10**6 + 10**6)
    btc_tx = CreateOrderTx(1, 0, 100, 500_000, False, time_in_force=POST_ONLY, order_expiry_ms=tx.order_expiry_ms)
    first = venue.ok(trader, tx)
    for i in range(1000):  # split over two markets: at most 1000 live orders per market
        last = venue.ok(trader, tx if i % 2 else btc_tx, T0 + SECOND)
    assert last.volume_quota_remaining == 0
    nonce = venue.engine.next_nonce(trader, KEY)
    refused = venue.send(trader, tx, T0 + 2 * SECOND)
    assert (refused.outcome, refused.http_status, refused.code, refused.message) == (
        TxOutcome.RATE_LIMITED, 429, 23000, "Too Many Requests!")
    assert venue.engine.next_nonce(trader, KEY) == nonce
    assert venue.cancel(trader, first.order_index or 0, T0 + 3 * SECOND).accepted
    assert venue.ok(trader, tx, T0 + 15 * SECOND).volume_quota_remaining is None


def test_accounts_of_one_l1_address_share_quota_and_rate_limit() -> None:
    venue = new_venue()
    master = venue.trader(tier=Tier.PREMIUM, l1_address="0xfeed")
    sub = venue.trader(tier=Tier.PREMIUM, l1_address="0xfeed")
    tx = CreateOrderTx(0, 0, eth(1), usd(1000), False, time_in_force=POST_ONLY, order_expiry_ms=T0 // 10**6 + 10**6)
    assert venue.ok(master, tx).volume_quota_remaining is None  # the shared free slot
    assert venue.ok(sub, tx).volume_quota_remaining == 999
    assert venue.ok(master, tx).volume_quota_remaining == 998


def test_standard_tier_allows_60_send_tx_per_rolling_minute() -> None:
    venue = new_venue()
    trader = venue.trader()
    tx = CreateOrderTx(0, 0, eth(1), usd(1000), False, time_in_force=POST_ONLY, order_expiry_ms=T0 // 10**6 + 10**6)
    for second in range(60):
        result = venue.ok(trader, tx, T0 + second * SECOND)
        assert result.volume_quota_remaining is None
    refused = venue.send(trader, tx, T0 + 59 * SECOND + SECOND // 2)
    assert (refused.http_status, refused.code) == (429, 23000)
    assert venue.ok(trader, tx, T0 + 60 * SECOND).accepted  # the request of T0 left the window


def test_rejected_requests_count_against_the_rate_limit() -> None:
    venue = new_venue()
    trader = venue.trader()
    cancel = CancelOrderTx(0, 99)
    for _ in range(60):
        assert venue.send(trader, cancel).code == ErrorCode.NOT_ACTIVE_LIMIT_ORDER
    assert venue.send(trader, cancel).code == ErrorCode.TOO_MANY_REQUESTS
    exempt = venue.trader(exempt_from_limits=True, tier=Tier.PREMIUM)
    for _ in range(200):
        assert venue.send(exempt, cancel).code == ErrorCode.NOT_ACTIVE_LIMIT_ORDER


# ---- nonces and keys ------------------------------------------------------------------------------


def test_nonce_must_be_next_per_key_and_is_consumed_only_on_acceptance() -> None:
    venue = new_venue()
    trader = venue.trader()
    engine = venue.engine
    engine.register_api_key(trader, 4, "CD" * 40)
    tx = CreateOrderTx(0, 0, eth(1), usd(1000), False, time_in_force=POST_ONLY, order_expiry_ms=T0 // 10**6 + 10**6)
    assert engine.next_nonce(trader, KEY) == 0
    wrong = engine.submit(T0, TxMeta(trader, KEY, 1), tx)
    assert (wrong.http_status, wrong.code, wrong.message) == (400, 21104, "invalid nonce")
    assert engine.submit(T0, TxMeta(trader, KEY, 0), tx).accepted
    assert engine.submit(T0, TxMeta(trader, KEY, 0), tx).code == ErrorCode.INVALID_NONCE  # replay
    assert engine.submit(T0, TxMeta(trader, 4, 0), tx).accepted  # keys are independent
    bad = CreateOrderTx(0, 0, 1, usd(1000), False, time_in_force=POST_ONLY, order_expiry_ms=T0 // 10**6 + 10**6)
    assert engine.submit(T0, TxMeta(trader, KEY, 1), bad).code == ErrorCode.INVALID_BASE_OR_QUOTE_AMOUNT
    assert engine.next_nonce(trader, KEY) == 1
    assert engine.submit(T0, TxMeta(trader, KEY, 10, skip_nonce=True), tx).accepted
    assert engine.next_nonce(trader, KEY) == 11
    assert engine.submit(T0, TxMeta(trader, KEY, 5, skip_nonce=True), tx).code == ErrorCode.INVALID_NONCE
    assert engine.submit(T0, TxMeta(trader, KEY, 2**47 - 1, skip_nonce=True), tx).code == ErrorCode.INVALID_NONCE
    assert [k.api_key_index for k in engine.api_keys(trader)] == [KEY, 4]
    assert engine.api_key(trader, 4).public_key == "cd" * 40  # type: ignore[union-attr]


def test_unknown_account_or_key() -> None:
    venue = new_venue()
    trader = venue.trader()
    tx = CancelOrderTx(0, 1)
    assert venue.engine.submit(T0, TxMeta(trader + 100, KEY, 0), tx).code == ErrorCode.ACCOUNT_NOT_FOUND
    assert venue.engine.submit(T0, TxMeta(trader, 9, 0), tx).code == ErrorCode.API_KEY_NOT_FOUND
    assert venue.engine.api_key(trader, 9) is None


def test_tier_change_rules() -> None:
    venue = new_venue()
    trader, street = venue.trader(), venue.trader()
    assert venue.engine.set_tier(T0, trader, "standard") == ErrorCode.ALREADY_IN_TIER
    order = venue.place(trader, usd(1000), eth(1), ask=False)
    assert venue.engine.set_tier(T0, trader, "premium") == ErrorCode.TIER_CHANGE_OPEN_ORDERS
    venue.cancel(trader, order)
    assert venue.engine.set_tier(T0, trader, "premium") == 200
    assert venue.engine.account(trader).tier is Tier.PREMIUM
    assert venue.engine.set_tier(T0 + SECOND, trader, "standard") == ErrorCode.TIER_CHANGE_TOO_FREQUENT
    _trade(venue, street, trader, usd(2000), eth(1), taker_buys=True)
    assert venue.engine.set_tier(T0 + 90_000 * SECOND, trader, "standard") == ErrorCode.TIER_CHANGE_OPEN_POSITIONS


# ---- invariants under random flow -------------------------------------------------------------------


def _random_tx(rng: random.Random, venue: Venue, trader: int, now: int) -> Tx | None:
    live = venue.engine.orders(trader)
    roll = rng.random()
    if roll < 0.08:
        return CancelOrderTx(0, rng.choice(live).order_index) if live else None
    if roll < 0.13:
        if not live:
            return None
        return ModifyOrderTx(0, rng.choice(live).order_index, rng.randint(60, 3000), usd(rng.randint(1995, 2005)))
    if roll < 0.16:
        return CreateOrderTx(0, 0, rng.randint(60, 3000), usd(rng.choice([1900, 2100])), rng.random() < 0.5,
                             order_type=OrderType.MARKET, time_in_force=IOC, reduce_only=rng.random() < 0.3)
    tif = rng.choice(list(TimeInForce))
    expiry = 0 if tif == IOC else now // 10**6 + rng.randint(5 * 60_000 + 1, 15 * 60_000)
    is_ask = rng.random() < 0.5
    dollars = rng.randint(1995, 2005)
    if rng.random() < 0.2:  # far from the mid: rests long enough to expire
        dollars = rng.randint(2010, 2050) if is_ask else rng.randint(1950, 1990)
    return CreateOrderTx(0, rng.randint(0, 40), rng.randint(60, 3000), usd(dollars), is_ask, time_in_force=tif,
                         reduce_only=rng.random() < 0.15, order_expiry_ms=expiry)


def _check_invariants(venue: Venue, traders: list[int], start_cash: int, replayed_levels: dict) -> None:
    bids, asks = venue.engine.book_levels(0)
    if bids and asks:
        assert bids[0][0] < asks[0][0]
    live = [o for t in traders for o in venue.engine.orders(t)]
    assert all(o.remaining_base_amount > 0 and o.status.value == "open" for o in live)
    by_level: dict[tuple[bool, int], int] = {}
    for o in live:
        by_level[(o.is_ask, o.price)] = by_level.get((o.is_ask, o.price), 0) + o.remaining_base_amount
    from_book = {(False, p): s for p, s in bids} | {(True, p): s for p, s in asks}
    assert by_level == from_book
    assert {k: v for k, v in replayed_levels.items() if v} == from_book  # the outbox rebuilds the book
    accounts = [venue.engine.account(t) for t in traders]
    assert sum(venue.position(t) for t in traders) == 0
    assert sum(a.collateral + a.fees_paid - a.realized_pnl for a in accounts) == start_cash
    for order in (o for t in traders for o in venue.engine.inactive_orders(t, limit=10_000)):
        assert order.filled_base_amount + order.remaining_base_amount == order.initial_base_amount


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_flow_keeps_book_positions_cash_and_outbox_consistent(seed: int) -> None:
    rng = random.Random(seed)
    venue = new_venue()
    traders = [venue.trader(tier=tier, exempt_from_limits=True) for tier in (Tier.STANDARD, Tier.PREMIUM)]
    traders.append(venue.trader(tier=Tier.PREMIUM, collateral_usd=100))  # margin-constrained
    start_cash = sum(venue.engine.account(t).collateral for t in traders)
    levels: dict[tuple[bool, int], int] = {}
    positions_from_trades = dict.fromkeys(traders, 0)
    outcomes: dict[object, int] = {}
    for step in range(1_500):
        now = T0 + step * 3 * SECOND
        trader = rng.choice(traders)
        tx = _random_tx(rng, venue, trader, now)
        if tx is not None:
            result = venue.send(trader, tx, now)
            outcomes[result.code] = outcomes.get(result.code, 0) + 1
        for event in venue.engine.take_events():
            if isinstance(event, BookLevelChange):
                levels[(event.is_ask, event.price)] = event.size
            elif isinstance(event, TradeEvent):
                positions_from_trades[event.trade.bid_account_id] += event.trade.size
                positions_from_trades[event.trade.ask_account_id] -= event.trade.size
            elif isinstance(event, OrderUpdate):
                outcomes[event.order.status.value] = outcomes.get(event.order.status.value, 0) + 1
        if step % 50 == 0:
            _check_invariants(venue, traders, start_cash, levels)
    _check_invariants(venue, traders, start_cash, levels)
    assert positions_from_trades == {t: venue.position(t) for t in traders}
    # the flow really exercised matching and the main terminal statuses
    assert len(venue.engine.recent_trades(0, 1000)) > 100
    for status in ("filled", "canceled", "canceled-post-only", "canceled-expired", "canceled-reduce-only",
                   "canceled-margin-not-allowed", "canceled-self-trade", "canceled-too-much-slippage"):
        assert outcomes.get(status, 0) > 0, (status, outcomes)


def test_same_inputs_give_the_same_outputs() -> None:
    def run() -> list[object]:
        rng = random.Random(5)
        venue = new_venue()
        traders = [venue.trader(exempt_from_limits=True) for _ in range(2)]
        results: list[object] = []
        for step in range(300):
            trader = rng.choice(traders)
            tx = _random_tx(rng, venue, trader, T0 + step * SECOND)
            if tx is not None:
                results.append(venue.send(trader, tx, T0 + step * SECOND))
            results.extend(venue.engine.take_events())
        return results

    assert run() == run()
