"""Every parameter of the core, built from the validated configuration in one place.

Rules:
- The configuration schema (``lmm.config.config.SCHEMA``) holds each default and each accepted range once.
  The parameter dataclasses repeat neither: a field that comes from the configuration has no default, so a
  parameter object is built here (or by a caller that names every value).
- ``build_params`` is the one conversion from config to parameters: seconds become int nanoseconds here and
  nowhere else in the core.
- Constants that are not configurable (the post-only breaker window, the taker fee of the recovery plan,
  the 429 backoff) keep their defaults in their own dataclasses.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lmm.config.config import Config
from lmm.core.book_freshness import SilenceParams
from lmm.core.kill_switch import RiskLimits
from lmm.core.markout_tracker import MarkoutGuardParams
from lmm.core.order_diff import DiffParams
from lmm.core.quota_recovery_plan import RecoveryParams
from lmm.core.quoting import QuotingParams
from lmm.core.risk import BackoffParams, BreakerParams

SEC = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ModelParams:
    """The keyword arguments of ``VolObiCalculator`` that come from the configuration (the market adds the
    tick size)."""

    step_ns: int
    window_steps: int
    vol_to_half_spread: float
    min_half_spread_bps: float
    c1_ticks: float
    skew: float
    min_warmup_samples: int
    warmup_seconds: float
    alpha_stale_ns: int

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BotParams:
    quoting: QuotingParams
    diff: DiffParams
    breaker: BreakerParams
    backoff: BackoffParams
    silence: SilenceParams
    recovery: RecoveryParams
    risk: RiskLimits
    markout_guard: MarkoutGuardParams
    model: ModelParams
    order_timeout_ns: int  # trading.order_timeout_seconds
    mismatch_debounce_count: int  # safety.stale_order_debounce_count
    reconcile_settle_ns: int  # safety.order_reconcile_timeout_sec
    cancel_foreign_orders: bool  # safety.cancel_foreign_orders


def build_params(config: Config) -> BotParams:
    trading, vol, safety, recovery = config.trading, config.vol_obi, config.safety, config.quota_recovery
    guard = config.markout_guard
    return BotParams(
        quoting=QuotingParams(
            levels_per_side=trading.levels_per_side,
            spread_factor_level1=trading.spread_factor_level1,
            capital_usage_percent=trading.capital_usage_percent,
            leverage=trading.leverage,
            base_amount=trading.base_amount,
            min_order_value_usd=trading.min_order_value_usd,
            position_value_threshold_usd=trading.position_value_threshold_usd,
            min_half_spread_bps=vol.min_half_spread_bps,
        ),
        diff=DiffParams(
            base_threshold_bps=trading.default_quote_update_threshold_bps,
            min_half_spread_bps=vol.min_half_spread_bps,
            max_live_orders=safety.max_live_orders_per_market,
        ),
        breaker=BreakerParams(
            max_consecutive_rejections=safety.max_consecutive_order_rejections,
            cooldown_ns=round(safety.circuit_breaker_cooldown_sec * SEC),
        ),
        backoff=BackoffParams(),
        silence=SilenceParams(
            floor_ns=round(safety.book_stale_floor_sec * SEC),
            stale_multiple=safety.book_stale_cadence_multiple,
            hold_multiple=safety.book_hold_cadence_multiple,
            max_silence_ns=round(safety.max_book_silence_sec * SEC),
        ),
        recovery=RecoveryParams(
            enabled=recovery.enabled,
            trigger_threshold=recovery.trigger_threshold,
            target_quota=recovery.target_quota,
            max_attempts=recovery.max_attempts,
            max_loss_usd=recovery.max_loss_usd,
            cooldown_ns=round(recovery.cooldown_seconds * SEC),
            post_warmup_grace_ns=round(recovery.post_warmup_grace_seconds * SEC),
        ),
        risk=RiskLimits(
            max_drawdown_usd=config.risk.max_drawdown_usd,
            max_daily_loss_usd=config.risk.max_daily_loss_usd,
            max_position_usd=config.risk.max_position_usd,
            max_fills_per_minute=config.risk.max_fills_per_minute,
        ),
        markout_guard=MarkoutGuardParams(
            enabled=guard.enabled,
            horizon=guard.horizon,
            window_fills=guard.window_fills,
            window_ns=round(guard.window_seconds * SEC),
            min_fills=guard.min_fills,
            threshold_bps=guard.threshold_bps,
            widen_bps=guard.widen_bps,
            max_widen_bps=guard.max_widen_bps,
        ),
        model=ModelParams(
            step_ns=vol.step_ns,
            window_steps=vol.window_steps,
            vol_to_half_spread=vol.vol_to_half_spread,
            min_half_spread_bps=vol.min_half_spread_bps,
            c1_ticks=vol.c1_ticks,
            skew=vol.skew,
            min_warmup_samples=vol.min_warmup_samples,
            warmup_seconds=float(vol.warmup_seconds),
            alpha_stale_ns=int(config.alpha.stale_seconds * SEC),
        ),
        order_timeout_ns=int(trading.order_timeout_seconds * SEC),
        mismatch_debounce_count=safety.stale_order_debounce_count,
        reconcile_settle_ns=int(safety.order_reconcile_timeout_sec * SEC),
        cancel_foreign_orders=safety.cancel_foreign_orders,
    )
