"""The daemon's side of the kill switch: feeds ``lmm.core.kill_switch`` and acts on a trip.

Rules:
- Checked on every Lighter book frame, on every batch of fills and once a second (a silent book must not
  hide a loss the venue's equity shows).
- On a trip, at once and once: the one ``KILL SWITCH: <which> <value> > <limit>`` line, quoting paused
  (the next plan cancels the resting orders), the trip written to the state file (``kill_state``), then
  ``tripped`` is set; the supervisor ends the run through the daemon's one shutdown path (every order
  cancelled and confirmed, the position flattened with ``risk.flatten_on_kill``) and exits with status 3.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from lmm.core.account import Fill
from lmm.core.kill_switch import KillSwitch, RiskLimits, RiskSnapshot, Trip
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker
from lmm.daemon.kill_state import write_trip

log = logging.getLogger("lighter_mm.kill_switch")

CHECK_INTERVAL_S = 1.0
KILL_PAUSE = "kill switch"


class KillSwitchMonitor:
    def __init__(self, limits: RiskLimits, mm: MarketMaker, market: MarketInfo, *, clock_ns: Callable[[], int],
                 wall_ns: Callable[[], int], state_path: Path | None = None) -> None:
        self.switch = KillSwitch(limits)
        self.state_path = state_path  # None: the trip is not recorded (tests that drive the runtime directly)
        self.tripped = asyncio.Event()
        self._mm = mm
        self._market = market
        self._clock_ns = clock_ns
        self._wall_ns = wall_ns
        self._on = limits.any_on

    @property
    def trip(self) -> Trip | None:
        return self.switch.tripped

    def snapshot(self, now_ns: int) -> RiskSnapshot:
        account, feed = self._mm.account, self._mm.feed
        mid_ticks2 = None if feed is None else feed.book.mid_ticks2
        mid = None if mid_ticks2 is None else mid_ticks2 / 2 * self._market.tick_size
        return RiskSnapshot(now_ns, self._wall_ns(), account.equity, account.capital_updated_ns,
                            self._market.size_of(account.position_lots), mid)

    def check(self, now_ns: int | None = None) -> None:
        if not self._on or self.tripped.is_set():
            return
        trip = self.switch.evaluate(self.snapshot(self._clock_ns() if now_ns is None else now_ns))
        if trip is not None:
            self._act(trip)

    def fills_then(self, on_fills: Callable[[list[Fill]], None]) -> Callable[[list[Fill]], None]:
        """``on_fills``, then the fills counted and the limits checked."""

        def counted(fills: list[Fill]) -> None:
            on_fills(fills)
            if self._on and fills and not self.tripped.is_set():
                trip = self.switch.on_fills(self._clock_ns(), len(fills), self._wall_ns())
                if trip is not None:
                    self._act(trip)
                    return
                self.check()

        return counted

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)
            self.check()

    def _act(self, trip: Trip) -> None:
        log.critical("%s", trip.line)
        self._mm.pause(KILL_PAUSE, trip.which)
        if self.state_path is not None:
            try:
                write_trip(self.state_path, trip, self._market.symbol)
            except OSError as exc:
                log.error("the kill switch could not be recorded in %s (%s): a restart would quote",
                          self.state_path, exc)
        self.tripped.set()
