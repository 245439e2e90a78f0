"""Close the market's position: reduce-only IOC orders with slippage proportional to price, then verify.

Rules (strategy-model.md §11.2 E7):
- Only behind an explicit flag (the caller decides); never with a maker-only API key (taker orders refused).
- Every order is a limit IOC (order_expiry 0), reduce-only, priced at the touch moved by ``slippage_bps`` of
  the price (never an absolute amount, which goes negative on cheap markets); it can never open or flip
  a position and never rests on the book.
- The position is re-read over REST before every attempt and after the last one: the answer of the
  exchange, not our bookkeeping, decides whether we are flat.
- Bounded: at most ``max_attempts`` sends; a 429 backs off (the one jittered ``Backoff``: up to
  ``backoff_base_s``, doubling, capped) before
  the next attempt; any other failure is retried after the base delay.
- Sends go through the one TxSender (its lock keeps the nonces in order with everything else).
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.core.ids import ClientOrderIndexAllocator
from lmm.core.intents import ORDER_TYPE_LIMIT, TIF_IOC, CreateOrder
from lmm.core.market import MarketInfo
from lmm.core.outcomes import Outcome
from lmm.venue.clock import SYSTEM_CLOCK, Clock
from lmm.venue.lighter.tx_sender import TxSender

log = logging.getLogger("lighter_mm.flatten")

Touch = tuple[int, int]  # (best bid tick, best ask tick)
ReadPosition = Callable[[], Awaitable[int]]  # signed position in lots, fresh from the exchange
ReadTouch = Callable[[], Awaitable[Touch | None]]


@dataclass(frozen=True, slots=True)
class FlattenParams:
    slippage_bps: float = 50.0  # 0.5 % through the touch: fills against any normal book
    max_attempts: int = 5
    backoff_base_s: float = 1.0  # first wait after a 429, doubled per 429, capped at backoff_max_s
    backoff_max_s: float = 15.0
    settle_timeout_s: float = 5.0  # how long a sent order may take to show in the position


@dataclass(frozen=True, slots=True)
class FlattenResult:
    flat: bool
    start_lots: int
    final_lots: int | None  # None when the final position could not be read
    attempts: int
    detail: str


def ioc_close_price(position_lots: int, touch: Touch, slippage_bps: float) -> int:
    """Limit price of the closing IOC: sell below the best bid when long, buy above the best ask when short."""
    best_bid, best_ask = touch
    if position_lots > 0:
        return max(1, math.floor(best_bid * (1.0 - slippage_bps / 1e4)))
    return math.ceil(best_ask * (1.0 + slippage_bps / 1e4))


def close_order(market: MarketInfo, client_order_index: int, position_lots: int, touch: Touch,
                slippage_bps: float) -> CreateOrder:
    return CreateOrder(
        market_index=market.market_id,
        client_order_index=client_order_index,
        base_amount=abs(position_lots),
        price=ioc_close_price(position_lots, touch, slippage_bps),
        is_ask=position_lots > 0,
        time_in_force=TIF_IOC,
        order_type=ORDER_TYPE_LIMIT,
        reduce_only=True,
        order_expiry=0,
    )


async def _wait_for_change(read_position: ReadPosition, before: int, timeout_s: float, clock: Clock) -> int:
    deadline = clock.monotonic() + timeout_s
    position = await read_position()
    while position == before and clock.monotonic() < deadline:
        await asyncio.sleep(0.1)
        position = await read_position()
    return position


async def flatten_position(
    sender: TxSender,
    market: MarketInfo,
    read_position: ReadPosition,
    read_touch: ReadTouch,
    allocator: ClientOrderIndexAllocator,
    params: FlattenParams = FlattenParams(),
    *,
    maker_only_key: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> FlattenResult:
    """Close the position of ``market``; returns whether the exchange reports it flat afterwards."""
    start = await read_position()
    if start == 0:
        return FlattenResult(True, 0, 0, 0, "already flat")
    if maker_only_key:
        log.error("flatten refused: the API key is maker-only; close %s lots by hand", start)
        return FlattenResult(False, start, start, 0, "maker-only API key")
    position, attempts, rate_limits, detail = start, 0, 0, ""
    rate_limit_backoff = Backoff(BackoffPolicy(params.backoff_base_s, params.backoff_max_s))
    while attempts < params.max_attempts and position != 0:
        touch = await read_touch()
        if touch is None or touch[0] <= 0 or touch[1] <= touch[0]:
            detail = "no usable book"
            await asyncio.sleep(params.backoff_base_s)
            attempts += 1
            position = await read_position()
            continue
        intent = close_order(market, allocator.next(clock.wall_ms()).value, position, touch, params.slippage_bps)
        attempts += 1
        log.warning("flatten attempt %d: %s %d lots IOC reduce-only at %d", attempts,
                    "sell" if intent.is_ask else "buy", intent.base_amount, intent.price)
        [result, *_] = await sender.send([intent])
        if result.outcome is Outcome.RATE_LIMITED:
            rate_limits += 1
            delay = rate_limit_backoff.next_delay()
            detail = f"429, backing off {delay:.1f}s"
            await asyncio.sleep(delay)
            position = await read_position()
        elif result.ok:
            position = await _wait_for_change(read_position, position, params.settle_timeout_s, clock)
            detail = "sent"
        else:
            detail = f"{result.outcome.value} {result.code} {result.message}"
            log.warning("flatten attempt %d: %s", attempts, detail)
            await asyncio.sleep(params.backoff_base_s)
            position = await read_position()
    try:
        final: int | None = await read_position()
    except Exception as exc:  # the verdict needs the exchange's word; without it we are not known flat
        log.error("flatten: final position unreadable: %s", exc)
        final = None
    flat = final == 0
    if flat:
        log.info("flatten: position closed (%d lots) in %d attempt(s)", start, attempts)
    else:
        log.error("flatten INCOMPLETE: %s lots left after %d attempt(s) (%s)", final, attempts, detail)
    return FlattenResult(flat, start, final, attempts, detail or "done")
