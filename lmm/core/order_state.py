# Order-slot lifecycle: one transition table, and how Lighter's order statuses map onto it.
#
# Rules:
# - Every (state, event) -> next state move is listed in TRANSITIONS and nowhere else; a move not in the
#   table raises IllegalTransition naming both.
# - PLACING lasts until the exchange reports the order (matched by client order index): a successful send
#   is not an acknowledgement (defect E11). A TIMEOUT keeps the state and asks for a lookup by the caller.
# - A slot returns to IDLE only on a proven end: a terminal status, a send the venue refused (HTTP 400),
#   or CLEARED (a reconcile proved the order absent, or the breaker force-cleared a stuck slot).
# - Lighter statuses: `in-progress`, `pending`, `open` are live; `filled` and every `canceled*` are
#   terminal; anything else is treated as live and flagged for a REST reconcile (defect E4).
from __future__ import annotations

from enum import Enum


class Side(Enum):
    BID = "bid"
    ASK = "ask"

    @property
    def is_ask(self) -> bool:
        return self is Side.ASK


class SlotState(Enum):
    IDLE = "idle"  # no order
    PLACING = "placing"  # create sent, exchange has not reported the order yet
    LIVE = "live"  # resting, exchange order index known
    MODIFYING = "modifying"  # modify sent, not yet seen at the new price/size
    CANCELING = "canceling"  # cancel sent, no terminal status yet


class SlotEvent(Enum):
    SENT_CREATE = "sent_create"
    EXCHANGE_LIVE = "exchange_live"  # the exchange reports the order with a live status
    SENT_MODIFY = "sent_modify"
    MODIFY_CONFIRMED = "modify_confirmed"  # the exchange reports the order at the requested price/size
    SENT_CANCEL = "sent_cancel"
    TERMINAL = "terminal"  # filled or any canceled* status
    SEND_FAILED = "send_failed"  # the venue refused the transaction: it did not happen
    TIMEOUT = "timeout"  # no answer within the timeout: look the order up, keep the state
    CLEARED = "cleared"  # reconcile proved it absent, or the breaker force-cleared it


_S = SlotState
_E = SlotEvent

TRANSITIONS: dict[tuple[SlotState, SlotEvent], SlotState] = {
    (_S.IDLE, _E.SENT_CREATE): _S.PLACING,
    (_S.PLACING, _E.EXCHANGE_LIVE): _S.LIVE,
    (_S.PLACING, _E.TERMINAL): _S.IDLE,  # e.g. canceled-post-only, or filled at once
    (_S.PLACING, _E.SEND_FAILED): _S.IDLE,
    (_S.PLACING, _E.TIMEOUT): _S.PLACING,
    (_S.PLACING, _E.CLEARED): _S.IDLE,
    (_S.LIVE, _E.EXCHANGE_LIVE): _S.LIVE,  # partial fill or a repeated report
    (_S.LIVE, _E.SENT_MODIFY): _S.MODIFYING,
    (_S.LIVE, _E.SENT_CANCEL): _S.CANCELING,
    (_S.LIVE, _E.TERMINAL): _S.IDLE,
    (_S.LIVE, _E.CLEARED): _S.IDLE,
    (_S.MODIFYING, _E.EXCHANGE_LIVE): _S.MODIFYING,  # a report still showing the old price/size
    (_S.MODIFYING, _E.MODIFY_CONFIRMED): _S.LIVE,
    (_S.MODIFYING, _E.SEND_FAILED): _S.LIVE,  # modify refused: the order rests unchanged
    (_S.MODIFYING, _E.SENT_CANCEL): _S.CANCELING,
    (_S.MODIFYING, _E.TERMINAL): _S.IDLE,
    (_S.MODIFYING, _E.TIMEOUT): _S.MODIFYING,
    (_S.MODIFYING, _E.CLEARED): _S.IDLE,
    (_S.CANCELING, _E.EXCHANGE_LIVE): _S.CANCELING,  # report sent before the cancel landed
    (_S.CANCELING, _E.MODIFY_CONFIRMED): _S.CANCELING,
    (_S.CANCELING, _E.TERMINAL): _S.IDLE,
    (_S.CANCELING, _E.SEND_FAILED): _S.LIVE,  # cancel refused: the order still rests
    (_S.CANCELING, _E.TIMEOUT): _S.CANCELING,
    (_S.CANCELING, _E.CLEARED): _S.IDLE,
}


class IllegalTransition(RuntimeError):
    """A broken invariant of ours: an event that cannot happen in the slot's state."""

    def __init__(self, state: SlotState, event: SlotEvent) -> None:
        super().__init__(f"illegal order-slot transition: event {event.value!r} in state {state.value!r}")
        self.state = state
        self.event = event


def next_state(state: SlotState, event: SlotEvent) -> SlotState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


class StatusClass(Enum):
    LIVE = "live"
    TERMINAL = "terminal"
    UNKNOWN = "unknown"  # treat as live, and reconcile over REST


LIVE_STATUSES = frozenset({"in-progress", "pending", "open"})


def classify_status(status: str) -> StatusClass:
    if status in LIVE_STATUSES:
        return StatusClass.LIVE
    if status == "filled" or status.startswith("canceled"):
        return StatusClass.TERMINAL
    return StatusClass.UNKNOWN


def is_live_status(status: str) -> bool:
    """Live for every purpose that matters to safety: unknown statuses count as live."""
    return classify_status(status) is not StatusClass.TERMINAL
