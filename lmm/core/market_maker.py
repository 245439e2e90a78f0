"""The market maker's state and decisions for one market, between the feeds and the sender.

Rules:
- ``compute_ops`` is called by the send loop AFTER its pacing wait and builds everything from the newest
  state: model quote -> levels and sizes -> diff against the slots -> intents.
- Quoting is blocked (targets = none, so live orders are cancelled) while any pause reason holds: warm-up,
  invalid or stale book, unknown position, breaker, an unknown send outcome awaiting reconciliation,
  reconcile mismatches, shutdown. Each reason is logged when it starts and ends.
- Book silence is judged against the book's own cadence (``book_freshness``): a held book keeps the
  resting quotes where they are (no new or re-priced order from the alpha or the inventory), a stale one
  pauses quoting ("book silent").
- Send results feed the breaker (venue rejections), the 429 backoff and the slots; an UNKNOWN outcome
  pauses quoting until a clean reconcile.
- Reconcile: the exchange's active orders (REST) against the slots: unknown orders are cancelled, gone
  orders cleared, mismatches debounced into a pause. After a gap in the order stream, a lookup of the
  tracked orders by client index (``gap_lookup`` / ``apply_lookup``) settles what the stream missed, fills
  included.
- Position limit: a side is quoted only while its worst case (position + unsettled fills + every order of
  that side, resting, in flight or targeted + untracked orders) stays within M (exposure.py); fills seen in
  order reports count at once, before the position update that follows them.
- With ``safety.cancel_foreign_orders`` false, orders that are not the bot's (by client order index) are
  left out of reconciliation.
No sockets here: the daemon (``daemon.py``) owns the tasks and the I/O.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from lmm.book.lighter_book import LighterBook
from lmm.config.config import Config
from lmm.core.account import AccountState, Fill
from lmm.core.book_freshness import (
    BookCadence,
    BookFreshness,
    SilenceThresholds,
    book_freshness,
    held_targets,
    silence_thresholds,
)
from lmm.core.execution import OrderManager
from lmm.core.exposure import side_exposure, within_limit
from lmm.core.ids import ClientOrderIndexAllocator, OrderIndex
from lmm.core.intents import TxIntent
from lmm.core.market import MarketInfo
from lmm.core.markout_tracker import MarkoutTracker, guard_widening_bps, widen_level0
from lmm.core.order_state import Side
from lmm.core.orders import OrderReport, fill_delta, on_cleared, on_order_report
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.params import build_params
from lmm.core.quoting import (
    MAX_PRICE_TICK,
    CapitalSnapshot,
    MarketRules,
    TargetQuotes,
    build_target_quotes,
    position_limit_usd,
)
from lmm.core.reconcile import (
    GapLookup,
    MismatchDebouncer,
    ReconcileResult,
    lookup_client_indexes,
    reconcile_orders,
    resolve_after_gap,
    without_foreign,
)
from lmm.core.risk import (
    CircuitBreaker,
    RateLimitBackoff,
    classify_error,
    stuck_slots,
)
from lmm.core.sample_window import SampleWindow
from lmm.model.vol_obi import VolObiCalculator

log = logging.getLogger("lighter_mm.bot")
SEC = 1_000_000_000
TICK_TO_ORDER_KEPT = 5000  # samples behind the tick-to-order percentiles (memory reserved up front)


@dataclass
class BotStats:
    fills: int = 0
    filled_lots_bid: int = 0
    filled_lots_ask: int = 0
    fill_notional_usd: float = 0.0
    maker_fills: int = 0
    reconciles: int = 0
    orphans_cancelled: int = 0
    slots_cleared: int = 0
    unknown_outcomes: int = 0
    rate_limited: int = 0
    paced_sends: int = 0
    tick_to_order_ms: SampleWindow = field(default_factory=lambda: SampleWindow(TICK_TO_ORDER_KEPT))


def build_model(config: Config, market: MarketInfo) -> VolObiCalculator:
    return VolObiCalculator(tick_size=market.tick_size, **build_params(config).model.kwargs())


class FeedStatsView(Protocol):
    @property
    def last_valid_ns(self) -> int | None: ...


class BookFeedView(Protocol):
    """What the market maker reads of the Lighter feed, read-only: the book, its update cadence and the time of
    its last valid update (``lmm.venue.lighter.feed.LighterFeed`` is one)."""

    @property
    def book(self) -> LighterBook: ...

    @property
    def cadence(self) -> BookCadence: ...

    @property
    def stats(self) -> FeedStatsView: ...


class MarketMaker:
    def __init__(self, config: Config, market: MarketInfo, account_index: int, model: VolObiCalculator,
                 *, clock_ns: Callable[[], int], wall_ms: Callable[[], int]) -> None:
        """``clock_ns``: the monotonic clock (ns) the shell runs on; ``wall_ms``: wall time in ms (client order
        indexes). Both injected: the core reads no clock of its own."""
        self.config = config
        self.params = params = build_params(config)
        self.market = market
        self.model = model
        self._clock_ns = clock_ns
        self._wall_ms = wall_ms
        self.account = AccountState(account_index, market.market_id, market.price_decimals, market.size_decimals)
        self.rules = MarketRules(market.price_decimals, market.size_decimals, market.min_base_lots,
                                 market.min_quote_micro_usd / 1e6)
        self.quoting = params.quoting
        self.orders = OrderManager(
            market,
            params.diff,
            params.quoting.levels_per_side,
            ClientOrderIndexAllocator(lane=market.market_id % 8),
            params.order_timeout_ns,
        )
        self.breaker = CircuitBreaker(params.breaker)
        self.backoff = RateLimitBackoff(params.backoff)
        self.debouncer = MismatchDebouncer(params.mismatch_debounce_count)
        self.feed: BookFeedView | None = None  # set by the shell once the feed exists
        self.quota: Callable[[], int | None] = lambda: None
        self.pauses: dict[str, str] = {}
        self.stats = BotStats()
        self.last_quote: tuple[int, int] | None = None
        # our fills' markouts, and the markout guard's widening (bid, ask) in bp at the last plan
        self.markouts = MarkoutTracker(params.markout_guard.window_fills, params.markout_guard.window_ns)
        self.guard_widening_bps = (0.0, 0.0)
        self._last_fair_tick = 0.0
        self._silence = params.silence
        self._thresholds: tuple[int | None, SilenceThresholds] | None = None  # (median they were built for, ...)
        self._book_event_ns: int | None = None
        self._last_tick_ns: int | None = None  # the newest book frame
        self._tick_pending = False  # a book frame arrived since the last plan
        self._sent_tick_ns: int | None = None  # the newest book frame behind the send in flight

    # ---- pause reasons ------------------------------------------------------------------------------------

    def pause(self, reason: str, detail: str = "") -> None:
        if reason not in self.pauses:
            log.warning("quoting paused: %s %s", reason, detail)
        self.pauses[reason] = detail

    def resume(self, reason: str) -> None:
        if self.pauses.pop(reason, None) is not None:
            log.info("pause lifted: %s", reason)

    def _block_reason(self, now_ns: int) -> str | None:
        feed = self.feed
        if feed is None or not feed.book.valid:
            return "book invalid"
        if self.book_freshness(now_ns) is BookFreshness.STALE:
            self.pause("book silent", self._silence_detail(now_ns))
            return "book silent"
        self.resume("book silent")
        if not self.account.position_known:
            return "position unknown"
        status = self.breaker.status(now_ns, feeds_healthy=feed.book.valid)
        if status.paused:
            self.pause("breaker", f"{status.reason}; waiting for {', '.join(status.waiting_for)}")
        else:
            self.resume("breaker")
        if self.pauses:
            return next(iter(self.pauses))
        if not self.model.warmed_up(now_ns):
            return "warm-up"
        return None

    def book_silence_thresholds(self) -> SilenceThresholds:
        median = self.feed.cadence.median_ns
        if self._thresholds is None or self._thresholds[0] != median:  # on the hot path: rebuilt on change only
            self._thresholds = (median, silence_thresholds(self._silence, median))
        return self._thresholds[1]

    def book_freshness(self, now_ns: int) -> BookFreshness:
        return book_freshness(self.feed.stats.last_valid_ns, now_ns, self.book_silence_thresholds())

    def _silence_detail(self, now_ns: int) -> str:
        last, median = self.feed.stats.last_valid_ns, self.feed.cadence.median_ns
        silence = "no update yet" if last is None else f"no update for {(now_ns - last) / SEC:.2f}s"
        cadence = "cadence unknown" if median is None else f"median interval {median / 1e6:.0f}ms"
        return f"{silence} (threshold {self.book_silence_thresholds().stale_ns / SEC:.2f}s, {cadence})"

    # ---- planning (called by the send loop after its pacing wait) -----------------------------------------

    def capital(self) -> CapitalSnapshot | None:
        equity, refreshed = self.account.equity, self.account.capital_updated_ns
        if equity is None or refreshed is None:
            return None
        available = self.account.available_balance
        return CapitalSnapshot(available if available is not None else equity, equity, refreshed)

    def position_limit_usd(self, now_ns: int, mid_tick: float) -> float | None:
        """M at this mid from the current capital (None when capital is unknown or stale)."""
        return position_limit_usd(self.quoting, self.rules, self.capital(), now_ns, mid_tick)

    def targets(self, now_ns: int) -> TargetQuotes | None:
        book = self.feed.book
        best_bid, best_ask = book.best_bid_tick, book.best_ask_tick
        mid_tick = (best_bid + best_ask) / 2
        capital = self.capital()
        limit = self.position_limit_usd(now_ns, mid_tick)
        position = self.market.size_of(self.account.position_lots)
        level0 = self.model.quote(now_ns, position, limit if limit is not None else math.nan, best_bid, best_ask)
        self.last_quote = level0
        if level0 is None:
            return None
        floor_ref = self.model.floor_reference_price(now_ns) / self.market.tick_size
        self.guard_widening_bps = widening = guard_widening_bps(self.params.markout_guard, self.markouts, now_ns)
        bid0, ask0 = widen_level0(level0[0], level0[1], *widening, mid_tick, MAX_PRICE_TICK)
        targets = build_target_quotes(
            self.quoting, self.rules, level0_bid_tick=bid0, level0_ask_tick=ask0,
            best_bid_tick=best_bid, best_ask_tick=best_ask, floor_ref_tick=floor_ref,
            position_lots=self.account.position_lots, capital=capital, now_ns=now_ns,
        )
        return self._within_limit(targets, limit, mid_tick)

    def _within_limit(self, targets: TargetQuotes | None, limit: float | None,
                      mid_tick: float) -> TargetQuotes | None:
        """Drop a side whose worst case (exposure.py: position, unsettled fills, every order of that side
        resting, in flight or targeted, untracked orders, all filled) would exceed the limit: the limit
        holds against fills, not just at placement."""
        if targets is None or limit is None:
            return targets
        position = self.account.position_lots

        def allowed(side: Side, levels: tuple) -> bool:
            exposure = side_exposure(side, self.orders.slots.values(), levels,
                                     self.account.unsettled_fill_lots(side), self.orders.orphan_lots(side))
            return within_limit(position, side, exposure, limit, self.rules, mid_tick)

        bids, asks = targets.bids, targets.asks
        if bids and not allowed(Side.BID, bids):
            bids = ()
        if asks and not allowed(Side.ASK, asks):
            asks = ()
        if not bids and not asks:
            return None
        if bids is targets.bids and asks is targets.asks:
            return targets
        return replace(targets, bids=bids, asks=asks)

    def compute_ops(self, max_quota_ops: int) -> list[TxIntent]:
        now = self._clock_ns()
        reason = self._block_reason(now)
        targets = None if reason is not None else self.targets(now)
        if targets is not None and self.book_freshness(now) is BookFreshness.HELD:
            targets = held_targets(targets, self.orders.slots)
        fair = self.model.fair_price(now)
        if math.isfinite(fair) and fair > 0:
            self._last_fair_tick = fair / self.market.tick_size
        fair_tick = self._last_fair_tick or 1.0  # only used when there are targets, which need a fair price
        intents = self.orders.plan(targets, fair_tick=fair_tick, quota=self.quota(),
                                   position_lots=self.account.position_lots, max_quota_ops=max_quota_ops,
                                   now_ns=now, now_ms=self._wall_ms())
        self._sent_tick_ns = self._last_tick_ns if intents and self._tick_pending else None
        self._tick_pending = False
        return intents

    def on_book_tick(self, now_ns: int) -> None:
        self._last_tick_ns = now_ns
        self._tick_pending = True
        mid_ticks2 = None if self.feed is None else self.feed.book.mid_ticks2
        if mid_ticks2 is not None:
            self.markouts.on_mid(now_ns, mid_ticks2 / 2)

    # ---- outcomes -------------------------------------------------------------------------------------------

    def on_send_loop_results(self, results: Sequence[SendResult], paced: bool) -> None:
        """Results of a send planned by ``compute_ops``. Tick-to-order (book frame received -> signed
        transaction on the socket) is measured on sends that pacing did not hold back; held sends are
        counted apart, their delay being the configured pacing, not the pipeline."""
        tick, self._sent_tick_ns = self._sent_tick_ns, None
        written = results[0].written_ns if results else None
        if tick is not None and written is not None:
            if paced:
                self.stats.paced_sends += 1
            else:
                self.stats.tick_to_order_ms.append((written - tick) / 1e6)
        self.on_results(results)

    def on_results(self, results: Sequence[SendResult]) -> None:
        now = self._clock_ns()
        self.orders.on_results(results, now)
        for result in results:
            if result.outcome is Outcome.ACCEPTED:
                self.breaker.on_send_ok(now)
                self.backoff.on_success(now)
            elif result.outcome is Outcome.UNKNOWN:
                self.stats.unknown_outcomes += 1
                self.pause("unknown outcome", result.message)
            elif result.outcome is Outcome.RATE_LIMITED:
                self.stats.rate_limited += 1
            elif result.outcome is Outcome.REJECTED:
                self.breaker.on_send_error(classify_error(result.code, result.message), now)

    def rate_limited_delay_s(self) -> float:
        now = self._clock_ns()
        return max(0.0, (self.backoff.on_rate_limited(now) - now) / SEC)

    def _own_orders(self, reports: Sequence[OrderReport]) -> Sequence[OrderReport]:
        """All orders, or with ``safety.cancel_foreign_orders`` false only the bot's own: the others are
        never cancelled, tracked as orphans or counted as mismatches."""
        if self.params.cancel_foreign_orders:
            return reports
        now_ms = self._wall_ms()
        return without_foreign(self.orders.slots, reports, lambda index: self.orders.allocator.issued(index, now_ms))

    def on_orders(self, reports: list[OrderReport], now_ns: int) -> None:
        before = self.orders.stats.post_only_cancels

        def on_fill(side: Side, lots: int, order_index: OrderIndex) -> None:
            self.account.note_order_fill(side, lots, now_ns, order_index)

        # untracked live orders are cancelled by the next plan
        self.orders.on_reports(self._own_orders(reports), now_ns, on_fill)
        for _ in range(self.orders.stats.post_only_cancels - before):
            self.breaker.on_post_only_cancel(now_ns)

    def on_fills(self, fills: list[Fill]) -> None:
        for fill in fills:
            self.stats.fills += 1
            self.stats.maker_fills += int(fill.is_maker)
            self.stats.fill_notional_usd += self.market.price_of(fill.price_tick) * self.market.size_of(
                fill.size_lots)
            self.markouts.on_fill(self._clock_ns(), not fill.side.is_ask, fill.price_tick)
            if fill.side.is_ask:
                self.stats.filled_lots_ask += fill.size_lots
            else:
                self.stats.filled_lots_bid += fill.size_lots
            log.info("fill %s %s @ %s (trade %d, %s)", fill.side.value, self.market.size_of(fill.size_lots),
                     self.market.price_of(fill.price_tick), fill.trade_id, "maker" if fill.is_maker else "taker")

    # ---- reconciliation -------------------------------------------------------------------------------------

    def reconcile(self, exchange_orders: Sequence[OrderReport], snapshot_ns: int) -> list[TxIntent]:
        """Apply a REST order list; returns cancels for orders we do not know (to send through the sender)."""
        exchange_orders = self._own_orders(exchange_orders)
        result: ReconcileResult = reconcile_orders(self.orders.slots, exchange_orders, snapshot_ns=snapshot_ns)
        self.stats.reconciles += 1
        self.orders.on_listing(exchange_orders, snapshot_ns)
        for key, report in result.updates:
            slot = self.orders.slots[key]
            self.account.note_order_fill(slot.side, fill_delta(slot, report), snapshot_ns, report.order_index)
            self.orders.slots[key] = on_order_report(slot, report, snapshot_ns)
        for key in result.clear:
            self.orders.slots[key] = on_cleared(self.orders.slots[key])
            self.stats.slots_cleared += 1
        for key in stuck_slots(self.orders.slots):
            log.error("slot %s stuck after repeated lookups: force-cleared", key)
            self.orders.slots[key] = on_cleared(self.orders.slots[key])
        if result.cancel_unknown or result.clear:
            log.warning("reconcile: %d unknown order(s) to cancel, %d slot(s) cleared",
                        len(result.cancel_unknown), len(result.clear))
        if self.debouncer.observe(result):
            self.pause("reconcile mismatch", f"{self.debouncer.consecutive} in a row")
        elif result.clean:
            self.resume("reconcile mismatch")
            self.resume("unknown outcome")
        self.breaker.on_reconcile(result.clean, snapshot_ns)
        self.stats.orphans_cancelled += len(result.cancel_unknown)
        # counted in exposure until proven gone; the plan does not cancel them again meanwhile
        return self.orders.cancel_orphans(result.cancel_unknown, self._clock_ns(), exchange_orders)

    def gap_lookup(self, now_ns: int) -> GapLookup:
        """What to look up by client index now that the order stream is back from a gap (requested at
        `now_ns`), with the slots and sends in flight as they are at the request."""
        return GapLookup(tuple(lookup_client_indexes(self.orders.slots)), dict(self.orders.slots),
                         self.orders.keys_in_flight(), now_ns)

    def apply_lookup(self, lookup: GapLookup, looked_up: Sequence[OrderReport], now_ns: int) -> int:
        """Apply the answer to `lookup`: slots it settles move (unless a report moved them while it was out),
        and fills it reveals count as unsettled, as from the stream. Returns how many slots moved."""
        settle_ns = self.params.reconcile_settle_ns
        updates = resolve_after_gap(lookup.slots, looked_up, asked=set(lookup.asked),
                                    requested_ns=lookup.requested_ns, settle_ns=settle_ns, now_ns=now_ns,
                                    in_flight=lookup.in_flight)
        moved = 0
        for key, update in updates.items():
            if self.orders.slots[key] is not lookup.slots[key]:
                continue
            self.account.note_order_fill(key[0], update.filled_lots, now_ns, update.order_index)
            self.orders.slots[key] = update.slot
            moved += 1
        return moved
