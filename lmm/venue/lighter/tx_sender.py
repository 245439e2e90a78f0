"""Sign and send: the only writer to Lighter.

Rules:
- One send lock. Under it, and only under it: take nonces, sign (on the signer thread), send, and settle
  the nonce from the answer. So nonces reach the exchange in the order they were assigned, whoever the
  caller is (quoting loop, reconciler, shutdown, quota recovery).
- Nonce settlement per outcome (the table is ``lmm.core.nonce_settlement``'s, pure):
  accepted -> keep; rejected by the venue (HTTP 400 / error code, nothing consumed) -> acknowledge_failure
  (give the nonces back; safe because no later nonce exists while we hold the lock); "invalid nonce",
  429, 5xx, timeout, connection loss or an id-less WS error -> hard_refresh from ``nextNonce`` before the
  next send. A timeout or lost connection is UNKNOWN: the transaction may have landed; the caller must
  pause quoting and reconcile.
- Batches go over the WebSocket ``jsonapi/sendtxbatch`` with a request id, matched by id; REST
  ``sendTxBatch`` is the fallback when the socket is down.
- ``volume_quota_remaining`` is read from every reply that carries it; the last value is kept otherwise.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from lmm.core.intents import TxIntent
from lmm.core.nonce_settlement import NonceAction, NonceCounter, settle, settle_stream
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.sample_window import SampleWindow
from lmm.venue.lighter.signing import SignedTx, Signer, SignError

log = logging.getLogger("lighter_mm.tx")

RATE_LIMIT_CODE = 23000
MAX_BATCH = 15
SEND_LATENCIES_KEPT = 1000
LAST_CODES_KEPT = 50


@dataclass(frozen=True)
class Reply:
    """A venue answer, already classified by the transport."""

    outcome: Outcome
    code: int | None
    message: str
    tx_hashes: tuple[str, ...] = ()
    volume_quota_remaining: int | None = None


def classify_reply(http_status: int, body: dict[str, Any]) -> Reply:
    """Map an HTTP status and JSON body (REST or WS) to an outcome; pure."""
    error = body.get("error") if isinstance(body.get("error"), dict) else None
    code = body.get("code") if error is None else error.get("code")
    message = str(body.get("message", "") if error is None else error.get("message", ""))
    hashes = body.get("tx_hash") or ()
    hashes = (hashes,) if isinstance(hashes, str) else tuple(hashes)
    quota = body.get("volume_quota_remaining")
    quota = int(quota) if isinstance(quota, int | float) else None
    if http_status == 429 or code == RATE_LIMIT_CODE:
        return Reply(Outcome.RATE_LIMITED, code, message or "too many requests")
    if http_status >= 500:
        return Reply(Outcome.UNKNOWN, code, message or f"HTTP {http_status}")
    if http_status == 200 and code == 200 and error is None:
        return Reply(Outcome.ACCEPTED, 200, message, hashes, quota)
    return Reply(Outcome.REJECTED, code if isinstance(code, int) else None, message or f"HTTP {http_status}",
                 volume_quota_remaining=quota)


class Transport(Protocol):
    name: str
    last_write_ns: int | None

    def available(self) -> bool: ...

    async def send(self, signed: Sequence[SignedTx], timeout: float) -> Reply: ...


class RestTransport:
    """``POST /api/v1/sendTx`` / ``sendTxBatch`` with form fields, as the SDK sends them."""

    name = "rest"

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self.last_write_ns: int | None = None

    def available(self) -> bool:
        return not self._session.closed

    async def send(self, signed: Sequence[SignedTx], timeout: float) -> Reply:
        if len(signed) == 1:
            url, form = f"{self._base}/api/v1/sendTx", {"tx_type": str(signed[0].tx_type),
                                                         "tx_info": signed[0].tx_info}
        else:
            url = f"{self._base}/api/v1/sendTxBatch"
            form = {"tx_types": json.dumps([s.tx_type for s in signed]),
                    "tx_infos": json.dumps([s.tx_info for s in signed])}
        self.last_write_ns = time.monotonic_ns()
        try:
            async with self._session.post(url, data=form, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                text = await resp.text(errors="replace")
                try:
                    body = json.loads(text) if text else {}
                except json.JSONDecodeError:
                    body = {"message": text[:200]}
                return classify_reply(resp.status, body if isinstance(body, dict) else {})
        except Exception as exc:  # whatever went wrong after the request left, its outcome is unknown
            return Reply(Outcome.UNKNOWN, None, f"{type(exc).__name__}: {exc}")


class NonceKeeper(NonceCounter):
    """Our own per-key nonce counter (the SDK's manager is disabled).

    ``next`` is the nonce the exchange expects next. It is seeded and re-seeded from ``nextNonce``.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, account_index: int,
                 api_key_index: int) -> None:
        super().__init__()
        self._session = session
        self._url = f"{base_url.rstrip('/')}/api/v1/nextNonce"
        self._params = {"account_index": str(account_index), "api_key_index": str(api_key_index)}

    async def hard_refresh(self, timeout: float = 5.0) -> int:
        async with self._session.get(self._url, params=self._params,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = await resp.text(errors="replace")
        try:  # a degraded venue answers with HTML error pages: never let that escape as a crash
            body = json.loads(text)
            nonce = int(body["nonce"])
        except (ValueError, TypeError, KeyError):
            raise RuntimeError(f"nextNonce failed: HTTP {resp.status} {text[:200]!r}") from None
        if resp.status != 200:
            raise RuntimeError(f"nextNonce failed: HTTP {resp.status} {text[:200]!r}")
        return self.seed(nonce)


@dataclass
class SenderStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    rate_limited: int = 0
    unknown: int = 0
    sign_errors: int = 0
    nonce_refreshes: int = 0
    last_codes: list[int] = field(default_factory=list)
    send_latency_ms: SampleWindow = field(default_factory=lambda: SampleWindow(SEND_LATENCIES_KEPT))


class SendObserver(Protocol):
    def on_send(self, intents: Sequence[TxIntent]) -> None: ...

    def on_results(self, results: Sequence[SendResult]) -> None: ...


class TxSender:
    """One lock, one nonce sequence, transports in order of preference."""

    def __init__(self, signer: Signer, nonces: NonceKeeper, transports: Sequence[Transport],
                 timeout: float = 10.0) -> None:
        self._signer = signer
        self._nonces = nonces
        self._transports = list(transports)
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self.stats = SenderStats()
        self.volume_quota_remaining: int | None = None
        self.observer: SendObserver | None = None  # the bot's --record: every intent and result

    @property
    def lock(self) -> asyncio.Lock:
        return self._lock

    async def send(self, intents: Sequence[TxIntent]) -> list[SendResult]:
        """Sign and send ``intents`` in nonce order. Over the WebSocket each transaction is its own request,
        written as soon as it is signed (one SendResult each); over REST in batches of at most MAX_BATCH
        (one SendResult per batch), stopping at the first failed batch."""
        async with self._lock:
            return await self.send_holding_lock(intents)

    async def send_holding_lock(self, intents: Sequence[TxIntent]) -> list[SendResult]:
        """``send`` for a caller that already holds ``lock`` (the send loop computes its operations under
        the lock, so nothing computed before a wait for it is ever sent)."""
        assert self._lock.locked(), "send_holding_lock needs the sender lock"
        observer = self.observer
        if observer is None:
            return await self._send_under_lock(intents)
        observer.on_send(intents)
        results = await self._send_under_lock(intents)
        observer.on_results(results)
        return results

    async def _send_under_lock(self, intents: Sequence[TxIntent]) -> list[SendResult]:
        results: list[SendResult] = []
        transport = next((t for t in self._transports if t.available()), None)
        if isinstance(transport, WsTxTransport) and intents:
            return await self._stream_locked(transport, tuple(intents))
        for start in range(0, len(intents), MAX_BATCH):
            chunk = tuple(intents[start:start + MAX_BATCH])
            result = await self._send_locked(chunk)
            results.append(result)
            if not result.ok:
                rest = tuple(intents[start + MAX_BATCH:])
                if rest:
                    results.append(SendResult(Outcome.NOT_SENT, rest, message="earlier batch failed"))
                break
        return results

    async def _seed_nonce(self) -> str | None:
        if not self._nonces.needs_refresh:
            return None
        try:
            await self._nonces.hard_refresh()
            self.stats.nonce_refreshes += 1
            return None
        except (TimeoutError, aiohttp.ClientError, RuntimeError) as exc:
            return f"nonce refresh failed: {exc}"

    async def _send_locked(self, intents: tuple[TxIntent, ...]) -> SendResult:
        problem = await self._seed_nonce()
        if problem:
            return SendResult(Outcome.NOT_SENT, intents, message=problem)
        transport = next((t for t in self._transports if t.available() and not isinstance(t, WsTxTransport)),
                         None)
        if transport is None:
            return SendResult(Outcome.NOT_SENT, intents, message="no transport available")
        first = self._nonces.take(len(intents))
        started = time.perf_counter()
        try:
            signed = await self._signer.sign_batch(intents, first)
            self.stats.sent += 1
            reply = await transport.send(signed, self._timeout)
        except SignError as exc:
            self._nonces.apply(settle(Outcome.NOT_SENT, None, len(intents)))
            self.stats.sign_errors += 1
            log.error("signing failed, nothing sent: %s", exc)
            return SendResult(Outcome.NOT_SENT, intents, message=str(exc))
        except BaseException:  # cancelled mid-sign or in flight: re-seed before the next send
            self._nonces.apply(settle(Outcome.UNKNOWN, None, len(intents)))
            raise
        self.stats.send_latency_ms.append((time.perf_counter() - started) * 1e3)
        return self._settle(intents, reply, transport.name, transport.last_write_ns)

    async def _stream_locked(self, transport: WsTxTransport, intents: tuple[TxIntent, ...]) -> list[SendResult]:
        """One request per transaction, each written on the signer thread right after its signature; then
        all replies are awaited together. Any failure re-seeds the nonce (later ones cannot have landed on a
        gap, but the venue decides that, not us)."""
        problem = await self._seed_nonce()
        if problem:
            return [SendResult(Outcome.NOT_SENT, intents, message=problem)]
        count = len(intents)
        first = self._nonces.take(count)
        requests = [transport.prepare(1) for _ in intents]
        written_ns: list[int | None] = [None] * count

        def write(index: int, signed: SignedTx) -> None:
            transport.write(requests[index][0], [signed])
            written_ns[index] = time.monotonic_ns()

        started = time.perf_counter()
        failure: Reply | None = None  # what happened to the first transaction that was not written
        try:
            await self._signer.sign_batch(intents, first, each=write)
        except SignError as exc:
            self.stats.sign_errors += 1
            log.error("signing failed, not sent: %s", exc)
            failure = Reply(Outcome.NOT_SENT, None, str(exc))
        except BaseException as exc:
            if not isinstance(exc, Exception):
                self._nonces.apply(settle(Outcome.UNKNOWN, None, count))
                for request_id, _ in requests:
                    transport.forget(request_id)
                raise
            failure = Reply(Outcome.UNKNOWN, None, f"{type(exc).__name__}: {exc}")  # the bytes may have left
        sent = sum(1 for ns in written_ns if ns is not None)
        self.stats.sent += sent + (failure is not None and failure.outcome is Outcome.UNKNOWN)
        replies = list(await asyncio.gather(*(transport.wait(rid, fut, self._timeout)
                                              for (rid, fut) in requests[:sent])))
        for request_id, _ in requests[sent:]:
            transport.forget(request_id)
        if failure is not None:
            replies.append(failure)
            replies.extend(Reply(Outcome.NOT_SENT, None, "an earlier transaction failed")
                           for _ in range(count - sent - 1))
        self.stats.send_latency_ms.append((time.perf_counter() - started) * 1e3)
        self._nonces.apply(settle_stream([(reply.outcome, reply.code) for reply in replies]))
        return [self._record(intent, reply, transport.name, written_ns[i])
                for i, (intent, reply) in enumerate(zip(intents, replies, strict=True))]

    def _count(self, reply: Reply) -> None:
        """The reply's quota, code and outcome into the sender's state and counters (a reply NOT_SENT is only
        ever made here for a transaction that never left, and is not counted)."""
        if reply.volume_quota_remaining is not None:
            self.volume_quota_remaining = reply.volume_quota_remaining
        if reply.code is not None:
            self.stats.last_codes.append(reply.code)
            del self.stats.last_codes[:-LAST_CODES_KEPT]
        if reply.outcome is Outcome.ACCEPTED:
            self.stats.accepted += 1
        elif reply.outcome is Outcome.RATE_LIMITED:
            self.stats.rate_limited += 1
        elif reply.outcome is Outcome.UNKNOWN:
            self.stats.unknown += 1
        elif reply.outcome is Outcome.REJECTED:
            self.stats.rejected += 1

    def _record(self, intent: TxIntent, reply: Reply, via: str, written_ns: int | None) -> SendResult:
        """Count one reply and turn it into a result (no nonce handling: the caller settles the sequence)."""
        self._count(reply)
        if reply.outcome not in (Outcome.ACCEPTED, Outcome.NOT_SENT):
            log.warning("send outcome %s (%s): code=%s %s", reply.outcome.value, via, reply.code, reply.message)
        return SendResult(reply.outcome, (intent,), reply.code, reply.message, reply.tx_hashes,
                          reply.volume_quota_remaining, via, written_ns)

    def _settle(self, intents: tuple[TxIntent, ...], reply: Reply, via: str, written_ns: int | None) -> SendResult:
        self._count(reply)
        settlement = settle(reply.outcome, reply.code, len(intents))
        self._nonces.apply(settlement)
        if settlement.action is NonceAction.GIVE_BACK:
            log.warning("transaction rejected (%s): code=%s %s", via, reply.code, reply.message)
        elif settlement.action is NonceAction.INVALIDATE:
            log.warning("send outcome %s (%s): code=%s %s; nonce will be re-seeded", reply.outcome.value, via,
                        reply.code, reply.message)
        return SendResult(reply.outcome, intents, reply.code, reply.message, reply.tx_hashes,
                          reply.volume_quota_remaining, via, written_ns)


class WsTxTransport:
    """``jsonapi/sendtx(batch)`` over a dedicated WebSocket, replies matched by request id.

    The socket is a thread-safe synchronous connection, so the signer thread writes each transaction
    the moment it is signed (no hop back to the event loop before the write); a reader thread hands
    replies to the loop. An error frame without an id makes every outstanding request UNKNOWN. A reply
    arriving after its request timed out is dropped (counted), never taken as the answer to a newer one.
    """

    name = "ws"

    def __init__(self, ws_url: str) -> None:
        self._url = ws_url
        self._ws: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._ids = itertools.count(1)
        self._reader: threading.Thread | None = None
        self._closed = threading.Event()
        self._lost = threading.Event()  # set by the reader before it fails the pending requests
        self.late_replies = 0
        self.last_write_ns: int | None = None

    def available(self) -> bool:
        return self._ws is not None and not self._lost.is_set()

    async def connect(self, open_timeout: float = 10.0) -> None:
        from websockets.sync.client import connect

        self._loop = asyncio.get_running_loop()
        self._lost.set()  # not usable until the new connection and its reader are up
        self._ws = await asyncio.to_thread(connect, self._url, open_timeout=open_timeout, ping_interval=20,
                                           compression=None, proxy=None, max_size=2**22)
        self._lost.clear()
        self._reader = threading.Thread(target=self._read, name="ws-tx-reader", daemon=True)
        self._reader.start()

    async def close(self) -> None:
        self._closed.set()
        self._lost.set()
        if self._ws is not None:
            await asyncio.to_thread(self._ws.close)
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 5.0)
        self._fail_all("transport closed")

    def prepare(self, signed_count: int) -> tuple[str, asyncio.Future[Reply]]:
        """Register a request before it is signed; its reply may come back before ``wait`` is called."""
        request_id = f"mm-{next(self._ids)}"
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return request_id, future

    def write(self, request_id: str, signed: Sequence[SignedTx]) -> None:
        """Send one request; called on the signer thread right after signing. Raises if the socket fails."""
        if len(signed) == 1:
            # tx_info is already JSON: splice it in rather than parse and re-encode it
            frame = ('{"type":"jsonapi/sendtx","data":{"id":"' + request_id + '","tx_type":'
                     + str(signed[0].tx_type) + ',"tx_info":' + signed[0].tx_info + "}}")
        else:
            frame = json.dumps({"type": "jsonapi/sendtxbatch",
                                "data": {"id": request_id, "tx_types": json.dumps([s.tx_type for s in signed]),
                                         "tx_infos": json.dumps([s.tx_info for s in signed])}})
        self._ws.send(frame)
        self.last_write_ns = time.monotonic_ns()

    async def wait(self, request_id: str, future: asyncio.Future[Reply], timeout: float) -> Reply:
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return Reply(Outcome.UNKNOWN, None, f"no reply within {timeout:.1f}s")
        finally:
            self._pending.pop(request_id, None)

    def forget(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    async def send(self, signed: Sequence[SignedTx], timeout: float) -> Reply:
        """Write from the loop (for callers that signed elsewhere) and wait for the reply."""
        request_id, future = self.prepare(len(signed))
        try:
            await asyncio.to_thread(self.write, request_id, signed)
        except Exception as exc:
            self.forget(request_id)
            return Reply(Outcome.UNKNOWN, None, f"{type(exc).__name__}: {exc}")
        return await self.wait(request_id, future, timeout)

    def _read(self) -> None:
        try:
            for raw in self._ws:
                try:
                    frame = json.loads(raw)
                except (TypeError, ValueError):
                    log.warning("tx socket: undecodable frame dropped")
                    continue
                if frame.get("type") == "ping":
                    self._ws.send('{"type":"pong"}')
                    continue
                self._loop.call_soon_threadsafe(self._on_frame, frame)
        except Exception as exc:
            if not self._closed.is_set():
                log.warning("tx socket closed: %s", exc)
        finally:
            self._lost.set()  # first: whoever learns of the failure must already see the socket as gone
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._fail_all, "connection lost")

    def _on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") in ("connected", "pong"):
            return
        request_id = frame.get("id")
        if request_id is None and "error" in frame:
            self._fail_all(f"id-less error {frame['error']}")
            return
        future = self._pending.get(request_id) if request_id is not None else None
        if future is None:
            self.late_replies += 1
            log.warning("tx socket: reply for unknown or expired request %s dropped", request_id)
            return
        if not future.done():
            future.set_result(classify_reply(200, frame))

    def _fail_all(self, reason: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_result(Reply(Outcome.UNKNOWN, None, reason))
