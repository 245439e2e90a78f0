"""Freshest-wins: the send loop sends what the newest state asks for, not what was wanted when it woke.

The real ``MarketMaker`` (model, quoting, order diff) plans behind the real ``SendLoop`` and ``Pacer``; the
feed, the sender and time are fakes. The loop's clock and its pacing sleep are injected, so the wait runs in
virtual time: the fake sleep moves the market while the loop is held back, and the test checks which prices
reach the sender. No sockets, no real sleeps.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from lmm.book.lighter_book import LighterBook
from lmm.config.config import load_config
from lmm.core.book_freshness import BookCadence
from lmm.core.intents import CreateOrder, TxIntent
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.pacing import Pacer
from lmm.daemon.send_loop import SendLoop

SEC = 1_000_000_000
STEP_NS = 100_000_000
BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)  # tick $0.1, lot 0.00001 BTC
PACING_S = 2.0  # performance.rate_limit_send_interval: long enough for the market to move meanwhile
CONFIG_ENV = {
    "LMM_PERFORMANCE_RATE_LIMIT_SEND_INTERVAL": str(PACING_S),
    "LMM_VOL_OBI_WINDOW_STEPS": "200",
    "LMM_VOL_OBI_MIN_WARMUP_SAMPLES": "10",
    "LMM_VOL_OBI_WARMUP_SECONDS": "1",
}


def book_at(mid: float) -> LighterBook:
    """A one-level book one tick either side of ``mid``."""
    book = LighterBook(BTC.market_id, BTC.price_decimals, BTC.size_decimals)
    book.on_message({"type": "subscribed/order_book", "channel": f"order_book:{BTC.market_id}",
                     "order_book": {"bids": [{"price": f"{mid - 0.1:.1f}", "size": "1.00000"}],
                                    "asks": [{"price": f"{mid + 0.1:.1f}", "size": "1.00000"}],
                                    "nonce": 5, "begin_nonce": 0}})
    assert book.valid
    return book


@dataclass
class FeedStats:
    last_valid_ns: int | None = None


@dataclass
class FakeFeed:
    """What the market maker reads of the Lighter feed (``BookFeedView``)."""

    book: LighterBook
    stats: FeedStats = field(default_factory=FeedStats)
    cadence: BookCadence = field(default_factory=BookCadence)


class RecordingSender:
    """The sender's surface the send loop uses: its lock, the last quota, and sending while holding the lock."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.volume_quota_remaining: int | None = None
        self.sent: list[tuple[TxIntent, ...]] = []
        self.sent_event = asyncio.Event()

    async def send_holding_lock(self, intents: Sequence[TxIntent]) -> list[SendResult]:
        assert self.lock.locked()
        self.sent.append(tuple(intents))
        self.sent_event.set()
        return [SendResult(Outcome.ACCEPTED, tuple(intents), tx_hashes=("00",))]


class Harness:
    """A warmed-up market maker on a fake feed, behind a send loop on a virtual clock."""

    def __init__(self) -> None:
        self.config = load_config(env=CONFIG_ENV)
        self.now_ns = 1_000 * SEC
        self.mm = MarketMaker(self.config, BTC, 7, build_model(self.config, BTC), clock_ns=lambda: self.now_ns,
                              wall_ms=lambda: 1_780_000_000_000 + self.now_ns // 1_000_000)
        self.feed = FakeFeed(book_at(100_000.0))
        self.mm.feed = self.feed
        self.mm.account.position_known = True
        self.sender = RecordingSender()
        self.pacer = Pacer(self.config.performance.rate_limit_send_interval, premium=True)
        self.waits: list[float] = []
        self.during_wait: list = []  # callbacks run (once each) while the loop sleeps
        self.paced_flags: list[bool] = []
        self.loop = SendLoop(self.sender, self.pacer, self.mm.compute_ops, self.on_results,
                             lambda: 1.0, clock=lambda: self.now_ns / SEC, sleep=self.sleep)
        self.warm_up()

    def on_results(self, results: Sequence[SendResult], paced: bool) -> None:
        self.paced_flags.append(paced)
        self.mm.on_send_loop_results(results, paced)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now_ns += round(seconds * SEC)
        while self.during_wait:
            self.during_wait.pop(0)()
        await asyncio.sleep(0)

    def move_market(self, mid: float) -> None:
        """A book frame at ``mid``, as the feed delivers it: book, model, tick, capital refresh."""
        self.feed.book = book_at(mid)
        self.feed.stats.last_valid_ns = self.now_ns
        self.mm.model.on_book(self.now_ns, mid, 0.0)
        self.mm.on_book_tick(self.now_ns)
        self.mm.account.on_user_stats({"stats": {"collateral": "10000", "portfolio_value": "10000",
                                                 "available_balance": "10000"}}, self.now_ns)

    def warm_up(self) -> None:
        for i in range(30):  # 3 s of samples: past the 1 s / 10 samples warm-up
            self.move_market(100_000.0 + (0.5 if i % 2 else 0.0))
            self.mm.model.on_timer(self.now_ns)
            self.now_ns += STEP_NS
        self.move_market(100_000.0)
        assert self.mm.model.warmed_up(self.now_ns)

    def wanted_prices(self) -> set[int]:
        """The level prices the market maker wants at the current state and time (no side effect on orders)."""
        targets = self.mm.targets(self.now_ns)
        assert targets is not None and targets.bids and targets.asks
        return {level.price_tick for level in (*targets.bids, *targets.asks)}


def sent_create_prices(sent: Sequence[TxIntent]) -> set[int]:
    return {intent.price for intent in sent if isinstance(intent, CreateOrder)}


async def test_a_price_that_changes_during_the_pacing_wait_is_the_one_sent():
    h = Harness()
    h.pacer.on_sent(h.now_ns / SEC, quota_ops=0)  # a send just went out: the next one waits out the interval
    h.move_market(100_500.0)  # the book frame that wakes the loop
    wanted_at_wake = h.wanted_prices()
    wanted_after_wait: set[int] = set()

    def newer_frame() -> None:  # while the loop is held back by pacing, the market moves on
        h.move_market(101_000.0)
        wanted_after_wait.update(h.wanted_prices())

    h.during_wait.append(newer_frame)
    task = asyncio.create_task(h.loop.run())
    try:
        h.loop.wake()
        await asyncio.wait_for(h.sender.sent_event.wait(), timeout=30)
    finally:
        task.cancel()
    assert h.waits == [PACING_S]  # the loop did wait, once, and the market moved meanwhile
    assert wanted_at_wake != wanted_after_wait  # the premise: the two states quote different prices
    [sent] = h.sender.sent
    assert sent_create_prices(sent) == wanted_after_wait, (sent, wanted_at_wake, wanted_after_wait)
    assert h.paced_flags == [True]  # held back by pacing: counted apart from tick-to-order


async def test_a_price_that_changes_while_another_writer_holds_the_sender_is_the_one_sent():
    h = Harness()
    h.move_market(100_500.0)
    await h.sender.lock.acquire()  # another writer (reconcile, shutdown) is sending
    task = asyncio.create_task(h.loop.run())
    try:
        h.loop.wake()
        for _ in range(5):  # let the loop reach the lock and queue on it
            await asyncio.sleep(0)
        assert not h.sender.sent
        wanted_at_wake = h.wanted_prices()
        h.move_market(101_000.0)
        wanted_after_wait = h.wanted_prices()
        h.sender.lock.release()
        await asyncio.wait_for(h.sender.sent_event.wait(), timeout=30)
    finally:
        task.cancel()
    assert h.waits == []  # no pacing involved: only the lock
    assert wanted_at_wake != wanted_after_wait
    [sent] = h.sender.sent
    assert sent_create_prices(sent) == wanted_after_wait, (sent, wanted_at_wake, wanted_after_wait)
