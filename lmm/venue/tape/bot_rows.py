"""The bot's own events into the typed columns of their kind (pure; run on the writer thread).

Rules: the producer appends the objects it already has (frozen intents, send results, order reports,
fills) or a tuple of plain values (the model state), so its cost is one append; the columns are read here.
Objects are read by attribute name with defaults, not by class, so the intent and outcome types may move
between modules. Times in the items are local ns (the recorder converted any monotonic time).
"""
from __future__ import annotations

import math
from typing import Any

from lmm.venue.tape import schema as s

MS = 1_000_000
_STATE_WIDTH = len(s.BODY_COLUMNS[s.BOT_STATE])


def _index(value: Any) -> int | None:
    """An order index as an int (the core wraps them: OrderIndex, ClientOrderIndex)."""
    if value is None:
        return None
    return int(getattr(value, "value", value))


def _side_is_ask(side: Any) -> bool | None:
    return None if side is None else bool(getattr(side, "is_ask", side))


def intent_body(extra: tuple[int, int, Any]) -> tuple:
    """(send_id, index, intent) -> the bot_intent columns after exch_ns."""
    send_id, index, intent = extra
    get = getattr
    tx_type = int(intent.tx_type)
    client_index = get(intent, "client_order_index", None)
    order_index = get(intent, "order_index", None)
    is_ask = get(intent, "is_ask", None)
    leverage = get(intent, "leverage", None)
    return (send_id, index, tx_type, int(get(intent, "market_index", -1)), _index(client_index), _index(order_index),
            None if is_ask is None else bool(is_ask), get(intent, "price", None), get(intent, "base_amount", None),
            get(intent, "time_in_force", None), get(intent, "order_type", None), get(intent, "reduce_only", None),
            get(intent, "order_expiry", None), leverage,
            get(intent, "margin_mode", None) if leverage is not None else None)


def outcome_body(extra: tuple[int, int, Any, int | None]) -> tuple:
    """(send_id, first_index, result, written local ns) -> the bot_outcome columns after exch_ns."""
    send_id, first_index, result, written_ns = extra
    outcome = result.outcome
    return (send_id, first_index, len(result.intents), str(getattr(outcome, "value", outcome)), result.code,
            str(result.message), str(result.via), written_ns, result.volume_quota_remaining,
            [str(h) for h in result.tx_hashes])


def order_body(extra: tuple[str, Any]) -> tuple:
    """(source, report) -> the bot_order columns after exch_ns."""
    source, report = extra
    return (source, _index(report.order_index), _index(report.client_index), _side_is_ask(report.side),
            str(report.status), int(report.price_tick), int(report.remaining_lots), report.filled_lots)


def _real(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _tick(value: Any) -> int | None:
    return None if value is None else int(value)


def state_body(extra: tuple) -> tuple:
    """(mid, volatility, alpha, alpha_source, fair_price, half_spread_ticks, warmed_up, quote_bid_tick,
    quote_ask_tick, best_bid_tick, best_ask_tick, position_lots) -> the bot_state columns (NaN -> null)."""
    if len(extra) != _STATE_WIDTH:
        raise ValueError(f"bot_state needs {_STATE_WIDTH} values, got {len(extra)}")
    mid, vol, alpha, source, fair, half, warm, bid, ask, best_bid, best_ask, position = extra
    return (_real(mid), _real(vol), _real(alpha), str(source), _real(fair), _real(half), bool(warm), _tick(bid),
            _tick(ask), _tick(best_bid), _tick(best_ask), int(position))


def fill_row_head(fill: Any) -> int | None:
    stamp = getattr(fill, "timestamp_ms", None)
    return stamp * MS if type(stamp) is int and stamp > 0 else None


def fill_body(fill: Any) -> tuple:
    return (int(fill.trade_id), _side_is_ask(fill.side), int(fill.price_tick), int(fill.size_lots),
            bool(fill.is_maker))


def bot_rows(kind: str, items: list) -> tuple[list[tuple], list]:
    """Full rows (schema order) of a bot kind, and the items that could not be read (extra = the reason)."""
    rows: list[tuple] = []
    rejects: list = []
    for local_ns, seq, _raw, extra in items:
        try:
            if kind == s.BOT_STATE:
                row = (local_ns, seq, None, *state_body(extra))
            elif kind == s.BOT_INTENT:
                row = (local_ns, seq, None, *intent_body(extra))
            elif kind == s.BOT_OUTCOME:
                row = (local_ns, seq, None, *outcome_body(extra))
            elif kind == s.BOT_ORDER:
                row = (local_ns, seq, None, *order_body(extra))
            elif kind == s.BOT_FILL:
                row = (local_ns, seq, fill_row_head(extra), *fill_body(extra))
            else:
                raise ValueError(f"not a bot kind: {kind!r}")
        except Exception as exc:  # a malformed object must not cost the rest of the flush
            rejects.append((local_ns, seq, repr(extra)[:2000], f"{kind}: {type(exc).__name__}: {exc}"[:500]))
            continue
        rows.append(row)
    return rows, rejects
