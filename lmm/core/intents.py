"""Order intents: what to send to the venue, as frozen values in exchange integers (ticks, lots, ms).

An intent says what to sign, not when; the venue layer signs and sends it and answers with a
`lmm.core.outcomes.SendResult`.
"""
from __future__ import annotations

from dataclasses import dataclass

ORDER_TYPE_LIMIT = 0
ORDER_TYPE_MARKET = 1
TIF_IOC = 0
TIF_GTT = 1
TIF_POST_ONLY = 2
CROSS_MARGIN = 0
ISOLATED_MARGIN = 1
DEFAULT_28_DAY_EXPIRY = -1

TX_CREATE_ORDER = 14
TX_CANCEL_ORDER = 15
TX_CANCEL_ALL = 16
TX_MODIFY_ORDER = 17
TX_UPDATE_LEVERAGE = 20

QUOTA_CONSUMING_TX = frozenset({TX_CREATE_ORDER, TX_MODIFY_ORDER})


@dataclass(frozen=True)
class CreateOrder:
    market_index: int
    client_order_index: int
    base_amount: int  # lots
    price: int  # ticks
    is_ask: bool
    time_in_force: int = TIF_POST_ONLY
    order_type: int = ORDER_TYPE_LIMIT
    reduce_only: bool = False
    order_expiry: int = DEFAULT_28_DAY_EXPIRY  # ms since epoch; -1: signer default (28 days); IOC: 0

    tx_type = TX_CREATE_ORDER


@dataclass(frozen=True)
class ModifyOrder:
    market_index: int
    order_index: int  # exchange order index (>= 2^48) or our own client order index (< 2^48)
    base_amount: int
    price: int

    tx_type = TX_MODIFY_ORDER


@dataclass(frozen=True)
class CancelOrder:
    market_index: int
    order_index: int

    tx_type = TX_CANCEL_ORDER


ALL_MARKETS = 255


@dataclass(frozen=True)
class CancelAllOrders:
    """Immediate cancel-all (time in force 0, timestamp 0) of one market's orders, or of every market's."""

    market_index: int = ALL_MARKETS

    tx_type = TX_CANCEL_ALL


@dataclass(frozen=True)
class UpdateLeverage:
    market_index: int
    leverage: int
    margin_mode: int = CROSS_MARGIN

    tx_type = TX_UPDATE_LEVERAGE

    @property
    def initial_margin_fraction(self) -> int:
        return int(10_000 / self.leverage)


TxIntent = CreateOrder | ModifyOrder | CancelOrder | CancelAllOrders | UpdateLeverage
