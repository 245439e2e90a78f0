# Lighter WebSocket subscription manager: one connection carrying a set of channels.
# Rules: channels are registered with a synchronous handler doing small work (the handler runs inside the
# single receive loop; anything slow belongs behind the handler's own mailbox). A frame that is not JSON
# or lacks a known channel is logged and counted, never fatal; a handler exception is counted against its
# channel and never reaches the socket. Private channels carry an auth token from the token provider and
# are re-subscribed with a fresh token `token_renew_margin_s` before expiry, on the same connection, with
# no unsubscribe in between (no gap): a live subscription answers 30003 "Already Subscribed" and goes on,
# one the server ended at expiry restarts with a snapshot; later reconnects use the fresh token.
# Application pings are answered; protocol pings are websockets' keepalive at `ping_interval`. A channel
# silent beyond its receive timeout is re-subscribed; a connection silent beyond the shortest timeout is
# dropped and reconnected; every reconnect re-subscribes everything and first tells each channel's
# `on_reset` that its stream broke. Every snapshot (`subscribed/...`) calls the channel's ready listeners
# after its handler: the stream is live again, so what it missed can be read over REST without a gap. Once
# every channel of a connection has its snapshot, the connection is established and the reconnect backoff
# starts again from its base delay. Frames are decoded with msgspec (untyped: handlers get plain dicts).
# A recorder may tap a channel (each of its frames as received, before the handler) and listen to the
# connection's opens and closes; a tap or listener that raises is logged, never reaches the handler.
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from lmm.config.config import DEFAULTS
from lmm.core.backoff import BackoffPolicy
from lmm.venue.ws.channels import (
    Channel,
    ChannelHealth,
    MessageHandler,
    RawTap,
    ReadyHandler,
    ResetHandler,
    new_channel,
    route,
)
from lmm.venue.ws.connection import (
    Clock,
    ConnectFactory,
    ConnectionHealth,
    ConnectionSettings,
    Frames,
    ReconnectingWebSocket,
    Sleep,
    connect,
)
from lmm.venue.ws.reconnect import RetryableError, ServerShutdown, WatchdogTimeout

log = logging.getLogger(__name__)

_decode = msgspec.json.Decoder().decode

# Error codes that only confirm what the client already knows (lighter-api.md §10).
ALREADY_SUBSCRIBED = 30003
NOT_SUBSCRIBED = 30002
_WS_DEFAULTS = DEFAULTS["websocket"]  # the configuration schema holds these defaults once


@dataclass(frozen=True)
class AuthToken:
    value: str
    expires_at: float  # unix seconds


TokenProvider = Callable[[], AuthToken | Awaitable[AuthToken]]
ConnectionListener = Callable[[str, dict[str, Any]], None]  # ("connect" | "disconnect", detail)


class TokenProviderError(RetryableError):
    """The auth token could not be minted; the connection is retried with backoff."""


@dataclass(frozen=True)
class WsSettings:
    """The `websocket` config section plus a few protocol constants with documented defaults."""

    ping_interval: float = float(_WS_DEFAULTS["ping_interval"])
    recv_timeout: float = float(_WS_DEFAULTS["recv_timeout"])
    account_recv_timeout: float = float(_WS_DEFAULTS["account_recv_timeout"])
    reconnect_base_delay: float = float(_WS_DEFAULTS["reconnect_base_delay"])
    reconnect_max_delay: float = float(_WS_DEFAULTS["reconnect_max_delay"])
    # Lighter sends {"type":"connected"} first; subscribe anyway if it has not come after this long.
    hello_timeout: float = 2.0
    # Server caps tokens at 8 h; renew this long before expiry so a slow renewal never leaves a gap.
    token_renew_margin_s: float = 1800.0
    token_retry_s: float = 10.0
    healthy_after_s: float = 10.0
    open_timeout: float = 10.0
    # Pacing of resubscriptions of one channel (nonce gaps, failed sanity checks): first one at once.
    resubscribe_base_delay: float = 0.5
    resubscribe_max_delay: float = 30.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | Any) -> WsSettings:
        """Build from the config's `websocket` section (a mapping or an object with those attributes)."""
        keys = ("ping_interval", "recv_timeout", "account_recv_timeout", "reconnect_base_delay",
                "reconnect_max_delay")
        if isinstance(section, Mapping):
            values = {k: float(section[k]) for k in keys if k in section}
        else:
            values = {k: float(getattr(section, k)) for k in keys if hasattr(section, k)}
        return cls(**values)

    def connection_settings(self) -> ConnectionSettings:
        return ConnectionSettings(
            backoff=BackoffPolicy(self.reconnect_base_delay, self.reconnect_max_delay),
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_interval,
            open_timeout=self.open_timeout,
            healthy_after_s=self.healthy_after_s,
        )


@dataclass
class _Counters:
    bad_frames: int = 0
    unroutable_frames: int = 0
    pings_answered: int = 0
    token_renewals: int = 0
    last_frame_at: float = 0.0
    hello_deadline: float | None = None
    established: bool = False  # every channel of this connection has received its snapshot
    renew_at: float | None = None
    pending: list[str] = field(default_factory=list)


class LighterWsManager:
    def __init__(
        self,
        url: str,
        settings: WsSettings,
        token_provider: TokenProvider | None = None,
        *,
        name: str = "lighter-ws",
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        connect_factory: ConnectFactory = connect,
    ) -> None:
        self._url = url
        self._settings = settings
        self._token_provider = token_provider
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._channels: dict[str, Channel] = {}
        self._state = _Counters()
        self._token: AuthToken | None = None
        self._open = False
        self._dispatching = False
        self._background: set[asyncio.Task[None]] = set()
        self._connection_listeners: list[ConnectionListener] = []
        self._sleep = sleep
        self._conn = ReconnectingWebSocket(
            self,
            settings.connection_settings(),
            name=name,
            rng=self._rng,
            sleep=sleep,
            clock=clock,
            connect_factory=connect_factory,
        )

    # ---- public API ---------------------------------------------------------------------------------

    def subscribe(
        self,
        channel: str,
        handler: MessageHandler,
        *,
        private: bool = False,
        account: bool | None = None,
        on_reset: ResetHandler | None = None,
    ) -> None:
        """Register a channel (subscribe form, e.g. `order_book/1`); sent now if connected, else on connect."""
        if channel in self._channels:
            raise ValueError(f"channel {channel!r} is already subscribed")
        if private and self._token_provider is None:
            raise ValueError(f"private channel {channel!r} needs a token provider")
        settings = self._settings
        policy = BackoffPolicy(settings.resubscribe_base_delay, settings.resubscribe_max_delay)
        ch = new_channel(channel, handler, private=private, account=account, on_reset=on_reset,
                         resubscribe_policy=policy, rng=self._rng)
        self._channels[channel] = ch
        if self._open and self._state.hello_deadline is None:
            ch.resubscribe_wanted = True
            self._spawn(self._resubscribe_later(ch, 0.0, unsubscribe_first=False))

    def add_ready_listener(self, channel: str, listener: ReadyHandler) -> None:
        """Call ``listener`` (synchronous, short) after each snapshot of ``channel``: every (re)subscription."""
        self._channels[channel].ready_listeners.append(listener)

    def tap(self, channel: str, tap: RawTap) -> None:
        """Hand every frame of ``channel`` to ``tap`` as received, before its handler (a recorder: cheap)."""
        self._channels[channel].raw_tap = tap

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        """Call ``listener("connect", {...})`` on each open and ``("disconnect", {...})`` on each close."""
        self._connection_listeners.append(listener)

    def request_resubscribe(self, channel: str) -> None:
        """Ask for a fresh snapshot of one channel (e.g. after a nonce gap); safe to call from a handler.

        Paced per channel (see ws_channels); a request while one is pending is merged into it.
        """
        ch = self._channels[channel]
        if ch.resubscribe_wanted:
            return
        ch.subscribed = False
        ch.resubscribe_wanted = True
        if not self._open:
            return  # the next connection subscribes every channel anyway
        now = self._clock()
        delay = ch.resubscribe_delay(now)
        if delay == 0.0 and self._dispatching and not (ch.private and self._token is None):
            self._emit_resubscribe(ch, now, unsubscribe_first=True)  # on_frame drains it on return
        else:
            self._spawn(self._resubscribe_later(ch, delay, unsubscribe_first=True))

    def health(self, channel: str) -> ChannelHealth:
        conn = self._conn.health()
        return self._channels[channel].health(self._clock(), conn.connected, conn.reconnects)

    def health_all(self) -> dict[str, ChannelHealth]:
        return {name: self.health(name) for name in self._channels}

    def connection_health(self) -> ConnectionHealth:
        return self._conn.health()

    @property
    def bad_frames(self) -> int:
        """Frames that were not JSON objects or named no subscribed channel."""
        return self._state.bad_frames + self._state.unroutable_frames

    @property
    def token_renewals(self) -> int:
        return self._state.token_renewals

    @property
    def backoff_delays(self) -> list[float]:
        return self._conn.backoff_delays

    async def run(self) -> None:
        await self._conn.run()

    async def close(self) -> None:
        await self._conn.close()
        for task in list(self._background):
            task.cancel()

    # ---- ConnectionAdapter --------------------------------------------------------------------------

    def url(self) -> str:
        return self._url

    async def on_open(self, now: float) -> Frames:
        self._open = True
        self._state.established = False
        self._state.last_frame_at = now
        self._state.hello_deadline = now + self._settings.hello_timeout
        if any(ch.private for ch in self._channels.values()):
            await self._ensure_token(now, force=False)
        self._notify_connection("connect", {"url": self._url})
        return ()

    def on_frame(self, raw: str | bytes, now: float) -> Frames | None:
        state = self._state
        state.last_frame_at = now
        try:
            msg = _decode(raw)
        except msgspec.DecodeError:
            state.bad_frames += 1
            log.warning("lighter-ws: non-JSON frame skipped: %.200r", raw)
            return None
        if not isinstance(msg, dict):
            state.bad_frames += 1
            log.warning("lighter-ws: non-object frame skipped: %.200r", raw)
            return None
        kind = msg.get("type")
        if kind == "ping":
            state.pings_answered += 1
            return ('{"type":"pong"}',)
        if kind == "connected":
            # A late greeting after the hello timeout already subscribed everything changes nothing.
            return self._subscribe_all(now) if state.hello_deadline is not None else None
        if kind == "shutdown":
            raise ServerShutdown(f"server shutdown notice: {msg.get('close_in_ms')} ms")
        if kind in ("pong", "unsubscribed"):
            return None
        self._dispatching = True
        try:
            self._dispatch(msg, kind, raw, now)
        finally:
            self._dispatching = False
        return self._drain_pending()

    def next_deadline(self) -> float | None:
        state = self._state
        deadlines = [state.last_frame_at + self._connection_timeout()]
        if state.hello_deadline is not None:
            deadlines.append(state.hello_deadline)
        if state.renew_at is not None:
            deadlines.append(state.renew_at)
        for ch in self._channels.values():
            if ch.subscribed:
                deadlines.append(ch.quiet_since + self._timeout_of(ch))
        return min(deadlines)

    async def on_deadline(self, now: float) -> Frames:
        state = self._state
        silent_for = now - state.last_frame_at
        if silent_for >= self._connection_timeout():
            raise WatchdogTimeout(f"no frame for {silent_for:.1f} s")
        frames: list[str] = []
        if state.hello_deadline is not None and now >= state.hello_deadline:
            log.warning("lighter-ws: no 'connected' greeting; subscribing anyway")
            frames.extend(self._subscribe_all(now))
        if state.renew_at is not None and now >= state.renew_at:
            frames.extend(await self._renew_private_channels(now))
        for ch in self._channels.values():
            if ch.subscribed and now - ch.quiet_since >= self._timeout_of(ch):
                log.warning("lighter-ws: %s silent for %.1f s; resubscribing", ch.name, now - ch.quiet_since)
                ch.watchdog_resubscribes += 1
                self._reset_channel(ch)
                self._emit_resubscribe(ch, now, unsubscribe_first=True)
        frames.extend(self._drain_pending())
        return frames

    def on_close(self, error: BaseException | None, now: float) -> None:
        self._open = False
        self._state.established = False
        self._state.hello_deadline = None
        self._state.pending.clear()
        for ch in self._channels.values():
            was_live = ch.subscribed
            ch.subscribed = False
            ch.resubscribe_wanted = False
            ch.awaiting_snapshot = False
            if was_live:
                self._reset_channel(ch)
        self._notify_connection("disconnect", {"error": None if error is None else repr(error)[:300]})

    # ---- internals ----------------------------------------------------------------------------------

    def _connection_timeout(self) -> float:
        # Market channels tick constantly; an account-only connection may legitimately be quiet longer.
        if any(not ch.account for ch in self._channels.values()):
            return self._settings.recv_timeout
        return self._settings.account_recv_timeout

    def _timeout_of(self, ch: Channel) -> float:
        return self._settings.account_recv_timeout if ch.account else self._settings.recv_timeout

    def _subscribe_frame(self, ch: Channel) -> str:
        frame: dict[str, str] = {"type": "subscribe", "channel": ch.name}
        if ch.private:
            assert self._token is not None
            frame["auth"] = self._token.value
        return json.dumps(frame)

    def _subscribe_all(self, now: float) -> Frames:
        self._state.hello_deadline = None
        frames = []
        for ch in self._channels.values():
            if ch.private and self._token is None:
                continue
            frames.append(self._subscribe_frame(ch))
            ch.subscribed = True
            ch.awaiting_snapshot = True
            ch.resubscribe_wanted = False
            ch.quiet_since = now
        return frames

    def _dispatch(self, msg: dict[str, Any], kind: Any, raw: str | bytes, now: float) -> None:
        channel_field = msg.get("channel")
        ch = route(self._channels, channel_field) if isinstance(channel_field, str) else None
        if kind == "error":
            if ch is not None and msg.get("code") in (ALREADY_SUBSCRIBED, NOT_SUBSCRIBED):
                # Answers to a token renewal on a live subscription, or to the unsubscribe half of a
                # resubscription the server had already ended: nothing is lost.
                log.debug("lighter-ws: %s: %s", ch.name, msg.get("message"))
                return
            if ch is not None:
                ch.error_frames += 1
            else:
                self._state.unroutable_frames += 1
            log.warning("lighter-ws: error frame: %.300r", raw)
            return
        if ch is None:
            self._state.unroutable_frames += 1
            log.warning("lighter-ws: frame for no subscribed channel skipped: %.200r", raw)
            return
        ch.messages += 1
        ch.last_message_at = now
        ch.quiet_since = now
        if ch.raw_tap is not None:
            try:
                ch.raw_tap(raw)
            except Exception:
                log.exception("lighter-ws: frame tap of %s failed", ch.name)
        try:
            ch.handler(msg)
        except Exception:
            ch.handler_errors += 1
            log.exception("lighter-ws: handler of %s failed; message skipped", ch.name)
        if isinstance(kind, str) and kind.startswith("subscribed"):
            self._snapshot_received(ch)

    def _snapshot_received(self, ch: Channel) -> None:
        ch.awaiting_snapshot = False
        for listener in ch.ready_listeners:
            try:
                listener()
            except Exception:
                ch.handler_errors += 1
                log.exception("lighter-ws: ready listener of %s failed", ch.name)
        state = self._state
        channels = self._channels.values()
        if not state.established and all(c.subscribed and not c.awaiting_snapshot for c in channels):
            state.established = True
            self._conn.mark_established()
            log.info("lighter-ws: %d channel(s) subscribed; connection established", len(self._channels))

    def _notify_connection(self, event: str, detail: dict[str, Any]) -> None:
        for listener in self._connection_listeners:
            try:
                listener(event, detail)
            except Exception:
                log.exception("lighter-ws: connection listener failed")

    def _reset_channel(self, ch: Channel) -> None:
        if ch.on_reset is None:
            return
        try:
            ch.on_reset()
        except Exception:
            ch.handler_errors += 1
            log.exception("lighter-ws: on_reset of %s failed", ch.name)

    async def _ensure_token(self, now: float, *, force: bool) -> None:
        renew_at = self._state.renew_at
        if not force and self._token is not None and renew_at is not None and now < renew_at:
            return
        assert self._token_provider is not None
        try:
            result = self._token_provider()
            token = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            raise TokenProviderError(f"token provider failed: {exc!r}") from exc
        lifetime = token.expires_at - self._wall_clock()
        if lifetime <= 0:
            raise TokenProviderError("token provider returned an expired token")
        self._token = token
        # Renew at the margin, or half-way through a token shorter than twice the margin.
        self._state.renew_at = now + max(lifetime - self._settings.token_renew_margin_s, lifetime / 2)

    async def _renew_private_channels(self, now: float) -> Frames:
        try:
            await self._ensure_token(now, force=True)
        except TokenProviderError:
            # The current token is still valid for a while: keep the connection and try again soon.
            self._state.renew_at = now + self._settings.token_retry_s
            log.exception("lighter-ws: auth token renewal failed; retrying in %.0f s",
                          self._settings.token_retry_s)
            return ()
        self._state.token_renewals += 1
        frames = []
        for ch in self._channels.values():
            if ch.private and ch.subscribed:
                frames.append(self._subscribe_frame(ch))
        log.info("lighter-ws: auth token renewed; %d private channels re-subscribed", len(frames))
        return frames

    def _emit_resubscribe(self, ch: Channel, now: float, *, unsubscribe_first: bool) -> None:
        ch.resubscribe_wanted = False
        ch.note_resubscribe(now)
        if unsubscribe_first:
            self._state.pending.append(json.dumps({"type": "unsubscribe", "channel": ch.name}))
        self._state.pending.append(self._subscribe_frame(ch))
        ch.subscribed = True
        ch.awaiting_snapshot = True
        ch.quiet_since = now

    async def _resubscribe_later(self, ch: Channel, delay: float, *, unsubscribe_first: bool) -> None:
        if delay > 0.0:
            await self._sleep(delay)
        if ch.private:
            await self._ensure_token(self._clock(), force=False)
        if not self._open or not ch.resubscribe_wanted:
            return  # a reconnect has re-subscribed everything meanwhile
        self._emit_resubscribe(ch, self._clock(), unsubscribe_first=unsubscribe_first)
        await self._flush_pending()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._guarded(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _guarded(coro: Coroutine[Any, Any, None]) -> None:
        # Out-of-band sends race with disconnects; the next connection re-subscribes everything anyway.
        try:
            await coro
        except Exception:
            log.warning("lighter-ws: out-of-band (re)subscription failed", exc_info=True)

    def _drain_pending(self) -> Frames:
        if not self._state.pending:
            return ()
        frames = list(self._state.pending)
        self._state.pending.clear()
        return frames

    async def _flush_pending(self) -> None:
        frames = self._drain_pending()
        if frames and not await self._conn.send(frames):
            log.info("lighter-ws: not connected; %d frames dropped (reconnect subscribes all)", len(frames))
