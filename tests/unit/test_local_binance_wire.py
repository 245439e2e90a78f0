"""The pieces that let the bot's Binance feed read an in-process market: the simulator's reading of a client's
WebSocket URL, and the live code's reading of a depth answer, however it was fetched."""
from __future__ import annotations

import json

import pytest

from lmm.venue.binance.snapshot import SnapshotError, snapshot_from_response
from sim.binance_streams import PUBLIC_ROUTE, WsTarget, ws_target


@pytest.mark.parametrize(("url", "target"), [
    ("local://binance/public/stream?streams=btcusdt@depth@100ms",
     WsTarget(PUBLIC_ROUTE, ("btcusdt@depth@100ms",), combined=True)),
    ("wss://fstream.binance.com/market/stream?streams=btcusdt@aggTrade/ethusdt@aggTrade",
     WsTarget("market", ("btcusdt@aggTrade", "ethusdt@aggTrade"), combined=True)),
    ("ws://h:1/ws/btcusdt@depth/ethusdt@bookTicker", WsTarget("", ("btcusdt@depth", "ethusdt@bookTicker"), False)),
    ("ws://h:1/public/ws", WsTarget(PUBLIC_ROUTE, (), combined=False)),
    ("ws://h:1/stream", WsTarget("", (), combined=True)),
])
def test_ws_target_reads_the_route_the_streams_and_the_wrapper(url: str, target: WsTarget):
    assert ws_target(url) == target


@pytest.mark.parametrize("url", ["ws://h:1/", "ws://h:1/public", "ws://h:1/other/stream", "ws://h:1/stream/x",
                                 "ws://h:1/ws/"])
def test_ws_target_refuses_what_the_server_does_not_route(url: str):
    assert ws_target(url) is None


BODY = json.dumps({"lastUpdateId": 42, "bids": [["100.0", "1.000"]], "asks": [["100.1", "2.000"]]}).encode()


def test_a_depth_answer_is_decoded_with_its_used_weight():
    fetched = snapshot_from_response(200, {"X-MBX-USED-WEIGHT-1M": "20"}, BODY, 1000)
    assert fetched.snapshot.last_update_id == 42 and fetched.used_weight == 20 and fetched.body == BODY


def test_a_throttled_answer_carries_its_retry_after():
    with pytest.raises(SnapshotError, match="HTTP 429") as caught:
        snapshot_from_response(429, {"Retry-After": "7"}, b'{"code":-1003}', 1000)
    assert caught.value.retry_after_s == 7.0


def test_an_error_answer_fails_the_fetch():
    with pytest.raises(SnapshotError, match="HTTP 400"):
        snapshot_from_response(400, {}, b'{"code":-1121,"msg":"Invalid symbol."}', 1000)
    with pytest.raises(SnapshotError, match="malformed"):
        snapshot_from_response(200, {}, b"not json", 1000)
