# Lighter error values as the venue reports them (reference §10): a code, a message, an HTTP status.
#
# Rules: the messages are the venue's exact texts where known; the SDK detects nonce errors by the
# substring "invalid nonce", so that text must never change.
from __future__ import annotations

from dataclasses import dataclass


class TxRejected(Exception):
    """A request the venue refuses, with its error code, message and HTTP status (400 by default)."""

    def __init__(self, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class WsError:
    code: int
    message: str


TOO_MANY_REQUESTS = (23000, "Too Many Requests!")

WS_INVALID_JSON = WsError(30000, "Invalid Json")
WS_INVALID_TYPE = WsError(30001, "Invalid Type")
WS_NOT_SUBSCRIBED = WsError(30002, "Not Subscribed")
WS_ALREADY_SUBSCRIBED = WsError(30003, "Already Subscribed")
WS_INVALID_CHANNEL = WsError(30005, "Invalid Channel")
WS_FAILED_TO_SUBSCRIBE = WsError(30012, "Failed to subscribe")


def rate_limited() -> TxRejected:
    return TxRejected(*TOO_MANY_REQUESTS, http_status=429)
