"""The kill switch: hard risk limits that stop the bot for good (config section ``risk``).

Rules:
- Pure: no I/O and no clock. Every call carries ``now_ns`` (monotonic, for the fill window) and the
  snapshot carries ``wall_ns`` (UTC wall time, for the day), so live, paper and backtest drive it alike.
- Equity is the venue's account equity (portfolio value: collateral plus unrealized PnL, after fees and
  funding), re-marked to the current mid between venue updates: each new venue value (a new
  ``equity_updated_ns``) is an anchor, and until the next one the equity moves by position x (mid - the mid
  at the anchor). A fill's cash and fee reach the equity with the venue's next update (on Lighter the
  balance change that follows the fill).
- ``drawdown_usd`` = the run's equity peak - equity; ``daily_loss_usd`` = the equity at the start of the
  UTC day (or of the run, if later) - equity. Both baselines are equities this module has seen, so the
  daily loss never exceeds the drawdown.
- ``position_usd`` = |position| x mid; ``fills_per_minute`` = fills in the trailing 60 s.
- A limit of 0 is off. A limit trips when its value is strictly above it; the first trip is final (every
  later call returns it) until a new ``KillSwitch`` is made, which the daemon does only after
  ``--reset-kill-switch``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

SEC = 1_000_000_000
FILL_WINDOW_NS = 60 * SEC
DAY_NS = 86_400 * SEC

DRAWDOWN = "drawdown_usd"
DAILY_LOSS = "daily_loss_usd"
POSITION = "position_usd"
FILLS_PER_MINUTE = "fills_per_minute"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The ``risk`` section (built by ``lmm.core.params.build_params``); 0 means off."""

    max_drawdown_usd: float
    max_daily_loss_usd: float
    max_position_usd: float
    max_fills_per_minute: int

    @property
    def any_on(self) -> bool:
        return any((self.max_drawdown_usd, self.max_daily_loss_usd, self.max_position_usd,
                    self.max_fills_per_minute))


@dataclass(frozen=True, slots=True)
class Trip:
    which: str  # drawdown_usd, daily_loss_usd, position_usd or fills_per_minute (risk.max_<which>)
    value: float
    limit: float
    now_ns: int
    wall_ns: int

    @property
    def line(self) -> str:
        if self.which == FILLS_PER_MINUTE:
            return f"KILL SWITCH: {self.which} {self.value:.0f} > {self.limit:.0f}"
        return f"KILL SWITCH: {self.which} {self.value:.2f} > {self.limit:.2f}"


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    now_ns: int  # monotonic
    wall_ns: int  # UTC wall clock, ns since the epoch
    equity_usd: float | None  # the venue's newest account equity, None while unknown
    equity_updated_ns: int | None  # when that value arrived (a new value is a new anchor)
    position: float  # base units, signed
    mid: float | None  # None while the book has no valid mid


def utc_day(wall_ns: int) -> int:
    return wall_ns // DAY_NS


class KillSwitch:
    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.tripped: Trip | None = None
        self.peak_usd: float | None = None
        self.day: int | None = None
        self.day_start_usd: float | None = None
        self.equity_usd: float | None = None  # the newest marked equity
        self._anchor: tuple[int, float, float | None] | None = None  # (updated_ns, venue equity, mid then)
        self._fills: deque[int] = deque()  # receipt times of the fills in the window

    def on_fills(self, now_ns: int, count: int, wall_ns: int) -> Trip | None:
        """``count`` new fills received at ``now_ns``."""
        if self.tripped is not None:
            return self.tripped
        self._fills.extend([now_ns] * count)
        return self._check_fills(now_ns, wall_ns)

    def evaluate(self, snap: RiskSnapshot) -> Trip | None:
        if self.tripped is not None:
            return self.tripped
        limits = self.limits
        equity = self._marked_equity(snap)
        if equity is not None:
            self.equity_usd = equity
            self.peak_usd = equity if self.peak_usd is None else max(self.peak_usd, equity)
            day = utc_day(snap.wall_ns)
            if day != self.day:
                self.day, self.day_start_usd = day, equity
            if limits.max_drawdown_usd and self.peak_usd - equity > limits.max_drawdown_usd:
                return self._trip(DRAWDOWN, self.peak_usd - equity, limits.max_drawdown_usd, snap)
            if limits.max_daily_loss_usd and self.day_start_usd - equity > limits.max_daily_loss_usd:
                return self._trip(DAILY_LOSS, self.day_start_usd - equity, limits.max_daily_loss_usd, snap)
        if limits.max_position_usd and snap.mid is not None:
            value = abs(snap.position) * snap.mid
            if value > limits.max_position_usd:
                return self._trip(POSITION, value, limits.max_position_usd, snap)
        return self._check_fills(snap.now_ns, snap.wall_ns)

    def fills_in_window(self, now_ns: int) -> int:
        while self._fills and self._fills[0] <= now_ns - FILL_WINDOW_NS:
            self._fills.popleft()
        return len(self._fills)

    def _check_fills(self, now_ns: int, wall_ns: int) -> Trip | None:
        limit = self.limits.max_fills_per_minute
        if not limit:
            self._fills.clear()
            return None
        count = self.fills_in_window(now_ns)
        if count > limit:
            self.tripped = Trip(FILLS_PER_MINUTE, float(count), float(limit), now_ns, wall_ns)
        return self.tripped

    def _marked_equity(self, snap: RiskSnapshot) -> float | None:
        if snap.equity_usd is None or snap.equity_updated_ns is None:
            return None
        if self._anchor is None or self._anchor[0] != snap.equity_updated_ns or self._anchor[2] is None:
            self._anchor = (snap.equity_updated_ns, snap.equity_usd, snap.mid)
        _, equity, mid_then = self._anchor
        if mid_then is None or snap.mid is None:
            return equity
        return equity + snap.position * (snap.mid - mid_then)

    def _trip(self, which: str, value: float, limit: float, snap: RiskSnapshot) -> Trip:
        self.tripped = Trip(which, value, limit, snap.now_ns, snap.wall_ns)
        return self.tripped
