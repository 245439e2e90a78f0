# WebSocket fan-out: sessions, channel subscriptions and shared, pre-encoded frames.
#
# Rules: the hub knows nothing of Lighter channel semantics; it routes text frames. A frame published to
# a channel is encoded once and the same string goes to every subscriber. Each session has its own
# bounded outbox drained by one writer task, so a slow client never stalls the publisher; a client whose
# outbox overflows is disconnected (as a venue drops consumers that cannot keep up).
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Iterable

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 10_000


class WsSession:
    """One client connection and the channels it is subscribed to."""

    def __init__(self, session_id: str, ws: web.WebSocketResponse) -> None:
        self.session_id = session_id
        self.ws = ws
        self.channels: set[str] = set()
        self.last_received_s = time.monotonic()
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self._close_code: int = WSCloseCode.GOING_AWAY

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._drain(), name=f"ws-writer-{self.session_id}")

    def send(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("ws session %s cannot keep up; disconnecting", self.session_id)
            self.close_soon()

    def close_soon(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Stop sending and close the socket from the writer task, after frames already queued."""
        if self.closed:
            return
        self.closed = True
        self._close_code = code
        with contextlib.suppress(asyncio.QueueFull):
            self._outbox.put_nowait(None)
        if self._outbox.full():
            asyncio.get_running_loop().create_task(self.ws.close(code=code))

    async def _drain(self) -> None:
        try:
            while True:
                text = await self._outbox.get()
                if text is None:
                    await self.ws.close(code=self._close_code)
                    return
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            # the peer went away mid-send; the reader side notices and unregisters the session
            return
        finally:
            self.closed = True

    async def stop(self) -> None:
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer


class WsHub:
    """All live sessions and, per channel, the sessions subscribed to it."""

    def __init__(self) -> None:
        self.sessions: dict[str, WsSession] = {}
        self._subscribers: dict[str, set[WsSession]] = {}
        self._ids = itertools.count(1)

    def open_session(self, ws: web.WebSocketResponse) -> WsSession:
        session = WsSession(f"sim-{next(self._ids)}", ws)
        self.sessions[session.session_id] = session
        session.start()
        return session

    async def close_session(self, session: WsSession) -> None:
        for channel in list(session.channels):
            self.unsubscribe(session, channel)
        self.sessions.pop(session.session_id, None)
        await session.stop()

    def subscribe(self, session: WsSession, channel: str) -> bool:
        """Returns False when the session already had that channel."""
        if channel in session.channels:
            return False
        session.channels.add(channel)
        self._subscribers.setdefault(channel, set()).add(session)
        return True

    def unsubscribe(self, session: WsSession, channel: str) -> bool:
        if channel not in session.channels:
            return False
        session.channels.discard(channel)
        members = self._subscribers.get(channel)
        if members is not None:
            members.discard(session)
            if not members:
                del self._subscribers[channel]
        return True

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._subscribers

    def channels_with_prefix(self, prefix: str) -> list[str]:
        return [c for c in self._subscribers if c.startswith(prefix)]

    def publish(self, channel: str, text: str) -> int:
        """Send one encoded frame to every subscriber of `channel`; returns the number of recipients."""
        members = self._subscribers.get(channel)
        if not members:
            return 0
        for session in tuple(members):
            session.send(text)
        return len(members)

    def broadcast(self, text: str, sessions: Iterable[WsSession] | None = None) -> None:
        for session in tuple(self.sessions.values() if sessions is None else sessions):
            session.send(text)

    def drop_all(self) -> int:
        """Close every connection (fault injection and shutdown); clients must reconnect."""
        sessions = list(self.sessions.values())
        for session in sessions:
            session.close_soon(WSCloseCode.SERVICE_RESTART)
        return len(sessions)
