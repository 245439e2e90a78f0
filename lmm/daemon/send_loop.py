"""The freshest-wins mailbox between the quoting logic and the sender.

Rules:
- The quoting loop never hands over operations; it only signals "targets changed" (``wake``).
- The loop waits out pacing and backoff FIRST, then takes the sender lock, and only then asks
  ``compute_ops(max_quota_ops)`` for operations computed from the newest state and sends them at once.
  Nothing computed before a wait (for pacing or for another writer) is ever sent after it (defect E1).
- Results go to ``on_results``; a 429 starts the backoff, which holds the next send.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from lmm.core.intents import QUOTA_CONSUMING_TX, TxIntent
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.pacing import Pacer
from lmm.venue.lighter.tx_sender import TxSender

log = logging.getLogger("lighter_mm.send_loop")

ComputeOps = Callable[[int], Sequence[TxIntent]]
OnResults = Callable[[Sequence[SendResult], bool], None]  # (results, held back by pacing before computing)
BackoffSeconds = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SendLoop:
    def __init__(self, sender: TxSender, pacer: Pacer, compute_ops: ComputeOps, on_results: OnResults,
                 on_rate_limited: BackoffSeconds, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._sender = sender
        self._pacer = pacer
        self._compute_ops = compute_ops
        self._on_results = on_results
        self._on_rate_limited = on_rate_limited
        self._clock = clock
        self._sleep = sleep  # the pacing wait; injected with ``clock`` to run the loop in virtual time
        self._wakeup = asyncio.Event()
        self.sends = 0

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.step()

    async def step(self) -> bool:
        """One pacing wait + compute + send. Returns True when something was sent."""
        paced = False
        while True:
            permit = self._pacer.permit(self._clock(), self._sender.volume_quota_remaining)
            if permit.wait > 0:
                paced = True
                await self._sleep(permit.wait)
                continue  # re-check: a backoff or a quota change may have arrived meanwhile
            async with self._sender.lock:  # another writer may hold it: compute only once it is ours
                permit = self._pacer.permit(self._clock(), self._sender.volume_quota_remaining)
                if permit.wait > 0:
                    continue  # the other writer used the slot or hit a backoff: wait again
                intents = list(self._compute_ops(permit.max_quota_ops))
                if not intents:
                    if permit.max_quota_ops == 0:
                        self._retry_after(self._pacer.free_slot_in(self._clock()))
                    return False
                quota_ops = sum(1 for i in intents if i.tx_type in QUOTA_CONSUMING_TX)
                if quota_ops > permit.max_quota_ops:
                    raise ValueError(f"compute_ops returned {quota_ops} quota ops, allowed {permit.max_quota_ops}")
                results = await self._sender.send_holding_lock(intents)
                break
        self.sends += 1
        now = self._clock()
        self._pacer.on_sent(now, quota_ops)
        if any(r.outcome is Outcome.RATE_LIMITED for r in results):
            delay = self._on_rate_limited()
            self._pacer.hold_until(now + delay)
            log.warning("rate limited: holding all sends for %.1fs", delay)
        self._on_results(results, paced)
        return True

    def _retry_after(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(max(delay, 0.0), self._wakeup.set)
