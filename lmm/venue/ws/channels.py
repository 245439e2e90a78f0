# Per-channel bookkeeping of the Lighter WebSocket manager: routing of reply channels, counters, health
# snapshots and the pacing of resubscriptions. Pure: no sockets, no clock (times are passed in).
# Rules: a reply channel `name:args` maps to the subscription `name/args`, or to the unique subscription
# it prefixes (account_orders:{m} answers account_orders/{m}/{a}). Resubscriptions of one channel are
# paced by a jittered backoff (the first goes out at once) that restarts after a quiet minute, so a
# persistently bad stream cannot flood the venue's 200 messages/minute budget. A channel is ready when the
# snapshot (`subscribed/...`) answering its latest subscription has arrived.
from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lmm.core.backoff import Backoff, BackoffPolicy

MessageHandler = Callable[[dict[str, Any]], None]
ResetHandler = Callable[[], None]
ReadyHandler = Callable[[], None]
RawTap = Callable[[str | bytes], None]  # sees each frame of the channel as received (the bot's --record)

RESUBSCRIBE_QUIET_RESET_S = 60.0


@dataclass(frozen=True)
class ChannelHealth:
    channel: str
    connected: bool
    subscribed: bool
    last_message_age_s: float | None
    reconnects: int
    messages: int
    bad_frames: int
    handler_errors: int
    error_frames: int
    resubscribes: int
    watchdog_resubscribes: int


@dataclass
class Channel:
    name: str
    handler: MessageHandler
    private: bool
    account: bool
    on_reset: ResetHandler | None
    resubscribe_backoff: Backoff
    subscribed: bool = False
    resubscribe_wanted: bool = False
    awaiting_snapshot: bool = False  # subscribed, the answering snapshot not yet received
    ready_listeners: list[ReadyHandler] = field(default_factory=list)
    quiet_since: float = 0.0  # subscribe time or last message time, whichever is later
    last_message_at: float | None = None
    next_resubscribe_at: float = 0.0
    last_resubscribe_at: float | None = None
    messages: int = 0
    bad_frames: int = 0
    handler_errors: int = 0
    error_frames: int = 0
    resubscribes: int = 0
    watchdog_resubscribes: int = 0
    raw_tap: RawTap | None = None

    def resubscribe_delay(self, now: float) -> float:
        return max(0.0, self.next_resubscribe_at - now)

    def note_resubscribe(self, now: float) -> None:
        last = self.last_resubscribe_at
        if last is not None and now - last > RESUBSCRIBE_QUIET_RESET_S:
            self.resubscribe_backoff.reset()
        self.next_resubscribe_at = now + self.resubscribe_backoff.next_delay()
        self.last_resubscribe_at = now
        self.resubscribes += 1

    def health(self, now: float, connected: bool, reconnects: int) -> ChannelHealth:
        age = None if self.last_message_at is None else now - self.last_message_at
        return ChannelHealth(
            channel=self.name,
            connected=connected,
            subscribed=self.subscribed,
            last_message_age_s=age,
            reconnects=reconnects,
            messages=self.messages,
            bad_frames=self.bad_frames,
            handler_errors=self.handler_errors,
            error_frames=self.error_frames,
            resubscribes=self.resubscribes,
            watchdog_resubscribes=self.watchdog_resubscribes,
        )


def new_channel(
    name: str,
    handler: MessageHandler,
    *,
    private: bool,
    account: bool | None,
    on_reset: ResetHandler | None,
    resubscribe_policy: BackoffPolicy,
    rng: random.Random,
) -> Channel:
    is_account = name.startswith(("account", "user_stats", "notification")) if account is None else account
    return Channel(name, handler, private, is_account, on_reset, Backoff(resubscribe_policy, rng))


def reply_channel_key(channel: str) -> str:
    """Lighter answers `order_book/1` on `order_book:1`; normalise both forms to the `/` form."""
    return channel.replace(":", "/")


def route(channels: Mapping[str, Channel], channel_field: str) -> Channel | None:
    key = reply_channel_key(channel_field)
    found = channels.get(key)
    if found is not None:
        return found
    matches = [c for name, c in channels.items() if name.startswith(key + "/")]
    return matches[0] if len(matches) == 1 else None
