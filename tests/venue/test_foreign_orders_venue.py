"""``safety.cancel_foreign_orders`` on the local venue in virtual time: true (the default) cancels every order of
the market at start-up, in reconciliation and at shutdown; false cancels only the bot's own orders (by client
order index) and leaves the others alone, without giving them to the reconciler to judge."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from venue_support import BTC, LocalBot, send_as_account, venue_config, with_local_bot

import lmm.core.market_maker as bot_module
from lmm.core.ids import LANES, ClientOrderIndexAllocator
from lmm.core.intents import CreateOrder
from lmm.core.reconcile import reconcile_orders
from lmm.venue.local.venue import LocalVenue

HAND_PLACED = 77  # a client order index a person (or another program) would choose
FAR_BID_TICK = 800_000  # $80,000: 20 % under the synthetic market, it rests and never fills
FAR_BID_LOTS = 30  # $24, over the $10 minimum


def resting(venue: LocalVenue) -> set[int]:
    return {order.client_order_index for order in venue.open_orders(BTC)}


@pytest.mark.parametrize("cancel_foreign", [False, True])
def test_start_up_reconcile_and_shutdown_with_foreign_orders(tmp_path: Path, cancel_foreign: bool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # an order of the bot's own lane left by a run a minute ago, and one placed by hand with the same key
    leftover: list[int] = []
    seen: dict[str, Any] = {}

    async def place_far_bids(venue: LocalVenue) -> None:
        leftover.append(ClientOrderIndexAllocator(lane=BTC % LANES).next(venue.clock.wall_ms() - 60_000).value)
        statuses = await send_as_account(venue, [CreateOrder(BTC, index, FAR_BID_LOTS, FAR_BID_TICK, is_ask=False)
                                                 for index in (HAND_PLACED, leftover[0])])
        assert statuses == [200, 200]
        assert resting(venue) == {HAND_PLACED, leftover[0]}

    judged: list[int | None] = []  # client order indexes the reconciler was given to judge

    def recording(slots, exchange_orders, **kwargs):  # type: ignore[no-untyped-def]
        judged.extend(r.client_index.value if r.client_index else None for r in exchange_orders)
        return reconcile_orders(slots, exchange_orders, **kwargs)

    monkeypatch.setattr(bot_module, "reconcile_orders", recording)

    async def body(bot: LocalBot) -> None:
        seen["venue"] = bot.venue
        after_start = resting(bot.venue)
        assert leftover[0] not in after_start, "the bot's own leftover is cancelled at start-up either way"
        assert (HAND_PLACED in after_start) is not cancel_foreign
        await bot.wait_until(lambda: len(judged) >= 4 and bot.rt.mm.stats.reconciles >= 4, "reconciles of quotes")
        assert (HAND_PLACED in resting(bot.venue)) is not cancel_foreign
        assert bot.rt.mm.stats.orphans_cancelled == 0  # nothing left to cancel after the start-up either way

    with_local_bot(venue_config(tmp_path, safety={"cancel_foreign_orders": cancel_foreign}), body,
                   prepare=place_far_bids)
    if not cancel_foreign:
        assert HAND_PLACED not in judged, "a foreign order is never cancelled nor counted as a mismatch"
    # the shutdown leaves the hand-placed order alone too, unless told to cancel every order
    assert resting(seen["venue"]) == (set() if cancel_foreign else {HAND_PLACED})
