"""startup_checks.check_venue against a scripted HTTP server: the answers of a real venue the simulator does
not give (a maintenance page, an error status, a key list that leaves the index out, a key in another
spelling) map to the documented exit statuses."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lmm.config.credentials import Credentials
from lmm.daemon.startup_checks import EXIT_BAD_INPUT, EXIT_VENUE_UNREACHABLE, StartupError, check_venue

PUBLIC = "ab" * 40
CREDS = Credentials("0x" + "11" * 40, "0x" + PUBLIC.upper(), 25, 7)
BTC = {"symbol": "BTC", "market_id": 1, "market_type": "perp", "supported_price_decimals": 1,
       "supported_size_decimals": 5, "min_base_amount": "0.00020", "min_quote_amount": "10.000000"}


class Venue:
    def __init__(self) -> None:
        self.markets: tuple[int, Any] = (200, {"code": 200, "order_book_details": [BTC]})
        self.keys: tuple[int, Any] = (200, {"code": 200, "api_keys": [
            {"account_index": 7, "api_key_index": 25, "nonce": 3, "public_key": PUBLIC}]})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/orderBookDetails", self._markets)
        app.router.add_get("/api/v1/orderBooks", self._markets)
        app.router.add_get("/api/v1/apikeys", self._keys)
        return app

    async def _markets(self, _: web.Request) -> web.Response:
        return self._answer(self.markets)

    async def _keys(self, _: web.Request) -> web.Response:
        return self._answer(self.keys)

    @staticmethod
    def _answer(answer: tuple[int, Any]) -> web.Response:
        status, body = answer
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/html")
        return web.json_response(body, status=status)


@pytest.fixture
async def venue() -> AsyncIterator[tuple[Venue, str]]:
    scripted = Venue()
    server = TestServer(scripted.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield scripted, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _check(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        await check_venue(session, url, "BTC", CREDS)


async def test_matching_key_in_another_spelling_passes(venue: tuple[Venue, str]) -> None:
    await _check(venue[1])  # 0x + upper case in .env, bare lower case at the venue


@pytest.mark.parametrize(("markets", "keys", "status", "text"), [
    ((503, "<html>maintenance</html>"), None, EXIT_VENUE_UNREACHABLE, "lists no markets"),
    ((200, "<html>captive portal</html>"), None, EXIT_VENUE_UNREACHABLE, "not the Lighter API"),
    (None, (500, {"code": 500, "message": "internal"}), EXIT_VENUE_UNREACHABLE, "HTTP 500"),
    (None, (200, "<html>proxy</html>"), EXIT_VENUE_UNREACHABLE, "no JSON object"),
    (None, (200, {"code": 200, "api_keys": []}), EXIT_BAD_INPUT, "API key index 25 of account 7 is not registered"),
    (None, (400, {"code": 21109, "message": "api key not found"}), EXIT_BAD_INPUT, "not registered"),
    (None, (400, {"code": 21100, "message": "account not found"}), EXIT_BAD_INPUT, "account 7 is unknown"),
    (None, (200, {"code": 200, "api_keys": [{"api_key_index": 25, "public_key": "cd" * 40}]}), EXIT_BAD_INPUT,
     "API_KEY_PUBLIC_KEY is not the public key"),
])
async def test_venue_answers_map_to_exit_statuses(venue: tuple[Venue, str], markets: Any, keys: Any, status: int,
                                                  text: str) -> None:
    scripted, url = venue
    scripted.markets = markets or scripted.markets
    scripted.keys = keys or scripted.keys
    with pytest.raises(StartupError) as info:
        await _check(url)
    assert info.value.status == status
    assert text in str(info.value)
    assert "\n" not in str(info.value) and "cdcd" not in str(info.value) and PUBLIC not in str(info.value)
