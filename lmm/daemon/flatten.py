"""Close the market's position: reduce-only IOC orders with slippage proportional to price, then verify.

Rules (strategy-model.md §11.2 E7):
- Only behind an explicit flag (the caller decides); never with a maker-only API key (taker orders refused).
- The decisions (the order, its price, the attempts, the 429 backoff, waiting for the position to change, the
  verdict) are ``lmm.core.flatten_plan.FlattenPlan``'s; this runner reads the position and the touch over
  REST, sends, sleeps and logs. The position is re-read over REST before every attempt and after the last
  one: the answer of the exchange, not our bookkeeping, decides whether we are flat.
- Sends go through the one TxSender (its lock keeps the nonces in order with everything else).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from lmm.core.flatten_plan import (
    SEC,
    FlattenAction,
    FlattenParams,
    FlattenPlan,
    FlattenResult,
    Touch,
    close_order,
    ioc_close_price,
)
from lmm.core.ids import ClientOrderIndexAllocator
from lmm.core.market import MarketInfo
from lmm.core.outcomes import Outcome
from lmm.venue.clock import SYSTEM_CLOCK, Clock
from lmm.venue.lighter.tx_sender import TxSender

__all__ = ["FlattenParams", "FlattenResult", "Touch", "close_order", "flatten_position", "ioc_close_price"]

log = logging.getLogger("lighter_mm.flatten")

ReadPosition = Callable[[], Awaitable[int]]  # signed position in lots, fresh from the exchange
ReadTouch = Callable[[], Awaitable[Touch | None]]
DEFAULT_PARAMS = FlattenParams()


async def flatten_position(
    sender: TxSender,
    market: MarketInfo,
    read_position: ReadPosition,
    read_touch: ReadTouch,
    allocator: ClientOrderIndexAllocator,
    params: FlattenParams = DEFAULT_PARAMS,
    *,
    maker_only_key: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> FlattenResult:
    """Close the position of ``market``; returns whether the exchange reports it flat afterwards."""
    plan = FlattenPlan(params, await read_position(), maker_only_key=maker_only_key)
    while (step := plan.next_step(now_ns := clock.monotonic_ns())).action is not FlattenAction.VERIFY:
        if step.action is FlattenAction.DONE:
            assert step.result is not None
            return step.result
        if step.action is FlattenAction.REFUSE:
            log.error("flatten refused: the API key is maker-only; close %s lots by hand", plan.start_lots)
            assert step.result is not None
            return step.result
        if step.at_ns > now_ns:
            await asyncio.sleep((step.at_ns - now_ns) / SEC)
            continue
        if step.action is FlattenAction.READ_TOUCH:
            plan.on_touch(await read_touch(), clock.monotonic_ns())
        elif step.action is FlattenAction.READ_POSITION:
            plan.on_position(await read_position(), clock.monotonic_ns())
        else:
            assert step.touch is not None
            intent = close_order(market, allocator.next(clock.wall_ms()).value, step.lots, step.touch,
                                 params.slippage_bps)
            log.warning("flatten attempt %d: %s %d lots IOC reduce-only at %d", step.attempt,
                        "sell" if intent.is_ask else "buy", intent.base_amount, intent.price)
            [result, *_] = await sender.send([intent])
            plan.on_send_result(result.outcome, result.code, result.message, clock.monotonic_ns())
            if result.outcome not in (Outcome.ACCEPTED, Outcome.RATE_LIMITED):
                log.warning("flatten attempt %d: %s", step.attempt, plan.detail)
    try:
        final: int | None = await read_position()
    except Exception as exc:  # the verdict needs the exchange's word; without it we are not known flat
        log.error("flatten: final position unreadable: %s", exc)
        final = None
    result = plan.verdict(final)
    if result.flat:
        log.info("flatten: position closed (%d lots) in %d attempt(s)", result.start_lots, result.attempts)
    else:
        log.error("flatten INCOMPLETE: %s lots left after %d attempt(s) (%s)", final, result.attempts,
                  plan.detail)
    return result
