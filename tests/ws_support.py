"""Helpers of the WebSocket manager tests: a scripted Lighter-like server, recorders, an injectable sleep
and clock, and a context manager running a manager in the background."""
from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed

from lmm.venue.ws.manager import LighterWsManager, WsSettings

WAIT_S = 15.0


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@dataclass
class Peer:
    ws: ServerConnection
    received: list[dict[str, Any]] = field(default_factory=list)
    live: set[str] = field(default_factory=set)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("type") == kind]

    async def send(self, payload: Any) -> None:
        await self.ws.send(payload if isinstance(payload, str) else json.dumps(payload))


@dataclass
class FakeLighter:
    greet: bool = True
    answer_subscribe: bool = True
    silent: set[str] = field(default_factory=set)  # channels whose subscriptions are never answered
    peers: list[Peer] = field(default_factory=list)
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/stream"

    async def handler(self, ws: ServerConnection) -> None:
        peer = Peer(ws)
        self.peers.append(peer)
        if self.greet:
            await peer.send({"type": "connected", "session_id": f"s{len(self.peers)}"})
        with contextlib.suppress(ConnectionClosed):  # the client went away; tests read what came before
            await self.serve_peer(peer)

    async def serve_peer(self, peer: Peer) -> None:
        async for raw in peer.ws:
            msg = json.loads(raw)
            peer.received.append(msg)
            channel = msg.get("channel", "")
            if msg.get("type") == "unsubscribe":
                peer.live.discard(channel)
                await peer.send({"type": "unsubscribed", "channel": channel.replace("/", ":")})
            if msg.get("type") == "subscribe" and self.answer_subscribe and channel not in self.silent:
                if channel in peer.live:  # as Lighter: the subscription goes on
                    await peer.send({"type": "error", "code": 30003, "channel": channel.replace("/", ":"),
                                     "message": "Already Subscribed"})
                    continue
                peer.live.add(channel)
                await peer.send(snapshot(channel))


def snapshot(channel: str, **extra: Any) -> dict[str, Any]:
    name = channel.split("/")[0]
    return {"type": f"subscribed/{name}", "channel": channel.replace("/", ":"), **extra}


def update(channel: str, **extra: Any) -> dict[str, Any]:
    name = channel.split("/")[0]
    return {"type": f"update/{name}", "channel": channel.replace("/", ":"), **extra}


class Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.resets = 0

    def __call__(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)

    def reset(self) -> None:
        self.resets += 1


class InstantSleep:
    """Records requested delays and returns at once: backoff timings are checked, not waited for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class ManualClock:
    """A clock that only moves when the injected sleep is called: exact delays without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay
        await asyncio.sleep(0)


def make_manager(url: str, sleep: InstantSleep | None = None, **overrides: Any) -> LighterWsManager:
    token_provider = overrides.pop("token_provider", None)
    rng = overrides.pop("rng", random.Random(42))
    clock = overrides.pop("clock", time.monotonic)
    settings = WsSettings(**{"reconnect_base_delay": 1.0, "reconnect_max_delay": 16.0, **overrides})
    return LighterWsManager(url, settings, token_provider, rng=rng, sleep=sleep or InstantSleep(), clock=clock)


class Running:
    """Runs a manager (or any feed with ``run``/``close``) in a background task for the duration of a test,
    and stops it cleanly."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Any:
        self.task = asyncio.create_task(self.manager.run())
        return self.manager

    async def __aexit__(self, *exc: object) -> None:
        await self.manager.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT_S)
