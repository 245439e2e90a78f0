"""The bot's Lighter market data (ws_manager + lighter_feed + orderbook) and the sanity check, against the
simulator: the book equals the truth after sync and again after each injected fault."""
import asyncio
import time

import aiohttp
import pytest

from lmm.book.book_side import parse_scaled
from lmm.core.account import AccountState
from lmm.model.vol_obi import PyVolObiCalculator
from lmm.venue.lighter.book_sanity import SanityChecker
from lmm.venue.lighter.feed import LighterFeed
from lmm.venue.lighter.market_info import fetch_market
from lmm.venue.lighter.rest import VenueReader
from lmm.venue.ws.manager import LighterWsManager, WsSettings
from sim.testing import start_simulator

DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def sim():
    with start_simulator(seed=21) as handle:
        yield handle


async def wait_for(predicate, what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def truth_levels(sim, market):
    truth = sim.book(market.market_id)
    def levels(side):
        return [(parse_scaled(p, market.price_decimals), parse_scaled(q, market.size_decimals)) for p, q in side]
    return truth["nonce"], levels(truth["bids"]), levels(truth["asks"])


async def equal_to_truth(sim, feed, market) -> None:
    """Freeze the market, wait until the client has the truth's nonce, compare every level, resume."""
    sim.set_market_running(False)
    try:
        nonce, bids, asks = await asyncio.to_thread(truth_levels, sim, market)
        await wait_for(lambda: feed.book.valid and feed.book.nonce == nonce, "client book at the truth's nonce")
        top = feed.book.top(10_000)
        assert list(top.bids) == bids
        assert list(top.asks) == asks
    finally:
        sim.set_market_running(True)


class Harness:
    def __init__(self, sim, market, session) -> None:
        self.model = PyVolObiCalculator(tick_size=market.tick_size, window_steps=100, min_warmup_samples=5,
                                        warmup_seconds=0)
        self.ticks = 0
        self.ws = LighterWsManager(sim.lighter_ws_url, WsSettings(reconnect_base_delay=0.2, reconnect_max_delay=1.0))
        self.feed = LighterFeed(self.ws, market, None, self.model, 0.025, on_book=self._tick,
                                on_orders=lambda reports, now: None, on_fills=lambda fills: None)

    def _tick(self, now_ns: int) -> None:
        self.ticks += 1


async def test_book_matches_truth_after_sync_and_after_faults(sim):
    async with aiohttp.ClientSession() as session:
        market = await fetch_market(session, sim.lighter_url, "BTC")
        h = Harness(sim, market, session)
        runner = asyncio.create_task(h.ws.run())
        try:
            await wait_for(lambda: h.feed.book.valid, "first snapshot")
            await equal_to_truth(sim, h.feed, market)
            assert h.model.book_valid and h.ticks > 0

            resubscribes = h.feed.stats.resubscribes
            await asyncio.to_thread(sim.inject_fault, "skip_nonce", market_id=market.market_id)
            await wait_for(lambda: h.feed.stats.gaps >= 1, "gap detected")
            assert h.feed.stats.resubscribes > resubscribes
            await wait_for(lambda: h.feed.book.valid, "resynced after the gap", timeout=2.0 + 5.0)
            await equal_to_truth(sim, h.feed, market)

            await asyncio.to_thread(sim.inject_fault, "crossed_book", market_id=market.market_id)
            await wait_for(lambda: h.feed.stats.crossed >= 1, "crossed book detected")
            await wait_for(lambda: h.feed.book.valid, "resynced after the crossed book")
            await equal_to_truth(sim, h.feed, market)

            resets = h.feed.stats.resets
            await asyncio.to_thread(sim.inject_fault, "drop_connections")
            await wait_for(lambda: h.feed.stats.resets > resets, "connection reset seen")
            await wait_for(lambda: h.feed.book.valid, "resynced after reconnect")
            await equal_to_truth(sim, h.feed, market)
        finally:
            await h.ws.close()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def test_sanity_check_agrees_with_rest_and_flags_a_wrong_book(sim):
    async with aiohttp.ClientSession() as session:
        market = await fetch_market(session, sim.lighter_url, "BTC")
        h = Harness(sim, market, session)
        failures: list[str] = []
        reader = VenueReader(session, sim.lighter_url, 0, tokens=None)  # orderBookOrders is public
        checker = SanityChecker(lambda: reader.order_book_orders(market.market_id), market.price_decimals,
                                lambda: h.feed.book, failures.append, interval=1.0, tolerance_bps=50.0)
        runner = asyncio.create_task(h.ws.run())
        try:
            await wait_for(lambda: h.feed.book.valid, "first snapshot")
            result = await checker.check_once()
            assert result is not None and result.ok, result
            assert failures == []
            # Freeze the market and let the feed catch up, so that no update can repair the corruption
            # before the check reads the book (it did once, on a loaded machine).
            sim.set_market_running(False)
            nonce, _, _ = await asyncio.to_thread(truth_levels, sim, market)
            await wait_for(lambda: h.feed.book.valid and h.feed.book.nonce == nonce, "client book at the truth's nonce")
            # Corrupt the local copy behind the feed's back: a phantom bid far above the real touch.
            h.feed.book.bids.set(h.feed.book.best_ask_tick - 1, 1)
            h.feed.book.asks.set(h.feed.book.best_ask_tick + 20_000, 1)
            for tick in range(h.feed.book.best_ask_tick, h.feed.book.best_ask_tick + 20_000):
                if h.feed.book.asks.get(tick):
                    h.feed.book.asks.set(tick, 0)
            result = await checker.check_once()
            assert result is not None and not result.ok
            assert failures and "best ask" in failures[0]
            assert checker.stats.failures == 1
        finally:
            sim.set_market_running(True)
            await h.ws.close()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def test_account_channels_feed_account_state(sim):
    account = await asyncio.to_thread(sim.create_account, "5000", "premium")
    async with aiohttp.ClientSession() as session:
        market = await fetch_market(session, sim.lighter_url, "BTC")
        state = AccountState(account.account_index, market.market_id, market.price_decimals, market.size_decimals)
        model = PyVolObiCalculator(tick_size=market.tick_size, window_steps=100, min_warmup_samples=5)
        import lighter

        signer = lighter.SignerClient(url=sim.lighter_url, account_index=account.account_index,
                                      api_private_keys={account.api_key_index: account.private_key})

        async def token():
            from lmm.venue.ws.manager import AuthToken

            value, err = signer.create_auth_token_with_expiry(3600, api_key_index=account.api_key_index)
            assert err is None
            return AuthToken(value, time.time() + 3600)

        ws = LighterWsManager(sim.lighter_ws_url, WsSettings(), token_provider=token)
        LighterFeed(ws, market, state, model, 0.025, on_book=lambda now: None, on_orders=lambda r, n: None,
                    on_fills=lambda f: None)
        runner = asyncio.create_task(ws.run())
        try:
            await wait_for(lambda: state.position_known and state.collateral is not None, "account state")
            assert state.position_lots == 0
            assert state.collateral == pytest.approx(5000.0)
        finally:
            await ws.close()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await signer.close()
