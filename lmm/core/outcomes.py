"""What became of a send: the venue's answer to a batch of intents, in the core's vocabulary."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from lmm.core.intents import TxIntent


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the venue refused it; no nonce consumed
    RATE_LIMITED = "rate_limited"  # HTTP 429 / code 23000; not consumed
    UNKNOWN = "unknown"  # timeout, 5xx, connection loss: may or may not have landed
    NOT_SENT = "not_sent"  # signing failed or nothing to send


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    intents: tuple[TxIntent, ...]
    code: int | None = None
    message: str = ""
    tx_hashes: tuple[str, ...] = ()
    volume_quota_remaining: int | None = None
    via: str = ""
    written_ns: int | None = None  # monotonic time the signed transaction was handed to the socket

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ACCEPTED
