"""nonce_settlement: what each answer of the venue does to the nonce counter (keep, give back, re-seed)."""
from __future__ import annotations

import pytest

from lmm.core.nonce_settlement import (
    INVALID_NONCE_CODE,
    INVALIDATE,
    KEEP,
    NonceAction,
    NonceCounter,
    NonceSettlement,
    settle,
    settle_stream,
)
from lmm.core.outcomes import Outcome

A, R, L, U, N = Outcome.ACCEPTED, Outcome.REJECTED, Outcome.RATE_LIMITED, Outcome.UNKNOWN, Outcome.NOT_SENT
NONCE = INVALID_NONCE_CODE


@pytest.mark.parametrize(("outcome", "code", "batch", "expected"), [
    (A, 200, 1, KEEP),
    (A, 200, 15, KEEP),
    (R, 21739, 1, NonceSettlement(NonceAction.GIVE_BACK, 1)),  # a refused single transaction consumed nothing
    (R, None, 1, NonceSettlement(NonceAction.GIVE_BACK, 1)),
    (R, 21739, 3, INVALIDATE),  # a refused batch: which of them consumed a nonce is not known
    (R, NONCE, 1, INVALIDATE),  # "invalid nonce": our counter is wrong
    (L, 23000, 1, INVALIDATE),
    (U, None, 1, INVALIDATE),  # timeout, 5xx, connection loss, an interrupted send: may have landed
    (U, 500, 4, INVALIDATE),
    (N, None, 4, NonceSettlement(NonceAction.GIVE_BACK, 4)),  # signing failed: nothing left
])
def test_settle_one_answer_for_a_batch(outcome: Outcome, code: int | None, batch: int,
                                       expected: NonceSettlement) -> None:
    assert settle(outcome, code, batch) == expected


@pytest.mark.parametrize(("answers", "expected"), [
    ([], KEEP),
    ([(A, 200), (A, 200)], KEEP),
    ([(A, 200), (R, 21739), (R, NONCE), (R, NONCE)], NonceSettlement(NonceAction.GIVE_BACK, 3)),
    ([(R, 21739), (N, None)], NonceSettlement(NonceAction.GIVE_BACK, 2)),
    ([(A, 200), (N, None), (N, None)], NonceSettlement(NonceAction.GIVE_BACK, 2)),  # sign error mid-stream
    ([(R, NONCE), (R, NONCE)], INVALIDATE),  # the first failure is the nonce itself
    ([(A, 200), (R, 21739), (R, 21739)], INVALIDATE),  # a later refusal for another reason consumed its nonce
    ([(A, 200), (R, 21739), (A, 200)], INVALIDATE),  # a gap that landed anyway: the venue decides
    ([(L, 23000), (N, None)], INVALIDATE),
    ([(A, 200), (U, None)], INVALIDATE),
    ([(R, 21739), (U, None)], INVALIDATE),
])
def test_settle_a_stream(answers: list[tuple[Outcome, int | None]], expected: NonceSettlement) -> None:
    assert settle_stream(answers) == expected


def test_the_counter_takes_gives_back_and_is_re_seeded() -> None:
    counter = NonceCounter()
    assert counter.needs_refresh
    assert counter.seed(40) == 40 and counter.refreshes == 1
    assert counter.take(3) == 40 and counter.next == 43
    counter.apply(settle(R, 21739, 1))
    assert counter.next == 42
    counter.apply(KEEP)
    assert counter.next == 42
    counter.apply(settle_stream([(A, 200), (N, None)]))
    assert counter.next == 41
    counter.apply(settle(U, None, 1))
    assert counter.next is None and counter.needs_refresh
    counter.apply(NonceSettlement(NonceAction.GIVE_BACK, 2))  # nothing to give back once invalidated
    assert counter.next is None
