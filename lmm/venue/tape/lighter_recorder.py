"""Recording Lighter's public channels of one market: `order_book/{m}` and `trade/{m}`, every frame raw.

Rules: a `ConnectionAdapter` for ws_connection's reconnecting socket (the bot's own connection loop), so
reconnects, backoff and pings behave as the bot's. Channels are subscribed on the venue's `connected`
greeting (or after `hello_timeout`), as ws_manager does. The receive path stamps the local time, reads
only `type`, `channel` and the nonces (typed msgspec decode) and appends the frame to its stream. The
nonce chain is checked as the bot's book does: on a break the frame is kept, a `gap` and a `resync` event
are recorded and the book channel is resubscribed for a fresh snapshot (no further check until it
arrives). A reconnect records a `resync` (reason reconnect) before anything of the new connection.
Application pings are answered and not recorded; other frames (greeting, errors) go to `other`. Silence
of the connection, or of the book channel once subscribed, beyond `recv_timeout` forces a reconnect.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from lmm.venue.tape import schema as s
from lmm.venue.tape.writer import TapeWriter
from lmm.venue.ws.connection import Frames
from lmm.venue.ws.reconnect import WatchdogTimeout


class _Book(msgspec.Struct):
    nonce: int = -1
    begin_nonce: int = -1


class _Head(msgspec.Struct):
    type: str = ""
    channel: str = ""
    order_book: _Book | None = None


_decode_head = msgspec.json.Decoder(_Head).decode
_BOOK_TYPES = frozenset(("subscribed/order_book", "update/order_book"))
_TRADE_TYPES = frozenset(("subscribed/trade", "update/trade"))


@dataclass(frozen=True)
class LighterRecorderSettings:
    ws_url: str
    market_id: int
    symbol: str
    recv_timeout: float = 30.0
    hello_timeout: float = 2.0


class LighterRecorder:
    def __init__(self, settings: LighterRecorderSettings, writer: TapeWriter, clock_ns: Callable[[], int]) -> None:
        self.settings = settings
        self._writer = writer
        self._clock_ns = clock_ns
        self._book = writer.stream(s.LIGHTER_BOOK, settings.symbol)
        self._trades = writer.stream(s.LIGHTER_TRADE, settings.symbol)
        self.book_channel = f"order_book/{settings.market_id}"
        self.trade_channel = f"trade/{settings.market_id}"
        self._book_reply = f"order_book:{settings.market_id}"
        self._trade_reply = f"trade:{settings.market_id}"
        self._last_frame_at = 0.0
        self._last_book_at: float | None = None  # None until subscribed
        self._hello_deadline: float | None = None
        self._prev_nonce: int | None = None
        self._awaiting_snapshot = True
        self.connects = 0
        self.frames = 0
        self.gaps = 0
        self.pings = 0

    # ---- ConnectionAdapter --------------------------------------------------------------------------

    def url(self) -> str:
        return self.settings.ws_url

    async def on_open(self, now: float) -> Frames:
        self.connects += 1
        self._last_frame_at = now
        self._hello_deadline = now + self.settings.hello_timeout
        self._event(s.EV_CONNECT, "ws", {"url": self.settings.ws_url, "attempt": self.connects})
        if self.connects > 1:
            self._event(s.EV_RESYNC, self.book_channel, {"reason": "reconnect"})
        self._prev_nonce, self._awaiting_snapshot = None, True
        return ()

    def on_frame(self, raw: str | bytes, now: float) -> Frames | None:
        local_ns = self._clock_ns()
        self._last_frame_at = now
        self.frames += 1
        try:
            head = _decode_head(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._writer.other("lighter", "ws", raw, local_ns, "not a frame this recorder understands")
            return None
        channel, kind = head.channel, head.type
        if channel == self._book_reply and kind in _BOOK_TYPES:
            self._book.append(local_ns, raw)
            self._last_book_at = now
            return self._check_chain(head)
        if channel == self._trade_reply and kind in _TRADE_TYPES:
            self._trades.append(local_ns, raw)
            return None
        if kind == "ping":
            self.pings += 1
            return ('{"type":"pong"}',)
        if kind == "pong":
            return None
        self._writer.other("lighter", channel or kind or "ws", raw, local_ns)
        if kind == "connected" and self._hello_deadline is not None:
            return self._subscribe_all(now)
        return None

    def next_deadline(self) -> float:
        # The connection and the book channel must both keep talking (pings alone do not count for the book).
        latest = self._last_frame_at if self._last_book_at is None else min(self._last_frame_at, self._last_book_at)
        deadline = latest + self.settings.recv_timeout
        return deadline if self._hello_deadline is None else min(deadline, self._hello_deadline)

    async def on_deadline(self, now: float) -> Frames:
        for what, since in (("frame", self._last_frame_at), ("order book frame", self._last_book_at)):
            if since is not None and now - since >= self.settings.recv_timeout:
                raise WatchdogTimeout(f"lighter {self.settings.symbol}: no {what} for {now - since:.1f} s")
        if self._hello_deadline is not None and now >= self._hello_deadline:
            return self._subscribe_all(now)
        return ()

    def on_close(self, error: BaseException | None, now: float) -> None:
        self._hello_deadline = self._last_book_at = None
        self._event(s.EV_DISCONNECT, "ws", {"error": None if error is None else repr(error)[:300]})

    # ---- internals ----------------------------------------------------------------------------------

    def _subscribe_all(self, now: float) -> Frames:
        self._hello_deadline = None
        self._last_book_at = now
        frames = []
        for channel in (self.book_channel, self.trade_channel):
            frames.append(json.dumps({"type": "subscribe", "channel": channel}))
            self._event(s.EV_SUBSCRIBE, channel, None)
        return frames

    def _check_chain(self, head: _Head) -> Frames | None:
        book = head.order_book
        if book is None:
            return None
        if head.type == "subscribed/order_book":
            self._prev_nonce, self._awaiting_snapshot = book.nonce, False
            return None
        previous, self._prev_nonce = self._prev_nonce, book.nonce
        if self._awaiting_snapshot or previous is None or book.begin_nonce == previous:
            return None
        self.gaps += 1
        self._awaiting_snapshot = True
        self._event(s.EV_GAP, self.book_channel, {"expected": previous, "received": book.begin_nonce})
        self._event(s.EV_RESYNC, self.book_channel, {"reason": "gap"})
        channel = self.book_channel
        return (json.dumps({"type": "unsubscribe", "channel": channel}),
                json.dumps({"type": "subscribe", "channel": channel}))

    def _event(self, event: str, stream: str, detail: dict | None) -> None:
        self._writer.event("lighter", self.settings.symbol, event, stream,
                           None if detail is None else json.dumps(detail), local_ns=self._clock_ns())
