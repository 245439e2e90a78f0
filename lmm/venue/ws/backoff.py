# Reconnection policy shared by every WebSocket client of the bot (Lighter and Binance).
# Rules: pure code, no sockets, no clocks, no sleeping. `classify(exc)` says whether a failure is worth a
# retry; `Backoff` yields jittered, exponentially growing delays capped at a maximum and is reset by the
# caller once a connection proved healthy. The random source is injected so tests are deterministic.
from __future__ import annotations

import asyncio
import enum
import random
import ssl
from dataclasses import dataclass, field

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    WebSocketException,
)


class Verdict(enum.Enum):
    RETRY = "retry"
    FATAL = "fatal"


class RetryableError(Exception):
    """Base of the errors an adapter raises on purpose to drop the connection and reconnect."""


class WatchdogTimeout(RetryableError):
    """Raised by a connection when a subscribed channel stayed silent beyond its receive timeout."""


class ServerShutdown(RetryableError):
    """Raised when the venue announces a shutdown; reconnecting is the expected answer."""


class FatalConnectionError(Exception):
    """Raised by the reconnect loop when `classify` judged a failure not worth retrying."""


# HTTP statuses on the upgrade request that will not go away by retrying the same request.
_FATAL_HTTP_STATUSES = frozenset({400, 401, 403, 404, 405, 410})


def classify(exc: BaseException) -> Verdict:
    """Whether a connection failure is transient (retry with backoff) or a configuration error (stop)."""
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
        return Verdict.FATAL
    if isinstance(exc, InvalidURI):
        return Verdict.FATAL
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return Verdict.FATAL if status in _FATAL_HTTP_STATUSES else Verdict.RETRY
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Verdict.FATAL
    if isinstance(exc, PayloadTooBig):
        # A frame above max_size is a local limit, but the next connection may well not send it again.
        return Verdict.RETRY
    if isinstance(
        exc,
        ConnectionClosed
        | InvalidHandshake
        | WebSocketException
        | OSError
        | TimeoutError
        | EOFError
        | RetryableError,
    ):
        return Verdict.RETRY
    return Verdict.FATAL


@dataclass(frozen=True)
class BackoffPolicy:
    """Delays grow as base * factor**attempt up to max_delay; jitter removes up to that fraction of it."""

    base_delay: float
    max_delay: float
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"need 0 <= base_delay <= max_delay, got {self.base_delay}, {self.max_delay}")
        if self.factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")


@dataclass
class Backoff:
    """Jittered exponential backoff; an infinite iterator of delays in seconds."""

    policy: BackoffPolicy
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def ceiling(self) -> float:
        """The un-jittered delay of the next attempt."""
        grown = self.policy.base_delay * self.policy.factor ** min(self.attempts, 64)
        return min(self.policy.max_delay, grown)

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self.attempts += 1
        return ceiling * (1.0 - self.policy.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0

    def __iter__(self) -> Backoff:
        return self

    def __next__(self) -> float:
        return self.next_delay()


def connection_was_healthy(uptime_s: float, messages: int, healthy_after_s: float) -> bool:
    """A connection that stayed up long enough and delivered data resets the backoff."""
    return messages > 0 and uptime_s >= healthy_after_s
