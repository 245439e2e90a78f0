# Reconnection rules shared by every WebSocket client of the bot (Lighter and Binance).
# Rules: pure code, no sockets, no clocks, no sleeping. `classify(exc)` says whether a failure is worth a
# retry; the delays come from `lmm.core.backoff.Backoff`, reset by the caller once a connection proved healthy.
from __future__ import annotations

import asyncio
import enum
import ssl

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


def connection_was_healthy(uptime_s: float, messages: int, healthy_after_s: float) -> bool:
    """A connection that stayed up long enough and delivered data resets the backoff."""
    return messages > 0 and uptime_s >= healthy_after_s
