"""The local venue's side of ``TxSender``: unsigned transactions, nonces read from the engine, and a transport
that hands a batch to the in-process venue after the order-entry latency.

Rules:
- The live ``TxSender`` is used unchanged (one lock, nonce settlement per outcome, batches, outcomes); only
  what it is given differs. No private key exists on this path: ``UnsignedTxWriter`` writes the transaction
  JSON the SDK's signer would write (same field names and defaults), with a placeholder signature, which the
  venue's decoder checks like any other (envelope, ranges, expiry).
- Latency assumption (documented in docs/local-venue.md): every batch reaches the venue ``entry_latency_s``
  after it is sent and its answer is back at once; market data and account events carry no extra delay.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from lmm.core.intents import (
    ALL_MARKETS,
    DEFAULT_28_DAY_EXPIRY,
    TIF_POST_ONLY,
    CancelAllOrders,
    CancelOrder,
    CreateOrder,
    ModifyOrder,
    TxIntent,
    UpdateLeverage,
)
from lmm.core.nonce_settlement import NonceCounter
from lmm.core.outcomes import Outcome
from lmm.venue.lighter.signing import SignedTx, SignError
from lmm.venue.lighter.tx_sender import Reply, classify_reply
from sim.engine import venue_latency_ms
from sim.engine_types import Tier

TX_CREATE_ORDER, TX_CANCEL_ORDER, TX_CANCEL_ALL, TX_MODIFY_ORDER, TX_UPDATE_LEVERAGE = 14, 15, 16, 17, 20
TX_EXPIRES_AFTER_MS = 599_000  # the SDK's ExpiredAt: ten minutes less one second after signing
ORDER_EXPIRY_28_DAYS_MS = 28 * 24 * 3600 * 1000
CANCEL_ALL_MARKET_ATTRIBUTE = "5"
UNSIGNED = "local-venue:unsigned"
AUTH_TOKEN_SIGNATURE = "00"  # hex, as the venue expects; never checked


class UnsignedTxWriter:
    """The ``Signer`` of the local venue: the same transaction JSON as the SDK, without a signature."""

    def __init__(self, account_index: int, api_key_index: int, wall_ms: Callable[[], int]) -> None:
        self.account_index = account_index
        self.api_key_index = api_key_index
        self._wall_ms = wall_ms

    async def sign_batch(self, intents: Sequence[TxIntent], first_nonce: int,
                         each: Callable[[int, SignedTx], None] | None = None) -> list[SignedTx]:
        signed = [self._write(intent, first_nonce + i) for i, intent in enumerate(intents)]
        if each is not None:
            for index, tx in enumerate(signed):
                each(index, tx)
        return signed

    async def auth_token(self, lifetime_seconds: int) -> str:
        expiry = self._wall_ms() // 1000 + lifetime_seconds
        return f"{expiry}:{self.account_index}:{self.api_key_index}:{AUTH_TOKEN_SIGNATURE}"

    async def close(self) -> None:
        return None

    def _write(self, intent: TxIntent, nonce: int) -> SignedTx:
        now_ms = self._wall_ms()
        head: dict[str, Any] = {"AccountIndex": self.account_index, "ApiKeyIndex": self.api_key_index}
        attributes: dict[str, int] | None = None
        if isinstance(intent, CreateOrder):
            expiry = intent.order_expiry
            if expiry == DEFAULT_28_DAY_EXPIRY:
                expiry = now_ms + ORDER_EXPIRY_28_DAYS_MS
            tx_type, body = TX_CREATE_ORDER, {
                "MarketIndex": intent.market_index, "ClientOrderIndex": intent.client_order_index,
                "BaseAmount": intent.base_amount, "Price": intent.price, "IsAsk": int(intent.is_ask),
                "Type": intent.order_type, "TimeInForce": intent.time_in_force,
                "ReduceOnly": int(intent.reduce_only), "TriggerPrice": 0, "OrderExpiry": expiry}
        elif isinstance(intent, ModifyOrder):
            tx_type, body = TX_MODIFY_ORDER, {
                "MarketIndex": intent.market_index, "Index": intent.order_index, "BaseAmount": intent.base_amount,
                "Price": intent.price, "TriggerPrice": 0}
        elif isinstance(intent, CancelOrder):
            tx_type, body = TX_CANCEL_ORDER, {"MarketIndex": intent.market_index, "Index": intent.order_index}
        elif isinstance(intent, CancelAllOrders):
            tx_type, body = TX_CANCEL_ALL, {"TimeInForce": 0, "Time": 0}
            if intent.market_index != ALL_MARKETS:
                attributes = {CANCEL_ALL_MARKET_ATTRIBUTE: intent.market_index}
        elif isinstance(intent, UpdateLeverage):
            tx_type, body = TX_UPDATE_LEVERAGE, {
                "MarketIndex": intent.market_index, "InitialMarginFraction": intent.initial_margin_fraction,
                "MarginMode": intent.margin_mode}
        else:  # pragma: no cover - the union is closed
            raise SignError(f"unknown intent {intent!r}")
        info = {**head, **body, "ExpiredAt": now_ms + TX_EXPIRES_AFTER_MS, "Nonce": nonce, "Sig": UNSIGNED,
                "L2TxAttributes": attributes}
        return SignedTx(intent, tx_type, json.dumps(info, separators=(",", ":")), f"local-{nonce}", nonce)


class EngineNonces(NonceCounter):
    """``NonceKeeper`` of the local venue: seeded from the engine's expected nonce instead of ``nextNonce``
    (the counter and its settlement are the core's ``NonceCounter``, as the live keeper's)."""

    def __init__(self, next_nonce: Callable[[], int]) -> None:
        super().__init__()
        self._read = next_nonce

    async def hard_refresh(self, timeout: float = 5.0) -> int:
        return self.seed(self._read())


def tier_latency_s(tier: str, signed: Sequence[SignedTx]) -> float:
    """The batch's delay on the venue by account tier (lighter-api.md §7.6, the engine's ``venue_latency_ms``):
    the taker latency when it holds an order that is not post-only, else the maker/cancel latency."""
    takes = any(isinstance(s.intent, CreateOrder) and s.intent.time_in_force != TIF_POST_ONLY for s in signed)
    return venue_latency_ms(Tier(tier), takes) / 1e3


class LocalTransport:
    """A batch goes to the in-process gateway ``entry_latency_s`` plus the tier's latency (``tier_latency_s``)
    after it is sent (virtual time on the virtual clock), and the answer comes back then; the gateway's answer
    is classified exactly as a REST answer is."""

    name = "local"

    def __init__(self, gateway: Any, entry_latency_s: float, clock_ns: Callable[[], int],
                 tier: str = "premium") -> None:
        self._gateway = gateway
        self._latency_s = entry_latency_s
        self._tier = tier
        self._clock_ns = clock_ns
        self.last_write_ns: int | None = None
        self.batches = 0

    def available(self) -> bool:
        return True

    async def send(self, signed: Sequence[SignedTx], timeout: float) -> Reply:
        """As the live transports do, an answer later than ``timeout`` is an unknown outcome (the batch may
        have landed)."""
        self.last_write_ns = self._clock_ns()
        try:
            return await asyncio.wait_for(self._deliver(signed), timeout)
        except TimeoutError:
            return Reply(Outcome.UNKNOWN, None, f"no reply within {timeout:.1f}s")

    async def _deliver(self, signed: Sequence[SignedTx]) -> Reply:
        latency = self._latency_s + tier_latency_s(self._tier, signed)
        if latency > 0:
            await asyncio.sleep(latency)
        self.batches += 1
        if len(signed) == 1:
            reply = await self._gateway.send_tx(signed[0].tx_type, signed[0].tx_info)
        else:
            reply = await self._gateway.send_tx_batch(json.dumps([s.tx_type for s in signed]),
                                                      json.dumps([s.tx_info for s in signed]))
        return classify_reply(reply.http_status, reply.body)
