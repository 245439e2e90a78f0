# Control API of the simulator, served on the Lighter port under /__sim/ (tests and benchmarks use these
# exact paths):
#   POST /__sim/accounts  {"public_key": hex, "api_key_index": 25, "collateral": "10000", "tier": "premium"}
#                         -> {"account_index": N}
#   GET  /__sim/book?market_id=1 -> {"nonce": N, "bids": [[price, size], ...], "asks": [...]} (best first)
#   POST /__sim/market    {"running": false|true}   freeze / resume the synthetic market
#   GET  /__sim/orders?account_index=N              resting orders of the account
#   GET  /__sim/account?account_index=N             position, collateral, PnL, fees, volume, quota
#   POST /__sim/faults    {"kind": ..., ...}        inject a fault (kinds: lighter_faults.FAULT_KINDS)
#   GET  /__sim/faults                              the fault kinds and their documentation
# Rules: JSON in and out; bad input is HTTP 400 {"error": "..."}; never reachable through the SDK paths.
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from sim.binance_faults import FAULT_KINDS as BINANCE_FAULT_KINDS
from sim.engine import Engine
from sim.engine_types import EngineError, Tier
from sim.lighter_faults import BINANCE_PREFIX, FAULT_KINDS, LighterFaults
from sim.lighter_feeds import LighterFeeds
from sim.lighter_render import order_json
from sim.markets import format_usdc, parse_usdc
from sim.taker_sweeps import TakerSweeps
from sim.ws_hub import WsHub


class MarketSwitch(Protocol):
    """The synthetic market as the control API sees it (sim.market.SyntheticMarket)."""

    running: bool


class BinanceFaultSink(Protocol):
    """The Binance server as the control API sees it (sim.binance_server.BinanceServer)."""

    def inject_fault(self, kind: str, params: dict[str, Any]) -> None: ...


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"body is not JSON: {exc}"}),
                                 content_type="application/json") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


def _query_int(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    if not raw.isdigit():
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be a non-negative integer"}),
                                 content_type="application/json")
    return int(raw)


class SimControl:
    """Handlers of /__sim/*. `market` and `binance` are optional parts of the simulator."""

    def __init__(self, engine: Engine, feeds: LighterFeeds, hub: WsHub, faults: LighterFaults,
                 monotonic_s: Callable[[], float], market: MarketSwitch | None = None,
                 binance: BinanceFaultSink | None = None, sweeps: TakerSweeps | None = None) -> None:
        self.engine = engine
        self.sweeps = sweeps if sweeps is not None else TakerSweeps(engine)
        self.feeds = feeds
        self.hub = hub
        self.faults = faults
        self._monotonic_s = monotonic_s
        self.market = market
        self.binance = binance

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/__sim/accounts", self.create_account),
            web.get("/__sim/book", self.book),
            web.post("/__sim/market", self.set_market),
            web.get("/__sim/orders", self.orders),
            web.get("/__sim/account", self.account),
            web.post("/__sim/faults", self.inject_fault),
            web.get("/__sim/faults", self.fault_kinds),
        ]

    async def create_account(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        public_key = str(body.get("public_key", "")).lower().removeprefix("0x")
        api_key_index = body.get("api_key_index", 0)
        tier = str(body.get("tier", "standard"))
        if len(public_key) != 80 or any(c not in "0123456789abcdef" for c in public_key):
            return _bad_request("public_key must be 80 hex characters")
        if not isinstance(api_key_index, int) or not 0 <= api_key_index <= 254:
            return _bad_request("api_key_index must be an integer in [0, 254]")
        if tier not in {t.value for t in Tier}:
            return _bad_request("tier must be 'standard' or 'premium'")
        try:
            collateral = parse_usdc(body.get("collateral", "0"))
        except ValueError as exc:
            return _bad_request(str(exc))
        account_index = self.engine.create_account(collateral, Tier(tier), body.get("l1_address"))
        self.engine.register_api_key(account_index, api_key_index, public_key)
        self.feeds.pump()
        return web.json_response({"account_index": account_index})

    async def book(self, request: web.Request) -> web.Response:
        market_id = _query_int(request, "market_id")
        chain = self.feeds.chains.get(market_id)
        if chain is None:
            return _bad_request(f"unknown market_id {market_id}")
        # Publish what is pending, so that the returned state is exactly the one at the returned nonce
        # (unless a stall fault holds the feed: then this is the truth and the nonce the last published).
        self.feeds.tick()
        spec = self.feeds.specs[market_id]
        bids, asks = self.engine.book_levels(market_id)
        return web.json_response({
            "market_id": market_id,
            "nonce": chain.nonce,
            "bids": [[spec.format_price(p), spec.format_size(s)] for p, s in bids],
            "asks": [[spec.format_price(p), spec.format_size(s)] for p, s in asks],
        })

    async def set_market(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        running = body.get("running")
        if not isinstance(running, bool):
            return _bad_request("running must be true or false")
        if self.market is None:
            return _bad_request("the simulator runs without a synthetic market")
        self.market.running = running
        self.feeds.tick()  # what the market did up to now goes out before the answer
        return web.json_response({"running": running})

    async def orders(self, request: web.Request) -> web.Response:
        account_index = _query_int(request, "account_index")
        if not self.engine.has_account(account_index):
            return _bad_request(f"unknown account {account_index}")
        orders = self.engine.orders(account_index)
        return web.json_response({"orders": [order_json(o, self.feeds.specs[o.market_index]) for o in orders]})

    async def account(self, request: web.Request) -> web.Response:
        account_index = _query_int(request, "account_index")
        try:
            snapshot = self.engine.account(account_index)
        except EngineError:
            return _bad_request(f"unknown account {account_index}")
        specs = self.feeds.specs
        return web.json_response({
            "account_index": account_index,
            "tier": snapshot.tier.value,
            "collateral": format_usdc(snapshot.collateral),
            "total_asset_value": format_usdc(snapshot.total_asset_value),
            "available_balance": format_usdc(snapshot.available_balance),
            "realized_pnl": format_usdc(snapshot.realized_pnl),
            "unrealized_pnl": format_usdc(snapshot.unrealized_pnl),
            "fees_paid": format_usdc(snapshot.fees_paid),
            "volume": format_usdc(snapshot.total_volume),
            "trade_count": snapshot.trade_count,
            "volume_quota_remaining": snapshot.volume_quota_remaining,
            "open_order_count": snapshot.open_order_count,
            "positions": {
                str(p.market_id): {
                    "position": specs[p.market_id].format_size(p.size),
                    "entry_quote": format_usdc(p.entry_quote),
                    "realized_pnl": format_usdc(p.realized_pnl),
                    "unrealized_pnl": format_usdc(p.unrealized_pnl),
                    "fees_paid": format_usdc(p.fees_paid),
                    "initial_margin_fraction": p.initial_margin_fraction,
                    "margin_mode": int(p.margin_mode),
                }
                for p in snapshot.positions
            },
        })

    async def inject_fault(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        kind = body.pop("kind", None)
        if kind == "stall_feed" and body.pop("feed", "lighter") == "binance":
            kind = "binance_stall"
        if not isinstance(kind, str) or not (kind in FAULT_KINDS or kind.startswith(BINANCE_PREFIX)):
            return _bad_request(f"kind must be one of {sorted(FAULT_KINDS)} or a binance_* kind")
        try:
            if kind.startswith(BINANCE_PREFIX):
                if self.binance is None:
                    return _bad_request("the simulator runs without a Binance server")
                self.binance.inject_fault(kind, body)
            elif kind == "drop_connections":
                dropped = self.hub.drop_all()
                return web.json_response({"ok": True, "kind": kind, "dropped": dropped})
            elif kind == "taker_sweep":
                self.sweeps.add(body, self._monotonic_s())
                return web.json_response({"ok": True, "kind": kind,
                                          "account_index": self.sweeps.account_index})
            else:
                self.faults.apply(kind, body, self._monotonic_s())
        except ValueError as exc:
            return _bad_request(str(exc))
        return web.json_response({"ok": True, "kind": kind})

    async def fault_kinds(self, request: web.Request) -> web.Response:
        kinds = dict(FAULT_KINDS)
        if self.binance is not None:
            kinds.update({kind: "forwarded to the Binance server (see sim.binance_faults.BinanceFaults)"
                          for kind in BINANCE_FAULT_KINDS})
        return web.json_response({"kinds": kinds})
