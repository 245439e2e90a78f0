# Decode and statically validate Lighter transactions (tx_type + tx_info JSON) as the SDK signs them.
#
# Rules of this module:
# - Pure: no I/O, no clock (the caller passes now_ms), no engine state. This module checks the envelope
#   (Sig present, ExpiredAt in the future, integer fields of the right type and the signer's ranges) and
#   builds the engine's transaction values. Business rules (market index, minimum amounts, order expiry
#   window, nonces, ownership, client-order-index uniqueness, margin) are the engine's, so that the
#   venue's order of checks lives in one place.
# - Signatures cannot be verified (Schnorr over ECgFp5/Poseidon2); `Sig` must only be present.
# - Every rejection is a TxRejected carrying the venue's error code and message (reference §10).
from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.engine_types import (
    MAX_CLIENT_ORDER_INDEX,
    NIL_MARKET_INDEX,
    SKIP_NONCE_LIMIT,
    CancelAllOrdersTx,
    CancelAllTif,
    CancelOrderTx,
    CreateOrderTx,
    MarginDirection,
    MarginMode,
    ModifyOrderTx,
    OrderType,
    SelfTradeBehavior,
    TimeInForce,
    Tx,
    TxMeta,
    UpdateLeverageTx,
    UpdateMarginTx,
    WithdrawTx,
)
from sim.lighter_errors import TxRejected

TX_TYPE_CREATE_ORDER = 14
TX_TYPE_CANCEL_ORDER = 15
TX_TYPE_CANCEL_ALL_ORDERS = 16
TX_TYPE_MODIFY_ORDER = 17
TX_TYPE_UPDATE_LEVERAGE = 20
TX_TYPE_WITHDRAW = 13
TX_TYPE_UPDATE_MARGIN = 29
SUPPORTED_TX_TYPES = frozenset(
    {TX_TYPE_CREATE_ORDER, TX_TYPE_CANCEL_ORDER, TX_TYPE_CANCEL_ALL_ORDERS, TX_TYPE_MODIFY_ORDER,
     TX_TYPE_UPDATE_LEVERAGE, TX_TYPE_WITHDRAW, TX_TYPE_UPDATE_MARGIN}
)
USDC_ASSET_INDEX = 3
# Every known tx type, so that an unsupported-but-real type gets 21505 and garbage gets 21501.
KNOWN_TX_TYPES = frozenset(range(8, 21)) | frozenset({28, 29, 35, 36, 41, 42, 45})

MAX_BASE_AMOUNT = 2**48 - 1
MAX_PRICE = 2**32 - 1
MAX_API_KEY_INDEX = 254
MAX_BATCH_SIZE = 50

ATTR_SKIP_NONCE = "4"
ATTR_CANCEL_ALL_MARKET = "5"
ATTR_SELF_TRADE = "6"
_KNOWN_ATTRIBUTES = frozenset({"1", "2", "3", "4", "5", "6", "7", "8"})
_MAX_ATTRIBUTES = 4
_SELF_TRADE_VALUES = frozenset(int(m) for m in SelfTradeBehavior)


@dataclass(frozen=True)
class DecodedTx:
    """One transaction ready for the engine, plus the envelope fields the engine does not take."""

    tx_type: int
    meta: TxMeta
    tx: Tx
    expired_at_ms: int


def _invalid(detail: str) -> TxRejected:
    return TxRejected(21501, f"invalid tx info: {detail}")


def _int_field(info: Mapping[str, Any], name: str, low: int, high: int, code: int = 21501,
               message: str | None = None) -> int:
    value = info.get(name)
    # bool is an int subclass; the signer never emits JSON booleans for these fields.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(f"{name} missing or not an integer")
    if not low <= value <= high:
        raise TxRejected(code, message) if message else _invalid(f"{name} out of range")
    return value


def parse_tx_info(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    """tx_info arrives as JSON text (REST, WS batch) or an already parsed object (WS sendtx)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise _invalid("not JSON") from exc
    if not isinstance(parsed, dict):
        raise _invalid("not a JSON object")
    return parsed


def _attributes(info: Mapping[str, Any]) -> dict[str, int]:
    raw = info.get("L2TxAttributes")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > _MAX_ATTRIBUTES:
        raise _invalid("L2TxAttributes malformed")
    attributes: dict[str, int] = {}
    for key, value in raw.items():
        if key not in _KNOWN_ATTRIBUTES or not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(f"L2TxAttributes entry {key!r} malformed")
        attributes[key] = value
    return attributes


def _meta(info: Mapping[str, Any], attributes: Mapping[str, int], now_ms: int,
          account_field: str) -> tuple[TxMeta, int]:
    if not isinstance(info.get("Sig"), str) or not info["Sig"]:
        raise TxRejected(21120, "invalid signature")
    account_index = _int_field(info, account_field, 1, 2**48 - 1, 21100, "account not found")
    api_key_index = _int_field(info, "ApiKeyIndex", 0, MAX_API_KEY_INDEX, 21109, "api key not found")
    nonce = _int_field(info, "Nonce", 0, SKIP_NONCE_LIMIT - 1, 21104, "invalid nonce")
    expired_at = _int_field(info, "ExpiredAt", 0, 2**63 - 1)
    if expired_at <= now_ms:
        raise _invalid("transaction expired (ExpiredAt has passed)")
    skip_nonce = attributes.get(ATTR_SKIP_NONCE, 0) == 1
    return TxMeta(account_index, api_key_index, nonce, skip_nonce), expired_at


def _market_id(info: Mapping[str, Any]) -> int:
    return _int_field(info, "MarketIndex", 0, 2**16 - 1, 21602, "invalid market index")


def _decode_create(info: Mapping[str, Any], attributes: Mapping[str, int]) -> CreateOrderTx:
    market_id = _market_id(info)
    client_order_index = _int_field(info, "ClientOrderIndex", 0, MAX_CLIENT_ORDER_INDEX, 21727,
                                    "invalid client order index")
    base_amount = _int_field(info, "BaseAmount", 0, MAX_BASE_AMOUNT, 21701, "invalid base amount")
    price = _int_field(info, "Price", 1, MAX_PRICE, 21702, "invalid price")
    is_ask = _int_field(info, "IsAsk", 0, 1)
    order_type = _int_field(info, "Type", 0, max(OrderType))
    time_in_force = _int_field(info, "TimeInForce", 0, 2, 21705, "invalid OrderTimeInForce")
    reduce_only = _int_field(info, "ReduceOnly", 0, 1)
    trigger_price = _int_field(info, "TriggerPrice", 0, MAX_PRICE)
    order_expiry = _int_field(info, "OrderExpiry", 0, 2**63 - 1)
    self_trade = attributes.get(ATTR_SELF_TRADE, 0)
    if self_trade not in _SELF_TRADE_VALUES:
        raise _invalid("unsupported self-trade behaviour")
    return CreateOrderTx(
        market_index=market_id, client_order_index=client_order_index, base_amount=base_amount,
        price=price, is_ask=bool(is_ask), order_type=OrderType(order_type),
        time_in_force=TimeInForce(time_in_force), reduce_only=bool(reduce_only), trigger_price=trigger_price,
        order_expiry_ms=order_expiry, self_trade_behavior=SelfTradeBehavior(self_trade),
    )


def _decode_cancel(info: Mapping[str, Any]) -> CancelOrderTx:
    market_id = _market_id(info)
    index = _int_field(info, "Index", 1, 2**63 - 1, 21700, "invalid order index")
    return CancelOrderTx(market_index=market_id, index=index)


def _decode_cancel_all(info: Mapping[str, Any], attributes: Mapping[str, int]) -> CancelAllOrdersTx:
    time_in_force = _int_field(info, "TimeInForce", 0, 2, 21705, "invalid OrderTimeInForce")
    time_ms = _int_field(info, "Time", 0, 2**63 - 1)
    market_id = attributes.get(ATTR_CANCEL_ALL_MARKET, NIL_MARKET_INDEX)
    if market_id != NIL_MARKET_INDEX and time_in_force != CancelAllTif.IMMEDIATE:
        raise TxRejected(21705, "invalid OrderTimeInForce")
    return CancelAllOrdersTx(time_in_force=CancelAllTif(time_in_force), time_ms=time_ms,
                             market_index=market_id)


def _decode_modify(info: Mapping[str, Any]) -> ModifyOrderTx:
    market_id = _market_id(info)
    index = _int_field(info, "Index", 1, 2**63 - 1, 21700, "invalid order index")
    base_amount = _int_field(info, "BaseAmount", 1, MAX_BASE_AMOUNT, 21701, "invalid base amount")
    price = _int_field(info, "Price", 1, MAX_PRICE, 21702, "invalid price")
    trigger_price = _int_field(info, "TriggerPrice", 0, MAX_PRICE)
    return ModifyOrderTx(market_index=market_id, index=index, base_amount=base_amount, price=price,
                         trigger_price=trigger_price)


def _decode_leverage(info: Mapping[str, Any]) -> UpdateLeverageTx:
    market_id = _market_id(info)
    fraction = _int_field(info, "InitialMarginFraction", 1, 10_000, 21501,
                          "invalid tx info: InitialMarginFraction out of range")
    margin_mode = _int_field(info, "MarginMode", 0, 1)
    return UpdateLeverageTx(market_index=market_id, initial_margin_fraction=fraction,
                            margin_mode=MarginMode(margin_mode))


def _decode_update_margin(info: Mapping[str, Any]) -> UpdateMarginTx:
    market_id = _market_id(info)
    amount = _int_field(info, "USDCAmount", 1, 2**63 - 1)
    direction = _int_field(info, "Direction", 0, 1)
    return UpdateMarginTx(market_index=market_id, usdc_amount=amount, direction=MarginDirection(direction))


def _decode_withdraw(info: Mapping[str, Any]) -> WithdrawTx:
    _int_field(info, "AssetIndex", USDC_ASSET_INDEX, USDC_ASSET_INDEX, 21505,
               "unsupported tx type: only USDC withdrawals are simulated")
    _int_field(info, "RouteType", 0, 0, 21505, "unsupported tx type: only perp-route withdrawals are simulated")
    return WithdrawTx(usdc_amount=_int_field(info, "Amount", 1, 2**63 - 1))


def decode_tx(tx_type: int, raw_info: str | Mapping[str, Any], now_ms: int) -> DecodedTx:
    """Decode one transaction; raise TxRejected with the venue's code when it is malformed."""
    if tx_type not in KNOWN_TX_TYPES:
        raise _invalid(f"unknown tx type {tx_type}")
    if tx_type not in SUPPORTED_TX_TYPES:
        raise TxRejected(21505, "unsupported tx type")
    info = parse_tx_info(raw_info)
    attributes = _attributes(info)
    account_field = "FromAccountIndex" if tx_type == TX_TYPE_WITHDRAW else "AccountIndex"
    meta, expired_at = _meta(info, attributes, now_ms, account_field)
    tx: Tx
    if tx_type == TX_TYPE_CREATE_ORDER:
        tx = _decode_create(info, attributes)
    elif tx_type == TX_TYPE_CANCEL_ORDER:
        tx = _decode_cancel(info)
    elif tx_type == TX_TYPE_CANCEL_ALL_ORDERS:
        tx = _decode_cancel_all(info, attributes)
    elif tx_type == TX_TYPE_MODIFY_ORDER:
        tx = _decode_modify(info)
    elif tx_type == TX_TYPE_UPDATE_MARGIN:
        tx = _decode_update_margin(info)
    elif tx_type == TX_TYPE_WITHDRAW:
        tx = _decode_withdraw(info)
    else:
        tx = _decode_leverage(info)
    return DecodedTx(tx_type, meta, tx, expired_at)


def parse_tx_type(raw: object) -> int:
    """tx_type travels as integer text in forms and as a JSON number over WS."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    raise _invalid("tx_type is not an integer")


def parse_batch(raw_types: object, raw_infos: object) -> list[tuple[int, str | dict[str, Any]]]:
    """Batch fields are JSON text: tx_types '[14,15]', tx_infos '["{...}","{...}"]'."""
    types = _json_list(raw_types, "tx_types")
    infos = _json_list(raw_infos, "tx_infos")
    if len(types) != len(infos) or not types:
        raise _invalid("tx_types and tx_infos must be non-empty lists of equal length")
    if len(types) > MAX_BATCH_SIZE:
        raise TxRejected(21514, "maximum 50 transactions per batch")
    return [(parse_tx_type(t), i) for t, i in zip(types, infos, strict=True)]


def _json_list(raw: object, name: str) -> list[Any]:
    if isinstance(raw, list):
        return raw
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError as exc:
        raise _invalid(f"{name} is not JSON") from exc
    if not isinstance(parsed, list):
        raise _invalid(f"{name} is not a JSON list")
    return parsed


def check_batch_consistency(txs: list[DecodedTx]) -> None:
    """One account and API key (21121) and strictly increasing nonces (21105) across a batch."""
    first = txs[0].meta
    for previous, current in itertools.pairwise(txs):
        meta = current.meta
        if (meta.account_index, meta.api_key_index) != (first.account_index, first.api_key_index):
            raise TxRejected(21121, "all transactions in the batch must use same account and apikey")
        if meta.nonce <= previous.meta.nonce:
            raise TxRejected(21105, "batch transaction nonce is not increasing")
