"""The Lighter WebSocket manager against a real local websockets server, and against the simulator."""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Response
from ws_support import (
    WAIT_S,
    FakeLighter,
    InstantSleep,
    ManualClock,
    Recorder,
    Running,
    make_manager,
    update,
    wait_until,
)

from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.venue.ws.channels import reply_channel_key
from lmm.venue.ws.manager import AuthToken, WsSettings
from lmm.venue.ws.reconnect import FatalConnectionError


def test_ws_settings_from_config(tmp_path: Any) -> None:
    from lmm.config.config import load_config

    path = tmp_path / "config.json"
    path.write_text('{"websocket": {"recv_timeout": 12.5}}')
    settings = WsSettings.from_config(load_config(path, env={}).websocket)
    assert (settings.ping_interval, settings.recv_timeout, settings.account_recv_timeout) == (20.0, 12.5, 300.0)
    assert (settings.reconnect_base_delay, settings.reconnect_max_delay) == (5.0, 60.0)
    assert WsSettings.from_config({"ping_interval": 7}).ping_interval == 7.0


def test_reply_channel_key() -> None:
    assert reply_channel_key("order_book:1") == "order_book/1"
    assert reply_channel_key("height") == "height"


@pytest.fixture
async def lighter() -> AsyncIterator[FakeLighter]:
    fake = FakeLighter()
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        fake.server = server
        yield fake


# ---- behaviour ------------------------------------------------------------------------------------------


async def test_subscribes_after_greeting_and_dispatches_by_reply_channel(lighter: FakeLighter) -> None:
    book, trades = Recorder(), Recorder()
    manager = make_manager(lighter.url)
    manager.subscribe("order_book/1", book)
    manager.subscribe("trade/1", trades)
    async with Running(manager):
        await wait_until(lambda: len(book.messages) == 1 and len(trades.messages) == 1)
        peer = lighter.peers[0]
        assert [m["channel"] for m in peer.of_type("subscribe")] == ["order_book/1", "trade/1"]
        assert all("auth" not in m for m in peer.of_type("subscribe"))
        await peer.send(update("order_book/1", nonce=5))
        await wait_until(lambda: len(book.messages) == 2)
        assert book.messages[1]["nonce"] == 5
        health = manager.health("order_book/1")
        assert health.connected and health.subscribed
        assert health.messages == 2 and health.reconnects == 0
        assert health.last_message_age_s is not None and health.last_message_age_s < WAIT_S


async def test_subscribes_without_greeting_after_hello_timeout(lighter: FakeLighter) -> None:
    lighter.greet = False
    book = Recorder()
    manager = make_manager(lighter.url, hello_timeout=0.2)
    manager.subscribe("order_book/1", book)
    async with Running(manager):
        await wait_until(lambda: len(book.messages) == 1)


async def test_answers_application_ping(lighter: FakeLighter) -> None:
    manager = make_manager(lighter.url)
    manager.subscribe("order_book/1", Recorder())
    async with Running(manager):
        await wait_until(lambda: bool(lighter.peers) and bool(lighter.peers[0].of_type("subscribe")))
        await lighter.peers[0].send({"type": "ping"})
        await wait_until(lambda: len(lighter.peers[0].of_type("pong")) == 1)


async def test_bad_frames_are_counted_and_skipped(lighter: FakeLighter) -> None:
    book = Recorder()
    manager = make_manager(lighter.url)
    manager.subscribe("order_book/1", book)
    async with Running(manager):
        await wait_until(lambda: len(book.messages) == 1)
        peer = lighter.peers[0]
        await peer.send("this is not json {")
        await peer.send("[1, 2, 3]")
        await peer.send(update("order_book/99"))
        await peer.send({"type": "error", "code": 30012, "channel": "order_book:1", "message": "x"})
        await peer.send(update("order_book/1", nonce=9))
        await wait_until(lambda: len(book.messages) == 2)
        assert book.messages[-1]["nonce"] == 9
        assert manager.bad_frames == 3
        assert manager.health("order_book/1").error_frames == 1
        assert manager.connection_health().connects == 1


async def test_handler_exception_is_isolated_from_the_socket(lighter: FakeLighter) -> None:
    seen: list[dict[str, Any]] = []

    def fragile(msg: dict[str, Any]) -> None:
        seen.append(msg)
        if msg.get("boom"):
            raise RuntimeError("handler bug")

    manager = make_manager(lighter.url)
    manager.subscribe("order_book/1", fragile)
    async with Running(manager):
        await wait_until(lambda: len(seen) == 1)
        peer = lighter.peers[0]
        await peer.send(update("order_book/1", boom=True))
        await peer.send(update("order_book/1", nonce=2))
        await wait_until(lambda: len(seen) == 3)
        health = manager.health("order_book/1")
        assert health.handler_errors == 1 and health.messages == 3
        assert manager.connection_health().connects == 1


async def test_dropped_connection_reconnects_with_backoff_and_resubscribes(lighter: FakeLighter) -> None:
    lighter.answer_subscribe = False  # no connection ever gets established
    book, orders = Recorder(), Recorder()
    sleep = InstantSleep()
    manager = make_manager(lighter.url, sleep, healthy_after_s=3600.0)
    manager.subscribe("order_book/1", book, on_reset=book.reset)
    manager.subscribe("ticker/1", orders, on_reset=orders.reset)
    async with Running(manager):
        def resubscribed(connections: int) -> bool:
            return len(lighter.peers) == connections and len(lighter.peers[-1].of_type("subscribe")) == 2

        for drop in range(1, 4):
            await wait_until(lambda d=drop: resubscribed(d))
            await lighter.peers[-1].ws.close()
        await wait_until(lambda: resubscribed(4))
        assert [m["channel"] for m in lighter.peers[-1].of_type("subscribe")] == ["order_book/1", "ticker/1"]
        assert book.resets == 3 and orders.resets == 3
        assert manager.health("order_book/1").reconnects == 3
        # Never established nor healthy: delays follow the seeded backoff sequence without reset.
        expected = Backoff(BackoffPolicy(1.0, 16.0), random.Random(42))
        assert sleep.delays == [expected.next_delay() for _ in range(3)]
        assert sleep.delays == manager.backoff_delays


async def test_backoff_resets_after_a_healthy_connection(lighter: FakeLighter) -> None:
    book = Recorder()
    sleep = InstantSleep()
    manager = make_manager(lighter.url, sleep, healthy_after_s=0.0)
    manager.subscribe("order_book/1", book)
    async with Running(manager):
        for drop in range(1, 3):
            await wait_until(lambda d=drop: len(lighter.peers) == d and len(book.messages) == d)
            await lighter.peers[-1].ws.close()
        await wait_until(lambda: len(sleep.delays) == 2)
    # Each connection delivered data, so each failure starts again from the base delay.
    replay = random.Random(42)
    assert sleep.delays == [1.0 * (1 - 0.5 * replay.random()) for _ in range(2)]


async def test_backoff_back_at_base_once_every_channel_has_its_snapshot(lighter: FakeLighter) -> None:
    book, ticker = Recorder(), Recorder()
    sleep = InstantSleep()
    manager = make_manager(lighter.url, sleep, healthy_after_s=3600.0)  # the uptime rule never applies
    manager.subscribe("order_book/1", book)
    manager.subscribe("ticker/1", ticker)
    async with Running(manager):
        for drop in range(1, 4):  # each connection dropped as soon as it is subscribed
            await wait_until(lambda d=drop: len(book.messages) == d and len(ticker.messages) == d)
            await lighter.peers[-1].ws.close()
        await wait_until(lambda: len(sleep.delays) == 3)
    replay = random.Random(42)
    assert sleep.delays == [1.0 * (1 - 0.5 * replay.random()) for _ in range(3)]


async def test_backoff_grows_while_a_channel_goes_unanswered(lighter: FakeLighter) -> None:
    lighter.silent = {"ticker/1"}
    book = Recorder()
    sleep = InstantSleep()
    manager = make_manager(lighter.url, sleep, healthy_after_s=3600.0)
    manager.subscribe("order_book/1", book)
    manager.subscribe("ticker/1", Recorder())
    async with Running(manager):
        for drop in range(1, 4):
            await wait_until(lambda d=drop: len(book.messages) == d)
            await lighter.peers[-1].ws.close()
        await wait_until(lambda: len(sleep.delays) == 3)
    expected = Backoff(BackoffPolicy(1.0, 16.0), random.Random(42))
    assert sleep.delays == [expected.next_delay() for _ in range(3)]


async def test_ready_listeners_run_after_every_snapshot(lighter: FakeLighter) -> None:
    channel = "account_all/5"
    account = Recorder()
    seen_at_ready: list[int] = []  # messages the handler had seen when the listener ran
    manager = make_manager(lighter.url)
    manager.subscribe(channel, account, account=True)
    manager.add_ready_listener(channel, lambda: seen_at_ready.append(len(account.messages)))
    async with Running(manager):
        await wait_until(lambda: seen_at_ready == [1])  # the snapshot, after its handler
        await lighter.peers[-1].send(update(channel, n=1))
        await wait_until(lambda: len(account.messages) == 2)
        await lighter.peers[-1].ws.close()  # a reconnect: the next snapshot
        await wait_until(lambda: len(seen_at_ready) == 2)
        manager.request_resubscribe(channel)  # a resubscription on the same connection: one more
        await wait_until(lambda: len(seen_at_ready) == 3)
        assert seen_at_ready == [1, 3, 4]
        assert manager.connection_health().connects == 2


async def test_silent_connection_trips_the_watchdog_and_reconnects(lighter: FakeLighter) -> None:
    book = Recorder()
    sleep = InstantSleep()
    manager = make_manager(lighter.url, sleep, recv_timeout=0.3)
    manager.subscribe("order_book/1", book, on_reset=book.reset)
    async with Running(manager):
        # The server answers the subscription once and then says nothing.
        await wait_until(lambda: len(lighter.peers) >= 2 and len(lighter.peers[1].of_type("subscribe")) == 1)
        assert book.resets >= 1
        assert "WatchdogTimeout" in (manager.connection_health().last_error or "")
        assert len(sleep.delays) >= 1


async def test_one_silent_channel_is_resubscribed_without_reconnecting(lighter: FakeLighter) -> None:
    book, ticker = Recorder(), Recorder()
    manager = make_manager(lighter.url, recv_timeout=0.4)
    manager.subscribe("order_book/1", book)
    manager.subscribe("ticker/1", ticker, on_reset=ticker.reset)

    async def chatter() -> None:
        while True:
            if lighter.peers:
                await lighter.peers[-1].send(update("order_book/1"))
            await asyncio.sleep(0.05)

    async with Running(manager):
        feeder = asyncio.create_task(chatter())
        try:
            await wait_until(lambda: manager.health("ticker/1").watchdog_resubscribes >= 1)
            peer = lighter.peers[0]
            await wait_until(lambda: len([m for m in peer.of_type("subscribe") if m["channel"] == "ticker/1"]) >= 2)
            assert next(m["channel"] for m in peer.of_type("unsubscribe")) == "ticker/1"
            assert ticker.resets >= 1
            assert manager.health("order_book/1").watchdog_resubscribes == 0
            assert manager.connection_health().connects == 1
        finally:
            feeder.cancel()


async def test_handler_can_request_a_resubscribe(lighter: FakeLighter) -> None:
    book = Recorder()
    manager = make_manager(lighter.url)

    def on_book(msg: dict[str, Any]) -> None:
        book(msg)
        if msg.get("gap"):
            manager.request_resubscribe("order_book/1")

    manager.subscribe("order_book/1", on_book)
    async with Running(manager):
        await wait_until(lambda: len(book.messages) == 1)
        peer = lighter.peers[0]
        await peer.send(update("order_book/1", gap=True))
        await wait_until(lambda: len(book.messages) == 3)  # the update, then a fresh snapshot
        assert [m["type"] for m in peer.received] == ["subscribe", "unsubscribe", "subscribe"]
        assert [m["type"] for m in book.messages] == ["subscribed/order_book", "update/order_book",
                                                      "subscribed/order_book"]  # "unsubscribed" not passed
        assert book.messages[-1]["type"] == "subscribed/order_book"


async def test_repeated_resubscribe_requests_are_paced(lighter: FakeLighter) -> None:
    """A stream that stays bad must not flood the venue: resubscriptions follow a growing backoff."""
    snapshots = Recorder()
    clock = ManualClock()
    manager = make_manager(lighter.url, clock.sleep, clock=clock, rng=random.Random(5),  # type: ignore[arg-type]
                           resubscribe_base_delay=0.5, resubscribe_max_delay=4.0)

    def always_bad(msg: dict[str, Any]) -> None:
        snapshots(msg)
        manager.request_resubscribe("order_book/1")
        manager.request_resubscribe("order_book/1")  # merged into the pending one

    manager.subscribe("order_book/1", always_bad)
    async with Running(manager):
        await wait_until(lambda: len(snapshots.messages) >= 6)
    assert manager.connection_health().connects == 1
    # Request 1 goes out at once; each later one waits the jittered, growing delay, capped at 4 s.
    replay = random.Random(5)
    expected = [c * (1 - 0.5 * replay.random()) for c in (0.5, 1.0, 2.0, 4.0, 4.0)]
    assert clock.delays[:4] == pytest.approx(expected[:4], abs=1e-9)
    assert manager.health("order_book/1").resubscribes >= 5


async def test_private_channels_carry_auth_and_renew_without_gap(lighter: FakeLighter) -> None:
    minted: list[AuthToken] = []

    async def token_provider() -> AuthToken:
        token = AuthToken(f"token-{len(minted)}", time.time() + 1.2)
        minted.append(token)
        return token

    orders, book = Recorder(), Recorder()
    manager = make_manager(lighter.url, token_provider=token_provider, token_renew_margin_s=0.9)
    manager.subscribe("account_orders/1/7", orders, private=True)
    manager.subscribe("order_book/1", book)
    async with Running(manager):
        await wait_until(lambda: len(lighter.peers) == 1)
        peer = lighter.peers[0]

        def private_frames() -> list[dict[str, Any]]:
            return [m for m in peer.received if m["channel"] == "account_orders/1/7"]

        await wait_until(lambda: len(private_frames()) >= 3)
        assert manager.token_renewals >= 2
        private = private_frames()
        assert [m["type"] for m in private][:3] == ["subscribe"] * 3  # never unsubscribed
        assert [m["auth"] for m in private][:3] == ["token-0", "token-1", "token-2"]
        assert all("auth" not in m for m in peer.received if m["channel"] == "order_book/1")
        assert manager.connection_health().connects == 1
        # The subscription went on (the server answered "already subscribed"), with no error counted.
        assert [m["channel"] for m in orders.messages] == ["account_orders:1:7"]
        assert manager.health("account_orders/1/7").error_frames == 0


async def test_failed_token_renewal_keeps_the_connection_and_retries(lighter: FakeLighter) -> None:
    calls: list[int] = []

    def token_provider() -> AuthToken:  # a synchronous provider is accepted too
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("signer busy")
        return AuthToken(f"token-{len(calls)}", time.time() + 1.0)

    orders = Recorder()
    manager = make_manager(lighter.url, token_provider=token_provider, token_renew_margin_s=0.8,
                           token_retry_s=0.05)
    manager.subscribe("account_orders/1/7", orders, private=True)
    async with Running(manager):
        await wait_until(lambda: manager.token_renewals >= 1)
        assert len(calls) == 3  # first token, failed renewal, successful retry
        assert manager.connection_health().connects == 1


async def test_channel_added_while_connected_is_subscribed(lighter: FakeLighter) -> None:
    book, trades = Recorder(), Recorder()
    manager = make_manager(lighter.url)
    manager.subscribe("order_book/1", book)
    async with Running(manager):
        await wait_until(lambda: len(book.messages) == 1)
        manager.subscribe("trade/1", trades)
        await wait_until(lambda: len(trades.messages) == 1)
        assert [m["type"] for m in lighter.peers[0].received] == ["subscribe", "subscribe"]
        with pytest.raises(ValueError):
            manager.subscribe("trade/1", trades)


async def test_account_orders_reply_channel_without_account_is_routed(lighter: FakeLighter) -> None:
    async def token_provider() -> AuthToken:
        return AuthToken("tok", time.time() + 7 * 3600)

    orders = Recorder()
    manager = make_manager(lighter.url, token_provider=token_provider)
    manager.subscribe("account_orders/1/7", orders, private=True)
    async with Running(manager):
        await wait_until(lambda: len(orders.messages) == 1)
        await lighter.peers[0].send({"type": "update/account_orders", "channel": "account_orders:1", "n": 1})
        await wait_until(lambda: len(orders.messages) == 2)


async def test_shutdown_notice_reconnects(lighter: FakeLighter) -> None:
    book = Recorder()
    manager = make_manager(lighter.url)
    manager.subscribe("order_book/1", book)
    async with Running(manager):
        await wait_until(lambda: len(book.messages) == 1)
        await lighter.peers[0].send({"type": "shutdown", "close_in_ms": 100})
        await wait_until(lambda: len(book.messages) == 2 and len(lighter.peers) == 2)
        assert "ServerShutdown" in (manager.connection_health().last_error or "")


async def test_rejected_handshake_is_fatal() -> None:
    def reject(connection: ServerConnection, request: Any) -> Response:
        return connection.respond(HTTPStatus.FORBIDDEN, "forbidden\n")

    async def never(ws: ServerConnection) -> None:  # pragma: no cover - the handshake is refused
        await ws.close()

    async with serve(never, "127.0.0.1", 0, process_request=reject) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        manager = make_manager(f"ws://127.0.0.1:{port}/stream")
        manager.subscribe("order_book/1", Recorder())
        with pytest.raises(FatalConnectionError):
            await asyncio.wait_for(manager.run(), WAIT_S)


async def test_refused_connection_is_retried_with_backoff() -> None:
    async with serve(lambda ws: ws.close(), "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
    sleep = InstantSleep()
    manager = make_manager(f"ws://127.0.0.1:{port}/stream", sleep)  # nothing listens there any more
    manager.subscribe("order_book/1", Recorder())
    async with Running(manager):
        await wait_until(lambda: len(sleep.delays) >= 5)
    assert [round(d, 9) for d in sleep.delays[:5]] == [
        round(c * (1 - 0.5 * r), 9)
        for c, r in zip([1.0, 2.0, 4.0, 8.0, 16.0], _randoms(42, 5), strict=True)
    ]


def _randoms(seed: int, n: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


# ---- against the simulator's Lighter WebSocket -------------------------------------------------------------


@pytest.fixture(scope="module")
def lighter_venue() -> Any:
    from sim.testing import start_simulator

    with start_simulator(seed=77, with_market=True, with_binance=False) as handle:
        yield handle


async def test_sim_book_survives_dropped_connections_and_nonce_gaps(lighter_venue: Any) -> None:
    from lmm.book.lighter_book import LighterBook
    from sim.markets import BTC

    book = LighterBook(BTC.market_id, BTC.price_decimals, BTC.size_decimals)
    channel = f"order_book/{BTC.market_id}"
    manager = make_manager(lighter_venue.lighter_ws_url, None, reconnect_base_delay=0.05, reconnect_max_delay=0.2)
    events: list[Any] = []

    def on_book(msg: dict[str, Any]) -> None:
        event = book.on_message(msg)
        events.append(event)
        if event.needs_resubscribe:
            manager.request_resubscribe(channel)

    manager.subscribe(channel, on_book, on_reset=lambda: book.invalidate("connection reset"))
    async with Running(manager):
        await wait_until(lambda: book.valid and book.mid is not None)
        await asyncio.to_thread(lighter_venue.inject_fault, "drop_connections")
        await wait_until(lambda: manager.connection_health().connects == 2 and book.valid)
        assert manager.health(channel).reconnects == 1

        await asyncio.to_thread(lighter_venue.inject_fault, "skip_nonce", market_id=BTC.market_id)
        await wait_until(lambda: any(e.name == "GAP" for e in events))
        await wait_until(lambda: book.valid, timeout=2.0)  # a gap is repaired within 2 s
        assert manager.health(channel).resubscribes == 1
        assert manager.connection_health().connects == 2
