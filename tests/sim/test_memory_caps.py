"""Every buffer that a long run keeps appending to has a cap: the run's memory must not grow with its length.

One test per cap (pure, fast): sample windows for percentiles (tick-to-order, send latency, loop lag),
the last reply codes, the trade ids kept for de-duplication, the log queue and the reconnect delays.
"""
from __future__ import annotations

import logging
import queue
import statistics
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import serve
from ws_support import FakeLighter, InstantSleep, Recorder, Running, make_manager, wait_until

import lmm.core.account as account
import lmm.venue.ws.connection as ws_connection
from lmm.core.account import AccountState
from lmm.core.intents import CancelOrder
from lmm.core.market_maker import TICK_TO_ORDER_KEPT, BotStats
from lmm.core.outcomes import Outcome
from lmm.core.sample_window import SampleWindow
from lmm.ops.logging_setup import BoundedQueueHandler
from lmm.ops.loop_lag import LoopLagMonitor
from lmm.venue.lighter.tx_sender import LAST_CODES_KEPT, SEND_LATENCIES_KEPT, Reply, SenderStats, TxSender


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_sample_window_keeps_the_newest_samples_in_memory_reserved_up_front() -> None:
    window = SampleWindow(100)
    assert len(window) == 0 and window.percentile(0.5) is None
    reserved = window._values.buffer_info()
    values = [float((i * 7919) % 1000) for i in range(1050)]
    for count, value in enumerate(values, 1):
        window.append(value)
        assert len(window) == min(count, 100)
        if count in (1, 50, 100, 101, 1050):
            kept = values[max(0, count - 100):count]
            assert sorted(window) == sorted(kept)
            for q in (0.0, 0.5, 0.99):
                assert window.percentile(q) == nearest_rank(kept, q)
    assert window._values.buffer_info() == reserved  # same address and length: nothing was ever reallocated
    with pytest.raises(ValueError):
        SampleWindow(0)


def test_tick_to_order_and_send_latency_samples_are_capped() -> None:
    stats, sender = BotStats(), SenderStats()
    for i in range(3 * TICK_TO_ORDER_KEPT):
        stats.tick_to_order_ms.append(float(i))
        sender.send_latency_ms.append(float(i))
    assert len(stats.tick_to_order_ms) == TICK_TO_ORDER_KEPT
    assert min(stats.tick_to_order_ms) == 2 * TICK_TO_ORDER_KEPT  # the newest are the ones kept
    assert len(sender.send_latency_ms) == SEND_LATENCIES_KEPT
    assert statistics.median(sender.send_latency_ms) >= 3 * TICK_TO_ORDER_KEPT - SEND_LATENCIES_KEPT


def test_last_reply_codes_are_capped() -> None:
    sender = TxSender(signer=None, nonces=None, transports=[])  # type: ignore[arg-type]  # only _record is used
    for code in range(3 * LAST_CODES_KEPT):
        sender._record(CancelOrder(1, 2**48), Reply(Outcome.REJECTED, code, "refused"), "ws", None)
    assert sender.stats.last_codes == list(range(2 * LAST_CODES_KEPT, 3 * LAST_CODES_KEPT))


def test_loop_lag_samples_are_capped() -> None:
    monitor = LoopLagMonitor(capacity=50)
    for i in range(500):
        monitor.record(float(i))
    assert monitor.samples == 50
    assert monitor.percentile_ms(0.0) == 450.0


def test_seen_trade_ids_are_capped_and_recent_ones_still_deduplicated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(account, "_SEEN_TRADES_KEPT", 100)
    state = AccountState(account_index=7, market_id=1, price_decimals=1, size_decimals=5)

    def trade(trade_id: int) -> dict[str, object]:
        return {"trade_id": trade_id, "market_id": 1, "price": "100000.0", "size": "0.00100",
                "bid_account_id": 7, "ask_account_id": 9, "is_maker_ask": True}

    for trade_id in range(1, 1001):
        assert len(state.on_trades([trade(trade_id)])) == 1
    assert len(state._seen_trades) == 100 and len(state._seen_order) == 100
    assert state.on_trades([trade(1000), trade(901)]) == []  # still remembered: a replay is not a new fill


def test_log_queue_is_bounded_and_says_how_many_records_were_lost() -> None:
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = BoundedQueueHandler(records, max_pending=10)
    logger = logging.Logger("caps-test")
    logger.addHandler(handler)
    for i in range(25):  # nobody drains the queue: a blocked console
        logger.warning("record %d", i)
    assert records.qsize() == 10 and handler.dropped == 15
    while not records.empty():
        records.get_nowait()
    logger.warning("after")
    notice, after = records.get_nowait(), records.get_nowait()
    assert "15 log record(s) dropped" in notice.getMessage() and after.getMessage() == "after"
    logger.warning("again")
    assert records.get_nowait().getMessage() == "again"  # reported once


@pytest.fixture
async def lighter() -> AsyncIterator[FakeLighter]:
    fake = FakeLighter()
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        fake.server = server
        yield fake


async def test_reconnect_delays_kept_for_diagnostics_are_capped(lighter: FakeLighter,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_connection, "BACKOFF_DELAYS_KEPT", 2)
    sleep = InstantSleep()
    manager = make_manager(lighter.url, sleep, healthy_after_s=3600.0)
    manager.subscribe("order_book/1", Recorder())
    async with Running(manager):
        for drop in range(1, 5):
            await wait_until(lambda d=drop: len(lighter.peers) == d and bool(lighter.peers[-1].of_type("subscribe")))
            await lighter.peers[-1].ws.close()
        await wait_until(lambda: len(sleep.delays) == 4)
    assert manager.backoff_delays == sleep.delays[-2:]
