"""Account state as the exchange reports it: position, capital, fills, our orders.

Rules:
- Sans-I/O: handlers take decoded messages (WS ``account_all``, ``account_all_positions``, ``user_stats``,
  ``account_all_orders``/``account_orders``, REST ``account``/``accountActiveOrders``) and ``now_ns``.
- Position is ``sign x position`` in integer lots for the traded market; a market missing from a
  positions frame is flat.
- Fills are de-duplicated by ``trade_id``; the first ``subscribed/account_all`` frame is history, not new
  fills (its trade ids are remembered, not reported). A stream frame whose trades come without our
  market's position moves the position by those fills at once (never only when a snapshot catches up).
- Fills seen first in order reports (an order's filled amount grew) are "unsettled" until a position
  taken after them arrives: a stream position (same socket as the order report, so no older than it) or a
  REST account read requested after them. Exposure counts them on top of the position meanwhile.
- Stream trades settle unsettled fills of the same order (by our order index, from the trade's
  ``bid_id``/``ask_id``); lots a stream trade put in the position before the order report showed them are
  remembered per order, and that report's fill is not counted again.
- Capital freshness is measured from the last message that carried it (WS or the REST refresh timer),
  never from silence of ``user_stats``, which only fires on change.
- Orders are turned into ``orders.OrderReport`` values for the order tracker; prices and sizes parsed
  exactly into ticks and lots.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from lmm.book.book_side import parse_scaled
from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.order_state import Side
from lmm.core.orders import OrderReport

log = logging.getLogger("lighter_mm.account")

USD_DECIMALS = 6  # Lighter's USDC amounts
_SEEN_TRADES_KEPT = 10_000
_POSITION_FILLS_KEPT = 1_024  # orders whose stream trades await their order report (bounded: some never come)


@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: int
    side: Side  # our side
    price_tick: int
    size_lots: int
    is_maker: bool
    timestamp_ms: int
    order_index: OrderIndex | None = None  # our order that traded, when the trade names it
    client_index: ClientOrderIndex | None = None  # its client order index, when the trade names it
    fee_ticks: int = 0  # our side's fee rate in 1e-6 of notional (the venue omits it when zero)
    quote_micro: int | None = None  # the trade's notional (``usd_amount``) in micro-USD, when sent


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int_or_zero(value: Any) -> int:
    """A fee rate or a client index, zero when absent (the venue omits zero fees); a malformed one must not
    lose the fill."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _micro_or_none(value: Any) -> int | None:
    try:
        return None if value is None else parse_scaled(str(value), USD_DECIMALS)
    except ValueError:
        return None


class AccountState:
    def __init__(self, account_index: int, market_id: int, price_decimals: int, size_decimals: int) -> None:
        self.account_index = account_index
        self.market_id = market_id
        self._price_decimals = price_decimals
        self._size_decimals = size_decimals
        self.position_lots = 0
        self.position_known = False
        self.avg_entry_price: float | None = None
        self.unrealized_pnl = 0.0
        self.realized_pnl = 0.0
        self.collateral: float | None = None
        self.portfolio_value: float | None = None
        self.available_balance: float | None = None
        self.capital_updated_ns: int | None = None
        self.position_ws_ns: int | None = None  # when the WebSocket last changed the position
        self.fills_count = 0
        self.fill_volume_usd = 0.0
        self._seen_trades: set[int] = set()
        self._seen_order: deque[int] = deque()
        # a later snapshot's unseen trades above this id were made while the stream was down: reported then
        self._report_above: int | None = None  # None until the first snapshot (history from before this run)
        # (seen_ns, our side, lots, our order index), oldest first
        self._unsettled: deque[tuple[int, Side, int, OrderIndex | None]] = deque()
        self._in_position: dict[OrderIndex, int] = {}  # lots stream trades put in the position, per order,
        # that no order report has shown yet

    # ---- capital ------------------------------------------------------------------------------------

    @property
    def equity(self) -> float | None:
        """Capital for sizing and limits: portfolio value, else collateral (strategy-model §7.2, M5)."""
        return self.portfolio_value if self.portfolio_value is not None else self.collateral

    def capital_age_s(self, now_ns: int) -> float | None:
        return None if self.capital_updated_ns is None else (now_ns - self.capital_updated_ns) / 1e9

    def on_user_stats(self, message: dict[str, Any], now_ns: int) -> None:
        stats = message.get("stats") or {}
        self._set_capital(stats.get("collateral"), stats.get("portfolio_value"), stats.get("available_balance"),
                          now_ns)

    def _set_capital(self, collateral: Any, portfolio: Any, available: Any, now_ns: int) -> None:
        values = (_float(collateral), _float(portfolio), _float(available))
        if all(v is None for v in values):
            return
        self.collateral = values[0] if values[0] is not None else self.collateral
        self.portfolio_value = values[1] if values[1] is not None else self.portfolio_value
        self.available_balance = values[2] if values[2] is not None else self.available_balance
        self.capital_updated_ns = now_ns

    # ---- positions ----------------------------------------------------------------------------------

    def on_positions(self, positions: dict[str, Any] | list[Any] | None, snapshot: bool = True,
                     now_ns: int | None = None) -> bool:
        """Positions keyed by market id (WS) or the REST list. In a snapshot a missing market is flat; an
        update only changes the markets it carries (another market's fill must not zero ours). `now_ns` is
        given for the stream only. Returns whether our position was set."""
        entries = positions.values() if isinstance(positions, dict) else (positions or [])
        mine = next((p for p in entries if int(p.get("market_id", -1)) == self.market_id), None)
        if mine is None and not snapshot:
            return False
        self.position_known = True
        if now_ns is not None:
            self.position_ws_ns = now_ns
            self._unsettled.clear()  # the stream's position is no older than the order reports before it
        if mine is None:
            self.position_lots, self.avg_entry_price, self.unrealized_pnl = 0, None, 0.0
            return True
        sign = -1 if int(mine.get("sign", 1)) < 0 else 1
        self.position_lots = sign * parse_scaled(str(mine.get("position", "0")), self._size_decimals)
        self.avg_entry_price = _float(mine.get("avg_entry_price"))
        self.unrealized_pnl = _float(mine.get("unrealized_pnl")) or 0.0
        self.realized_pnl = _float(mine.get("realized_pnl")) or 0.0
        return True

    def on_account_all(self, message: dict[str, Any], now_ns: int | None = None) -> list[Fill]:
        """``account_all``: positions and trades. Returns fills not seen before: none on the first snapshot (the
        account's history); on a later one (a re-subscription) the trades made while the stream was down,
        which its positions already hold. Fills that come without our market's position move the position
        themselves."""
        snapshot = str(message.get("type", "")).startswith("subscribed/")
        position_set = False
        if "positions" in message:
            position_set = self.on_positions(message.get("positions"), snapshot=snapshot, now_ns=now_ns)
        trades = (message.get("trades") or {}).get(str(self.market_id), [])
        if snapshot and self._report_above is None:
            fills = self.on_trades(trades, report=False)
            self._report_above = max(self._seen_trades, default=-1)
        else:
            fills = self.on_trades(trades, report=True, above=self._report_above if snapshot else None)
        if fills and not position_set and self.position_known:
            for fill in fills:
                self.position_lots += -fill.size_lots if fill.side.is_ask else fill.size_lots
            if now_ns is not None:
                self.position_ws_ns = now_ns  # a REST read requested before this must not undo it
        if self.position_known:  # these fills are in the position now
            for fill in fills:
                self._settle(fill)
        return fills

    # ---- fills seen in order reports, not yet in the position ---------------------------------------

    def note_order_fill(self, side: Side, lots: int, now_ns: int, order_index: OrderIndex | None = None) -> None:
        """An order report showed `lots` of our `side` (order `order_index`) traded; counted until a later
        position covers it, unless a stream trade of that order already put them in the position."""
        if order_index is not None and order_index in self._in_position:
            already = self._in_position.pop(order_index)
            covered = min(lots, already)
            lots -= covered
            if already > covered:
                self._in_position[order_index] = already - covered
        if lots > 0:
            self._unsettled.append((now_ns, side, lots, order_index))

    def unsettled_fill_lots(self, side: Side) -> int:
        return sum(lots for _, s, lots, _ in self._unsettled if s is side)

    def _settle(self, fill: Fill) -> None:
        """A stream fill entered the position: unsettled lots of its order are covered; what remains is kept
        for the order report still to come. A fill that names no order covers the oldest of its side."""
        lots = fill.size_lots
        kept: deque[tuple[int, Side, int, OrderIndex | None]] = deque()
        for seen, side, pending, index in self._unsettled:
            if side is fill.side and lots > 0 and (None in (fill.order_index, index) or index == fill.order_index):
                covered = min(lots, pending)
                lots -= covered
                pending -= covered
            if pending > 0:
                kept.append((seen, side, pending, index))
        self._unsettled = kept
        if lots > 0 and fill.order_index is not None:
            self._in_position[fill.order_index] = self._in_position.get(fill.order_index, 0) + lots
            while len(self._in_position) > _POSITION_FILLS_KEPT:
                del self._in_position[next(iter(self._in_position))]

    def on_trades(self, trades: list[dict[str, Any]], report: bool = True, above: int | None = None) -> list[Fill]:
        """Our fills among ``trades`` not seen before (each remembered); ``above``: only trade ids above it count
        (a snapshot's older trades are history or were forgotten after being reported)."""
        fresh: list[Fill] = []
        for trade in trades:
            fill = self._parse_trade(trade)
            if fill is None or fill.trade_id in self._seen_trades:
                continue
            if above is not None and fill.trade_id <= above:
                continue
            self._remember(fill.trade_id)
            if report:
                fresh.append(fill)
                self.fills_count += 1
                self.fill_volume_usd += _float(trade.get("usd_amount")) or 0.0
        return fresh

    def _remember(self, trade_id: int) -> None:
        self._seen_trades.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > _SEEN_TRADES_KEPT:
            forgotten = self._seen_order.popleft()
            self._seen_trades.discard(forgotten)
            if self._report_above is not None:
                self._report_above = max(self._report_above, forgotten)

    def _parse_trade(self, trade: dict[str, Any]) -> Fill | None:
        try:
            if int(trade.get("market_id", self.market_id)) != self.market_id:
                return None
            is_ask_side = int(trade.get("ask_account_id", -1)) == self.account_index
            is_bid_side = int(trade.get("bid_account_id", -1)) == self.account_index
            if not (is_ask_side or is_bid_side):
                return None
            maker_is_ask = bool(trade.get("is_maker_ask"))
            order_id = trade.get("ask_id" if is_ask_side else "bid_id")
            client_id = _int_or_zero(trade.get("ask_client_id" if is_ask_side else "bid_client_id"))
            is_maker = maker_is_ask if is_ask_side else not maker_is_ask
            return Fill(
                trade_id=int(trade["trade_id"]),
                side=Side.ASK if is_ask_side else Side.BID,
                price_tick=parse_scaled(str(trade["price"]), self._price_decimals),
                size_lots=parse_scaled(str(trade["size"]), self._size_decimals),
                is_maker=is_maker,
                timestamp_ms=int(trade.get("timestamp", 0)),
                order_index=None if order_id is None else OrderIndex(int(order_id)),
                client_index=ClientOrderIndex(client_id) if client_id else None,
                fee_ticks=_int_or_zero(trade.get("maker_fee" if is_maker else "taker_fee")),
                quote_micro=_micro_or_none(trade.get("usd_amount")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("unparseable trade skipped: %s", exc)
            return None

    # ---- orders -------------------------------------------------------------------------------------

    def parse_orders(self, orders: Any) -> list[OrderReport]:
        """Orders of our market from a WS ``orders`` map ({"<market>": [Order]}) or a REST list."""
        entries = orders.get(str(self.market_id), []) if isinstance(orders, dict) else (orders or [])
        reports: list[OrderReport] = []
        for order in entries:
            try:
                if int(order.get("market_index", self.market_id)) != self.market_id:
                    continue
                client = int(order.get("client_order_index") or 0)
                reports.append(OrderReport(
                    order_index=OrderIndex(int(order["order_index"])),
                    client_index=ClientOrderIndex(client) if client else None,
                    side=Side.ASK if order.get("is_ask") else Side.BID,
                    status=str(order.get("status", "")),
                    price_tick=parse_scaled(str(order["price"]), self._price_decimals),
                    remaining_lots=parse_scaled(str(order.get("remaining_base_amount", "0")),
                                                self._size_decimals),
                    filled_lots=(None if order.get("filled_base_amount") is None
                                 else parse_scaled(str(order["filled_base_amount"]), self._size_decimals)),
                ))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("unparseable order skipped: %s", exc)
        return reports

    # ---- REST -----------------------------------------------------------------------------------------

    def on_rest_account(self, body: dict[str, Any], now_ns: int, requested_ns: int | None = None) -> None:
        """``GET /api/v1/account?by=index``: capital and positions, the slow-timer refresh. The position is
        not taken when the WebSocket changed it after the request was made (the reply would be older)."""
        accounts = body.get("accounts") or []
        account = next((a for a in accounts if int(a.get("index", a.get("account_index", -1)))
                        == self.account_index), None)
        if account is None:
            return
        portfolio = account.get("total_asset_value")
        self._set_capital(account.get("collateral"), portfolio, account.get("available_balance"), now_ns)
        newer_ws = (requested_ns is not None and self.position_ws_ns is not None
                    and self.position_ws_ns >= requested_ns)
        if not newer_ws:
            self.on_positions(account.get("positions") or [])
            if requested_ns is not None:  # the read was taken after these order-report fills
                while self._unsettled and self._unsettled[0][0] < requested_ns:
                    self._unsettled.popleft()
