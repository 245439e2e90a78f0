"""The daemon's event loop: start-up, the supervised tasks, and the one shutdown path.

Rules:
- Start-up: market metadata from the exchange, the API key checked against the venue (``startup_checks``),
  nonce seeded, account read over REST, orders left by a previous run cancelled (market-scoped cancel-all,
  or only the bot's own orders with ``safety.cancel_foreign_orders`` false; then confirmed), leverage set;
  only then quoting. A start-up failure is a ``StartupError``: one line and its exit status.
- Every task is supervised: a task that ends or raises is logged with its traceback and stops the bot
  through the shutdown path (fatal exit status).
- One shutdown path for SIGINT/SIGTERM, the end of ``--duration``, fatal errors and a kill-switch trip
  (``kill_switch``: exit status 3, flattening with ``risk.flatten_on_kill``): stop quoting, cancel
  every order of this market, confirm over REST that none is left (retrying), then close everything.
- ``--record``: the tape is opened once the market is known and closed after the shutdown path
  (``recording``); without it the runtime's recorder is None and no hook runs.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from lmm.book.lighter_book import LighterBook
from lmm.config.config import Config
from lmm.config.credentials import Credentials
from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.core.book_freshness import BookFreshness
from lmm.core.intents import CROSS_MARGIN, ISOLATED_MARGIN, CancelAllOrders, UpdateLeverage
from lmm.core.kill_switch import RiskLimits
from lmm.core.leftovers import OpenOrder, cancel_all_backoff, describe_open_orders, from_reports, from_slots
from lmm.core.market import MarketInfo
from lmm.core.market_maker import SEC, MarketMaker, build_model
from lmm.core.order_diff import requote_threshold_warning
from lmm.core.orders import OrderReport
from lmm.core.pacing import Pacer
from lmm.core.quota_recovery_plan import RecoveryParams
from lmm.core.reconcile import GapLookup, poll_interval_ns
from lmm.daemon.flatten import flatten_position
from lmm.daemon.kill_state import EXIT_KILL_SWITCH
from lmm.daemon.kill_switch import KillSwitchMonitor
from lmm.daemon.quota_recovery import QuotaRecoveryRunner, RecoveryInputs
from lmm.daemon.recording import RecordOptions, close_recorder, open_recorder, state_sampler
from lmm.daemon.sampler import ModelSampler, run_fixed_clock
from lmm.daemon.send_loop import SendLoop
from lmm.daemon.startup_checks import (
    EXIT_FATAL,
    NETWORK_ERRORS,
    StartupError,
    check_venue,
    describe_network_error,
    unreachable,
)
from lmm.daemon.startup_orders import LeftoverIO, cancel_own_leftovers
from lmm.model.vol_obi import describe_implementation
from lmm.ops.loop_lag import LoopLagMonitor
from lmm.ops.metrics import Metrics
from lmm.ops.status import StatusReporter
from lmm.venue.binance.obi_feed import BinanceFeedSettings, BinanceObiFeed
from lmm.venue.lighter.book_sanity import SanityChecker, rest_best_ticks
from lmm.venue.lighter.client import TradingClient, open_trading_client
from lmm.venue.lighter.feed import LighterFeed
from lmm.venue.lighter.rest import TokenCache, VenueReader, VenueReadError
from lmm.venue.tape.bot_recorder import BotRecorder
from lmm.venue.ws.manager import LighterWsManager, WsSettings

log = logging.getLogger("lighter_mm.daemon")

EXIT_OK = 0
ACCOUNT_REFRESH_S = 30.0
STARTUP_CANCEL_S = 30.0
WRITER_STOP_TIMEOUT_S = 15.0


@dataclass
class Runtime:
    config: Config
    market: MarketInfo
    client: TradingClient
    reader: VenueReader
    mm: MarketMaker
    ws: LighterWsManager
    feed: LighterFeed
    binance: BinanceObiFeed | None
    send_loop: SendLoop
    sanity: SanityChecker
    status: StatusReporter
    recovery: QuotaRecoveryRunner | None = None
    flatten_on_exit: bool = False
    may_remain: str = ""  # set when cancelling gave up: the orders that may still be open
    recorder: BotRecorder | None = None  # --record: the tape of what the bot receives and does
    kill: KillSwitchMonitor | None = None  # the risk limits (config ``risk``)


async def run_daemon(config: Config, symbol: str, creds: Credentials, *, duration: float | None,
                     stop: asyncio.Event, metrics: Metrics | None = None, flatten_on_exit: bool = False,
                     record: RecordOptions | None = None, kill_state: Path | None = None) -> int:
    """Run the bot until ``stop`` is set, ``duration`` elapses, a task fails or the kill switch trips (its
    trip recorded in ``kill_state``). Returns the exit status."""
    session = aiohttp.ClientSession()
    runtime: Runtime | None = None
    shutdown_clean = True
    try:
        runtime = await _start(config, symbol, creds, session, record)
        runtime.flatten_on_exit = flatten_on_exit
        if runtime.kill is not None:
            runtime.kill.state_path = kill_state
        if metrics is not None:
            metrics.bind(runtime.status.snapshot)
        status = await _supervise(runtime, stop, duration)
    finally:
        if runtime is not None:
            shutdown_clean = await _shutdown(runtime)
            if runtime.recorder is not None:
                await close_recorder(runtime.recorder, {"shutdown_clean": shutdown_clean})
            runtime.status.summary()
            if not shutdown_clean:  # the console's last line: what to check by hand
                log.error("SHUTDOWN INCOMPLETE: %s", f"{runtime.may_remain}; check the venue by hand" if
                          runtime.may_remain else f"check open orders and the position on {runtime.market.symbol}")
        elif not session.closed:
            await session.close()
        if metrics is not None:
            metrics.close()
    return status if shutdown_clean else EXIT_FATAL  # an order may be left, or the position was not closed


async def _start(config: Config, symbol: str, creds: Credentials, session: aiohttp.ClientSession,
                 record: RecordOptions | None = None) -> Runtime:
    """Everything before quoting. A failure the user can act on is a ``StartupError`` (one line, its exit
    status); nothing is signed before the venue has confirmed the account, the key and its public key."""
    endpoints = config.endpoints
    market = await check_venue(session, endpoints.lighter_base_url, symbol, creds)
    log.info("market %s: id %d, tick %s, lot %s, min %d lots / $%.2f", market.symbol, market.market_id,
             market.tick_size, market.lot_size, market.min_base_lots, market.min_quote_micro_usd / 1e6)
    log.info("%s", describe_implementation())
    warning = requote_threshold_warning(config.trading.default_quote_update_threshold_bps,
                                        config.vol_obi.min_half_spread_bps)
    if warning:
        log.warning("%s", warning)

    try:
        client = await open_trading_client(endpoints.lighter_base_url, endpoints.lighter_ws_url, creds,
                                           session=session)
    except NETWORK_ERRORS as exc:
        raise unreachable(endpoints.lighter_base_url, describe_network_error(exc)) from exc
    tokens = TokenCache(client.signer)
    reader = VenueReader(session, endpoints.lighter_base_url, creds.account_index, tokens)
    model = build_model(config, market)
    mm = MarketMaker(config, market, creds.account_index, model, clock_ns=time.monotonic_ns,
                     wall_ms=lambda: time.time_ns() // 1_000_000)
    mm.quota = lambda: client.sender.volume_quota_remaining
    kill = KillSwitchMonitor(RiskLimits.from_config(config), mm, market, clock_ns=time.monotonic_ns,
                             wall_ns=time.time_ns)

    premium = await _read_tier(reader)
    pacer = Pacer(config.performance.rate_limit_send_interval, premium=premium)
    send_loop = SendLoop(client.sender, pacer, mm.compute_ops, mm.on_send_loop_results, mm.rate_limited_delay_s)
    settings = BinanceFeedSettings.from_config(config, market.symbol)
    recorder = None
    if record is not None:
        try:
            recorder = open_recorder(record, config, market, settings)
        except BaseException:
            await client.close()
            raise
        client.sender.observer = recorder

    def on_book(now_ns: int) -> None:
        mm.on_book_tick(now_ns)
        kill.check(now_ns)
        send_loop.wake()

    ws = LighterWsManager(endpoints.lighter_ws_url, WsSettings.from_config(config.websocket),
                          token_provider=tokens.get)
    on_orders, on_fills = mm.on_orders, kill.fills_then(mm.on_fills)
    if recorder is not None:
        on_orders, on_fills = recorder.orders_then(on_orders), recorder.fills_then(on_fills)
    feed = LighterFeed(ws, market, mm.account, model, config.vol_obi.looking_depth, on_book=on_book,
                       on_orders=on_orders, on_fills=on_fills, recorder=recorder)
    mm.feed = feed
    binance = None
    if settings is not None:
        binance = BinanceObiFeed(settings, recorder=None if recorder is None else recorder.binance)
    elif config.alpha.source == "binance":
        log.warning("no Binance symbol for %s: using the Lighter imbalance only", market.symbol)
    sanity = SanityChecker(session, endpoints.lighter_base_url, market.market_id, market.price_decimals,
                           lambda: feed.book, feed.resync, config.safety.sanity_check_interval_sec,
                           config.safety.sanity_tolerance_bps)
    status = StatusReporter(mm, client.sender, feed, binance, ws)
    runtime = Runtime(config, market, client, reader, mm, ws, feed, binance, send_loop, sanity, status,
                      recorder=recorder, kill=kill)
    if premium and config.quota_recovery.enabled:
        runtime.recovery = _quota_recovery(runtime, pacer)

    try:
        await _refresh_account(runtime)
        if config.safety.cancel_foreign_orders:
            cancelled = await _cancel_leftovers(runtime, "start-up", always_cancel=False, budget_s=STARTUP_CANCEL_S)
        else:
            cancelled, _ = await cancel_own_leftovers(_own_leftover_io(runtime), STARTUP_CANCEL_S)
        if not cancelled:
            raise StartupError(f"start-up: orders left by a previous run could not be cancelled on {market.symbol}; "
                               f"not quoting (check the venue)", EXIT_FATAL)
        await _set_leverage(runtime)
    except (*NETWORK_ERRORS, VenueReadError) as exc:
        await _close_at_start(runtime)
        raise unreachable(endpoints.lighter_base_url, str(exc) if isinstance(exc, VenueReadError)
                          else describe_network_error(exc)) from exc
    except BaseException:
        await _close_at_start(runtime)
        raise
    return runtime


async def _close_at_start(rt: Runtime) -> None:
    await rt.client.close()
    if rt.recorder is not None:
        await close_recorder(rt.recorder, {"start_failed": True})


def _own_leftover_io(rt: Runtime) -> LeftoverIO:
    """What the start-up needs to cancel only the orders this bot placed (``safety.cancel_foreign_orders``
    false): the lister, the allocator's ownership test and the sender."""
    mm = rt.mm

    async def list_orders() -> list[OrderReport]:
        return mm.account.parse_orders(await rt.reader.active_orders(rt.market.market_id))

    return LeftoverIO(rt.market, list_orders, mm.orders.allocator.issued, rt.client.sender.send,
                      rt.config.safety.order_reconcile_timeout_sec)


def _quota_recovery(rt: Runtime, pacer: Pacer) -> QuotaRecoveryRunner:
    mm, feed = rt.mm, rt.feed

    def limit() -> float | None:
        mid_ticks2 = feed.book.mid_ticks2
        return None if mid_ticks2 is None else mm.position_limit_usd(time.monotonic_ns(), mid_ticks2 / 2)

    def fresh_book() -> LighterBook | None:  # no round trip priced off a held or stale book
        return feed.book if mm.book_freshness(time.monotonic_ns()) is BookFreshness.FRESH else None

    inputs = RecoveryInputs(book=fresh_book, volatility_usd_per_sqrt_s=lambda: mm.model.volatility,
                            max_position_usd=limit, warmed_up=lambda: mm.model.warmed_up(time.monotonic_ns()))
    return QuotaRecoveryRunner(RecoveryParams.from_config(rt.config), rt.market, mm.rules, rt.client.sender, pacer,
                               mm.account, mm.orders.allocator, inputs, on_rate_limited=mm.rate_limited_delay_s)


async def _read_tier(reader: VenueReader) -> bool:
    try:
        premium = await reader.is_premium()
    except VenueReadError as exc:
        log.warning("account tier unknown (%s); pacing as premium (the stricter quota rules)", exc)
        return True
    log.info("account tier: %s", "premium (volume quota)" if premium else "standard (60 tx/min)")
    return premium


async def _refresh_account(rt: Runtime) -> None:
    requested = time.monotonic_ns()
    body = await rt.reader.account()
    rt.mm.account.on_rest_account(body, time.monotonic_ns(), requested_ns=requested)


async def _set_leverage(rt: Runtime) -> None:
    trading = rt.config.trading
    mode = ISOLATED_MARGIN if trading.margin_mode == "isolated" else CROSS_MARGIN
    [result] = await rt.client.sender.send([UpdateLeverage(rt.market.market_id, trading.leverage, mode)])
    if result.ok:
        log.info("leverage set: %dx %s", trading.leverage, trading.margin_mode)
    else:
        log.warning("leverage not set (%s %s %s); continuing with the account's current setting",
                    result.outcome.value, result.code, result.message)


async def _send_cancel_all(rt: Runtime, when: str) -> bool:
    try:
        [result] = await rt.client.sender.send([CancelAllOrders(rt.market.market_id)])
    except Exception as exc:  # a crash here must not end the shutdown's retries
        log.warning("%s: cancel-all failed: %s", when, exc)
        return False
    if not result.ok:
        log.warning("%s: cancel-all %s (%s %s)", when, result.outcome.value, result.code, result.message)
    return result.ok


async def _cancel_own_orders_at_shutdown(rt: Runtime) -> bool:
    """``safety.cancel_foreign_orders`` false: cancel only the bot's own orders, never the market-wide
    cancel-all; when the budget runs out, ``rt.may_remain`` names the bot's orders that may still be open."""
    log.info("shutting down: cancelling this bot's orders on %s (others are left alone)", rt.market.symbol)
    budget_s = rt.config.safety.shutdown_cancel_budget_sec
    known = rt.mm.orders.tracked_cancels()
    clean, listed = await cancel_own_leftovers(_own_leftover_io(rt), budget_s, when="shutdown", known=known)
    if not clean:
        remaining, source = ((from_reports(listed), "newest REST listing") if listed is not None else
                             (from_slots(rt.mm.orders.slots.values()), "the bot's order slots: no REST listing"))
        rt.may_remain = describe_open_orders(rt.market, remaining, source)
    return clean


async def _cancel_leftovers(rt: Runtime, when: str, *, always_cancel: bool, budget_s: float) -> bool:
    """Cancel every order of this market and confirm it over REST; True when none is left.

    The venue accepts orders asynchronously, so "none left" needs an accepted cancel-all (when one was
    needed) and then two empty listings in a row (one a second), the last taken at least
    ``safety.order_reconcile_timeout_sec`` after the cancel-all was accepted. Cancel-all is re-sent while
    orders show up or it was refused, spaced by a jittered exponential backoff (``leftovers``), until
    ``budget_s`` runs out; then ``rt.may_remain`` names the orders that may still be open.
    """
    settle_s = rt.config.safety.order_reconcile_timeout_sec
    deadline = time.monotonic() + budget_s
    backoff = cancel_all_backoff()
    need_cancel, cancelled_at, empty_in_a_row, next_cancel_at = always_cancel, None, 0, 0.0
    listed: tuple[OpenOrder, ...] | None = None  # the newest REST listing, and when it was asked for
    listed_at = 0.0
    while (now := time.monotonic()) < deadline:
        if need_cancel:
            if now < next_cancel_at:
                await asyncio.sleep(min(next_cancel_at, deadline) - now)
                continue
            accepted = await _send_cancel_all(rt, when)
            next_cancel_at = time.monotonic() + backoff.next_delay()
            if accepted:
                need_cancel, cancelled_at, empty_in_a_row = False, time.monotonic(), 0
        await asyncio.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
        asked_at = time.monotonic()  # when the listing was asked for: a slow reply may show an older state
        try:
            orders = await rt.reader.active_orders(rt.market.market_id)
        except VenueReadError as exc:
            log.warning("%s: cannot list open orders: %s", when, exc)
            continue
        listed, listed_at = from_reports(rt.mm.account.parse_orders(orders)), asked_at
        if orders:
            log.info("%s: %d open order(s) on %s: cancelling", when, len(orders), rt.market.symbol)
            need_cancel, empty_in_a_row = True, 0
            continue
        empty_in_a_row += 1
        confirmed = not need_cancel and empty_in_a_row >= 2
        if confirmed and (cancelled_at is None or asked_at - cancelled_at >= settle_s):
            log.info("%s: no open order on %s (confirmed twice over REST)", when, rt.market.symbol)
            return True
    if listed is not None:
        remaining, source = listed, f"REST listing {time.monotonic() - listed_at:.0f} s before giving up"
    else:
        remaining, source = from_slots(rt.mm.orders.slots.values()), "the bot's order slots: no REST listing"
    rt.may_remain = describe_open_orders(rt.market, remaining, source)
    log.error("%s: gave up after %.0fs: %s", when, budget_s, rt.may_remain)
    return False


async def _supervise(rt: Runtime, stop: asyncio.Event, duration: float | None) -> int:
    cfg = rt.config
    sampler = ModelSampler(rt.mm.model, rt.binance,
                           on_step=None if rt.recorder is None else state_sampler(rt.mm, rt.recorder))
    rt.status.sampler = sampler
    loop_lag = LoopLagMonitor()
    rt.status.loop_lag = loop_lag
    jobs: dict[str, Awaitable[None]] = {
        "lighter-ws": rt.ws.run(),
        "sampler": run_fixed_clock(cfg.vol_obi.step_ns, sampler.tick),
        "send-loop": rt.send_loop.run(),
        "housekeeping": _housekeeping(rt),
        "order-poller": _order_poller(rt),
        "account-refresh": _account_refresh(rt),
        "sanity": rt.sanity.run(),
        "status": rt.status.run(),
        "loop-lag": loop_lag.run(),
    }
    if rt.binance is not None:
        jobs["binance"] = rt.binance.run()
    if rt.recovery is not None:
        jobs["quota-recovery"] = rt.recovery.run()
    if rt.client.ws_transport is not None:
        jobs["tx-socket"] = _keep_tx_socket(rt)
    if rt.kill is not None:
        jobs["kill-switch"] = rt.kill.run()
    tasks = {asyncio.create_task(job, name=name): name for name, job in jobs.items()}
    stopper = asyncio.create_task(stop.wait(), name="stop-signal")
    timer = asyncio.create_task(asyncio.sleep(duration if duration else 10**9), name="duration")
    killed = asyncio.create_task(rt.kill.tripped.wait() if rt.kill is not None else asyncio.Event().wait(),
                                 name="kill-switch-trip")
    exit_status = EXIT_OK
    try:
        done, _ = await asyncio.wait({*tasks, stopper, timer, killed}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is killed:  # the trip was logged; the shutdown path cancels (and flattens, if asked)
                exit_status = EXIT_KILL_SWITCH
                rt.flatten_on_exit = rt.flatten_on_exit or cfg.risk.flatten_on_kill
            elif task in tasks:
                exit_status = EXIT_FATAL
                exc = task.exception() if not task.cancelled() else None
                log.critical("task %s ended unexpectedly", tasks[task], exc_info=exc)
            elif task is timer:
                log.info("duration of %.0fs reached", duration)
            else:
                log.info("stop requested")
    finally:
        rt.mm.pause("shutdown")
        # Hold the sender lock while the tasks stop, so none is cancelled in the middle of a send (the signer
        # thread would go on writing); a send stuck beyond the timeout is cut, the cancel-all covers it.
        lock = rt.client.sender.lock
        try:
            await asyncio.wait_for(lock.acquire(), timeout=WRITER_STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("a send is still in flight after %.0fs; stopping anyway", WRITER_STOP_TIMEOUT_S)
        try:
            for task in (*tasks, stopper, timer, killed):
                task.cancel()
            await asyncio.wait({*tasks, stopper, timer, killed}, timeout=10)
        finally:
            if lock.locked():
                lock.release()
    return exit_status


async def _housekeeping(rt: Runtime) -> None:
    """Timeouts, stuck slots and a periodic wake-up of the send loop (quotes move with time too)."""
    interval = rt.config.performance.min_loop_interval
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic_ns()
        lookups = rt.mm.orders.check_timeouts(now)
        if lookups:
            log.warning("%d order(s) overdue on the exchange: reconciling", len(lookups))
            await _reconcile(rt)
        rt.send_loop.wake()


async def _order_poller(rt: Runtime) -> None:
    """The periodic REST reconcile, and a resync as soon as the account-orders stream is back (reconnect or
    resubscription): what it reported while down is lost, so slots may be waiting on orders long gone."""
    base_ns = int(rt.config.safety.stale_order_poller_interval_sec * SEC)
    channel = f"account_all_orders/{rt.mm.account.account_index}"
    stream_back = asyncio.Event()
    rt.ws.add_ready_listener(channel, stream_back.set)
    while True:
        healthy = rt.ws.health(channel).subscribed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stream_back.wait(), poll_interval_ns(base_ns, healthy) / SEC)
        if stream_back.is_set():
            stream_back.clear()
            await _resync(rt)
        else:
            await _reconcile(rt)


async def _resync(rt: Runtime) -> None:
    """Orders and account over REST once the order stream is live again. The tracked orders are looked up by
    client index (what the stream missed settles their slots at once, with no grace period) while the account
    is refreshed; then the active orders are reconciled. Quoting resumes as soon as the slots are free."""
    started = time.monotonic()
    lookup = rt.mm.gap_lookup(time.monotonic_ns())
    await asyncio.gather(_settle_by_lookup(rt, lookup), _refresh_account_or_warn(rt, "resync"))
    await _reconcile(rt)
    rt.send_loop.wake()
    log.info("order stream back: resynced over REST in %.0f ms (%d tracked order(s) looked up)",
             (time.monotonic() - started) * 1e3, len(lookup.asked))


async def _settle_by_lookup(rt: Runtime, lookup: GapLookup) -> None:
    if not lookup.asked:
        return
    try:
        raw = await rt.reader.orders_by_client_index(list(lookup.asked))
    except VenueReadError as exc:
        log.warning("resync: order lookup failed: %s", exc)
        return
    rt.mm.apply_lookup(lookup, rt.mm.account.parse_orders(raw), time.monotonic_ns())


async def _refresh_account_or_warn(rt: Runtime, when: str) -> None:
    try:
        await _refresh_account(rt)
    except VenueReadError as exc:
        log.warning("%s: account refresh failed: %s", when, exc)


async def _reconcile(rt: Runtime) -> None:
    snapshot_ns = time.monotonic_ns()
    try:
        raw = await rt.reader.active_orders(rt.market.market_id)
    except VenueReadError as exc:
        log.warning("reconcile skipped: %s", exc)
        return
    reports = rt.mm.account.parse_orders(raw)
    if rt.recorder is not None:
        rt.recorder.orders(reports, "rest")
    cancels = rt.mm.reconcile(reports, snapshot_ns)
    if cancels:
        results = await rt.client.sender.send(cancels)
        rt.mm.on_results(results)


async def _keep_tx_socket(rt: Runtime) -> None:
    """Reconnect the transaction socket when it drops (REST carries the sends meanwhile)."""
    transport = rt.client.ws_transport
    backoff = Backoff(BackoffPolicy(base_delay=1.0, max_delay=60.0))  # reset by every successful connect
    delay = 1.0
    while True:
        await asyncio.sleep(delay)
        if transport.available():
            delay = 1.0
            continue
        try:
            await transport.connect()
            log.info("transaction socket reconnected")
            backoff.reset()
            delay = 1.0
        except Exception as exc:
            delay = backoff.next_delay()
            log.warning("transaction socket reconnect failed (%s); next try in %.1fs", exc, delay)


async def _account_refresh(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(ACCOUNT_REFRESH_S)
        try:
            await _refresh_account(rt)
        except VenueReadError as exc:
            log.warning("account refresh failed: %s", exc)


async def _flatten(rt: Runtime) -> bool:
    """--flatten-on-exit: close the position with reduce-only IOC orders, reading touch and position over REST.

    Returns True when the position ended flat."""

    async def read_position() -> int:
        await _refresh_account(rt)
        return rt.mm.account.position_lots

    async def read_touch() -> tuple[int, int] | None:
        try:
            body = await rt.reader.order_book_orders(rt.market.market_id)
        except VenueReadError:
            return None
        return rest_best_ticks(body, rt.market.price_decimals)

    result = await asyncio.wait_for(
        flatten_position(rt.client.sender, rt.market, read_position, read_touch, rt.mm.orders.allocator),
        timeout=90)
    if result.flat:
        log.info("position flattened (%s lots before): %s", result.start_lots, result.detail)
    else:
        log.error("POSITION NOT FLAT after %d attempt(s): %s lots left (%s)", result.attempts, result.final_lots,
                  result.detail)
    return result.flat


async def _shutdown(rt: Runtime) -> bool:
    """Cancel every order (confirmed over REST), flatten when asked, close the connections.

    Returns False when an order may be left open or a requested flatten did not end flat."""
    clean = False
    try:
        if rt.config.safety.cancel_foreign_orders:
            log.info("shutting down: cancelling every order on %s", rt.market.symbol)
            clean = await _cancel_leftovers(rt, "shutdown", always_cancel=True,
                                            budget_s=rt.config.safety.shutdown_cancel_budget_sec)
        else:
            clean = await _cancel_own_orders_at_shutdown(rt)
        if rt.recovery is not None and rt.recovery.round_trip_started:
            log.warning("quota recovery may have a round trip open: closing it back to flat")
            clean = await _flatten(rt) and clean  # round trips start flat, so flat is where they end
        elif rt.flatten_on_exit:
            clean = await _flatten(rt) and clean
    except Exception:
        log.exception("shutdown failed: check open orders and the position on %s manually", rt.market.symbol)
        clean = False
    closers = [rt.ws.close, *([rt.binance.close] if rt.binance is not None else []), rt.client.close]
    for closer in closers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(closer(), timeout=10)
    return clean
