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
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from lmm.book.lighter_book import LighterBook
from lmm.config.config import Config
from lmm.config.credentials import Credentials
from lmm.core.book_freshness import BookFreshness
from lmm.core.cancel_confirmation import CancelAction, CancelAllConfirmation
from lmm.core.intents import CROSS_MARGIN, ISOLATED_MARGIN, CancelAllOrders, UpdateLeverage
from lmm.core.leftovers import OpenOrder, cancel_all_backoff, describe_open_orders, from_reports, from_slots
from lmm.core.market import MarketInfo
from lmm.core.market_maker import SEC, MarketMaker, build_model
from lmm.core.order_diff import requote_threshold_warning
from lmm.core.orders import OrderReport
from lmm.core.pacing import Pacer
from lmm.core.reconcile import GapLookup, poll_interval_ns
from lmm.daemon.fill_history import FillHistory
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
    describe_network_error,
    unreachable,
)
from lmm.daemon.startup_orders import LeftoverIO, cancel_own_leftovers
from lmm.daemon.venues import open_lighter
from lmm.model.vol_obi import describe_implementation
from lmm.ops.loop_lag import LoopLagMonitor
from lmm.ops.metrics import Metrics
from lmm.ops.status import StatusReporter
from lmm.venue.base import Venue
from lmm.venue.binance.obi_feed import BinanceFeedSettings, BinanceObiFeed
from lmm.venue.clock import SYSTEM_CLOCK, Clock
from lmm.venue.lighter.book_sanity import SanityChecker, rest_best_ticks
from lmm.venue.lighter.feed import LighterFeed
from lmm.venue.lighter.rest import VenueReader, VenueReadError
from lmm.venue.lighter.tx_sender import TxSender
from lmm.venue.tape.bot_recorder import BotRecorder
from lmm.venue.ws.manager import LighterWsManager

log = logging.getLogger("lighter_mm.daemon")

EXIT_OK = 0
ACCOUNT_REFRESH_S = 30.0
STARTUP_CANCEL_S = 30.0
WRITER_STOP_TIMEOUT_S = 15.0


@dataclass
class Runtime:
    config: Config
    market: MarketInfo
    venue: Venue
    mm: MarketMaker
    feed: LighterFeed
    binance: BinanceObiFeed | None
    send_loop: SendLoop
    sanity: SanityChecker
    status: StatusReporter
    clock: Clock = SYSTEM_CLOCK
    recovery: QuotaRecoveryRunner | None = None
    flatten_on_exit: bool = False
    may_remain: str = ""  # set when cancelling gave up: the orders that may still be open
    recorder: BotRecorder | None = None  # --record: the tape of what the bot receives and does
    kill: KillSwitchMonitor | None = None  # the risk limits (config ``risk``)
    fill_history: FillHistory | None = None  # the fill history's writer (``fill_dir``)

    @property
    def sender(self) -> TxSender:
        return self.venue.sender

    @property
    def reader(self) -> VenueReader:
        return self.venue.reader

    @property
    def ws(self) -> LighterWsManager:
        return self.venue.streams


VenueOpener = Callable[[aiohttp.ClientSession], Awaitable[Venue]]


async def run_daemon(config: Config, symbol: str, creds: Credentials | None, *, duration: float | None,
                     stop: asyncio.Event, metrics: Metrics | None = None, flatten_on_exit: bool = False,
                     record: RecordOptions | None = None, venue: VenueOpener | None = None,
                     clock: Clock = SYSTEM_CLOCK, kill_state: Path | None = None,
                     fill_dir: Path | None = None) -> int:
    """Run the bot until ``stop`` is set, ``duration`` elapses, a task fails or the kill switch trips (its
    trip recorded in ``kill_state``). Returns the exit status. ``fill_dir``: the fill history's directory
    (``fill_history``; None: off).

    ``venue`` opens the venue to trade through (default: Lighter, or the loopback simulator, at the configured
    endpoints with ``creds``); ``clock`` is the run's one clock (a virtual clock on the virtual-time loop)."""
    session = aiohttp.ClientSession()
    runtime: Runtime | None = None
    shutdown_clean = True
    if venue is None:
        assert creds is not None, "the Lighter venue needs credentials"
        venue = functools.partial(open_lighter, config, symbol, creds, clock=clock)
    try:
        runtime = await start_on(config, await venue(session), record, clock, fill_dir=fill_dir)
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
        if not session.closed:
            await session.close()
        if metrics is not None:
            metrics.close()
    return status if shutdown_clean else EXIT_FATAL  # an order may be left, or the position was not closed


async def _start(config: Config, symbol: str, creds: Credentials, session: aiohttp.ClientSession,
                 record: RecordOptions | None = None, clock: Clock = SYSTEM_CLOCK) -> Runtime:
    """``start_on`` the Lighter venue at the configured endpoints (tests and benchmarks)."""
    return await start_on(config, await open_lighter(config, symbol, creds, session, clock), record, clock)


async def start_on(config: Config, venue: Venue, record: RecordOptions | None = None,
                   clock: Clock = SYSTEM_CLOCK, fill_dir: Path | None = None) -> Runtime:
    """Everything before quoting, on an open venue. A failure the user can act on is a ``StartupError`` (one
    line, its exit status); the venue is closed again when the start fails."""
    market = venue.market
    log.info("market %s on the %s venue: id %d, tick %s, lot %s, min %d lots / $%.2f", market.symbol, venue.name,
             market.market_id, market.tick_size, market.lot_size, market.min_base_lots,
             market.min_quote_micro_usd / 1e6)
    log.info("%s", describe_implementation())
    warning = requote_threshold_warning(config.trading.default_quote_update_threshold_bps,
                                        config.vol_obi.min_half_spread_bps)
    if warning:
        log.warning("%s", warning)
    sender, reader = venue.sender, venue.reader
    model = build_model(config, market)
    mm = MarketMaker(config, market, venue.account_index, model, clock_ns=clock.monotonic_ns, wall_ms=clock.wall_ms)
    mm.quota = lambda: sender.volume_quota_remaining
    kill = KillSwitchMonitor(mm.params.risk, mm, market, clock_ns=clock.monotonic_ns,
                             wall_ns=clock.wall_ns)

    try:
        premium = await _read_tier(reader)
    except BaseException:
        await venue.close()
        raise
    pacer = Pacer(config.performance.rate_limit_send_interval, premium=premium)
    send_loop = SendLoop(sender, pacer, mm.compute_ops, mm.on_send_loop_results, mm.rate_limited_delay_s,
                         clock=clock.monotonic)
    settings = BinanceFeedSettings.from_config(config, market.symbol) if venue.has_binance else None
    recorder = None
    if record is not None:
        try:
            recorder = open_recorder(record, config, market, settings, clock)
        except BaseException:
            await venue.close()
            raise
        sender.observer = recorder

    def on_book(now_ns: int) -> None:
        mm.on_book_tick(now_ns)
        kill.check(now_ns)
        send_loop.wake()

    on_orders, on_fills = mm.on_orders, kill.fills_then(mm.on_fills)
    history = None if fill_dir is None else FillHistory(fill_dir, mm, clock)
    if history is not None:
        on_fills = history.fills_then(on_fills)
    if recorder is not None:
        on_orders, on_fills = recorder.orders_then(on_orders), recorder.fills_then(on_fills)
    feed = LighterFeed(venue.streams, market, mm.account, model, config.vol_obi.looking_depth, on_book=on_book,
                       on_orders=on_orders, on_fills=on_fills, clock_ns=clock.monotonic_ns, recorder=recorder)
    mm.feed = feed
    binance = None
    if settings is not None:
        binance = BinanceObiFeed(settings, recorder=None if recorder is None else recorder.binance,
                                 clock_ns=clock.monotonic_ns, wall_clock=clock.wall, wire=venue.binance_wire)
    elif not venue.has_binance:
        log.info("the %s venue has no Binance feed: using the Lighter imbalance only", venue.name)
    elif config.alpha.source == "binance":
        log.warning("no Binance symbol for %s: using the Lighter imbalance only", market.symbol)
    sanity = SanityChecker(lambda: reader.order_book_orders(market.market_id), market.price_decimals,
                           lambda: feed.book, feed.resync, config.safety.sanity_check_interval_sec,
                           config.safety.sanity_tolerance_bps)
    status = StatusReporter(mm, sender, feed, binance, venue.streams, clock=clock,
                            label="PAPER" if venue.name == "paper" else "")
    runtime = Runtime(config, market, venue, mm, feed, binance, send_loop, sanity, status, clock, recorder=recorder,
                      kill=kill, fill_history=history)
    if premium and config.quota_recovery.enabled:
        runtime.recovery = _quota_recovery(runtime, pacer)

    try:
        await _refresh_account(runtime)
        if config.safety.cancel_foreign_orders:
            cancelled = await _cancel_leftovers(runtime, "start-up", always_cancel=False, budget_s=STARTUP_CANCEL_S)
        else:
            cancelled, _ = await cancel_own_leftovers(_own_leftover_io(runtime), STARTUP_CANCEL_S, clock=clock)
        if not cancelled:
            raise StartupError(f"start-up: orders left by a previous run could not be cancelled on {market.symbol}; "
                               f"not quoting (check the venue)", EXIT_FATAL)
        await _set_leverage(runtime)
    except (*NETWORK_ERRORS, VenueReadError) as exc:
        await _close_at_start(runtime)
        raise unreachable(config.endpoints.lighter_base_url, str(exc) if isinstance(exc, VenueReadError)
                          else describe_network_error(exc)) from exc
    except BaseException:
        await _close_at_start(runtime)
        raise
    return runtime


async def _close_at_start(rt: Runtime) -> None:
    await rt.venue.close()
    if rt.recorder is not None:
        await close_recorder(rt.recorder, {"start_failed": True})


def _own_leftover_io(rt: Runtime) -> LeftoverIO:
    """What the start-up needs to cancel only the orders this bot placed (``safety.cancel_foreign_orders``
    false): the lister, the allocator's ownership test and the sender."""
    mm = rt.mm

    async def list_orders() -> list[OrderReport]:
        return mm.account.parse_orders(await rt.reader.active_orders(rt.market.market_id))

    return LeftoverIO(rt.market, list_orders, mm.orders.allocator.issued, rt.sender.send,
                      rt.config.safety.order_reconcile_timeout_sec)


def _quota_recovery(rt: Runtime, pacer: Pacer) -> QuotaRecoveryRunner:
    mm, feed = rt.mm, rt.feed

    def limit() -> float | None:
        mid_ticks2 = feed.book.mid_ticks2
        return None if mid_ticks2 is None else mm.position_limit_usd(rt.clock.monotonic_ns(), mid_ticks2 / 2)

    def fresh_book() -> LighterBook | None:  # no round trip priced off a held or stale book
        return feed.book if mm.book_freshness(rt.clock.monotonic_ns()) is BookFreshness.FRESH else None

    inputs = RecoveryInputs(book=fresh_book, volatility_usd_per_sqrt_s=lambda: mm.model.volatility,
                            max_position_usd=limit, warmed_up=lambda: mm.model.warmed_up(rt.clock.monotonic_ns()))
    return QuotaRecoveryRunner(mm.params.recovery, rt.market, mm.rules, rt.sender, pacer,
                               mm.account, mm.orders.allocator, inputs, on_rate_limited=mm.rate_limited_delay_s,
                               clock=rt.clock)


async def _read_tier(reader: VenueReader) -> bool:
    try:
        premium = await reader.is_premium()
    except VenueReadError as exc:
        log.warning("account tier unknown (%s); pacing as premium (the stricter quota rules)", exc)
        return True
    log.info("account tier: %s", "premium (volume quota)" if premium else "standard (60 tx/min)")
    return premium


async def _refresh_account(rt: Runtime) -> None:
    requested = rt.clock.monotonic_ns()
    body = await rt.reader.account()
    rt.mm.account.on_rest_account(body, rt.clock.monotonic_ns(), requested_ns=requested)


async def _set_leverage(rt: Runtime) -> None:
    trading = rt.config.trading
    mode = ISOLATED_MARGIN if trading.margin_mode == "isolated" else CROSS_MARGIN
    [result] = await rt.sender.send([UpdateLeverage(rt.market.market_id, trading.leverage, mode)])
    if result.ok:
        log.info("leverage set: %dx %s", trading.leverage, trading.margin_mode)
    else:
        log.warning("leverage not set (%s %s %s); continuing with the account's current setting",
                    result.outcome.value, result.code, result.message)


async def _send_cancel_all(rt: Runtime, when: str) -> bool:
    try:
        [result] = await rt.sender.send([CancelAllOrders(rt.market.market_id)])
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
    clean, listed = await cancel_own_leftovers(_own_leftover_io(rt), budget_s, when="shutdown", known=known,
                                                clock=rt.clock)
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
    ``budget_s`` runs out; then ``rt.may_remain`` names the orders that may still be open. The decisions are
    ``CancelAllConfirmation``'s (``lmm.core.cancel_confirmation``); this loop sends, lists, sleeps and logs.
    """
    clock = rt.clock
    machine = CancelAllConfirmation(clock.monotonic_ns(), round(budget_s * SEC),
                                    round(rt.config.safety.order_reconcile_timeout_sec * SEC), cancel_all_backoff(),
                                    cancel_first=always_cancel)
    listed: tuple[OpenOrder, ...] | None = None  # the newest REST listing, and when it was asked for
    listed_at = 0.0
    while (step := machine.next_step(now_ns := clock.monotonic_ns())).action is not CancelAction.GIVE_UP:
        if step.action is CancelAction.CONFIRMED:
            log.info("%s: no open order on %s (confirmed twice over REST)", when, rt.market.symbol)
            return True
        if step.at_ns > now_ns:
            await asyncio.sleep((step.at_ns - now_ns) / SEC)
            continue
        if step.action is CancelAction.CANCEL:
            accepted = await _send_cancel_all(rt, when)
            machine.on_cancel_result(accepted, clock.monotonic_ns())
            continue
        asked_at = now_ns  # when the listing was asked for: a slow reply may show an older state
        try:
            orders = await rt.reader.active_orders(rt.market.market_id)
        except VenueReadError as exc:
            log.warning("%s: cannot list open orders: %s", when, exc)
            machine.on_listing_failed(clock.monotonic_ns())
            continue
        listed, listed_at = from_reports(rt.mm.account.parse_orders(orders)), asked_at / SEC
        if orders:
            log.info("%s: %d open order(s) on %s: cancelling", when, len(orders), rt.market.symbol)
        machine.on_listing(len(orders), asked_at, clock.monotonic_ns())
    if listed is not None:
        remaining, source = listed, f"REST listing {rt.clock.monotonic() - listed_at:.0f} s before giving up"
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
    jobs: dict[str, Awaitable[None]] = {
        "lighter-ws": rt.ws.run(),
        "sampler": run_fixed_clock(cfg.vol_obi.step_ns, sampler.tick, clock_ns=rt.clock.monotonic_ns),
        "send-loop": rt.send_loop.run(),
        "housekeeping": _housekeeping(rt),
        "order-poller": _order_poller(rt),
        "account-refresh": _account_refresh(rt),
        "sanity": rt.sanity.run(),
        "status": rt.status.run(),
    }
    if not rt.clock.virtual:  # a real-time measurement: on virtual time the loop never lags
        loop_lag = LoopLagMonitor()
        rt.status.loop_lag = loop_lag
        jobs["loop-lag"] = loop_lag.run()
    if rt.binance is not None:
        jobs["binance"] = rt.binance.run()
    if rt.recovery is not None:
        jobs["quota-recovery"] = rt.recovery.run()
    for name, job in rt.venue.tasks.items():
        jobs[name] = job()
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
        lock = rt.sender.lock
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
        now = rt.clock.monotonic_ns()
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
    started = rt.clock.monotonic()
    lookup = rt.mm.gap_lookup(rt.clock.monotonic_ns())
    await asyncio.gather(_settle_by_lookup(rt, lookup), _refresh_account_or_warn(rt, "resync"))
    await _reconcile(rt)
    rt.send_loop.wake()
    log.info("order stream back: resynced over REST in %.0f ms (%d tracked order(s) looked up)",
             (rt.clock.monotonic() - started) * 1e3, len(lookup.asked))


async def _settle_by_lookup(rt: Runtime, lookup: GapLookup) -> None:
    if not lookup.asked:
        return
    try:
        raw = await rt.reader.orders_by_client_index(list(lookup.asked))
    except VenueReadError as exc:
        log.warning("resync: order lookup failed: %s", exc)
        return
    rt.mm.apply_lookup(lookup, rt.mm.account.parse_orders(raw), rt.clock.monotonic_ns())


async def _refresh_account_or_warn(rt: Runtime, when: str) -> None:
    try:
        await _refresh_account(rt)
    except VenueReadError as exc:
        log.warning("%s: account refresh failed: %s", when, exc)


async def _reconcile(rt: Runtime) -> None:
    snapshot_ns = rt.clock.monotonic_ns()
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
        results = await rt.sender.send(cancels)
        rt.mm.on_results(results)


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
        flatten_position(rt.sender, rt.market, read_position, read_touch, rt.mm.orders.allocator,
                         clock=rt.clock),
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
        if rt.fill_history is not None:  # the fills the closed streams did not report (the flatten's)
            late = await rt.fill_history.catch_up(rt.reader, functools.partial(_refresh_account, rt))
            if late and rt.recorder is not None:
                rt.recorder.fills(late)
    except Exception:
        log.exception("shutdown failed: check open orders and the position on %s manually", rt.market.symbol)
        clean = False
    closers = [*([rt.binance.close] if rt.binance is not None else []), rt.venue.close]
    for closer in closers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(closer(), timeout=10)
    return clean
