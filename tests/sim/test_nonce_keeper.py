"""NonceKeeper.hard_refresh against a real local HTTP server: HTML error pages become a RuntimeError."""
import aiohttp
import pytest
from aiohttp import web

from lmm.venue.lighter.tx_sender import NonceKeeper


@pytest.fixture
async def venue():
    replies: list[tuple[int, str]] = []

    async def next_nonce(request: web.Request) -> web.Response:
        status, text = replies.pop(0)
        return web.Response(status=status, text=text)

    app = web.Application()
    app.router.add_get("/api/v1/nextNonce", next_nonce)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", replies
    await runner.cleanup()


async def test_hard_refresh_parses_and_rejects_garbage(venue):
    url, replies = venue
    async with aiohttp.ClientSession() as session:
        keeper = NonceKeeper(session, url, 7, 25)
        replies.append((200, '{"code":200,"nonce":41}'))
        assert await keeper.hard_refresh() == 41 and keeper.take(2) == 41 and keeper.next == 43
        replies.append((502, "<html>Bad Gateway</html>"))
        with pytest.raises(RuntimeError, match="HTTP 502"):
            await keeper.hard_refresh()
        replies.append((200, '{"code":200}'))
        with pytest.raises(RuntimeError, match="nextNonce failed"):
            await keeper.hard_refresh()
        assert keeper.next == 43  # a failed refresh leaves the counter alone
