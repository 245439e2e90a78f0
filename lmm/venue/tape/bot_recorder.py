"""The bot's `--record`: the market frames it receives and what it does, on the same tape as `record.py`.

Rules:
- Every hook is one clock read and one append to a `TapeWriter` stream (a deque); decoding, encoding and
  writing happen on the writer's thread, where an object that cannot be read goes to `other` rather than
  failing the flush. The objects appended are immutable (intents, send results, reports, fills) or tuples
  of plain values, so the bot may go on using them.
- Local times are `LocalClock` readings (wall clock at start + monotonic time since); the bot's own
  monotonic stamps (`written_ns`) are converted with the same offset, so every time on the tape is on one
  clock.
- Market data: `order_book/{m}` and `trade/{m}` frames (the manager's taps), the Binance diffs, other
  frames and REST snapshots of the bot's OBI feed (`BinanceTap`). Chain breaks are recorded as `record.py`
  records them: the frame, then `gap` and `resync` events; a Binance reconnect records `resync` (reason
  reconnect), a Lighter book dropped by the bot (reset, gap, crossed book, failed sanity check) records
  `resync` with the bot's reason.
- The bot's events: `bot_intent` (each intent handed to the sender, numbered by send), `bot_outcome` (each
  send result), `bot_order` (order reports, `ws` or `rest`), `bot_fill`, `bot_state` (one per sampler step).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from lmm.venue.tape import schema as s
from lmm.venue.tape.recorder import LocalClock
from lmm.venue.tape.writer import TapeWriter

log = logging.getLogger("lighter_mm.tape")


class BinanceTap:
    """What the bot's Binance OBI feed receives: diffs, unusable frames, REST snapshots, connections."""

    def __init__(self, writer: TapeWriter, clock: LocalClock, symbol: str, depth_stream: str) -> None:
        self._writer = writer
        self._clock = clock
        self.symbol = symbol
        self._depth_stream = depth_stream
        self._depth = writer.stream(s.BINANCE_DEPTH, symbol).append
        self._snapshots = writer.stream(s.BINANCE_SNAPSHOT, symbol).append
        self._prev_u: int | None = None
        self._last_was_gap = False
        self.connects = 0
        self.frames = 0
        self.gaps = 0
        self.snapshots = 0

    def depth(self, raw: str | bytes, final_id: int, prev_final_id: int) -> None:
        """A diff of the symbol, as received; then the pu chain check (`record.py`'s rule)."""
        self._depth(self._clock(), raw)
        self.frames += 1
        previous = self._prev_u
        if previous is None or final_id > previous:  # an older event replayed is no chain step
            self._prev_u = final_id
        self._last_was_gap = previous is not None and prev_final_id != previous and final_id > previous
        if self._last_was_gap:
            self.gaps += 1
            self._event(s.EV_GAP, self._depth_stream, {"expected": previous, "received": prev_final_id})
            self._event(s.EV_RESYNC, self._depth_stream, {"reason": "gap"})

    def book_lost(self) -> None:
        """The last diff unsynced the bot's book without a chain break (crossed or malformed book)."""
        if not self._last_was_gap:
            self._event(s.EV_RESYNC, self._depth_stream, {"reason": "book"})

    def other(self, raw: str | bytes) -> None:
        self._writer.other("binance", "ws", raw, self._clock())

    def connect(self, url: str) -> None:
        self.connects += 1
        self._event(s.EV_CONNECT, "public", {"url": url, "attempt": self.connects})
        if self.connects > 1:
            self._event(s.EV_RESYNC, self._depth_stream, {"reason": "reconnect"})
        self._prev_u = None

    def disconnect(self, error: BaseException | None) -> None:
        self._event(s.EV_DISCONNECT, "public", {"error": None if error is None else repr(error)[:300]})

    def snapshot_request(self, url: str, limit: int) -> int:
        """Record the request; returns its local time (for `snapshot`)."""
        request_ns = self._clock()
        self._event(s.EV_SNAPSHOT_REQUEST, "rest", {"url": url, "limit": limit}, request_ns)
        return request_ns

    def snapshot(self, body: str | bytes, request_ns: int | None, limit: int) -> None:
        self.snapshots += 1
        self._snapshots(self._clock(), body, (request_ns, limit))

    def snapshot_failed(self, error: str) -> None:
        self._event(s.EV_SNAPSHOT_FAILED, "rest", {"error": error[:300]})

    def _event(self, event: str, stream: str, detail: dict[str, Any], local_ns: int | None = None) -> None:
        self._writer.event("binance", self.symbol, event, stream, json.dumps(detail),
                           local_ns=self._clock() if local_ns is None else local_ns)


class BotRecorder:
    """One market's recording from inside the bot (see the module rules)."""

    def __init__(self, writer: TapeWriter, clock: LocalClock, symbol: str, market_id: int,
                 binance: BinanceTap | None = None) -> None:
        self.writer = writer
        self._clock = clock
        self._offset = clock.offset_ns
        self.symbol = symbol
        self.book_channel = f"order_book/{market_id}"
        self.trade_channel = f"trade/{market_id}"
        self.binance = binance
        self._book = writer.stream(s.LIGHTER_BOOK, symbol).append
        self._trades = writer.stream(s.LIGHTER_TRADE, symbol).append
        self._intents = writer.stream(s.BOT_INTENT, symbol).append
        self._outcomes = writer.stream(s.BOT_OUTCOME, symbol).append
        self._orders = writer.stream(s.BOT_ORDER, symbol).append
        self._fills = writer.stream(s.BOT_FILL, symbol).append
        self._states = writer.stream(s.BOT_STATE, symbol).append
        self._send_id = 0
        self._lighter_connects = 0
        self.book_frames = 0
        self.states = 0
        self._closed = False

    # ---- Lighter: the manager's taps and listener, the feed's resyncs ------------------------------------

    def lighter_book_frame(self, raw: str | bytes) -> None:
        self._book(self._clock(), raw)
        self.book_frames += 1

    def lighter_trade_frame(self, raw: str | bytes) -> None:
        self._trades(self._clock(), raw)

    def lighter_connection(self, event: str, detail: dict[str, Any]) -> None:
        if event == "connect":
            self._lighter_connects += 1
            self._lighter_event(s.EV_CONNECT, "ws", {**detail, "attempt": self._lighter_connects})
        else:
            self._lighter_event(s.EV_DISCONNECT, "ws", detail)

    def lighter_gap(self, reason: str) -> None:
        self._lighter_event(s.EV_GAP, self.book_channel, {"reason": reason})

    def lighter_resync(self, reason: str) -> None:
        """The bot dropped its book (it waits for a fresh snapshot): the nonce chain restarts."""
        self._lighter_event(s.EV_RESYNC, self.book_channel, {"reason": reason})

    # ---- the sender's observer ----------------------------------------------------------------------------

    def on_send(self, intents: Sequence[Any]) -> None:
        """Intents about to be signed and sent (one send: one `send_id`)."""
        now = self._clock()
        self._send_id += 1
        send_id, append = self._send_id, self._intents
        for index, intent in enumerate(intents):
            append(now, None, (send_id, index, intent))

    def on_results(self, results: Sequence[Any]) -> None:
        """The outcomes of the last `on_send` (sends are serialised by the sender's lock)."""
        now = self._clock()
        send_id, append, offset = self._send_id, self._outcomes, self._offset
        first = 0
        for result in results:
            written = result.written_ns
            append(now, None, (send_id, first, result, None if written is None else written + offset))
            first += len(result.intents)

    # ---- account and model ----------------------------------------------------------------------------------

    def orders(self, reports: Sequence[Any], source: str = "ws") -> None:
        now = self._clock()
        append = self._orders
        for report in reports:
            append(now, None, (source, report))

    def fills(self, fills: Sequence[Any]) -> None:
        now = self._clock()
        append = self._fills
        for fill in fills:
            append(now, None, fill)

    def state(self, monotonic_ns: int, values: tuple) -> None:
        """The model's state sampled at `monotonic_ns` (the sampler's clock), see schema.BOT_STATE."""
        self._states(monotonic_ns + self._offset, None, values)
        self.states += 1

    def orders_then(self, handler: Callable[[list[Any], int], None]) -> Callable[[list[Any], int], None]:
        """`handler` (the market maker's `on_orders`), recording the reports first."""
        def on_orders(reports: list[Any], now_ns: int) -> None:
            self.orders(reports)
            handler(reports, now_ns)

        return on_orders

    def fills_then(self, handler: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
        def on_fills(fills: list[Any]) -> None:
            self.fills(fills)
            handler(fills)

        return on_fills

    # ---- session ------------------------------------------------------------------------------------------

    def start(self, detail: dict[str, Any]) -> None:
        self.writer.event("tape", "", s.EV_START, None, json.dumps(detail), local_ns=self._clock())

    def close(self, counters: dict[str, Any] | None = None) -> None:
        """The `stop` event, then flush and merge (blocking: call it off the event loop). Idempotent."""
        if self._closed:
            return
        self._closed = True
        summary = {"lighter_book_frames": self.book_frames, "sends": self._send_id, "states": self.states}
        if self.binance is not None:
            summary.update(binance_frames=self.binance.frames, binance_gaps=self.binance.gaps,
                           binance_snapshots=self.binance.snapshots)
        summary.update(counters or {})
        self.writer.event("tape", "", s.EV_STOP, None, json.dumps(summary), local_ns=self._clock())
        self.writer.close()
        if self.writer.write_errors:
            log.warning("tape: %d write error(s), last: %s", self.writer.write_errors, self.writer.last_error)

    def _lighter_event(self, event: str, stream: str, detail: dict[str, Any]) -> None:
        self.writer.event("lighter", self.symbol, event, stream, json.dumps(detail), local_ns=self._clock())
