"""Start-up with ``safety.cancel_foreign_orders`` false: cancel only the orders this bot placed.

Rules:
- An order is the bot's when its client order index has the shape of the bot's allocator (its lane for this
  market and a clock-derived counter: ``ids.ClientOrderIndexAllocator.issued``); every other order of the
  market is left alone and said so once.
- Each of the bot's orders is cancelled by its exchange order index (never the market-wide cancel-all), and
  the result is confirmed as the market-wide version does it: two REST listings in a row without one of
  the bot's orders, the last taken at least ``settle_s`` after the last cancel was accepted. Failed sends
  back off (jittered, doubling, at most 8 s apart: the one ``lmm.core.backoff.Backoff``) until the budget
  runs out. The decisions are ``lmm.core.cancel_confirmation.OwnOrdersConfirmation``'s; this loop sends,
  lists, sleeps and logs.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.core.cancel_confirmation import SEC, CancelAction, OwnOrdersConfirmation
from lmm.core.ids import ClientOrderIndex
from lmm.core.intents import CancelOrder, TxIntent
from lmm.core.market import MarketInfo
from lmm.core.order_state import is_live_status
from lmm.core.orders import OrderReport
from lmm.core.outcomes import SendResult
from lmm.venue.clock import SYSTEM_CLOCK, Clock
from lmm.venue.lighter.rest import VenueReadError

log = logging.getLogger("lighter_mm.startup")

LIST_INTERVAL_S = 1.0
SEND_RETRY = BackoffPolicy(0.5, 8.0)  # failed cancels: jittered, doubling, at most 8 s apart


@dataclass(frozen=True)
class LeftoverIO:
    market: MarketInfo
    list_orders: Callable[[], Awaitable[list[OrderReport]]]  # the market's open orders over REST
    is_own: Callable[[ClientOrderIndex | None, int], bool]  # (client order index, wall ms)
    send: Callable[[Sequence[TxIntent]], Awaitable[list[SendResult]]]
    settle_s: float


def own_live_orders(reports: Sequence[OrderReport], is_own: Callable[[ClientOrderIndex | None, int], bool],
                    now_ms: int) -> tuple[list[OrderReport], int]:
    """(the bot's live orders, how many live orders are someone else's); pure."""
    live = [r for r in reports if is_live_status(r.status)]
    own = [r for r in live if is_own(r.client_index, now_ms)]
    return own, len(live) - len(own)


async def cancel_own_leftovers(io: LeftoverIO, budget_s: float, when: str = "start-up",
                               known: Sequence[TxIntent] = (), clock: Clock = SYSTEM_CLOCK,
                               ) -> tuple[bool, list[OrderReport] | None]:
    """Cancel the bot's own open orders on the market. (True once none is left, confirmed twice; the bot's
    orders in the newest listing, None when no listing came back).

    ``known``: cancels for the orders the bot itself tracks (the shutdown's), sent first whatever REST
    shows: an order just accepted may not be listed yet. The confirmation then waits the settle time
    from that send, as after any cancel."""
    symbol = io.market.symbol
    machine = OwnOrdersConfirmation(clock.monotonic_ns(), round(budget_s * SEC), round(io.settle_s * SEC),
                                    Backoff(SEND_RETRY), list_interval_ns=round(LIST_INTERVAL_S * SEC))
    if known:
        log.info("%s: cancelling the %d order(s) this bot tracks on %s", when, len(known), symbol)
        await io.send(list(known))
        machine.on_tracked_cancels_sent(clock.monotonic_ns())
    foreign_seen = -1
    own: list[OrderReport] | None = None
    while (step := machine.next_step(now_ns := clock.monotonic_ns())).action is not CancelAction.GIVE_UP:
        if step.action is CancelAction.CONFIRMED:
            log.info("%s: no open order of this bot on %s (confirmed twice over REST)", when, symbol)
            return True, own
        if step.at_ns > now_ns:
            await asyncio.sleep((step.at_ns - now_ns) / SEC)
            continue
        if step.action is CancelAction.CANCEL:
            log.info("%s: %d open order(s) of this bot on %s: cancelling them", when, len(own or ()), symbol)
            results = await io.send([CancelOrder(io.market.market_id, r.order_index.value) for r in own or ()])
            accepted = bool(results) and all(result.ok for result in results)
            if not accepted:
                failed = next((r for r in results if not r.ok), None)
                log.warning("%s: cancel %s (%s %s)", when, failed.outcome.value if failed else "not sent",
                            failed.code if failed else "", failed.message if failed else "")
            machine.on_cancel_result(accepted, clock.monotonic_ns())
            continue
        listed_at = now_ns  # when the listing was asked for: a slow reply may show an older state
        try:
            reports = await io.list_orders()
        except VenueReadError as exc:
            log.warning("%s: cannot list open orders: %s", when, exc)
            machine.on_listing_failed(clock.monotonic_ns())
            continue
        own, foreign = own_live_orders(reports, io.is_own, clock.wall_ms())
        if foreign != foreign_seen:
            foreign_seen = foreign
            if foreign:
                log.info("%s: %d open order(s) on %s not placed by this bot are left alone "
                         "(safety.cancel_foreign_orders is false)", when, foreign, symbol)
        machine.on_listing(len(own), listed_at, clock.monotonic_ns())
    log.error("%s: orders of this bot may still be open on %s after %.0fs", when, symbol, budget_s)
    return False, own
