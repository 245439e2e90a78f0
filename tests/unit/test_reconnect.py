"""Reconnect policy, pure: classify(exc), the jittered exponential backoff, and when the reconnect loop
resets it (scripted sockets: no network, no clock)."""
from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus, InvalidURI
from websockets.http11 import Response

from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.venue.ws.connection import ConnectionSettings, ReconnectingWebSocket
from lmm.venue.ws.reconnect import ServerShutdown, Verdict, WatchdogTimeout, classify, connection_was_healthy


def _invalid_status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "x", None))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        (ConnectionClosedOK(None, None), Verdict.RETRY),
        (ConnectionClosedError(None, None), Verdict.RETRY),
        (ConnectionRefusedError(), Verdict.RETRY),
        (TimeoutError(), Verdict.RETRY),
        (WatchdogTimeout("silent"), Verdict.RETRY),
        (ServerShutdown("bye"), Verdict.RETRY),
        (_invalid_status(503), Verdict.RETRY),
        (_invalid_status(429), Verdict.RETRY),
        (_invalid_status(403), Verdict.FATAL),
        (_invalid_status(404), Verdict.FATAL),
        (InvalidURI("nope://x", "bad scheme"), Verdict.FATAL),
        (ValueError("a bug of ours"), Verdict.FATAL),
    ],
)
def test_classify(exc: BaseException, verdict: Verdict) -> None:
    assert classify(exc) is verdict


def test_backoff_grows_caps_jitters_and_resets() -> None:
    policy = BackoffPolicy(base_delay=1.0, max_delay=8.0, factor=2.0, jitter=0.5)
    backoff = Backoff(policy, random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    replay = random.Random(7)
    assert delays == [c * (1 - 0.5 * replay.random()) for c in ceilings]
    backoff.reset()
    assert backoff.ceiling() == 1.0
    assert 0.5 <= next(backoff) <= 1.0


def test_backoff_without_jitter_is_exact() -> None:
    backoff = Backoff(BackoffPolicy(0.5, 3.0, jitter=0.0), random.Random(1))
    assert [next(backoff) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_policy_validates() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(base_delay=5.0, max_delay=1.0)
    with pytest.raises(ValueError):
        BackoffPolicy(base_delay=1.0, max_delay=2.0, jitter=1.5)


def test_healthy_connection_rule() -> None:
    assert connection_was_healthy(uptime_s=12.0, messages=3, healthy_after_s=10.0)
    assert not connection_was_healthy(uptime_s=12.0, messages=0, healthy_after_s=10.0)
    assert not connection_was_healthy(uptime_s=2.0, messages=3, healthy_after_s=10.0)


# ---- ReconnectingWebSocket: when the backoff starts again from its base (scripted sockets, no network) ------


class _ScriptedSocket:
    """Delivers its frames, then fails as a dropped connection does."""

    def __init__(self, frames: list[str]) -> None:
        self._frames = frames

    async def recv(self) -> str:
        if self._frames:
            return self._frames.pop(0)
        raise ConnectionClosedError(None, None)

    async def send(self, frame: str) -> None:
        pass

    async def close(self) -> None:
        pass


class _SubscribingAdapter:
    """Calls the connection established when the frame "subscribed" arrives, as the venue adapters do."""

    conn: ReconnectingWebSocket

    def url(self) -> str:
        return "ws://scripted"

    async def on_open(self, now: float) -> tuple[str, ...]:
        return ()

    def on_frame(self, raw: str | bytes, now: float) -> None:
        if raw == "subscribed":
            self.conn.mark_established()

    def next_deadline(self) -> None:
        return None

    async def on_deadline(self, now: float) -> tuple[str, ...]:
        return ()

    def on_close(self, error: BaseException | None, now: float) -> None:
        pass


def _ceilings_after(connections: list[list[str]], healthy_after_s: float = 3600.0) -> list[float]:
    """Run one scripted connection per entry; returns the ceiling (un-jittered delay) each retry waited."""
    policy = BackoffPolicy(base_delay=1.0, max_delay=8.0, jitter=0.0)
    script = list(connections)
    adapter = _SubscribingAdapter()
    delays: list[float] = []

    @contextlib.asynccontextmanager
    async def connect(url: str, **_: object) -> AsyncIterator[_ScriptedSocket]:
        yield _ScriptedSocket(list(script.pop(0)))

    async def sleep(delay: float) -> None:
        delays.append(delay)
        if not script:
            await conn.close()

    conn = ReconnectingWebSocket(adapter, ConnectionSettings(backoff=policy, healthy_after_s=healthy_after_s),
                                 rng=random.Random(3), sleep=sleep, clock=lambda: 0.0, connect_factory=connect)
    adapter.conn = conn
    asyncio.run(asyncio.wait_for(conn.run(), 10))
    return delays


def test_backoff_back_at_base_after_every_connect_and_subscribe() -> None:
    # Each connection is answered and dropped at once (no time to be "healthy"): the base delay every time.
    assert _ceilings_after([["subscribed"], ["subscribed", "update"], ["subscribed"]]) == [1.0, 1.0, 1.0]


def test_backoff_grows_while_connections_never_get_subscribed() -> None:
    delays = _ceilings_after([["subscribed"], [], ["hello"], [], ["subscribed"], []])
    assert delays == [1.0, 2.0, 4.0, 8.0, 1.0, 2.0]  # capped at 8; reset by the next subscribed connection


def test_backoff_resets_after_a_healthy_connection_without_the_adapter() -> None:
    # An adapter that never calls mark_established still resets after a connection up long enough with data.
    assert _ceilings_after([["data"], ["data"], []], healthy_after_s=0.0) == [1.0, 1.0, 2.0]
    assert _ceilings_after([["data"], ["data"], []]) == [1.0, 2.0, 4.0]
