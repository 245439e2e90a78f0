"""flatten_plan: the decisions of closing a position, driven step by step with literal times (ns) and answers."""
from __future__ import annotations

import random

from lmm.core.flatten_plan import (
    MAKER_ONLY,
    NO_USABLE_BOOK,
    FlattenAction,
    FlattenParams,
    FlattenPlan,
    FlattenResult,
    FlattenStep,
    close_order,
    ioc_close_price,
)
from lmm.core.intents import ORDER_TYPE_LIMIT, TIF_IOC, CreateOrder
from lmm.core.market import MarketInfo
from lmm.core.outcomes import Outcome

SEC = 1_000_000_000
MS = 1_000_000
T0 = 500 * SEC
TOUCH = (1_000_000, 1_000_100)
BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)


class _HalfJitter(random.Random):
    def random(self) -> float:
        return 0.5  # every delay is 0.75 of its ceiling


def test_nothing_to_do_when_already_flat() -> None:
    step = FlattenPlan(FlattenParams(), 0).next_step(T0)
    assert step == FlattenStep(FlattenAction.DONE, T0, result=FlattenResult(True, 0, 0, 0, "already flat"))


def test_refused_with_a_maker_only_key() -> None:
    step = FlattenPlan(FlattenParams(), -7, maker_only_key=True).next_step(T0)
    assert step == FlattenStep(FlattenAction.REFUSE, T0, result=FlattenResult(False, -7, -7, 0, MAKER_ONLY))


def test_a_long_position_is_sold_through_the_bid_and_the_position_polled_until_it_changes() -> None:
    plan = FlattenPlan(FlattenParams(), 5)
    assert plan.next_step(T0) == FlattenStep(FlattenAction.READ_TOUCH, T0)
    plan.on_touch(TOUCH, T0 + 10 * MS)
    send = plan.next_step(T0 + 10 * MS)
    assert send == FlattenStep(FlattenAction.SEND, T0 + 10 * MS, lots=5, touch=TOUCH, attempt=1)
    assert close_order(BTC, 77, send.lots, TOUCH, 50.0) == CreateOrder(
        market_index=1, client_order_index=77, base_amount=5, price=995_000, is_ask=True, time_in_force=TIF_IOC,
        order_type=ORDER_TYPE_LIMIT, reduce_only=True, order_expiry=0)
    plan.on_send_result(Outcome.ACCEPTED, 200, "", T0 + 50 * MS)
    assert plan.next_step(T0 + 50 * MS) == FlattenStep(FlattenAction.READ_POSITION, T0 + 50 * MS)
    plan.on_position(5, T0 + 60 * MS)  # not changed yet: poll again 0.1 s later
    assert plan.next_step(T0 + 60 * MS) == FlattenStep(FlattenAction.READ_POSITION, T0 + 160 * MS)
    plan.on_position(0, T0 + 170 * MS)
    assert plan.next_step(T0 + 170 * MS) == FlattenStep(FlattenAction.VERIFY, T0 + 170 * MS)
    assert plan.verdict(0) == FlattenResult(True, 5, 0, 1, "sent")


def test_a_short_position_is_bought_through_the_ask_and_a_partial_fill_closes_the_rest_next() -> None:
    plan = FlattenPlan(FlattenParams(), -9)
    plan.on_touch(TOUCH, T0)
    assert close_order(BTC, 1, plan.next_step(T0).lots, TOUCH, 50.0).price == 1_005_101
    assert not close_order(BTC, 1, -9, TOUCH, 50.0).is_ask
    plan.on_send_result(Outcome.ACCEPTED, 200, "", T0)
    plan.on_position(-4, T0 + 10 * MS)
    assert plan.next_step(T0 + 10 * MS) == FlattenStep(FlattenAction.READ_TOUCH, T0 + 10 * MS)
    plan.on_touch(TOUCH, T0 + 20 * MS)
    assert plan.next_step(T0 + 20 * MS) == FlattenStep(FlattenAction.SEND, T0 + 20 * MS, lots=-4, touch=TOUCH,
                                                       attempt=2)


def test_an_order_that_never_shows_in_the_position_is_waited_for_until_the_settle_timeout() -> None:
    plan = FlattenPlan(FlattenParams(settle_timeout_s=1.0), 5)
    plan.on_touch(TOUCH, T0)
    plan.on_send_result(Outcome.ACCEPTED, 200, "", T0)
    plan.on_position(5, T0 + 999 * MS)
    assert plan.next_step(T0 + 999 * MS).action is FlattenAction.READ_POSITION
    plan.on_position(5, T0 + SEC)  # the settle time is over: the next attempt
    assert plan.next_step(T0 + SEC) == FlattenStep(FlattenAction.READ_TOUCH, T0 + SEC)


def test_429s_back_off_doubling_up_to_the_cap() -> None:
    plan = FlattenPlan(FlattenParams(max_attempts=6, backoff_base_s=1.0, backoff_max_s=4.0), 5, rng=_HalfJitter())
    now, reads = T0, []
    for _ in range(4):
        plan.on_touch(TOUCH, now)
        plan.on_send_result(Outcome.RATE_LIMITED, 23000, "too many requests", now)
        step = plan.next_step(now)
        assert step.action is FlattenAction.READ_POSITION
        reads.append((step.at_ns - now) // MS)
        now = step.at_ns
        plan.on_position(5, now)
    assert reads == [750, 1_500, 3_000, 3_000]
    assert plan.detail == "429, backing off 3.0s" and plan.rate_limits == 4


def test_the_429_backoff_of_a_seeded_rng() -> None:
    plan = FlattenPlan(FlattenParams(), 5, rng=random.Random(4))  # first draw 0.23605: 1 s less 11.8 %
    plan.on_touch(TOUCH, T0)
    plan.on_send_result(Outcome.RATE_LIMITED, 23000, "", T0)
    assert plan.next_step(T0) == FlattenStep(FlattenAction.READ_POSITION, T0 + 881_975_955)
    assert plan.detail == "429, backing off 0.9s"


def test_gives_up_after_max_attempts_of_refusals_and_unusable_books() -> None:
    plan = FlattenPlan(FlattenParams(max_attempts=3, backoff_base_s=2.0), 5)
    plan.on_touch(TOUCH, T0)
    plan.on_send_result(Outcome.REJECTED, 21739, "refused", T0)
    assert plan.detail == "rejected 21739 refused"
    assert plan.next_step(T0) == FlattenStep(FlattenAction.READ_POSITION, T0 + 2 * SEC)  # the base delay
    plan.on_position(5, T0 + 2 * SEC)
    plan.on_touch(None, T0 + 2 * SEC)  # no book: an attempt too
    assert plan.next_step(T0 + 2 * SEC) == FlattenStep(FlattenAction.READ_POSITION, T0 + 4 * SEC)
    plan.on_position(5, T0 + 4 * SEC)
    plan.on_touch((1_000, 1_000), T0 + 4 * SEC)  # crossed: not usable either
    assert plan.detail == NO_USABLE_BOOK
    plan.on_position(5, T0 + 6 * SEC)
    assert plan.next_step(T0 + 6 * SEC) == FlattenStep(FlattenAction.VERIFY, T0 + 6 * SEC)
    assert plan.verdict(5) == FlattenResult(False, 5, 5, 3, NO_USABLE_BOOK)
    assert plan.verdict(None) == FlattenResult(False, 5, None, 3, NO_USABLE_BOOK)  # unreadable: not known flat


def test_the_close_price_is_proportional_and_stays_positive() -> None:
    assert ioc_close_price(5, (1_000_000, 1_000_100), 50.0) == 995_000
    assert ioc_close_price(-5, (1_000_000, 1_000_100), 50.0) == 1_005_101
    assert ioc_close_price(5, (3, 4), 50.0) == 2
    assert ioc_close_price(5, (1, 2), 10_000.0) == 1
