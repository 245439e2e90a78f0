"""Cancel confirmation: when to cancel, when to list the open orders again, when none is left, when to give up.

Rules:
- Pure, like ``SnapshotPacer``: times are integer nanoseconds passed in, decisions are return values. The shell
  (``daemon/run.py: _cancel_leftovers``, ``daemon/startup_orders.py: cancel_own_leftovers``) sends, lists,
  sleeps and logs; it asks ``next_step(now_ns)`` and, when the step's ``at_ns`` is still ahead, sleeps until
  then and asks again.
- "None left" (the venue accepts orders asynchronously): two empty listings in a row, the last asked for at
  least ``settle_ns`` after the last accepted cancel. A listing asked for before that cancel shows an older
  state and is ignored; orders in a listing reset the count.
- ``CancelAllConfirmation`` (the market-wide cancel-all): once a cancel-all is needed (from the start, or
  because a listing showed orders) none is left only after one was accepted. Cancel-alls are spaced by a
  jittered exponential backoff from each send, whatever its answer; a listing follows each send by
  ``list_interval_ns``. No cancel-all goes out at or after the deadline; a listing already due is still
  taken there (the newest word of the venue for what may remain).
- ``OwnOrdersConfirmation`` (only the bot's own orders, cancelled one by one): the first listing goes out at
  once, and the orders it shows are cancelled at once. An accepted cancel is followed by a listing after
  ``list_interval_ns`` (the backoff starts over); a refused one by a listing after the next backoff delay.
  Cancels the bot sent for the orders it tracks count as a cancel whatever their answer. No listing goes out
  at or after the deadline.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from lmm.core.backoff import Backoff

SEC = 1_000_000_000


class CancelAction(enum.Enum):
    CANCEL = "cancel"  # send the cancel-all, or the cancels of the listed orders
    LIST = "list"  # list the open orders over REST
    CONFIRMED = "confirmed"  # none left
    GIVE_UP = "give_up"  # the budget ran out


@dataclass(frozen=True, slots=True)
class CancelStep:
    action: CancelAction
    at_ns: int = 0  # not before this time: the shell sleeps until then and asks again


class _EmptyListings:
    """The shared rule: two empty listings in a row, the last one ``settle_ns`` after the last accepted cancel."""

    def __init__(self, settle_ns: int) -> None:
        self.settle_ns = settle_ns
        self.cancelled_at: int | None = None
        self.in_a_row = 0

    def cancel_accepted(self, now_ns: int) -> None:
        self.cancelled_at, self.in_a_row = now_ns, 0

    def stale(self, asked_at_ns: int) -> bool:
        return self.cancelled_at is not None and asked_at_ns < self.cancelled_at

    def orders_seen(self) -> None:
        self.in_a_row = 0

    def empty(self, asked_at_ns: int) -> bool:
        """Counts one empty listing; True when it confirms that none is left."""
        self.in_a_row += 1
        return self.in_a_row >= 2 and (self.cancelled_at is None or
                                       asked_at_ns - self.cancelled_at >= self.settle_ns)


class CancelAllConfirmation:
    """The market-wide cancel-all and its confirmation (the start-up's and the shutdown's)."""

    def __init__(self, started_ns: int, budget_ns: int, settle_ns: int, backoff: Backoff, *, cancel_first: bool,
                 list_interval_ns: int = SEC) -> None:
        self.deadline_ns = started_ns + budget_ns
        self._rule = _EmptyListings(settle_ns)
        self._backoff = backoff
        self._list_interval_ns = list_interval_ns
        self._need_cancel = cancel_first
        self._next_cancel_at = started_ns
        self._list_at: int | None = None if cancel_first else started_ns + list_interval_ns
        self._confirmed = False

    @property
    def cancelled_at_ns(self) -> int | None:
        return self._rule.cancelled_at

    def next_step(self, now_ns: int) -> CancelStep:
        if self._confirmed:
            return CancelStep(CancelAction.CONFIRMED, now_ns)
        if self._list_at is not None:  # a listing already due is taken, at the deadline at the latest
            return CancelStep(CancelAction.LIST, min(self._list_at, self.deadline_ns))
        if now_ns >= self.deadline_ns:
            return CancelStep(CancelAction.GIVE_UP, now_ns)
        # Without a cancel-all needed, a listing is scheduled whenever there is time left: only the cancel is due.
        return CancelStep(CancelAction.CANCEL, min(self._next_cancel_at, self.deadline_ns))

    def on_cancel_result(self, accepted: bool, now_ns: int) -> None:
        """A cancel-all was answered at ``now_ns``: the next is spaced from it; a listing follows either way."""
        self._next_cancel_at = now_ns + round(self._backoff.next_delay() * SEC)
        if accepted:
            self._need_cancel = False
            self._rule.cancel_accepted(now_ns)
        self._list_at = now_ns + self._list_interval_ns

    def on_listing(self, open_orders: int, asked_at_ns: int, now_ns: int) -> None:
        """A listing asked for at ``asked_at_ns`` came back at ``now_ns`` with ``open_orders`` orders."""
        self._list_at = None
        if self._rule.stale(asked_at_ns):
            self._schedule_after_listing(now_ns)
            return
        if open_orders:
            self._need_cancel = True
            self._rule.orders_seen()
        elif self._rule.empty(asked_at_ns) and not self._need_cancel:
            self._confirmed = True
            return
        self._schedule_after_listing(now_ns)

    def on_listing_failed(self, now_ns: int) -> None:
        self._list_at = None
        self._schedule_after_listing(now_ns)

    def _schedule_after_listing(self, now_ns: int) -> None:
        if not self._need_cancel and now_ns < self.deadline_ns:
            self._list_at = now_ns + self._list_interval_ns


class OwnOrdersConfirmation:
    """Only the bot's own orders: each cancelled by its order index, then confirmed as the market-wide one."""

    def __init__(self, started_ns: int, budget_ns: int, settle_ns: int, backoff: Backoff, *,
                 list_interval_ns: int = SEC) -> None:
        self.deadline_ns = started_ns + budget_ns
        self._rule = _EmptyListings(settle_ns)
        self._backoff = backoff
        self._list_interval_ns = list_interval_ns
        self._list_at = started_ns
        self._cancel_now = False
        self._confirmed = False

    @property
    def cancelled_at_ns(self) -> int | None:
        return self._rule.cancelled_at

    def next_step(self, now_ns: int) -> CancelStep:
        if self._confirmed:
            return CancelStep(CancelAction.CONFIRMED, now_ns)
        if self._cancel_now:
            return CancelStep(CancelAction.CANCEL, now_ns)
        if now_ns >= self.deadline_ns:
            return CancelStep(CancelAction.GIVE_UP, now_ns)
        return CancelStep(CancelAction.LIST, min(self._list_at, self.deadline_ns))

    def on_tracked_cancels_sent(self, now_ns: int) -> None:
        """The cancels of the orders the bot tracks went out (answered at ``now_ns``), accepted or not: an order
        just accepted may not be listed yet, so REST must catch up before "none left" counts."""
        self._rule.cancel_accepted(now_ns)
        self._list_at = now_ns

    def on_listing(self, own_orders: int, asked_at_ns: int, now_ns: int) -> None:
        if self._rule.stale(asked_at_ns):
            self._list_at = now_ns + self._list_interval_ns
        elif own_orders:
            self._rule.orders_seen()
            self._cancel_now = True
        elif self._rule.empty(asked_at_ns):
            self._confirmed = True
        else:
            self._list_at = now_ns + self._list_interval_ns

    def on_listing_failed(self, now_ns: int) -> None:
        self._list_at = now_ns + self._list_interval_ns

    def on_cancel_result(self, accepted: bool, now_ns: int) -> None:
        """The cancels of the listed orders were answered at ``now_ns`` (``accepted``: every one of them)."""
        self._cancel_now = False
        if accepted:
            self._rule.cancel_accepted(now_ns)
            self._backoff.reset()
            self._list_at = now_ns + self._list_interval_ns
        else:
            self._list_at = now_ns + round(self._backoff.next_delay() * SEC)
