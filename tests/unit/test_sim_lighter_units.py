"""Pure parts of the Lighter server: tx decoding, auth tokens, the book chain, fault bookkeeping, rendering."""
from __future__ import annotations

import itertools
import json
import random

import pytest

from sim.auth_token import MAX_TOKEN_LIFETIME_S, authorize_account, parse_auth_token
from sim.book_chain import BookChain
from sim.engine_types import (
    CancelAllOrdersTx,
    CancelAllTif,
    CreateOrderTx,
    MarginDirection,
    ModifyOrderTx,
    OrderType,
    TimeInForce,
    UpdateMarginTx,
    WithdrawTx,
)
from sim.lighter_errors import TxRejected
from sim.lighter_faults import LighterFaults
from sim.lighter_render import fee_percent
from sim.tx_decode import check_batch_consistency, decode_tx, parse_batch, parse_tx_type

NOW_MS = 1_800_000_000_000
SIG = "a" * 20


def create_info(**overrides: object) -> dict[str, object]:
    info: dict[str, object] = {
        "AccountIndex": 12, "ApiKeyIndex": 3, "MarketIndex": 1, "ClientOrderIndex": 777, "BaseAmount": 1000,
        "Price": 650_000, "IsAsk": 1, "Type": 0, "TimeInForce": 2, "ReduceOnly": 0, "TriggerPrice": 0,
        "OrderExpiry": NOW_MS + 86_400_000, "ExpiredAt": NOW_MS + 1, "Nonce": 5, "Sig": SIG,
        "L2TxAttributes": None,
    }
    info.update(overrides)
    return info


def test_create_order_decodes_into_the_engine_value() -> None:
    decoded = decode_tx(14, json.dumps(create_info(L2TxAttributes={"4": 1})), NOW_MS)
    assert decoded.meta.account_index == 12 and decoded.meta.api_key_index == 3
    assert decoded.meta.nonce == 5 and decoded.meta.skip_nonce
    assert decoded.tx == CreateOrderTx(market_index=1, client_order_index=777, base_amount=1000, price=650_000,
                                       is_ask=True, order_type=OrderType.LIMIT, time_in_force=TimeInForce.POST_ONLY,
                                       order_expiry_ms=NOW_MS + 86_400_000)


def test_tx_info_may_arrive_as_an_object_and_modify_and_cancel_all_decode() -> None:
    modify = {"AccountIndex": 12, "ApiKeyIndex": 3, "MarketIndex": 1, "Index": 2**48 + 1, "BaseAmount": 5,
              "Price": 9, "TriggerPrice": 0, "ExpiredAt": NOW_MS + 1, "Nonce": 1, "Sig": SIG, "L2TxAttributes": None}
    assert decode_tx(17, modify, NOW_MS).tx == ModifyOrderTx(1, 2**48 + 1, 5, 9, 0)
    cancel_all = {"AccountIndex": 12, "ApiKeyIndex": 3, "TimeInForce": 0, "Time": 0, "ExpiredAt": NOW_MS + 1,
                  "Nonce": 2, "Sig": SIG, "L2TxAttributes": {"5": 1}}
    assert decode_tx(16, cancel_all, NOW_MS).tx == CancelAllOrdersTx(CancelAllTif.IMMEDIATE, 0, 1)


@pytest.mark.parametrize(("tx_type", "overrides", "code"), [
    (14, {"ExpiredAt": NOW_MS}, 21501),
    (14, {"Sig": ""}, 21120),
    (14, {"AccountIndex": 0}, 21100),
    (14, {"ApiKeyIndex": 255}, 21109),
    (14, {"Nonce": 2**47}, 21104),
    (14, {"ClientOrderIndex": 2**48}, 21727),
    (14, {"BaseAmount": 2**48}, 21701),
    (14, {"Price": 2**32}, 21702),
    (14, {"TimeInForce": 3}, 21705),
    (14, {"IsAsk": True}, 21501),
    (14, {"L2TxAttributes": {"9": 1}}, 21501),
    (14, {"L2TxAttributes": {"6": 3}}, 21501),
    (14, {"MarketIndex": -1}, 21602),
    (12, {}, 21505),
    (7, {}, 21501),
])
def test_malformed_transactions_are_rejected_with_the_venue_code(tx_type: int, overrides: dict[str, object],
                                                                 code: int) -> None:
    with pytest.raises(TxRejected) as raised:
        decode_tx(tx_type, create_info(**overrides), NOW_MS)
    assert raised.value.code == code and raised.value.http_status == 400


def test_margin_and_withdraw_decode_with_their_own_field_names() -> None:
    margin = {"AccountIndex": 12, "ApiKeyIndex": 3, "MarketIndex": 1, "USDCAmount": 5_000_000, "Direction": 1,
              "ExpiredAt": NOW_MS + 1, "Nonce": 1, "Sig": SIG, "L2TxAttributes": None}
    assert decode_tx(29, margin, NOW_MS).tx == UpdateMarginTx(1, 5_000_000, MarginDirection.ADD_COLLATERAL)
    withdraw = {"FromAccountIndex": 12, "ApiKeyIndex": 3, "AssetIndex": 3, "RouteType": 0, "Amount": 1_000_000,
                "ExpiredAt": NOW_MS + 1, "Nonce": 2, "Sig": SIG, "L2TxAttributes": None}
    decoded = decode_tx(13, withdraw, NOW_MS)
    assert decoded.tx == WithdrawTx(1_000_000) and decoded.meta.account_index == 12
    with pytest.raises(TxRejected) as raised:
        decode_tx(13, {**withdraw, "AssetIndex": 1}, NOW_MS)
    assert raised.value.code == 21505


def test_batches_parse_json_text_and_check_account_key_and_nonce_order() -> None:
    infos = [json.dumps(create_info(Nonce=n)) for n in (1, 2)]
    parsed = parse_batch("[14, 14]", json.dumps(infos))
    decoded = [decode_tx(t, i, NOW_MS) for t, i in parsed]
    check_batch_consistency(decoded)
    with pytest.raises(TxRejected) as raised:
        check_batch_consistency(list(reversed(decoded)))
    assert raised.value.code == 21105
    mixed = [decoded[0], decode_tx(14, create_info(Nonce=3, ApiKeyIndex=4), NOW_MS)]
    with pytest.raises(TxRejected) as raised:
        check_batch_consistency(mixed)
    assert raised.value.code == 21121
    with pytest.raises(TxRejected):
        parse_batch("[14]", "[]")
    assert parse_tx_type("14") == 14 and parse_tx_type(15) == 15


def test_auth_tokens_parse_and_expire_like_the_venue() -> None:
    now = 1_800_000_000.0
    token = parse_auth_token(f"{int(now) + 600}:12:3:{'ab' * 80}", now)
    assert (token.account_index, token.api_key_index) == (12, 3)
    for bad in ("", "1:2:3", f"{int(now) - 1}:12:3:{'ab' * 80}",
                f"{int(now) + MAX_TOKEN_LIFETIME_S + 1}:12:3:{'ab' * 80}", f"{int(now) + 5}:12:3:xyz"):
        with pytest.raises(TxRejected):
            parse_auth_token(bad, now)
    with pytest.raises(TxRejected):
        authorize_account(f"{int(now) + 600}:12:3:{'ab' * 80}", 13, now)


def test_book_chain_publishes_coalesced_absolute_changes_with_chained_nonces() -> None:
    chain = BookChain(1, random.Random(3), bids=[(100, 5)], asks=[(105, 7)], first_nonce=1000)
    assert chain.take_update() is None
    chain.record(False, 100, 6)
    chain.record(False, 101, 2)
    chain.record(False, 101, 0)  # appeared and vanished within the batch: not published
    chain.record(True, 105, 0)
    update = chain.take_update()
    assert update is not None and update.published
    assert update.begin_nonce == 1000 and update.nonce > 1000
    assert update.bids == [(100, 6)] and update.asks == [(105, 0)]
    assert chain.snapshot() == ([(100, 6)], [])
    nonces = []
    for size in range(2, 30):
        chain.record(True, 110, size)
        step = chain.take_update()
        assert step is not None and step.begin_nonce == (nonces[-1] if nonces else update.nonce)
        nonces.append(step.nonce)
    assert len({b - a for a, b in itertools.pairwise(nonces)}) > 3


def test_book_chain_faults_skip_and_crossed_book() -> None:
    chain = BookChain(1, random.Random(4), bids=[(100, 5)], asks=[(105, 7)], first_nonce=50)
    skipped = chain.take_update(skip=True)
    assert skipped is not None and not skipped.published and chain.nonce == skipped.nonce
    crossed = chain.take_update(crossed=True)
    assert crossed is not None and crossed.bids == [(106, 7)]
    assert chain.snapshot() == ([(100, 5)], [(105, 7)])  # the fake level never enters the mirror
    retract = chain.take_update()
    assert retract is not None and retract.bids == [(106, 0)] and retract.begin_nonce == crossed.nonce


def test_faults_are_consumed_once_and_validated() -> None:
    faults = LighterFaults()
    faults.apply("rate_limit", {"count": 2}, now_s=0)
    assert [faults.take_rate_limit() for _ in range(3)] == [True, True, False]
    faults.apply("reject_tx", {"count": 1, "code": 21601, "message": "order book is full"}, now_s=0)
    rejection = faults.take_rejection()
    assert rejection is not None and (rejection.code, rejection.http_status) == (21601, 400)
    assert faults.take_rejection() is None
    faults.apply("stall_feed", {"seconds": 2}, now_s=10)
    assert faults.is_stalled(11.9) and not faults.is_stalled(12.0)
    faults.apply("skip_nonce", {"market_id": 1}, now_s=0)
    assert not faults.take_skip_nonce(0) and faults.take_skip_nonce(1) and not faults.take_skip_nonce(1)
    for kind, params in (("meteor", {}), ("rate_limit", {"count": 0}), ("stall_feed", {"seconds": -1}),
                         ("delay_ack", {"delay_ms": "soon"})):
        with pytest.raises(ValueError):
            faults.apply(kind, params, now_s=0)


def test_fee_ticks_render_as_percent_strings() -> None:
    assert fee_percent(280) == "0.0280" and fee_percent(0) == "0.0000" and fee_percent(10_000) == "1.0000"
