"""Lighter REST API and control API of the simulator: validation, error shapes and statuses, faults,
rate limits (reference §5, §7, §10, §11)."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import lighter
import pytest

from sim.testing import SimAccount, SimControlError, SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)
BTC = 1
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=55, with_market=False) as handle:
        yield handle


def http(sim: SimHandle, method: str, path: str, form: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    data = None if form is None else urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(sim.lighter_url + path, data=data, method=method, headers=headers or {})
    if form is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def tx_info(account: SimAccount, nonce: int, **overrides: Any) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    info = {"AccountIndex": account.account_index, "ApiKeyIndex": account.api_key_index, "MarketIndex": BTC,
            "ClientOrderIndex": 9, "BaseAmount": 1000, "Price": 900_000, "IsAsk": 0, "Type": 0, "TimeInForce": 2,
            "ReduceOnly": 0, "TriggerPrice": 0, "OrderExpiry": now_ms + 86_400_000, "ExpiredAt": now_ms + 600_000,
            "Nonce": nonce, "Sig": "c2ln", "L2TxAttributes": None}
    info.update(overrides)
    return info


def send(sim: SimHandle, tx_type: int | str, info: dict[str, Any] | str) -> tuple[int, dict[str, Any]]:
    raw = info if isinstance(info, str) else json.dumps(info)
    return http(sim, "POST", "/api/v1/sendTx", {"tx_type": str(tx_type), "tx_info": raw})


@pytest.mark.parametrize(("tx_type", "overrides", "status", "code"), [
    (14, {}, 200, 200),
    (14, {"Nonce": 5}, 400, 21104),
    (14, {"ExpiredAt": 1_000}, 400, 21501),
    (14, {"Sig": None}, 400, 21120),
    (14, {"Price": 0}, 400, 21702),
    (14, {"ClientOrderIndex": 2**48}, 400, 21727),
    (14, {"BaseAmount": 1}, 400, 21706),
    (14, {"OrderExpiry": 0}, 400, 21711),
    (14, {"TimeInForce": 7}, 400, 21705),
    (14, {"MarketIndex": 99}, 400, 21602),
    (14, {"ApiKeyIndex": 26}, 400, 21109),
    (14, {"Price": "900000"}, 400, 21501),
    (12, {}, 400, 21505),
    (99, {}, 400, 21501),
])
def test_send_tx_validates_tx_info(sim: SimHandle, tx_type: int, overrides: dict[str, Any], status: int,
                                   code: int) -> None:
    account = sim.create_account()
    got_status, body = send(sim, tx_type, tx_info(account, 0, **overrides))
    assert (got_status, body["code"]) == (status, code), body
    if status == 200:
        assert len(body["tx_hash"]) == 80 and body["predicted_execution_time_ms"] > 0


def test_send_tx_rejects_malformed_forms(sim: SimHandle) -> None:
    account = sim.create_account()
    assert send(sim, "fourteen", tx_info(account, 0))[1]["code"] == 21501
    assert send(sim, 14, "{not json")[1]["code"] == 21501
    assert send(sim, 14, "[1, 2]")[1]["code"] == 21501


def test_send_tx_batch_rules(sim: SimHandle) -> None:
    account, other = sim.create_account(), sim.create_account()

    def batch(infos: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        return http(sim, "POST", "/api/v1/sendTxBatch", {
            "tx_types": json.dumps([14] * len(infos)), "tx_infos": json.dumps([json.dumps(i) for i in infos])})

    status, body = batch([tx_info(account, 0, ClientOrderIndex=1), tx_info(other, 0, ClientOrderIndex=2)])
    assert (status, body["code"]) == (400, 21121)
    status, body = batch([tx_info(account, 1, ClientOrderIndex=1), tx_info(account, 0, ClientOrderIndex=2)])
    assert (status, body["code"]) == (400, 21105)
    status, body = batch([tx_info(account, n, ClientOrderIndex=n + 1) for n in range(51)])
    assert (status, body["code"]) == (400, 21514)
    status, body = batch([tx_info(account, n, ClientOrderIndex=n + 1, Price=900_000 - n) for n in range(3)])
    assert status == 200 and len(body["tx_hash"]) == 3
    assert http(sim, "GET", f"/api/v1/nextNonce?account_index={account.account_index}&api_key_index=25")[1] == {
        "code": 200, "nonce": 3}


def test_read_errors_have_the_venue_shape(sim: SimHandle) -> None:
    account = sim.create_account()
    assert http(sim, "GET", "/api/v1/nextNonce?account_index=999999&api_key_index=0") == (
        400, {"code": 21100, "message": "account not found"})
    status, body = http(sim, "GET", f"/api/v1/apikeys?account_index={account.account_index}&api_key_index=3")
    assert (status, body["code"]) == (400, 21109)
    status, body = http(sim, "GET", "/api/v1/orderBookOrders?market_id=1&limit=0")
    assert (status, body["code"]) == (400, 20001)
    status, body = http(sim, "GET", f"/api/v1/accountActiveOrders?account_index={account.account_index}")
    assert status == 400 and "auth" in body["message"]
    assert http(sim, "GET", "/api/v1/nope")[0] == 404


def test_standard_tier_rate_limit_is_http_429_code_23000() -> None:
    with start_simulator(seed=56, with_market=False) as sim:
        account = sim.create_account(tier="standard")
        statuses = []
        for nonce in range(61):
            info = {"AccountIndex": account.account_index, "ApiKeyIndex": account.api_key_index,
                    "MarketIndex": BTC, "Index": 2**48 + 5, "ExpiredAt": int(time.time() * 1000) + 600_000,
                    "Nonce": nonce, "Sig": "c2ln", "L2TxAttributes": None}
            status, body = send(sim, 15, info)
            statuses.append((status, body["code"]))
        assert statuses[0] == (400, 21600)  # a cancel of a missing order still counts against the limit
        assert statuses[-1] == (429, 23000)
        assert body["message"] == "Too Many Requests!"


def test_rate_limit_fault_answers_429_to_the_next_n_requests(sim: SimHandle) -> None:
    sim.inject_fault("rate_limit", count=2)
    assert http(sim, "GET", "/api/v1/orderBooks") == (429, {"code": 23000, "message": "Too Many Requests!"})
    assert http(sim, "GET", "/api/v1/orderBooks")[0] == 429
    assert http(sim, "GET", "/api/v1/orderBooks")[0] == 200


def test_control_api_creates_accounts_and_reports_state(sim: SimHandle) -> None:
    _, public_key, _ = lighter.create_api_key()
    reply = sim.control("POST", "/__sim/accounts", {"public_key": public_key.removeprefix("0x"),
                                                    "api_key_index": 7, "collateral": "2500.5", "tier": "standard"})
    index = reply["account_index"]
    keys = http(sim, "GET", f"/api/v1/apikeys?account_index={index}")[1]["api_keys"]
    assert [(k["api_key_index"], k["public_key"]) for k in keys] == [(7, public_key.removeprefix("0x").lower())]
    state = sim.account(index)
    assert (state["tier"], state["collateral"], state["volume_quota_remaining"]) == ("standard", "2500.500000", None)
    assert sim.orders(index) == []
    book = sim.book(BTC)
    assert isinstance(book["nonce"], int) and set(book) >= {"bids", "asks"}
    kinds = sim.control("GET", "/__sim/faults")["kinds"]
    assert {"drop_connections", "skip_nonce", "stall_feed", "rate_limit", "reject_tx", "delay_ack",
            "crossed_book"} <= set(kinds)


@pytest.mark.parametrize(("path", "body"), [
    ("/__sim/accounts", {"public_key": "zz", "api_key_index": 1, "collateral": "1"}),
    ("/__sim/accounts", {"public_key": "ab" * 40, "api_key_index": 300, "collateral": "1"}),
    ("/__sim/accounts", {"public_key": "ab" * 40, "api_key_index": 1, "collateral": "1.0000001"}),
    ("/__sim/accounts", {"public_key": "ab" * 40, "api_key_index": 1, "collateral": "1", "tier": "gold"}),
    ("/__sim/faults", {"kind": "meteor"}),
    ("/__sim/faults", {"kind": "rate_limit", "count": -1}),
    ("/__sim/market", {"running": False}),  # this simulator runs without a market
])
def test_control_api_rejects_bad_requests(sim: SimHandle, path: str, body: dict[str, Any]) -> None:
    with pytest.raises(SimControlError) as raised:
        sim.control("POST", path, body)
    assert raised.value.status == 400 and "error" in json.loads(raised.value.body)
