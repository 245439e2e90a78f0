"""Reconnect policy, pure: classify(exc) and the jittered exponential backoff (no sockets, no clock)."""
from __future__ import annotations

import random

import pytest
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus, InvalidURI
from websockets.http11 import Response

from reconnect import (
    Backoff,
    BackoffPolicy,
    ServerShutdown,
    Verdict,
    WatchdogTimeout,
    classify,
    connection_was_healthy,
)


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
