# One market's order book inside the simulated engine: price levels of resting orders in time priority.
# Rules: prices in ticks, sizes in lots. A level is an insertion-ordered dict (order_index → Order), so
# adding at the back, removing any order and shrinking in place are O(1); the sorted price list is
# maintained with bisect. Every level whose total changes is remembered until `take_dirty_levels`.
from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator

from sim.engine_views import BookLevelChange
from sim.orders import Order


class BookSide:
    def __init__(self, is_ask: bool) -> None:
        self.is_ask = is_ask
        self._levels: dict[int, dict[int, Order]] = {}
        self._level_size: dict[int, int] = {}
        self._prices: list[int] = []  # ascending; best is [0] for asks and [-1] for bids

    def __len__(self) -> int:
        return len(self._prices)

    def best_price(self) -> int | None:
        if not self._prices:
            return None
        return self._prices[0] if self.is_ask else self._prices[-1]

    def level_size(self, price: int) -> int:
        return self._level_size.get(price, 0)

    def add(self, order: Order) -> None:
        level = self._levels.get(order.price)
        if level is None:
            level = self._levels[order.price] = {}
            self._level_size[order.price] = 0
            insort(self._prices, order.price)
        level[order.order_index] = order
        self._level_size[order.price] += order.remaining

    def remove(self, order: Order) -> None:
        level = self._levels[order.price]
        del level[order.order_index]
        self._level_size[order.price] -= order.remaining
        if not level:
            self._drop_level(order.price)

    def shrink(self, order: Order, new_remaining: int) -> None:
        """Lower a resting order's remaining size in place (keeps time priority); 0 removes it."""
        self._level_size[order.price] -= order.remaining - new_remaining
        order.remaining = new_remaining
        if new_remaining == 0:
            level = self._levels[order.price]
            del level[order.order_index]
            if not level:
                self._drop_level(order.price)

    def grow(self, order: Order, new_remaining: int) -> None:
        """Raise a resting order's remaining size in place (for the last order of its level, where the
        venue's move to the back of the queue leaves it)."""
        self._level_size[order.price] += new_remaining - order.remaining
        order.remaining = new_remaining

    def _drop_level(self, price: int) -> None:
        del self._levels[price]
        del self._level_size[price]
        del self._prices[bisect_left(self._prices, price)]

    def prices_best_first(self) -> Iterator[int]:
        return iter(self._prices) if self.is_ask else reversed(self._prices)

    def orders_at(self, price: int) -> list[Order]:
        """Orders at a level in time priority (a copy: callers may modify the level while iterating)."""
        return list(self._levels.get(price, {}).values())

    def first_order_at(self, price: int) -> Order | None:
        level = self._levels.get(price)
        return next(iter(level.values())) if level else None

    def last_order_at(self, price: int) -> Order | None:
        level = self._levels.get(price)
        return next(reversed(level.values())) if level else None

    def level(self, price: int) -> dict[int, Order] | None:
        """The level's orders (order index: order, in time priority), not copied: read only, and only while the
        level does not change; None when no order rests there."""
        return self._levels.get(price)

    def level_orders(self, price: int) -> Iterator[Order]:
        """Orders at a level in time priority, not copied: the level must not change while iterating."""
        return iter(self._levels.get(price, {}).values())

    def levels(self, depth: int | None = None) -> list[tuple[int, int]]:
        result: list[tuple[int, int]] = []
        for price in self.prices_best_first():
            if depth is not None and len(result) >= depth:
                break
            result.append((price, self._level_size[price]))
        return result

    def orders(self, limit: int | None = None) -> list[Order]:
        result: list[Order] = []
        for price in self.prices_best_first():
            for order in self._levels[price].values():
                if limit is not None and len(result) >= limit:
                    return result
                result.append(order)
        return result


class OrderBook:
    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        self.bids = BookSide(is_ask=False)
        self.asks = BookSide(is_ask=True)
        self._dirty: dict[tuple[bool, int], None] = {}

    def side(self, is_ask: bool) -> BookSide:
        return self.asks if is_ask else self.bids

    def crosses(self, is_ask: bool, price: int) -> bool:
        """Would an order on side `is_ask` at `price` trade against the opposite side?"""
        best = self.side(not is_ask).best_price()
        if best is None:
            return False
        return price <= best if is_ask else price >= best

    def add(self, order: Order) -> None:
        self.side(order.is_ask).add(order)
        self._dirty[(order.is_ask, order.price)] = None

    def remove(self, order: Order) -> None:
        self.side(order.is_ask).remove(order)
        self._dirty[(order.is_ask, order.price)] = None

    def shrink(self, order: Order, new_remaining: int) -> None:
        self.side(order.is_ask).shrink(order, new_remaining)
        self._dirty[(order.is_ask, order.price)] = None

    def grow_last(self, order: Order, new_remaining: int) -> None:
        self.side(order.is_ask).grow(order, new_remaining)
        self._dirty[(order.is_ask, order.price)] = None

    def mid_price(self) -> int | None:
        bid, ask = self.bids.best_price(), self.asks.best_price()
        if bid is None or ask is None:
            return None
        return (bid + ask) // 2

    @property
    def has_dirty_levels(self) -> bool:
        return bool(self._dirty)

    def take_dirty_levels(self) -> list[BookLevelChange]:
        market_id, ask_sizes, bid_sizes = self.market_id, self.asks._level_size, self.bids._level_size
        changes = [BookLevelChange(market_id, is_ask, price, (ask_sizes if is_ask else bid_sizes).get(price, 0))
                   for is_ask, price in self._dirty]
        self._dirty.clear()
        return changes
