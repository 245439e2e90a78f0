"""Nonce settlement: what the venue's answer to a send means for our nonce counter, pure.

Rules:
- accepted -> keep the nonces. Provably unconsumed -> give them back (``acknowledge_failure``): nothing was
  sent (signing failed), or the venue refused a single transaction for another reason than its nonce. Anything
  else ("invalid nonce", 429, 5xx, timeout, connection loss, a refused batch, an interrupted send) ->
  invalidate: re-seed from the venue's ``nextNonce`` before the next send. Giving back is safe only because
  the caller holds the send lock: no later nonce exists.
- A stream (one request per transaction, answered one by one) keeps what was accepted before the first
  failure, and gives back the rest only when it is provably unconsumed: the first failure unconsumed, and
  after it only refusals for the nonce gap or transactions never sent. Otherwise: invalidate.
- ``NonceCounter`` is the counter both keepers share (the live ``NonceKeeper`` seeds it from ``nextNonce``,
  the local venue's ``EngineNonces`` from the engine); it applies a settlement.
"""
from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from lmm.core.outcomes import Outcome

INVALID_NONCE_CODE = 21104


class NonceAction(enum.Enum):
    KEEP = "keep"
    GIVE_BACK = "give_back"  # the last ``count`` nonces were not consumed
    INVALIDATE = "invalidate"  # re-seed from the venue before the next send


@dataclass(frozen=True, slots=True)
class NonceSettlement:
    action: NonceAction
    count: int = 0  # GIVE_BACK: how many nonces


KEEP = NonceSettlement(NonceAction.KEEP)
INVALIDATE = NonceSettlement(NonceAction.INVALIDATE)


def settle(outcome: Outcome, code: int | None, batch_size: int) -> NonceSettlement:
    """One answer for ``batch_size`` transactions sent together (a REST transaction or batch)."""
    if outcome is Outcome.ACCEPTED:
        return KEEP
    if outcome is Outcome.NOT_SENT:
        return NonceSettlement(NonceAction.GIVE_BACK, batch_size)
    if outcome is Outcome.REJECTED and code != INVALID_NONCE_CODE and batch_size == 1:
        return NonceSettlement(NonceAction.GIVE_BACK, 1)  # a refused single transaction consumed no nonce
    return INVALIDATE


def settle_stream(answers: Sequence[tuple[Outcome, int | None]]) -> NonceSettlement:
    """The (outcome, code) of each transaction of a stream, in nonce order."""
    failed = next((i for i, (outcome, _) in enumerate(answers) if outcome is not Outcome.ACCEPTED), None)
    if failed is None:
        return KEEP
    head_outcome, head_code = answers[failed]
    head_unconsumed = head_outcome is Outcome.NOT_SENT or (
        head_outcome is Outcome.REJECTED and head_code != INVALID_NONCE_CODE)
    tail_unconsumed = all(outcome is Outcome.NOT_SENT or (outcome is Outcome.REJECTED and code == INVALID_NONCE_CODE)
                          for outcome, code in answers[failed + 1:])
    if head_unconsumed and tail_unconsumed:
        return NonceSettlement(NonceAction.GIVE_BACK, len(answers) - failed)
    return INVALIDATE


class NonceCounter:
    """Our own per-key nonce counter: ``next`` is the nonce the venue expects next (None: to be seeded)."""

    def __init__(self) -> None:
        self.next: int | None = None
        self.refreshes = 0

    @property
    def needs_refresh(self) -> bool:
        return self.next is None

    def seed(self, nonce: int) -> int:
        self.next = nonce
        self.refreshes += 1
        return nonce

    def take(self, count: int) -> int:
        assert self.next is not None, "nonce not seeded"
        first = self.next
        self.next += count
        return first

    def acknowledge_failure(self, count: int) -> None:
        """Give back the last ``count`` nonces: the venue did not consume them (called under the send lock)."""
        if self.next is not None:
            self.next -= count

    def invalidate(self) -> None:
        self.next = None

    def apply(self, settlement: NonceSettlement) -> None:
        if settlement.action is NonceAction.GIVE_BACK:
            self.acknowledge_failure(settlement.count)
        elif settlement.action is NonceAction.INVALIDATE:
            self.invalidate()
