# Lighter WebSocket endpoint /stream: connection lifecycle, subscribe/unsubscribe, ping/pong, error
# frames and transactions over WS (reference §6).
#
# Rules: subscribe with "/" (order_book/1), frames answer with ":" (order_book:1); the first frame of a
# subscription is `subscribed/<name>`, later ones `update/<name>` (published by LighterFeeds). Private
# channels need an `auth` token of the same account. Protocol pings and any client frame count as
# activity; a client silent for more than 2 minutes is dropped. Transactions share the REST path.
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from sim.auth_token import authorize_account
from sim.engine import Engine
from sim.lighter_errors import (
    WS_ALREADY_SUBSCRIBED,
    WS_FAILED_TO_SUBSCRIBE,
    WS_INVALID_CHANNEL,
    WS_INVALID_JSON,
    WS_INVALID_TYPE,
    WS_NOT_SUBSCRIBED,
    TxRejected,
    WsError,
)
from sim.lighter_feeds import LighterFeeds, account_orders_key, encode_frame
from sim.lighter_tx import TxGateway, TxReply
from sim.ws_hub import WsHub, WsSession

log = logging.getLogger(__name__)

IDLE_LIMIT_S = 120.0
SERVER_PING_INTERVAL_S = 30.0

MARKET_CHANNELS = frozenset({"order_book", "ticker", "trade"})
ACCOUNT_CHANNELS = frozenset({"account_all", "user_stats", "account_all_orders", "account_all_positions",
                              "account_all_trades"})
PRIVATE_CHANNELS = frozenset({"account_all_orders", "account_orders", "account_all_positions",
                              "account_all_trades"})


@dataclass(frozen=True)
class Subscription:
    name: str
    key: str  # hub routing key
    market_id: int | None
    account_index: int | None


def _error_frame(error: WsError, channel: str | None = None, detail: str = "") -> str:
    frame: dict[str, Any] = {"type": "error", "code": error.code,
                             "message": error.message + (f": {detail}" if detail else "")}
    if channel is not None:
        frame["channel"] = channel
    return encode_frame(frame)


class LighterWs:
    """Handler of /stream."""

    def __init__(self, engine: Engine, hub: WsHub, feeds: LighterFeeds, gateway: TxGateway,
                 clock_ns: Callable[[], int], monotonic_s: Callable[[], float]) -> None:
        self.engine = engine
        self.hub = hub
        self.feeds = feeds
        self.gateway = gateway
        self._clock_ns = clock_ns
        self._monotonic_s = monotonic_s
        self._tx_tasks: set[asyncio.Task[None]] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        session = self.open_session(ws)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self.receive(session, message.data)
                elif message.type is WSMsgType.BINARY:
                    await self.receive(session, message.data.decode("utf-8", "replace"))
                elif message.type is WSMsgType.PING:
                    await ws.pong(message.data)
                elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except ConnectionError:
            log.debug("ws session %s: connection lost", session.session_id)
        finally:
            await self.hub.close_session(session)
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    def open_session(self, ws: Any) -> WsSession:
        """A new client session on ``ws`` (anything with ``send_str`` and ``close``: an aiohttp response, or
        the local venue's in-process pipe), greeted with the ``connected`` frame."""
        session = self.hub.open_session(ws)
        session.last_received_s = self._monotonic_s()
        session.send(encode_frame({"type": "connected", "session_id": session.session_id}))
        return session

    async def receive(self, session: WsSession, text: str) -> None:
        session.last_received_s = self._monotonic_s()
        await self._on_text(session, text)

    async def _on_text(self, session: WsSession, text: str) -> None:
        try:
            frame = msgspec.json.decode(text)
        except msgspec.DecodeError:
            session.send(_error_frame(WS_INVALID_JSON))
            return
        if not isinstance(frame, dict):
            session.send(_error_frame(WS_INVALID_JSON))
            return
        kind = frame.get("type")
        if kind == "subscribe":
            self._subscribe(session, frame)
        elif kind == "unsubscribe":
            self._unsubscribe(session, frame)
        elif kind == "ping":
            session.send('{"type":"pong"}')
        elif kind == "pong":
            return
        elif kind in ("jsonapi/sendtx", "jsonapi/sendtxbatch"):
            # run concurrently so that an injected ack delay does not block the session's other frames
            task = asyncio.get_running_loop().create_task(self._send_tx(session, kind, frame.get("data")))
            self._tx_tasks.add(task)
            task.add_done_callback(self._tx_tasks.discard)
        else:
            session.send(_error_frame(WS_INVALID_TYPE))

    # ---- subscriptions -------------------------------------------------------------------------------

    def _parse_channel(self, channel: object) -> Subscription | None:
        if not isinstance(channel, str):
            return None
        name, *args = channel.split("/")
        if not all(a.isdigit() for a in args):
            return None
        numbers = [int(a) for a in args]
        if name in MARKET_CHANNELS and len(numbers) == 1 and numbers[0] in self.feeds.specs:
            return Subscription(name, f"{name}:{numbers[0]}", numbers[0], None)
        if name in ACCOUNT_CHANNELS and len(numbers) == 1:
            return Subscription(name, f"{name}:{numbers[0]}", None, numbers[0])
        if name == "account_orders" and len(numbers) == 2 and numbers[0] in self.feeds.specs:
            market_id, account_index = numbers
            return Subscription(name, account_orders_key(market_id, account_index), market_id, account_index)
        return None

    def _subscribe(self, session: WsSession, frame: dict[str, Any]) -> None:
        channel = frame.get("channel")
        sub = self._parse_channel(channel)
        if sub is None:
            session.send(_error_frame(WS_INVALID_CHANNEL, str(channel)))
            return
        colon = str(channel).replace("/", ":")
        if sub.account_index is not None:
            if not self.engine.has_account(sub.account_index):
                session.send(_error_frame(WS_FAILED_TO_SUBSCRIBE, colon, "account not found"))
                return
            if sub.name in PRIVATE_CHANNELS:
                try:
                    authorize_account(frame.get("auth"), sub.account_index, self._clock_ns() / 1e9)
                except TxRejected as error:
                    session.send(_error_frame(WS_FAILED_TO_SUBSCRIBE, colon, error.message))
                    return
        if sub.key in session.channels:
            session.send(_error_frame(WS_ALREADY_SUBSCRIBED, colon))
            return
        # Market-data snapshots come from the published chain, so the next update continues it.
        session.send(self._snapshot(sub))
        self.hub.subscribe(session, sub.key)

    def _unsubscribe(self, session: WsSession, frame: dict[str, Any]) -> None:
        channel = frame.get("channel")
        sub = self._parse_channel(channel)
        if sub is None:
            session.send(_error_frame(WS_INVALID_CHANNEL, str(channel)))
        elif not self.hub.unsubscribe(session, sub.key):
            session.send(_error_frame(WS_NOT_SUBSCRIBED, str(channel).replace("/", ":")))
        else:
            session.send(encode_frame({"type": "unsubscribed", "channel": str(channel).replace("/", ":")}))

    def _snapshot(self, sub: Subscription) -> str:
        feeds = self.feeds
        if sub.name == "order_book":
            return feeds.order_book_snapshot(sub.market_id)  # type: ignore[arg-type]
        if sub.name == "ticker":
            return feeds.ticker_snapshot(sub.market_id)  # type: ignore[arg-type]
        if sub.name == "trade":
            return feeds.trades_snapshot(sub.market_id)  # type: ignore[arg-type]
        account = sub.account_index
        assert account is not None
        if sub.name == "account_all":
            return feeds.account_all_frame(account, self.engine.account_trades(account, 20), "subscribed")
        if sub.name == "user_stats":
            return feeds.user_stats_frame(account, "subscribed")
        if sub.name == "account_all_positions":
            return feeds.account_all_positions_frame(account, "subscribed")
        if sub.name == "account_all_trades":
            return feeds.account_all_trades_frame(account, self.engine.account_trades(account, 20), "subscribed")
        if sub.name == "account_all_orders":
            return feeds.account_all_orders_frame(account, feeds.open_orders_by_market(account), "subscribed")
        market_id = sub.market_id
        assert market_id is not None
        orders = feeds.open_orders_by_market(account, market_id).get(market_id, [])
        return feeds.account_orders_frame(account, market_id, orders, "subscribed")

    # ---- transactions --------------------------------------------------------------------------------

    async def _send_tx(self, session: WsSession, kind: str, data: object) -> None:
        if not isinstance(data, dict):
            session.send(encode_frame({"error": {"code": 21501, "message": "invalid tx info"}}))
            return
        request_id = data.get("id")
        if kind == "jsonapi/sendtx":
            reply: TxReply = await self.gateway.send_tx(data.get("tx_type"), data.get("tx_info"))
        else:
            reply = await self.gateway.send_tx_batch(data.get("tx_types"), data.get("tx_infos"))
        if reply.http_status == 200:
            body: dict[str, Any] = {**reply.body, "type": kind}
            body.pop("message", None)
        else:
            body = {"error": {"code": reply.body["code"], "message": reply.body["message"]}}
        if request_id is not None:
            body["id"] = request_id
        session.send(encode_frame(body))

    # ---- keepalive -----------------------------------------------------------------------------------

    def keepalive(self) -> None:
        """Ping every session and drop the ones silent for longer than IDLE_LIMIT_S."""
        now = self._monotonic_s()
        for session in list(self.hub.sessions.values()):
            if now - session.last_received_s > IDLE_LIMIT_S:
                log.info("dropping idle ws session %s", session.session_id)
                session.close_soon()
            else:
                session.send('{"type":"ping"}')
