"""The Binance alpha on the local venue, in virtual time: the daemon's own BinanceObiFeed reads the simulator's
Binance market in-process (the combined stream through the venue's connector, the depth snapshot through the
server's REST handler), syncs its book, drives the alpha, and resyncs after the simulator's feed faults."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from venue_support import BTC, LocalBot, run_bot, venue_config, with_local_bot

from lmm.config.config import Config
from lmm.daemon.run import EXIT_OK
from sim.binance_server import BinanceServerConfig

TIGHT = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}


def binance_config(tmp_path: Path) -> Config:
    return venue_config(tmp_path, vol_obi=TIGHT, alpha={"source": "binance"})


def source(bot: LocalBot) -> str:
    sampler = bot.rt.status.sampler
    return "none" if sampler is None else sampler.source


async def until_binance_alpha(bot: LocalBot) -> None:
    feed = bot.rt.binance
    assert feed is not None, "the daemon built no Binance feed on the local venue"
    await bot.wait_until(lambda: feed.health().synced, "the Binance book to sync")
    await bot.wait_until(lambda: source(bot) == "binance", "the alpha to come from Binance")


def test_the_binance_feed_syncs_and_drives_the_alpha(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)

    async def body(bot: LocalBot) -> None:
        await until_binance_alpha(bot)
        feed = bot.rt.binance
        assert feed is not None and bot.venue.binance is not None
        assert feed.settings.market.symbol == "BTCUSDT"  # BTC on the local venue is the sim's BTCUSDT
        await bot.wait_until(lambda: {o.is_ask for o in bot.venue.open_orders(BTC)} == {False, True},
                             "the bot to quote both sides")
        await asyncio.sleep(10)  # ten seconds on the Binance alpha
        health = feed.health()
        assert health.synced and health.warm and health.connected, health
        assert (health.reconnects, health.gaps, health.resyncs, health.snapshots_requested) == (0, 0, 1, 1), health
        assert (health.bad_frames, health.error_frames) == (0, 0), health
        assert health.samples >= 200  # every 50 ms step sampled the synced book
        assert bot.venue.binance.connector.connects == 1  # the stream came through the in-process connector
        alpha = feed.alpha()
        assert alpha is not None and alpha[0] != 0.0
        assert source(bot) == "binance"

    with_local_bot(binance_config(tmp_path), body)  # its shutdown confirms that no order is left
    assert "alpha source: none -> binance" in caplog.text
    assert "has no Binance feed" not in caplog.text


def test_a_pu_gap_resyncs_the_book_and_the_alpha_comes_back(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="lighter_mm.sampler")

    async def body(bot: LocalBot) -> None:
        await until_binance_alpha(bot)
        feed = bot.rt.binance
        assert feed is not None
        before = feed.health()
        switches = bot.rt.status.sampler.source_switches  # type: ignore[union-attr]
        bot.venue.inject_fault("binance_pu_gap", symbol="BTCUSDT")
        await bot.wait_until(lambda: feed.health().gaps == before.gaps + 1, "the feed to see the gap")
        await bot.wait_until(lambda: feed.health().resyncs == before.resyncs + 1, "the book to resync")
        # the stats restart on a resync: the alpha falls back until the window holds min_samples again
        await bot.wait_until(lambda: source(bot) == "binance"
                             and bot.rt.status.sampler.source_switches >= switches + 2,  # type: ignore[union-attr]
                             "the Binance alpha to come back")
        after = feed.health()
        assert after.reconnects == before.reconnects == 0  # a gap resyncs over REST, the stream stays up
        assert after.snapshots_requested == before.snapshots_requested + 1
        assert after.synced and not after.crossed

    with_local_bot(binance_config(tmp_path), body)
    assert "alpha source: binance -> lighter" in caplog.text
    assert "alpha source: lighter -> binance" in caplog.text


def test_a_throttled_snapshot_is_retried_after_its_retry_after(tmp_path: Path):
    async def body(bot: LocalBot) -> None:
        await until_binance_alpha(bot)
        feed = bot.rt.binance
        assert feed is not None
        bot.venue.inject_fault("binance_rest_429", count=1, retry_after_s=3)
        bot.venue.inject_fault("binance_pu_gap", symbol="BTCUSDT")
        gap_at = bot.clock.monotonic()
        await bot.wait_until(lambda: feed.health().snapshot_failures == 1, "the throttled snapshot")
        await bot.wait_until(lambda: feed.health().resyncs == 2 and feed.health().synced, "the book to resync")
        assert bot.clock.monotonic() - gap_at >= 3.0  # the venue's Retry-After was honoured, in virtual time
        assert feed.health().snapshots_requested == 3

    with_local_bot(binance_config(tmp_path), body)


def test_a_closed_stream_reconnects_in_process_and_resyncs(tmp_path: Path):
    async def body(bot: LocalBot) -> None:
        await until_binance_alpha(bot)
        feed, local = bot.rt.binance, bot.venue.binance
        assert feed is not None and local is not None
        bot.venue.inject_fault("binance_close", code=1001)
        await bot.wait_until(lambda: local.connector.connects == 2, "the feed to reconnect")
        await bot.wait_until(lambda: feed.health().resyncs == 2 and feed.health().synced, "the book to resync")
        await bot.wait_until(lambda: source(bot) == "binance", "the Binance alpha to come back")
        assert feed.health().reconnects == 1
        assert local.server.connection_count == 1  # the closed session was released by the venue

    with_local_bot(binance_config(tmp_path), body)


def test_the_in_process_stream_answers_the_venues_pings(tmp_path: Path):
    async def body(bot: LocalBot) -> None:
        await until_binance_alpha(bot)
        feed, local = bot.rt.binance, bot.venue.binance
        assert feed is not None and local is not None
        # the venue's housekeeping now pings every second and drops a client silent to pings for 3 s
        local.server.config = BinanceServerConfig(ping_interval_s=1.0, pong_timeout_s=3.0, clock=bot.clock.wall)
        await asyncio.sleep(20)
        assert local.connector.connects == 1 and feed.health().reconnects == 0
        assert feed.health().synced

    with_local_bot(binance_config(tmp_path), body)


def test_the_whole_daemon_on_the_binance_alpha_repeats_and_leaves_nothing(tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture):
    config = binance_config(tmp_path)

    caplog.set_level(logging.INFO, logger="lighter_mm.sampler")

    def quotes(seed: int) -> list[tuple[int, int, int]]:
        seen: list[tuple[int, int, int]] = []

        async def watch(venue, clock) -> None:  # type: ignore[no-untyped-def]
            while True:
                await asyncio.sleep(1.0)
                seen.extend((clock.monotonic_ns(), o.price, int(o.is_ask)) for o in venue.open_orders(BTC))

        run = run_bot(config, 30, scenario=watch, seed=seed)
        assert run.status == EXIT_OK
        assert run.venue.open_orders() == [], "an order was left resting after shutdown"
        assert run.venue.binance is not None and run.venue.binance.server.connection_count == 0
        return seen

    first = quotes(seed=5)
    assert {side for _, _, side in first} == {0, 1}
    assert "alpha source: none -> binance" in caplog.text
    assert quotes(seed=5) == first  # the Binance feed reads time only through the run's clock


def test_without_the_binance_market_the_alpha_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)

    async def body(bot: LocalBot) -> None:
        assert bot.rt.binance is None
        await bot.wait_until(lambda: source(bot) == "lighter", "the Lighter imbalance alpha")

    with_local_bot(binance_config(tmp_path), body, with_binance=False)
    assert "the local venue has no Binance feed" in caplog.text
