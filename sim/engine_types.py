# Value types of the simulated Lighter engine: enums, error codes, transaction arguments and results.
# Rules: frozen dataclasses, integers in venue units (ticks, lots, micro-USDC, milliseconds for venue
# timestamps); string enum values are exactly the venue's wire strings (lighter-api.md §3.3, §9, §10).
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum

MAX_CLIENT_ORDER_INDEX = 2**48 - 1
MIN_ORDER_INDEX = 2**48  # exchange order indexes start here
NIL_MARKET_INDEX = 255
SKIP_NONCE_LIMIT = 2**47 - 1


class TxType(IntEnum):
    TRANSFER = 12
    WITHDRAW = 13
    CREATE_ORDER = 14
    CANCEL_ORDER = 15
    CANCEL_ALL_ORDERS = 16
    MODIFY_ORDER = 17
    UPDATE_LEVERAGE = 20
    CREATE_GROUPED_ORDERS = 28
    UPDATE_MARGIN = 29


QUOTA_TX_TYPES = frozenset({TxType.TRANSFER, TxType.CREATE_ORDER, TxType.MODIFY_ORDER,
                            TxType.CREATE_GROUPED_ORDERS})


class OrderType(IntEnum):
    LIMIT = 0
    MARKET = 1
    STOP_LOSS = 2
    STOP_LOSS_LIMIT = 3
    TAKE_PROFIT = 4
    TAKE_PROFIT_LIMIT = 5
    TWAP = 6

    @property
    def wire(self) -> str:
        return self.name.lower().replace("_", "-")


class TimeInForce(IntEnum):
    IMMEDIATE_OR_CANCEL = 0
    GOOD_TILL_TIME = 1
    POST_ONLY = 2

    @property
    def wire(self) -> str:
        return self.name.lower().replace("_", "-")


class CancelAllTif(IntEnum):
    IMMEDIATE = 0
    SCHEDULED = 1
    ABORT = 2


class MarginMode(IntEnum):
    CROSS = 0
    ISOLATED = 1


class MarginDirection(IntEnum):
    REMOVE_COLLATERAL = 0
    ADD_COLLATERAL = 1


class SelfTradeBehavior(IntEnum):
    EXPIRE_MAKER = 0
    EXPIRE_TAKER = 1
    EXPIRE_BOTH = 2


class Tier(StrEnum):
    STANDARD = "standard"
    PREMIUM = "premium"

    @property
    def account_type(self) -> int:
        """`account_type` code of the account endpoint (0 = standard)."""
        return 0 if self is Tier.STANDARD else 1


class OrderStatus(StrEnum):
    IN_PROGRESS = "in-progress"  # never reported: the engine executes a transaction synchronously
    PENDING = "pending"
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    CANCELED_POST_ONLY = "canceled-post-only"
    CANCELED_REDUCE_ONLY = "canceled-reduce-only"
    CANCELED_POSITION_NOT_ALLOWED = "canceled-position-not-allowed"
    CANCELED_MARGIN_NOT_ALLOWED = "canceled-margin-not-allowed"
    CANCELED_TOO_MUCH_SLIPPAGE = "canceled-too-much-slippage"
    CANCELED_NOT_ENOUGH_LIQUIDITY = "canceled-not-enough-liquidity"
    CANCELED_SELF_TRADE = "canceled-self-trade"
    CANCELED_EXPIRED = "canceled-expired"
    CANCELED_OCO = "canceled-oco"
    CANCELED_CHILD = "canceled-child"
    CANCELED_LIQUIDATION = "canceled-liquidation"
    CANCELED_INVALID_BALANCE = "canceled-invalid-balance"

    @property
    def is_live(self) -> bool:
        return self in (OrderStatus.IN_PROGRESS, OrderStatus.PENDING, OrderStatus.OPEN)


class ErrorCode(IntEnum):
    """Venue error codes (lighter-api.md §10); `ERROR_MESSAGES` holds the exact texts."""

    ACCOUNT_NOT_FOUND = 21100
    INVALID_NONCE = 21104
    BATCH_NONCE_NOT_INCREASING = 21105
    API_KEY_NOT_FOUND = 21109
    BATCH_MIXED_ACCOUNT_OR_KEY = 21121
    NOT_ENOUGH_COLLATERAL = 21301
    INVALID_TX_INFO = 21501
    UNSUPPORTED_TX_TYPE = 21505
    BATCH_TOO_LARGE = 21514
    NOT_ACTIVE_LIMIT_ORDER = 21600
    INVALID_MARKET_INDEX = 21602
    INVALID_ORDER_INDEX = 21700
    INVALID_BASE_AMOUNT = 21701
    INVALID_PRICE = 21702
    INVALID_TIME_IN_FORCE = 21705
    INVALID_BASE_OR_QUOTE_AMOUNT = 21706
    NOT_ORDER_OWNER = 21707
    INVALID_EXPIRY = 21711
    NOT_ACTIVE_ORDER = 21715
    MAX_ACTIVE_ORDERS_ACCOUNT = 21717
    MAX_ACTIVE_ORDERS_MARKET = 21718
    INVALID_CLIENT_ORDER_INDEX = 21727
    CLIENT_ORDER_INDEX_EXISTS = 21728
    NOT_ENOUGH_MARGIN = 21739
    TOO_MANY_REQUESTS = 23000
    ALREADY_IN_TIER = 62003
    TIER_CHANGE_OPEN_POSITIONS = 62004
    TIER_CHANGE_OPEN_ORDERS = 62005
    TIER_CHANGE_TOO_FREQUENT = 62006


ERROR_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.ACCOUNT_NOT_FOUND: "account not found",
    ErrorCode.INVALID_NONCE: "invalid nonce",
    ErrorCode.BATCH_NONCE_NOT_INCREASING: "batch transaction nonce is not increasing",
    ErrorCode.API_KEY_NOT_FOUND: "api key not found",
    ErrorCode.BATCH_MIXED_ACCOUNT_OR_KEY: "all transactions in the batch must use same account and apikey",
    ErrorCode.NOT_ENOUGH_COLLATERAL: "not enough collateral",
    ErrorCode.INVALID_TX_INFO: "invalid tx info",
    ErrorCode.UNSUPPORTED_TX_TYPE: "unsupported tx type",
    ErrorCode.BATCH_TOO_LARGE: "maximum 50 transactions per batch",
    ErrorCode.NOT_ACTIVE_LIMIT_ORDER: "given order is not an active limit order",
    ErrorCode.INVALID_MARKET_INDEX: "invalid market index",
    ErrorCode.INVALID_ORDER_INDEX: "invalid order index",
    ErrorCode.INVALID_BASE_AMOUNT: "invalid base amount",
    ErrorCode.INVALID_PRICE: "invalid price",
    ErrorCode.INVALID_TIME_IN_FORCE: "invalid OrderTimeInForce",
    ErrorCode.INVALID_BASE_OR_QUOTE_AMOUNT: "invalid order base or quote amount",
    ErrorCode.NOT_ORDER_OWNER: "account is not owner of the order",
    ErrorCode.INVALID_EXPIRY: "invalid expiry",
    ErrorCode.NOT_ACTIVE_ORDER: "given order is not an active order",
    ErrorCode.MAX_ACTIVE_ORDERS_ACCOUNT: "max active limit orders per account reached",
    ErrorCode.MAX_ACTIVE_ORDERS_MARKET: "max active limit orders per market reached",
    ErrorCode.INVALID_CLIENT_ORDER_INDEX: "invalid client order index",
    ErrorCode.CLIENT_ORDER_INDEX_EXISTS: "client order index already exists",
    ErrorCode.NOT_ENOUGH_MARGIN: "not enough margin to create the order",
    ErrorCode.TOO_MANY_REQUESTS: "Too Many Requests!",
    ErrorCode.ALREADY_IN_TIER: "already in tier",
    ErrorCode.TIER_CHANGE_OPEN_POSITIONS: "has open positions",
    ErrorCode.TIER_CHANGE_OPEN_ORDERS: "has open orders",
    ErrorCode.TIER_CHANGE_TOO_FREQUENT: "too frequent",
}


class TxOutcome(Enum):
    ACCEPTED = "accepted"  # HTTP 200, code 200
    REJECTED = "rejected"  # HTTP 400 with `code`/`message`; nonce not consumed
    RATE_LIMITED = "rate_limited"  # HTTP 429 {"code":23000,"message":"Too Many Requests!"}


@dataclass(frozen=True, slots=True)
class TxMeta:
    """Envelope fields common to every transaction, parsed from tx_info by the server."""

    account_index: int
    api_key_index: int
    nonce: int
    skip_nonce: bool = False  # L2TxAttributes {"4": 1}: accept any old < nonce < 2^47 - 1


@dataclass(frozen=True, slots=True)
class CreateOrderTx:
    market_index: int
    client_order_index: int  # 0 = none; else 1 .. 2^48 - 1, unique among the account's live orders
    base_amount: int  # lots
    price: int  # ticks; for MARKET the worst acceptable fill price
    is_ask: bool
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GOOD_TILL_TIME
    reduce_only: bool = False
    trigger_price: int = 0
    order_expiry_ms: int = 0  # Unix ms; 0 for IOC and MARKET
    self_trade_behavior: SelfTradeBehavior = SelfTradeBehavior.EXPIRE_MAKER


@dataclass(frozen=True, slots=True)
class ModifyOrderTx:
    market_index: int
    index: int  # < 2^48: client order index; >= 2^48: exchange order index
    base_amount: int  # new remaining size in lots
    price: int  # new price in ticks
    trigger_price: int = 0


@dataclass(frozen=True, slots=True)
class CancelOrderTx:
    market_index: int
    index: int  # < 2^48: client order index; >= 2^48: exchange order index


@dataclass(frozen=True, slots=True)
class CancelAllOrdersTx:
    time_in_force: CancelAllTif = CancelAllTif.IMMEDIATE
    time_ms: int = 0  # SCHEDULED: Unix ms, 5 min .. 15 days ahead; otherwise 0
    market_index: int = NIL_MARKET_INDEX  # 255 = all markets (only with IMMEDIATE)


@dataclass(frozen=True, slots=True)
class UpdateLeverageTx:
    market_index: int
    initial_margin_fraction: int  # 1e-4 units: int(10000 / leverage)
    margin_mode: MarginMode = MarginMode.CROSS


@dataclass(frozen=True, slots=True)
class UpdateMarginTx:
    market_index: int
    usdc_amount: int  # micro-USDC
    direction: MarginDirection


@dataclass(frozen=True, slots=True)
class WithdrawTx:
    usdc_amount: int  # micro-USDC (only USDC, asset 3, is simulated)


Tx = CreateOrderTx | ModifyOrderTx | CancelOrderTx | CancelAllOrdersTx | UpdateLeverageTx | UpdateMarginTx | WithdrawTx

TX_TYPE_OF: dict[type, TxType] = {
    CreateOrderTx: TxType.CREATE_ORDER,
    ModifyOrderTx: TxType.MODIFY_ORDER,
    CancelOrderTx: TxType.CANCEL_ORDER,
    CancelAllOrdersTx: TxType.CANCEL_ALL_ORDERS,
    UpdateLeverageTx: TxType.UPDATE_LEVERAGE,
    UpdateMarginTx: TxType.UPDATE_MARGIN,
    WithdrawTx: TxType.WITHDRAW,
}


@dataclass(frozen=True, slots=True)
class TxResult:
    """Outcome of one transaction, as sendTx reports it (lighter-api.md §5.3)."""

    outcome: TxOutcome
    code: int  # 200 when accepted
    message: str
    tx_hash: str = ""  # 80 hex chars when accepted
    predicted_execution_time_ms: int | None = None
    volume_quota_remaining: int | None = None  # None: standard tier, or the free transaction of 15 s
    order_index: int | None = None  # exchange index of the order created or targeted, when known

    @property
    def accepted(self) -> bool:
        return self.outcome is TxOutcome.ACCEPTED

    @property
    def http_status(self) -> int:
        return {TxOutcome.ACCEPTED: 200, TxOutcome.REJECTED: 400, TxOutcome.RATE_LIMITED: 429}[self.outcome]

    @staticmethod
    def rejected(code: ErrorCode) -> TxResult:
        outcome = TxOutcome.RATE_LIMITED if code is ErrorCode.TOO_MANY_REQUESTS else TxOutcome.REJECTED
        return TxResult(outcome=outcome, code=int(code), message=ERROR_MESSAGES[code])


class EngineError(Exception):
    """Misuse of the engine's non-transaction API (unknown account, bad arguments)."""

    def __init__(self, code: ErrorCode, detail: str = "") -> None:
        super().__init__(f"{int(code)} {ERROR_MESSAGES[code]}" + (f": {detail}" if detail else ""))
        self.code = code
