"""Contract tests: the unmodified lighter-sdk (SignerClient, REST API classes, WsClient) against the simulator.

The simulator runs in its own thread (the SDK makes blocking calls); every SignerClient/ApiClient is built
inside the test's running loop, as the SDK requires.
"""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import lighter
import pydantic
import pytest
from lighter import SignerClient
from lighter.exceptions import BadRequestException

from sim.lighter_render import NOT_SIMULATED_TRADE_FIELDS
from sim.testing import SimAccount, SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)
BTC = 1
ETH = 0
WAIT_S = 15.0
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=99, with_market=False) as handle:
        yield handle


def signer(sim: SimHandle, account: SimAccount) -> SignerClient:
    return SignerClient(url=sim.lighter_url, account_index=account.account_index,
                        api_private_keys={account.api_key_index: account.private_key})


def raw_get(sim: SimHandle, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(sim.lighter_url + path, headers=headers or {})
    with _opener.open(request, timeout=10) as response:
        return json.loads(response.read())


def strict_errors(model: type[pydantic.BaseModel], body: dict[str, Any]) -> list[dict[str, Any]]:
    """Strict pydantic validation errors, except trade fields the venue omits and the simulator never sends."""
    try:
        model.model_validate(body)
    except pydantic.ValidationError as error:
        return [e for e in error.errors()
                if not (e["type"] == "missing" and e["loc"][-1] in NOT_SIMULATED_TRADE_FIELDS)]
    return []


async def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def expect_ok(call: Awaitable[tuple[Any, Any, Any]]) -> Any:
    tx, response, error = await call
    assert error is None, error
    assert response.code == 200, response
    return tx


def order_by_client_index(sim: SimHandle, account: SimAccount, client_order_index: int) -> dict[str, Any] | None:
    for order in sim.orders(account.account_index):
        if order["client_order_index"] == client_order_index:
            return order
    return None


# ---- SignerClient ------------------------------------------------------------------------------------


async def test_check_client_accepts_the_registered_key_and_rejects_another(sim: SimHandle) -> None:
    account = sim.create_account()
    client = signer(sim, account)
    try:
        assert await asyncio.to_thread(client.check_client) is None
    finally:
        await client.close()
    other_private, _, _ = lighter.create_api_key()
    impostor = SignerClient(url=sim.lighter_url, account_index=account.account_index,
                            api_private_keys={account.api_key_index + 1: other_private})
    try:
        error = await asyncio.to_thread(impostor.check_client)
        assert error is not None and "on api key" in error
    finally:
        await impostor.close()


async def test_post_only_gtt_and_ioc_orders_rest_fill_and_cancel_as_the_venue_does(sim: SimHandle) -> None:
    maker_account, taker_account = sim.create_account(), sim.create_account()
    maker, taker = signer(sim, maker_account), signer(sim, taker_account)
    try:
        # GTT ask and post-only bid rest on the book
        await expect_ok(maker.create_order(BTC, 101, 1000, 1_000_000, True, maker.ORDER_TYPE_LIMIT,
                                           maker.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME))
        await expect_ok(maker.create_order(BTC, 102, 1000, 999_000, False, maker.ORDER_TYPE_LIMIT,
                                           maker.ORDER_TIME_IN_FORCE_POST_ONLY))
        ask = order_by_client_index(sim, maker_account, 101)
        bid = order_by_client_index(sim, maker_account, 102)
        assert ask is not None and ask["status"] == "open" and ask["time_in_force"] == "good-till-time"
        assert bid is not None and bid["time_in_force"] == "post-only" and bid["price"] == "99900.0"
        assert ask["order_index"] >= 2**48 and bid["order_index"] >= 2**48

        # a post-only bid that would cross is accepted by sendTx and ends canceled-post-only
        await expect_ok(taker.create_order(BTC, 201, 1000, 1_000_000, False, taker.ORDER_TYPE_LIMIT,
                                           taker.ORDER_TIME_IN_FORCE_POST_ONLY))
        assert order_by_client_index(sim, taker_account, 201) is None

        # an IOC bid takes half of the ask; the remainder of the ask stays open
        await expect_ok(taker.create_order(BTC, 202, 500, 1_000_000, False, taker.ORDER_TYPE_LIMIT,
                                           taker.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, order_expiry=0))
        ask = order_by_client_index(sim, maker_account, 101)
        assert ask is not None and ask["remaining_base_amount"] == "0.00500"
        assert ask["filled_base_amount"] == "0.00500"
        taker_state = sim.account(taker_account.account_index)
        assert taker_state["positions"][str(BTC)]["position"] == "0.00500"
        assert sim.account(maker_account.account_index)["positions"][str(BTC)]["position"] == "-0.00500"

        token, error = taker.create_auth_token_with_expiry(600, api_key_index=taker_account.api_key_index)
        assert error is None
        inactive = await lighter.OrderApi(taker.api_client).account_inactive_orders(
            authorization=token, account_index=taker_account.account_index, limit=10)
        statuses = {o.client_order_index: o.status for o in inactive.orders}
        assert statuses[201] == "canceled-post-only"
        assert statuses[202] == "filled"
    finally:
        await maker.close()
        await taker.close()


async def test_modify_cancel_and_cancel_all(sim: SimHandle) -> None:
    account = sim.create_account()
    client = signer(sim, account)
    try:
        for client_index, price in ((301, 900_000), (302, 890_000), (303, 880_000)):
            await expect_ok(client.create_order(BTC, client_index, 1000, price, False, client.ORDER_TYPE_LIMIT,
                                                client.ORDER_TIME_IN_FORCE_POST_ONLY))
        # modify by client order index: new price and size
        await expect_ok(client.modify_order(BTC, 301, 2000, 905_000))
        modified = order_by_client_index(sim, account, 301)
        assert modified is not None and modified["price"] == "90500.0"
        assert modified["remaining_base_amount"] == "0.02000"
        # cancel by exchange order index
        exchange_index = order_by_client_index(sim, account, 302)["order_index"]  # type: ignore[index]
        await expect_ok(client.cancel_order(BTC, exchange_index))
        assert order_by_client_index(sim, account, 302) is None
        # cancel by client order index is accepted the same way
        await expect_ok(client.cancel_order(BTC, 303))
        assert sim.orders(account.account_index) == [order_by_client_index(sim, account, 301)]
        await expect_ok(client.create_order(ETH, 304, 100, 300_000, False, client.ORDER_TYPE_LIMIT,
                                            client.ORDER_TIME_IN_FORCE_POST_ONLY))
        await expect_ok(client.cancel_all_orders(client.CANCEL_ALL_TIF_IMMEDIATE, 0))
        assert sim.orders(account.account_index) == []
    finally:
        await client.close()


async def test_update_leverage_sets_the_initial_margin_fraction(sim: SimHandle) -> None:
    account = sim.create_account()
    client = signer(sim, account)
    try:
        await expect_ok(client.update_leverage(BTC, client.CROSS_MARGIN_MODE, 10))
        position = sim.account(account.account_index)["positions"][str(BTC)]
        assert position["initial_margin_fraction"] == 1000
    finally:
        await client.close()


async def test_wrong_nonce_is_http_400_invalid_nonce_and_the_sdk_recovers(sim: SimHandle) -> None:
    account = sim.create_account()
    client = signer(sim, account)
    try:
        await expect_ok(client.create_order(BTC, 401, 1000, 900_000, False, client.ORDER_TYPE_LIMIT,
                                            client.ORDER_TIME_IN_FORCE_POST_ONLY))
        # another sender consumes the next nonce behind the SDK's back
        next_nonce = (await lighter.TransactionApi(client.api_client).next_nonce(
            account_index=account.account_index, api_key_index=account.api_key_index)).nonce
        tx_type, tx_info, _, error = client.sign_create_order(
            BTC, 402, 1000, 899_000, False, client.ORDER_TYPE_LIMIT, client.ORDER_TIME_IN_FORCE_POST_ONLY,
            nonce=next_nonce, api_key_index=account.api_key_index)
        assert error is None
        assert (await client.send_tx(tx_type, tx_info)).code == 200

        _, response, error = await client.create_order(BTC, 403, 1000, 898_000, False, client.ORDER_TYPE_LIMIT,
                                                       client.ORDER_TIME_IN_FORCE_POST_ONLY)
        assert response is None and error is not None
        assert "code=21104" in error and "invalid nonce" in error
        # the SDK re-synced from nextNonce: the same call now succeeds
        await expect_ok(client.create_order(BTC, 403, 1000, 898_000, False, client.ORDER_TYPE_LIMIT,
                                            client.ORDER_TIME_IN_FORCE_POST_ONLY))
        assert {o["client_order_index"] for o in sim.orders(account.account_index)} == {401, 402, 403}
    finally:
        await client.close()


async def test_send_tx_batch_and_a_rate_limit_fault(sim: SimHandle) -> None:
    account = sim.create_account()
    client = signer(sim, account)
    try:
        key = account.api_key_index
        txs = [client.sign_create_order(BTC, 500 + i, 1000, 900_000 - i * 10, False, client.ORDER_TYPE_LIMIT,
                                        client.ORDER_TIME_IN_FORCE_POST_ONLY, nonce=i, api_key_index=key)
               for i in range(3)]
        response = await client.send_tx_batch([t[0] for t in txs], [t[1] for t in txs])
        assert response.code == 200 and len(response.tx_hash) == 3
        assert len(sim.orders(account.account_index)) == 3

        sim.inject_fault("rate_limit", count=1)
        with pytest.raises(lighter.ApiException) as raised:
            await client.create_order(BTC, 510, 1000, 890_000, False, client.ORDER_TYPE_LIMIT,
                                      client.ORDER_TIME_IN_FORCE_POST_ONLY, nonce=3, api_key_index=key)
        assert raised.value.status == 429
        assert json.loads(raised.value.body) == {"code": 23000, "message": "Too Many Requests!"}
        await expect_ok(client.create_order(BTC, 510, 1000, 890_000, False, client.ORDER_TYPE_LIMIT,
                                            client.ORDER_TIME_IN_FORCE_POST_ONLY, nonce=3, api_key_index=key))
    finally:
        await client.close()


# ---- auth tokens and REST API classes ----------------------------------------------------------------


async def test_auth_tokens_from_the_sdk_are_accepted_and_expired_or_foreign_ones_rejected(sim: SimHandle) -> None:
    account, other = sim.create_account(), sim.create_account()
    client = signer(sim, account)
    try:
        order_api = lighter.OrderApi(client.api_client)
        token, error = client.create_auth_token_with_expiry(7 * 3600, api_key_index=account.api_key_index)
        assert error is None
        orders = await order_api.account_active_orders(authorization=token, account_index=account.account_index)
        assert orders.code == 200 and orders.orders == []
        expired, _ = client.create_auth_token_with_expiry(60, timestamp=int(time.time()) - 3600,
                                                          api_key_index=account.api_key_index)
        with pytest.raises(BadRequestException):
            await order_api.account_active_orders(authorization=expired, account_index=account.account_index)
        with pytest.raises(BadRequestException):
            await order_api.account_active_orders(authorization=token, account_index=other.account_index)
        too_long, _ = client.create_auth_token_with_expiry(9 * 3600, api_key_index=account.api_key_index)
        with pytest.raises(BadRequestException):
            await order_api.account_active_orders(authorization=too_long, account_index=account.account_index)
    finally:
        await client.close()


async def test_rest_api_classes_parse_every_response_and_strict_models_validate(sim: SimHandle) -> None:
    maker_account, taker_account = sim.create_account(), sim.create_account()
    maker, taker = signer(sim, maker_account), signer(sim, taker_account)
    try:
        await expect_ok(maker.create_order(ETH, 601, 200, 300_000, True, maker.ORDER_TYPE_LIMIT,
                                           maker.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME))
        await expect_ok(maker.create_order(ETH, 602, 200, 299_000, False, maker.ORDER_TYPE_LIMIT,
                                           maker.ORDER_TIME_IN_FORCE_POST_ONLY))
        await expect_ok(taker.create_order(ETH, 603, 100, 300_000, False, taker.ORDER_TYPE_LIMIT,
                                           taker.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, order_expiry=0))
        token, _ = maker.create_auth_token_with_expiry(600, api_key_index=maker_account.api_key_index)
        api = maker.api_client
        order_api, account_api = lighter.OrderApi(api), lighter.AccountApi(api)
        tx_api = lighter.TransactionApi(api)
        index = maker_account.account_index

        books = await order_api.order_books()
        assert {b.market_id: b.supported_price_decimals for b in books.order_books} == {0: 2, 1: 1}
        details = await order_api.order_book_details(market_id=ETH)
        eth = details.order_book_details[0]
        assert (eth.size_decimals, eth.price_decimals, eth.min_base_amount) == (4, 2, "0.0050")
        book = await order_api.order_book_orders(ETH, 10)
        assert book.asks[0].price == "3000.00" and book.asks[0].remaining_base_amount == "0.0100"
        assert book.bids[0].price == "2990.00"
        trades = await order_api.recent_trades(ETH, 10)
        assert trades.trades[0].size == "0.0100" and trades.trades[0].price == "3000.00"
        assert trades.trades[0].is_maker_ask is True
        filtered = await order_api.trades(sort_by="timestamp", limit=10, account_index=index, authorization=token)
        assert [t.trade_id for t in filtered.trades] == [trades.trades[0].trade_id]
        active = await order_api.account_active_orders(authorization=token, account_index=index, market_id=ETH)
        assert {o.client_order_index for o in active.orders} == {601, 602}
        by_client = await order_api.account_orders(authorization=token, client_order_indexes="601",
                                                   account_index=index)
        assert by_client.orders[0].remaining_base_amount == "0.0100"
        accounts = await account_api.account(by="index", value=str(index))
        detailed = accounts.accounts[0]
        assert detailed.collateral == "9999.998800"  # premium maker fee: 0.4 bp of 30 USDC
        position = next(p for p in detailed.positions if p.market_id == ETH)
        assert (position.sign, position.position) == (-1, "0.0100")
        by_l1 = await account_api.accounts_by_l1_address(l1_address=detailed.l1_address)
        assert [a.index for a in by_l1.sub_accounts] == [index]
        keys = await account_api.apikeys(account_index=index)
        assert keys.api_keys[0].public_key == maker_account.public_key
        limits = await account_api.account_limits(account_index=index, authorization=token)
        assert limits.user_tier == "premium"
        tiers = await account_api.fee_tiers()
        assert {t.name for t in tiers.user_tiers} == {"standard", "premium"}
        nonce = await tx_api.next_nonce(account_index=index, api_key_index=maker_account.api_key_index)
        assert nonce.nonce == 2
        assert (await lighter.RootApi(api).status()).status == 1
        assert (await lighter.BlockApi(api).current_height()).height > 0

        # the lenient SDK models accept anything; validate the raw bodies strictly as well
        auth = {"authorization": token}
        strict = [
            (lighter.OrderBooks, "/api/v1/orderBooks", None),
            (lighter.OrderBookDetails, "/api/v1/orderBookDetails?market_id=0", None),
            (lighter.OrderBookOrders, "/api/v1/orderBookOrders?market_id=0&limit=5", None),
            (lighter.Trades, "/api/v1/recentTrades?market_id=0&limit=5", None),
            (lighter.Orders, f"/api/v1/accountActiveOrders?account_index={index}", auth),
            (lighter.Orders, f"/api/v1/accountInactiveOrders?account_index={index}&limit=5", auth),
            (lighter.DetailedAccounts, f"/api/v1/account?by=index&value={index}", None),
            (lighter.AccountApiKeys, f"/api/v1/apikeys?account_index={index}", None),
            (lighter.NextNonce, f"/api/v1/nextNonce?account_index={index}&api_key_index=25", None),
            (lighter.AccountLimits, f"/api/v1/accountLimits?account_index={index}", auth),
            (lighter.FeeTiers, "/api/v1/feeTiers", None),
            (lighter.CurrentHeight, "/api/v1/currentHeight", None),
            (lighter.Status, "/", None),
        ]
        for model, path, headers in strict:
            assert strict_errors(model, raw_get(sim, path, headers)) == [], path
    finally:
        await maker.close()
        await taker.close()


# ---- WsClient ----------------------------------------------------------------------------------------


async def test_ws_client_receives_the_book_and_the_account() -> None:
    with start_simulator(seed=5, with_market=False) as own_sim:
        await _ws_client_receives_the_book_and_the_account(own_sim)


async def _ws_client_receives_the_book_and_the_account(sim: SimHandle) -> None:
    maker_account, taker_account = sim.create_account(), sim.create_account()
    maker, taker = signer(sim, maker_account), signer(sim, taker_account)
    books: list[dict[str, Any]] = []
    accounts: list[dict[str, Any]] = []
    ws_client = lighter.WsClient(ws_url=sim.lighter_ws_url, order_book_ids=[ETH],
                                 account_ids=[maker_account.account_index],
                                 on_order_book_update=lambda market, state: books.append(json.loads(json.dumps(state))),
                                 on_account_update=lambda account, message: accounts.append(message))
    task = asyncio.get_running_loop().create_task(ws_client.run_async())
    try:
        await wait_for(lambda: bool(books) and bool(accounts), "the first book and account frames")
        await expect_ok(maker.create_order(ETH, 701, 300, 310_000, True, maker.ORDER_TYPE_LIMIT,
                                           maker.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME))
        await wait_for(lambda: any({"price": "3100.00", "size": "0.0300"} in b["asks"] for b in books),
                       "the maker's ask in the WsClient book")
        await expect_ok(taker.create_order(ETH, 702, 300, 310_000, False, taker.ORDER_TYPE_LIMIT,
                                           taker.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, order_expiry=0))
        await wait_for(lambda: any(m.get("trades", {}).get(str(ETH)) for m in accounts), "the fill on account_all")
        fill = next(m for m in accounts if m.get("trades", {}).get(str(ETH)))
        assert fill["type"] == "update/account_all"
        assert fill["positions"][str(ETH)]["sign"] == -1
        assert fill["positions"][str(ETH)]["position"] == "0.0300"
        await wait_for(lambda: all(level["price"] != "3100.00" for level in books[-1]["asks"]),
                       "the filled ask to leave the WsClient book")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await maker.close()
        await taker.close()


async def test_market_order_helpers_read_order_book_orders_and_fill() -> None:
    with start_simulator(seed=6, with_market=False) as own_sim:
        maker_account, taker_account = own_sim.create_account(), own_sim.create_account()
        maker, taker = signer(own_sim, maker_account), signer(own_sim, taker_account)
        try:
            await expect_ok(maker.create_order(BTC, 1, 500, 1_000_000, True, maker.ORDER_TYPE_LIMIT,
                                               maker.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME))
            await expect_ok(maker.create_order(BTC, 2, 500, 1_000_100, True, maker.ORDER_TYPE_LIMIT,
                                               maker.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME))
            # the helpers parse orderBookOrders prices and sizes by deleting the dot
            assert await taker.get_best_price(BTC, is_ask=False) == 1_000_000
            average, size = await taker.get_potential_execution_price(BTC, 1000, is_ask=False)
            assert (average, size) == (1_000_050, 1000)
            await expect_ok(taker.create_market_order_limited_slippage(BTC, 3, 700, max_slippage=0.01,
                                                                       is_ask=False))
            assert own_sim.account(taker_account.account_index)["positions"][str(BTC)]["position"] == "0.00700"
            await expect_ok(taker.create_market_order(BTC, 4, 300, 1_000_100, is_ask=False))
            assert own_sim.orders(maker_account.account_index) == []
            assert own_sim.account(taker_account.account_index)["positions"][str(BTC)]["position"] == "0.01000"
        finally:
            await maker.close()
            await taker.close()
