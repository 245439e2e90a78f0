"""cancel_own_leftovers with the orders the bot tracks (the shutdown with safety.cancel_foreign_orders false):
they are cancelled first, whatever REST shows, and "none left" needs listings taken the settle time after."""
from __future__ import annotations

import time

import pytest

import lmm.daemon.startup_orders as startup_orders
from lmm.core.intents import CancelOrder
from lmm.core.market import MarketInfo
from lmm.core.outcomes import Outcome, SendResult
from lmm.daemon.startup_orders import LeftoverIO, cancel_own_leftovers

BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)


async def test_tracked_orders_are_cancelled_before_an_empty_listing_can_confirm(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(startup_orders, "LIST_INTERVAL_S", 0.01)
    sent: list[tuple[float, list]] = []
    listed: list[float] = []

    async def list_orders():  # REST is behind: the order just accepted is never listed
        listed.append(time.monotonic())
        return []

    async def send(intents):
        sent.append((time.monotonic(), list(intents)))
        return [SendResult(Outcome.ACCEPTED, tuple(intents))]

    io = LeftoverIO(BTC, list_orders, lambda index, now_ms: True, send, settle_s=0.2)
    known = [CancelOrder(1, 2**48 + 7)]
    clean, _ = await cancel_own_leftovers(io, budget_s=10, when="shutdown", known=known)
    assert clean
    assert sent and sent[0][1] == known  # cancelled although no listing ever showed it
    assert listed[-1] - sent[0][0] >= 0.2  # confirmed only by a listing asked for the settle time after


async def test_without_tracked_orders_two_empty_listings_confirm_at_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(startup_orders, "LIST_INTERVAL_S", 0.01)
    calls: list[int] = []

    async def list_orders():
        calls.append(1)
        return []

    async def send(intents):  # pragma: no cover - nothing to cancel
        raise AssertionError("nothing should be sent")

    io = LeftoverIO(BTC, list_orders, lambda index, now_ms: True, send, settle_s=5.0)
    clean, _ = await cancel_own_leftovers(io, budget_s=10, when="start-up")
    assert clean and len(calls) == 2
