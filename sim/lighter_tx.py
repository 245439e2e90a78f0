# The transaction path shared by REST sendTx/sendTxBatch and WS jsonapi/sendtx(batch).
#
# Rules: one place decides a transaction's fate, in this order: injected 429 → injected rejection →
# decode/validate (tx_decode) → the engine (account, key, rate limit, nonce, quota, business rules) →
# publish the resulting events → optional injected acknowledgement delay. Replies are (HTTP status, JSON
# body) pairs with the venue's shapes (reference §5.3); transports only wrap them.
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.engine import Engine
from sim.engine_types import TxResult
from sim.lighter_errors import TxRejected, rate_limited
from sim.lighter_faults import LighterFaults
from sim.lighter_feeds import LighterFeeds
from sim.tx_decode import DecodedTx, check_batch_consistency, decode_tx, parse_batch, parse_tx_type

SUCCESS_MESSAGE = "tx queued"


@dataclass(frozen=True)
class TxReply:
    http_status: int
    body: dict[str, Any]


def _error_reply(error: TxRejected) -> TxReply:
    return TxReply(error.http_status, error.body())


def _result_error(result: TxResult) -> TxReply:
    return TxReply(result.http_status, {"code": result.code, "message": result.message})


class TxGateway:
    """Applies transactions to the engine and reports them as the venue does."""

    def __init__(self, engine: Engine, feeds: LighterFeeds, faults: LighterFaults,
                 clock_ns: Callable[[], int]) -> None:
        self.engine = engine
        self.feeds = feeds
        self.faults = faults
        self._clock_ns = clock_ns
        self.accepted_count = 0
        self.received_count = 0  # transactions (or batches) that reached the venue, refused ones included

    def _pre_checks(self) -> None:
        if self.faults.take_rate_limit():
            raise rate_limited()
        rejection = self.faults.take_rejection()
        if rejection is not None:
            raise TxRejected(rejection.code, rejection.message, rejection.http_status)

    async def _delay_ack(self) -> None:
        delay_ms = self.faults.take_ack_delay_ms()
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)

    def _execute(self, decoded: DecodedTx, now_ns: int) -> TxResult:
        result = self.engine.submit(now_ns, decoded.meta, decoded.tx)
        if result.accepted:
            self.accepted_count += 1
        return result

    async def send_tx(self, raw_type: object, raw_info: object) -> TxReply:
        self.received_count += 1
        try:
            self._pre_checks()
            now_ns = self._clock_ns()
            if not isinstance(raw_info, str | dict):
                raise TxRejected(21501, "invalid tx info: tx_info missing")
            decoded = decode_tx(parse_tx_type(raw_type), raw_info, now_ns // 1_000_000)
            result = self._execute(decoded, now_ns)
        except TxRejected as error:
            return _error_reply(error)
        finally:
            self.feeds.after_tx()
        await self._delay_ack()
        if not result.accepted:
            return _result_error(result)
        body: dict[str, Any] = {
            "code": 200, "message": SUCCESS_MESSAGE, "tx_hash": result.tx_hash,
            "predicted_execution_time_ms": result.predicted_execution_time_ms or now_ns // 1_000_000,
        }
        if result.volume_quota_remaining is not None:
            body["volume_quota_remaining"] = result.volume_quota_remaining
        return TxReply(200, body)

    async def send_tx_batch(self, raw_types: object, raw_infos: object) -> TxReply:
        """All-or-nothing validation, then sequential execution; stops at the first engine rejection.

        Transactions before a rejected one stay executed (their nonces are consumed), as a client must
        assume when it reconciles with nextNonce after any batch error (reference §5.3).
        """
        self.received_count += 1
        hashes: list[str] = []
        last: TxResult | None = None
        try:
            self._pre_checks()
            now_ns = self._clock_ns()
            decoded = [decode_tx(t, i, now_ns // 1_000_000) for t, i in parse_batch(raw_types, raw_infos)]
            check_batch_consistency(decoded)
            for tx in decoded:
                last = self._execute(tx, now_ns)
                if not last.accepted:
                    break
                hashes.append(last.tx_hash)
        except TxRejected as error:
            return _error_reply(error)
        finally:
            self.feeds.after_tx()
        await self._delay_ack()
        if last is not None and not last.accepted:
            return _result_error(last)
        body: dict[str, Any] = {
            "code": 200, "message": SUCCESS_MESSAGE, "tx_hash": hashes,
            "predicted_execution_time_ms": (last.predicted_execution_time_ms if last else None)
            or now_ns // 1_000_000,
        }
        if last is not None and last.volume_quota_remaining is not None:
            body["volume_quota_remaining"] = last.volume_quota_remaining
        return TxReply(200, body)
