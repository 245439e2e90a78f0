"""signing.WorkerThread: the signer's own thread (order, results, errors, cancellation, close)."""
from __future__ import annotations

import asyncio
import threading

import pytest

from lmm.venue.lighter.signing import WorkerThread

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def worker():
    thread = WorkerThread("test-worker")
    yield thread
    thread.close()


async def test_calls_run_on_the_thread_in_submission_order(worker: WorkerThread) -> None:
    seen: list[tuple[int, str]] = []

    def record(index: int) -> int:
        seen.append((index, threading.current_thread().name))
        return index * 10

    results = await asyncio.gather(*(worker.call(record, index) for index in range(50)))
    assert results == [index * 10 for index in range(50)]
    assert seen == [(index, "test-worker") for index in range(50)]


async def test_an_exception_reaches_the_caller_and_the_thread_goes_on(worker: WorkerThread) -> None:
    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await worker.call(fail)
    assert await worker.call(lambda: "still running") == "still running"


async def test_a_caller_that_stops_waiting_mid_call_does_not_stall_the_thread(worker: WorkerThread) -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(30)
        finished.set()

    waiting = asyncio.ensure_future(worker.call(slow))
    assert await asyncio.to_thread(started.wait, 30)  # in progress: it finishes, its result is dropped
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    assert await worker.call(lambda: 7) == 7  # runs after slow() finished: order kept
    assert finished.is_set()


async def test_a_call_cancelled_while_queued_never_runs(worker: WorkerThread) -> None:
    # The sender gives up on a signature queued behind another call: it must not be signed and written later.
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def blocking() -> None:
        started.set()
        release.wait(30)

    first = asyncio.ensure_future(worker.call(blocking))
    assert await asyncio.to_thread(started.wait, 30)
    queued = asyncio.ensure_future(worker.call(lambda: ran.append("signed and written")))
    await asyncio.sleep(0)  # queued behind the blocking call
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    await first
    assert await worker.call(lambda: "next") == "next"  # the thread went past the cancelled call
    assert ran == []


async def test_close_cancels_queued_calls_and_refuses_new_ones() -> None:
    worker = WorkerThread("closing-worker")
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def first_call() -> None:
        started.set()
        release.wait(30)
        ran.append("first")

    first = asyncio.ensure_future(worker.call(first_call))
    queued = asyncio.ensure_future(worker.call(lambda: ran.append("queued")))
    assert await asyncio.to_thread(started.wait, 30)  # the thread is inside the first call
    closing = asyncio.ensure_future(asyncio.to_thread(worker.close))
    while not worker._closed:  # white-box: close() has flagged the thread before the first call ends
        await asyncio.sleep(0.01)
    release.set()
    await closing
    await first
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert ran == ["first"]
    with pytest.raises(RuntimeError, match="closed"):
        await worker.call(lambda: None)
