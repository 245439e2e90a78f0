# Lighter REST API (/api/v1/...) over aiohttp, as the SDK's generated clients and native signer call it.
#
# Rules: handlers parse the request at the edge (query or form), call the engine or the tx gateway, and
# render with lighter_render. Errors are JSON {code, message} with the venue's HTTP status (400 for
# rejections, 429 for rate limits); private routes read the `authorization` header (or `auth` query)
# and accept only a token of the requested account (auth_token).
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sim.auth_token import AuthToken, authorize_account, parse_auth_token
from sim.engine import Engine
from sim.engine_types import ERROR_MESSAGES, EngineError, ErrorCode
from sim.lighter_errors import TxRejected, rate_limited
from sim.lighter_faults import LighterFaults
from sim.lighter_render import (
    account_json,
    api_key_json,
    order_book_detail_json,
    order_book_json,
    order_json,
    simple_order_json,
    trade_json,
)
from sim.lighter_tx import TxGateway
from sim.markets import MarketSpec

NETWORK_ID = 304
ALL_MARKETS = 255
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _bad_param(name: str) -> TxRejected:
    return TxRejected(20001, f"invalid param: {name}")


def _int_param(params: Any, name: str, default: int | None = None, low: int = 0,
               high: int = 2**63 - 1) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise _bad_param(name)
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise _bad_param(name) from exc
    if not low <= value <= high:
        raise _bad_param(name)
    return value


class LighterRest:
    """Route handlers of the venue's REST API."""

    def __init__(self, engine: Engine, gateway: TxGateway, faults: LighterFaults,
                 clock_ns: Callable[[], int]) -> None:
        self.engine = engine
        self.gateway = gateway
        self.faults = faults
        self._clock_ns = clock_ns
        self.specs: dict[int, MarketSpec] = engine.markets

    def routes(self) -> list[web.RouteDef]:
        get, post = web.get, web.post
        return [
            get("/", self.status),
            get("/api/v1/nextNonce", self.next_nonce),
            get("/api/v1/apikeys", self.apikeys),
            post("/api/v1/sendTx", self.send_tx),
            post("/api/v1/sendTxBatch", self.send_tx_batch),
            get("/api/v1/orderBooks", self.order_books),
            get("/api/v1/orderBookDetails", self.order_book_details),
            get("/api/v1/orderBookOrders", self.order_book_orders),
            get("/api/v1/accountActiveOrders", self.account_active_orders),
            get("/api/v1/accountInactiveOrders", self.account_inactive_orders),
            get("/api/v1/accountOrders", self.account_orders),
            get("/api/v1/account", self.account),
            get("/api/v1/accountsByL1Address", self.accounts_by_l1_address),
            get("/api/v1/accountLimits", self.account_limits),
            get("/api/v1/feeTiers", self.fee_tiers),
            post("/api/v1/changeAccountTier", self.change_account_tier),
            get("/api/v1/recentTrades", self.recent_trades),
            get("/api/v1/trades", self.trades),
            get("/api/v1/currentHeight", self.current_height),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Injected 429s for /api/v1 routes; every error rendered as the venue's JSON body."""
        try:
            if request.path.startswith("/api/v1/") and self.faults.take_rate_limit():
                raise rate_limited()
            return await handler(request)
        except TxRejected as error:
            return json_response(error.body(), error.http_status)
        except EngineError as error:
            return json_response({"code": int(error.code), "message": ERROR_MESSAGES[error.code]}, 400)
        except web.HTTPNotFound:
            return json_response({"code": 29404, "message": "not found"}, 404)

    # ---- helpers -------------------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self._clock_ns() / 1e9

    def _auth(self, request: web.Request, account_index: int | None) -> AuthToken:
        token = request.headers.get("authorization") or request.query.get("auth")
        if account_index is None:
            return parse_auth_token(token, self._now_s())
        return authorize_account(token, account_index, self._now_s())

    def _private_account(self, request: web.Request) -> int:
        """account_index of a private route, defaulting to the token's account."""
        raw = request.query.get("account_index")
        account_index = None if raw in (None, "") else _int_param(request.query, "account_index")
        token = self._auth(request, account_index)
        account_index = token.account_index if account_index is None else account_index
        if not self.engine.has_account(account_index):
            raise TxRejected(21100, "account not found")
        return account_index

    def _market_filter(self, params: Any) -> int | None:
        market_id = _int_param(params, "market_id", ALL_MARKETS)
        if market_id == ALL_MARKETS:
            return None
        if market_id not in self.specs:
            raise TxRejected(21602, "invalid market index")
        return market_id

    def _market(self, params: Any) -> MarketSpec:
        market_id = _int_param(params, "market_id")
        spec = self.specs.get(market_id)
        if spec is None:
            raise TxRejected(21602, "invalid market index")
        return spec

    def _orders_body(self, orders: list[Any]) -> dict[str, Any]:
        return {"code": 200, "next_cursor": None,
                "orders": [order_json(o, self.specs[o.market_index]) for o in orders]}

    # ---- transactions --------------------------------------------------------------------------------

    async def next_nonce(self, request: web.Request) -> web.Response:
        account_index = _int_param(request.query, "account_index")
        api_key_index = _int_param(request.query, "api_key_index", high=254)
        if not self.engine.has_account(account_index):
            raise TxRejected(21100, "account not found")
        return json_response({"code": 200, "nonce": self.engine.next_nonce(account_index, api_key_index)})

    async def send_tx(self, request: web.Request) -> web.Response:
        form = await request.post()
        reply = await self.gateway.send_tx(form.get("tx_type"), form.get("tx_info"))
        return json_response(reply.body, reply.http_status)

    async def send_tx_batch(self, request: web.Request) -> web.Response:
        form = await request.post()
        reply = await self.gateway.send_tx_batch(form.get("tx_types"), form.get("tx_infos"))
        return json_response(reply.body, reply.http_status)

    async def apikeys(self, request: web.Request) -> web.Response:
        account_index = _int_param(request.query, "account_index")
        api_key_index = _int_param(request.query, "api_key_index", ALL_MARKETS, high=255)
        if not self.engine.has_account(account_index):
            raise TxRejected(21100, "account not found")
        keys = self.engine.api_keys(account_index)
        if api_key_index != ALL_MARKETS:
            keys = [k for k in keys if k.api_key_index == api_key_index]
            if not keys:
                raise TxRejected(21109, "api key not found")
        return json_response({"code": 200, "api_keys": [api_key_json(k) for k in keys]})

    # ---- markets -------------------------------------------------------------------------------------

    def _selected_specs(self, params: Any) -> list[MarketSpec]:
        market_id = self._market_filter(params)
        return list(self.specs.values()) if market_id is None else [self.specs[market_id]]

    async def order_books(self, request: web.Request) -> web.Response:
        books = [order_book_json(spec) for spec in self._selected_specs(request.query)]
        return json_response({"code": 200, "order_books": books})

    async def order_book_details(self, request: web.Request) -> web.Response:
        details = []
        for spec in self._selected_specs(request.query):
            trades = self.engine.recent_trades(spec.market_id, 1000)
            details.append(order_book_detail_json(
                spec, self.engine.mark_price(spec.market_id), open_interest_lots=0,
                daily_trades=len(trades), daily_base_lots=sum(t.size for t in trades),
                daily_quote_micro=sum(t.usd_amount for t in trades)))
        return json_response({"code": 200, "order_book_details": details, "spot_order_book_details": []})

    async def order_book_orders(self, request: web.Request) -> web.Response:
        spec = self._market(request.query)
        limit = _int_param(request.query, "limit", low=1, high=250)
        bids, asks = self.engine.book_orders(spec.market_id, limit)
        return json_response({
            "code": 200,
            "total_asks": len(asks), "asks": [simple_order_json(o, spec) for o in asks],
            "total_bids": len(bids), "bids": [simple_order_json(o, spec) for o in bids],
        })

    async def recent_trades(self, request: web.Request) -> web.Response:
        spec = self._market(request.query)
        limit = _int_param(request.query, "limit", low=1, high=100)
        trades = self.engine.recent_trades(spec.market_id, limit)
        return json_response({"code": 200, "next_cursor": None,
                              "trades": [trade_json(t, spec) for t in trades]})

    async def trades(self, request: web.Request) -> web.Response:
        query = request.query
        limit = _int_param(query, "limit", low=1, high=100)
        market_id = self._market_filter(query)
        account_raw = query.get("account_index")
        if account_raw not in (None, ""):
            account_index = _int_param(query, "account_index")
            self._auth(request, account_index)
            trades = self.engine.account_trades(account_index, 1000)
            if market_id is not None:
                trades = [t for t in trades if t.market_id == market_id]
        else:
            markets = [market_id] if market_id is not None else list(self.specs)
            trades = sorted((t for m in markets for t in self.engine.recent_trades(m, limit)),
                            key=lambda t: t.trade_id, reverse=True)
        order_raw = query.get("order_index")
        if order_raw not in (None, ""):
            order_index = _int_param(query, "order_index")
            trades = [t for t in trades if order_index in (t.ask_id, t.bid_id)]
        if query.get("sort_dir") == "asc":
            trades = list(reversed(trades))
        trades = trades[:limit]
        return json_response({"code": 200, "next_cursor": None,
                              "trades": [trade_json(t, self.specs[t.market_id]) for t in trades]})

    # ---- orders --------------------------------------------------------------------------------------

    async def account_active_orders(self, request: web.Request) -> web.Response:
        account_index = self._private_account(request)
        market_id = self._market_filter(request.query)
        return json_response(self._orders_body(self.engine.orders(account_index, market_id)))

    async def account_inactive_orders(self, request: web.Request) -> web.Response:
        account_index = self._private_account(request)
        market_id = self._market_filter(request.query)
        limit = _int_param(request.query, "limit", low=1, high=100)
        orders = self.engine.inactive_orders(account_index, market_id, limit=limit)
        ask_filter = request.query.get("ask_filter")
        if ask_filter in ("0", "1"):
            orders = [o for o in orders if o.is_ask == (ask_filter == "1")]
        return json_response(self._orders_body(orders))

    async def account_orders(self, request: web.Request) -> web.Response:
        account_index = self._private_account(request)
        raw = request.query.get("client_order_indexes", "")
        try:
            indexes = [int(part) for part in raw.split(",") if part.strip()]
        except ValueError as exc:
            raise _bad_param("client_order_indexes") from exc
        if not indexes or len(indexes) > 20:
            raise _bad_param("client_order_indexes")
        return json_response(self._orders_body(self.engine.orders_by_client_index(account_index, indexes)))

    # ---- accounts ------------------------------------------------------------------------------------

    async def account(self, request: web.Request) -> web.Response:
        by = request.query.get("by", "index")
        value = request.query.get("value", "")
        if by == "index":
            indexes = [_int_param(request.query, "value")]
        elif by == "l1_address":
            indexes = self.engine.accounts_by_l1_address(value)
        else:
            raise _bad_param("by")
        indexes = [i for i in indexes if self.engine.has_account(i)]
        if not indexes:
            raise TxRejected(21100, "account not found")
        accounts = [account_json(self.engine.account(i), self.specs) for i in indexes]
        return json_response({"code": 200, "total": len(accounts), "accounts": accounts, "next_cursor": ""})

    async def accounts_by_l1_address(self, request: web.Request) -> web.Response:
        l1_address = request.query.get("l1_address", "")
        indexes = self.engine.accounts_by_l1_address(l1_address)
        if not indexes:
            raise TxRejected(21100, "account not found")
        accounts = [account_json(self.engine.account(i), self.specs) for i in indexes]
        return json_response({"code": 200, "l1_address": l1_address, "sub_accounts": accounts})

    async def account_limits(self, request: web.Request) -> web.Response:
        account_index = self._private_account(request)
        snapshot = self.engine.account(account_index)
        premium = snapshot.tier.value == "premium"
        return json_response({
            "code": 200, "max_llp_percentage": 0, "user_tier": snapshot.tier.value,
            "can_create_public_pool": False, "max_llp_amount": "0",
            "current_maker_fee_tick": 40 if premium else 0, "current_taker_fee_tick": 280 if premium else 0,
            "effective_lit_stakes": "0", "leased_lit": "0", "user_tier_name": snapshot.tier.value,
            "user_tier_last_update": 0, "bo_user_tier_name": "", "bo_fee_rate": 1,
        })

    async def fee_tiers(self, request: web.Request) -> web.Response:
        return json_response({
            "code": 200,
            "user_tiers": [
                {"name": "standard", "level": 0, "maker_fee_ticks": 0, "taker_fee_ticks": 0,
                 "required_lit_stakes": 0, "required_volume": 0},
                {"name": "premium", "level": 1, "maker_fee_ticks": 40, "taker_fee_ticks": 280,
                 "required_lit_stakes": 0, "required_volume": 0},
            ],
            "bo_tiers": [], "staking_tiers": [],
        })

    async def change_account_tier(self, request: web.Request) -> web.Response:
        form = await request.post()
        account_index = _int_param(form, "account_index")
        self._auth(request, account_index)
        new_tier = str(form.get("new_tier", ""))
        if new_tier not in ("standard", "premium"):
            raise _bad_param("new_tier")
        code = self.engine.set_tier(self._clock_ns(), account_index, new_tier)
        if code != 200:
            raise EngineError(ErrorCode(code))
        return json_response({"code": 200, "message": "ok"})

    # ---- misc ----------------------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        return json_response({"status": 1, "network_id": NETWORK_ID, "timestamp": self._clock_ns() // 10**9})

    async def current_height(self, request: web.Request) -> web.Response:
        return json_response({"code": 200, "height": self.engine.height})
