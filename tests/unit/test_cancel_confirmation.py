"""cancel_confirmation: the decisions of cancelling and confirming that no order is left, driven step by step
with literal times (ns) by a scripted shell in which every send and every listing takes 0.1 s."""
from __future__ import annotations

import random
from collections.abc import Sequence

from lmm.core.backoff import Backoff
from lmm.core.cancel_confirmation import (
    CancelAction,
    CancelAllConfirmation,
    CancelStep,
    OwnOrdersConfirmation,
)
from lmm.core.leftovers import CANCEL_ALL_BACKOFF, cancel_all_backoff

SEC = 1_000_000_000
MS = 1_000_000
T0 = 1_000 * SEC
IO_NS = 100 * MS  # every send and every listing is answered 0.1 s after it is asked for


class _HalfJitter(random.Random):
    def random(self) -> float:
        return 0.5  # every delay is 0.75 of its ceiling: 0.375 s, 0.75 s, 1.5 s, 3 s, 6 s, 6 s


def fixed_backoff() -> Backoff:
    return Backoff(CANCEL_ALL_BACKOFF, _HalfJitter())


def drive(machine: CancelAllConfirmation | OwnOrdersConfirmation, now: int, listings: Sequence[int],
          cancels: Sequence[bool]) -> list[tuple[str, int]]:
    """The shell: ask, sleep until the step is due, do it, report. (action, ms after T0) for each step taken."""
    listings, cancels = list(listings), list(cancels)
    trace: list[tuple[str, int]] = []
    while True:
        step = machine.next_step(now)
        if step.action in (CancelAction.CONFIRMED, CancelAction.GIVE_UP):
            trace.append((step.action.value, (now - T0) // MS))
            return trace
        if step.at_ns > now:
            now = step.at_ns
            continue
        trace.append((step.action.value, (now - T0) // MS))
        if step.action is CancelAction.CANCEL:
            now += IO_NS
            machine.on_cancel_result(cancels.pop(0), now)
        else:
            asked, now = now, now + IO_NS
            machine.on_listing(listings.pop(0) if listings else 0, asked, now)


def cancel_all(budget_s: int = 60, settle_s: int = 5, *, cancel_first: bool,
               backoff: Backoff | None = None) -> CancelAllConfirmation:
    return CancelAllConfirmation(T0, budget_s * SEC, settle_s * SEC, backoff or fixed_backoff(),
                                 cancel_first=cancel_first)


# -- the market-wide cancel-all ------------------------------------------------------------------------------


def test_without_a_cancel_two_empty_listings_a_second_apart_confirm() -> None:
    assert drive(cancel_all(cancel_first=False), T0, [0, 0], []) == [
        ("list", 1_000), ("list", 2_100), ("confirmed", 2_200)]


def test_after_an_accepted_cancel_the_confirming_listing_is_asked_the_settle_time_after_it() -> None:
    # accepted at 100 ms: the empties at 1.1-4.4 s are too early (the venue may still show an older state)
    assert drive(cancel_all(cancel_first=True), T0, [], [True]) == [
        ("cancel", 0), ("list", 1_100), ("list", 2_200), ("list", 3_300), ("list", 4_400), ("list", 5_500),
        ("confirmed", 5_600)]


def test_orders_in_a_listing_need_a_cancel_and_the_settle_time_counts_from_its_acceptance() -> None:
    assert drive(cancel_all(cancel_first=False), T0, [2], [True]) == [
        ("list", 1_000), ("cancel", 1_100), ("list", 2_200), ("list", 3_300), ("list", 4_400), ("list", 5_500),
        ("list", 6_600), ("confirmed", 6_700)]


def test_empty_listings_do_not_confirm_while_a_refused_cancel_all_is_still_needed() -> None:
    # refused twice (next cancel 0.375 s, then 0.75 s after the answer), accepted at 2.5 s: only then counting
    assert drive(cancel_all(cancel_first=True), T0, [], [False, False, True]) == [
        ("cancel", 0), ("list", 1_100), ("cancel", 1_200), ("list", 2_300), ("cancel", 2_400),
        ("list", 3_500), ("list", 4_600), ("list", 5_700), ("list", 6_800), ("list", 7_900), ("confirmed", 8_000)]


def test_a_refusing_venue_is_asked_with_a_growing_backoff_until_the_budget_runs_out() -> None:
    # cancel-alls answered at 0.1, 1.3, 2.5, 4.1, 7.2 s; the next ones are due 0.375, 0.75, 1.5, 3, 6 s later
    assert drive(cancel_all(10, cancel_first=True), T0, [3] * 10, [False] * 10) == [
        ("cancel", 0), ("list", 1_100), ("cancel", 1_200), ("list", 2_300), ("cancel", 2_400), ("list", 3_500),
        ("cancel", 4_000), ("list", 5_100), ("cancel", 7_100), ("list", 8_200), ("give_up", 10_000)]


def test_a_listing_due_after_the_deadline_is_still_taken_at_the_deadline_but_no_cancel_is() -> None:
    machine = cancel_all(2, cancel_first=True)
    assert drive(machine, T0, [3, 3], [False, False]) == [
        ("cancel", 0), ("list", 1_100), ("cancel", 1_200), ("list", 2_000), ("give_up", 2_100)]


def test_cancel_alls_are_spaced_by_the_seeded_jittered_backoff_from_each_answer() -> None:
    machine = cancel_all(15, cancel_first=True, backoff=cancel_all_backoff(random.Random(11)))
    steps = drive(machine, T0, [3] * 20, [False] * 20)
    # delays of Random(11): 0.387, 0.720, 1.076, 3.069, 5.969 s; a cancel waits for its listing too
    assert [ms for action, ms in steps if action == "cancel"] == [0, 1_200, 2_400, 3_600, 6_768, 12_837]
    assert steps[-1] == ("give_up", 15_000)


def test_a_listing_asked_before_the_accepted_cancel_does_not_count() -> None:
    machine = cancel_all(cancel_first=True)
    assert machine.next_step(T0) == CancelStep(CancelAction.CANCEL, T0)
    machine.on_cancel_result(True, T0 + SEC)
    assert machine.cancelled_at_ns == T0 + SEC
    machine.on_listing(0, T0 + SEC // 2, T0 + 7 * SEC)  # asked for before the cancel was accepted: stale
    assert machine.next_step(T0 + 7 * SEC) == CancelStep(CancelAction.LIST, T0 + 8 * SEC)
    machine.on_listing(0, T0 + 8 * SEC, T0 + 8 * SEC)
    assert machine.next_step(T0 + 8 * SEC) == CancelStep(CancelAction.LIST, T0 + 9 * SEC)  # one empty so far
    machine.on_listing(0, T0 + 9 * SEC, T0 + 9 * SEC)
    assert machine.next_step(T0 + 9 * SEC).action is CancelAction.CONFIRMED


def test_a_failed_listing_is_tried_again_a_second_later_and_does_not_count() -> None:
    machine = cancel_all(cancel_first=False)
    machine.on_listing(0, T0 + SEC, T0 + SEC)
    machine.on_listing_failed(T0 + 2 * SEC)
    assert machine.next_step(T0 + 2 * SEC) == CancelStep(CancelAction.LIST, T0 + 3 * SEC)
    machine.on_listing(0, T0 + 3 * SEC, T0 + 3 * SEC)
    assert machine.next_step(T0 + 3 * SEC).action is CancelAction.CONFIRMED  # two empties in a row


def test_orders_between_empty_listings_restart_the_count() -> None:
    machine = cancel_all(cancel_first=False)
    machine.on_listing(0, T0 + SEC, T0 + SEC)
    machine.on_listing(1, T0 + 2 * SEC, T0 + 2 * SEC)
    assert machine.next_step(T0 + 2 * SEC) == CancelStep(CancelAction.CANCEL, T0)  # due since the start
    machine.on_cancel_result(True, T0 + 2 * SEC)
    machine.on_listing(0, T0 + 8 * SEC, T0 + 8 * SEC)
    assert machine.next_step(T0 + 8 * SEC).action is CancelAction.LIST


# -- only the bot's own orders ---------------------------------------------------------------------------------


def own(budget_s: int = 60, settle_s: int = 5) -> OwnOrdersConfirmation:
    return OwnOrdersConfirmation(T0, budget_s * SEC, settle_s * SEC, fixed_backoff())


def test_own_without_tracked_orders_two_empty_listings_confirm_at_once() -> None:
    assert drive(own(), T0, [0, 0], []) == [("list", 0), ("list", 1_100), ("confirmed", 1_200)]


def test_own_tracked_cancels_count_as_a_cancel_so_the_listings_wait_the_settle_time() -> None:
    machine = own()
    machine.on_tracked_cancels_sent(T0 + 100 * MS)  # sent first, whatever the answer
    assert drive(machine, T0 + 100 * MS, [], []) == [
        ("list", 100), ("list", 1_200), ("list", 2_300), ("list", 3_400), ("list", 4_500), ("list", 5_600),
        ("confirmed", 5_700)]


def test_own_refused_cancels_back_off_and_an_accepted_one_starts_the_backoff_over() -> None:
    # refused at 0.2 s and 0.775 s (next listing 0.375 s, then 0.75 s later), accepted at 1.725 s (a second),
    # refused again at 2.925 s: 0.375 s again. Then empty: confirmed the settle time after the accepted cancel.
    assert drive(own(), T0, [1, 1, 1, 1], [False, False, True, False]) == [
        ("list", 0), ("cancel", 100), ("list", 575), ("cancel", 675), ("list", 1_525), ("cancel", 1_625),
        ("list", 2_725), ("cancel", 2_825), ("list", 3_300), ("list", 4_400), ("list", 5_500), ("list", 6_600),
        ("list", 7_700), ("confirmed", 7_800)]


def test_own_gives_up_when_the_next_listing_would_be_after_the_deadline() -> None:
    assert drive(own(3), T0, [1] * 5, [False] * 5) == [
        ("list", 0), ("cancel", 100), ("list", 575), ("cancel", 675), ("list", 1_525), ("cancel", 1_625),
        ("give_up", 3_000)]


def test_own_ignores_a_listing_asked_before_the_tracked_cancels() -> None:
    machine = own()
    machine.on_tracked_cancels_sent(T0 + SEC)
    machine.on_listing(1, T0, T0 + 2 * SEC)  # stale: the order it shows was being cancelled
    assert machine.next_step(T0 + 2 * SEC) == CancelStep(CancelAction.LIST, T0 + 3 * SEC)
    machine.on_listing_failed(T0 + 4 * SEC)
    assert machine.next_step(T0 + 4 * SEC) == CancelStep(CancelAction.LIST, T0 + 5 * SEC)
